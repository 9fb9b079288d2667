//! Ollama adapter (native `POST /api/chat`): wire types, request mapping,
//! response mapping and the NDJSON stream decoder. The native API rather
//! than Ollama's OpenAI-compatible one, because only the native one reports
//! `done_reason` and token counts on every build. Ollama has no keys and no
//! rate-limit headers.

use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use domain::band::{
    AiProvider, AiRequest, Completion, DeltaSink, MessageRole, ProviderError, ProviderKind,
    RateLimitStatus, StopReason, TokenUsage,
};
use serde::{Deserialize, Serialize};

use super::config::VendorConfig;
use super::http;
use super::stream::{self, Decoder, Fault, Framing};

const NAME: &str = "ollama";

/// A local model served by Ollama.
#[derive(Debug)]
pub struct OllamaProvider {
    client: reqwest::Client,
    config: VendorConfig,
    limits: Mutex<RateLimitStatus>,
}

impl OllamaProvider {
    pub fn new(client: reqwest::Client, config: VendorConfig) -> Self {
        Self {
            client,
            config,
            limits: Mutex::default(),
        }
    }

    fn post(&self, request: &AiRequest, stream: bool) -> reqwest::RequestBuilder {
        self.client
            .post(self.config.url("/api/chat"))
            .json(&WireRequest::new(request, stream))
    }
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    /// Always sent: Ollama streams unless told otherwise.
    stream: bool,
    options: WireOptions,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct WireOptions {
    temperature: f32,
    num_predict: u32,
}

impl<'a> WireRequest<'a> {
    fn new(r: &'a AiRequest, stream: bool) -> Self {
        let system = r.system.as_deref().map(|content| WireMessage {
            role: "system",
            content,
        });
        Self {
            model: &r.model,
            messages: system
                .into_iter()
                .chain(r.messages.iter().map(|m| WireMessage {
                    role: match m.role {
                        MessageRole::User => "user",
                        MessageRole::Assistant => "assistant",
                    },
                    content: &m.content,
                }))
                .collect(),
            stream,
            options: WireOptions {
                temperature: r.temperature,
                num_predict: r.max_tokens,
            },
        }
    }
}

/// A whole answer, or one line of a stream.
#[derive(Deserialize)]
struct WireChat {
    model: Option<String>,
    message: Option<WireAnswer>,
    #[serde(default)]
    done: bool,
    done_reason: Option<String>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct WireAnswer {
    #[serde(default)]
    content: String,
}

impl WireChat {
    fn usage(&self) -> TokenUsage {
        TokenUsage {
            input: self.prompt_eval_count.unwrap_or_default(),
            output: self.eval_count.unwrap_or_default(),
            cached: 0,
        }
    }
}

fn stop_reason(reason: Option<&str>) -> StopReason {
    match reason {
        // Older builds send `done: true` without a reason.
        Some("stop") | None => StopReason::Complete,
        Some("length") => StopReason::MaxTokens,
        Some(other) => StopReason::Other(other.to_owned()),
    }
}

#[derive(Default)]
struct StreamState {
    model: Option<String>,
    done_reason: Option<String>,
    usage: TokenUsage,
    done: bool,
}

impl Decoder for StreamState {
    fn event(
        &mut self,
        _event: Option<&str>,
        data: &str,
        deltas: &mut Vec<String>,
    ) -> Result<(), Fault> {
        let line: WireChat = serde_json::from_str(data)
            .map_err(|e| Fault::Interrupted(format!("malformed line: {e}")))?;
        if let Some(error) = line.error {
            return Err(Fault::Interrupted(error));
        }
        if let Some(message) = &line.message
            && !message.content.is_empty()
        {
            deltas.push(message.content.clone());
        }
        if line.model.is_some() {
            self.model = line.model.clone();
        }
        if line.done {
            self.usage = line.usage();
            self.done_reason = line.done_reason;
            self.done = true;
        }
        Ok(())
    }

    fn done(&self) -> bool {
        self.done
    }

    fn usage(&self) -> TokenUsage {
        self.usage
    }
}

#[async_trait]
impl AiProvider for OllamaProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Local
    }

    fn name(&self) -> &str {
        NAME
    }

    async fn complete(&self, request: &AiRequest) -> Result<Completion, ProviderError> {
        let started = Instant::now();
        let wire: WireChat = http::call_json(
            self.post(request, false),
            self.config.timeouts.request,
            &self.limits,
        )
        .await?;
        if let Some(error) = wire.error {
            return Err(ProviderError::Malformed(error));
        }
        Ok(Completion {
            content: wire
                .message
                .as_ref()
                .map(|m| m.content.clone())
                .unwrap_or_default(),
            stop_reason: stop_reason(wire.done_reason.as_deref()),
            usage: wire.usage(),
            latency_ms: http::elapsed_ms(started),
            provenance: http::provenance(self.kind(), NAME, wire.model, request),
            mean_logprob: None,
        })
    }

    async fn stream(
        &self,
        request: &AiRequest,
        sink: &dyn DeltaSink,
    ) -> Result<Completion, ProviderError> {
        let started = Instant::now();
        let timeouts = self.config.timeouts;
        let response = http::send(self.post(request, true), timeouts.request, &self.limits).await?;
        http::expect_content_type(response.headers(), &["ndjson", "json"])?;
        let mut state = StreamState::default();
        let content =
            stream::pump(response, Framing::Ndjson, timeouts.stall, &mut state, sink).await?;
        Ok(Completion {
            content,
            stop_reason: stop_reason(state.done_reason.as_deref()),
            usage: state.usage,
            latency_ms: http::elapsed_ms(started),
            provenance: http::provenance(self.kind(), NAME, state.model, request),
            mean_logprob: None,
        })
    }

    async fn health(&self) -> Result<(), ProviderError> {
        let request = self.client.get(self.config.url("/api/tags"));
        http::send(request, self.config.timeouts.request, &self.limits)
            .await
            .map(drop)
    }

    fn rate_limit_status(&self) -> RateLimitStatus {
        http::snapshot(&self.limits)
    }
}
