//! AI provider adapters: the HTTP clients behind the domain's `AiProvider`
//! port, one module per vendor with its wire types, request and response
//! mapping and stream decoder (rust-genai's per-adapter layout), plus what
//! they share: configuration, HTTP error and rate-limit handling, SSE/NDJSON
//! framing and the streaming loop; and fair turns between users at a
//! provider they all share (`fair`).

mod anthropic;
mod config;
pub mod fair;
mod gemini;
mod http;
pub mod local;
mod ollama;
mod openai;
mod sse;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::band::{AiProvider, ProviderError, Sleeper};

pub use anthropic::AnthropicProvider;
pub use config::{Configured, ProviderConfig, Timeouts, VendorConfig};
pub use gemini::GeminiProvider;
pub use ollama::OllamaProvider;
pub use openai::OpenAiProvider;

/// How long to wait for a TCP/TLS connection. Separate from the request
/// deadline so an unreachable host fails fast instead of eating it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client all providers share (one connection pool). It has no
/// overall timeout of its own: that would cut long streams, so each call
/// enforces its request and stall deadlines itself.
///
/// # Errors
/// When the TLS backend cannot be initialised.
pub fn http_client() -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("exiton/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ProviderError::Unreachable(format!("HTTP client: {e}")))
}

/// One provider for every vendor `config` has credentials (or, for Ollama,
/// an explicit host) for, all on `client`.
pub fn providers(config: &ProviderConfig, client: &reqwest::Client) -> Vec<Arc<dyn AiProvider>> {
    let on = config.configured();
    let mut out: Vec<Arc<dyn AiProvider>> = Vec::new();
    if on.anthropic {
        out.push(Arc::new(AnthropicProvider::new(
            client.clone(),
            config.anthropic.clone(),
        )));
    }
    if on.openai {
        out.push(Arc::new(OpenAiProvider::new(
            client.clone(),
            config.openai.clone(),
        )));
    }
    if on.gemini {
        out.push(Arc::new(GeminiProvider::new(
            client.clone(),
            config.gemini.clone(),
        )));
    }
    if on.ollama {
        out.push(Arc::new(OllamaProvider::new(
            client.clone(),
            config.ollama.clone(),
        )));
    }
    out
}

/// The resilience layer's waits, on tokio's timer.
#[derive(Debug, Clone, Copy)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    async fn yield_now(&self) {
        tokio::task::yield_now().await;
    }
}
