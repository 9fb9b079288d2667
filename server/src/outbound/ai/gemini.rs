//! Google Gemini adapter (`POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`): wire types, request mapping, response
//! mapping and the SSE stream decoder.
//!
//! The key goes in the `x-goog-api-key` header rather than the `key=` query
//! parameter so it cannot leak through logged URLs. Output usage counts
//! `thoughtsTokenCount` too: thinking tokens are billed as output. Parts
//! marked `thought` are the model's reasoning, not its answer, and are left
//! out of the content.

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

const NAME: &str = "gemini";

/// Gemini through the Generative Language API.
#[derive(Debug)]
pub struct GeminiProvider {
    client: reqwest::Client,
    config: VendorConfig,
    limits: Mutex<RateLimitStatus>,
}

impl GeminiProvider {
    pub fn new(client: reqwest::Client, config: VendorConfig) -> Self {
        Self {
            client,
            config,
            limits: Mutex::default(),
        }
    }

    fn post(&self, request: &AiRequest, stream: bool) -> reqwest::RequestBuilder {
        let method = if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        // Model ids are plain names ("gemini-2.5-flash"); a `models/` prefix
        // as the models list returns them is accepted too.
        let model = request.model.trim_start_matches("models/");
        self.client
            .post(self.config.url(&format!("/v1beta/models/{model}:{method}")))
            .header("x-goog-api-key", self.config.key())
            .json(&WireRequest::new(request))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<'a> {
    contents: Vec<WireContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<WireSystem<'a>>,
    generation_config: WireGenerationConfig,
}

#[derive(Serialize)]
struct WireContent<'a> {
    role: &'static str,
    parts: [WireTextPart<'a>; 1],
}

#[derive(Serialize)]
struct WireSystem<'a> {
    parts: [WireTextPart<'a>; 1],
}

#[derive(Serialize)]
struct WireTextPart<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireGenerationConfig {
    temperature: f32,
    max_output_tokens: u32,
}

impl<'a> WireRequest<'a> {
    fn new(r: &'a AiRequest) -> Self {
        Self {
            contents: r
                .messages
                .iter()
                .map(|m| WireContent {
                    role: match m.role {
                        MessageRole::User => "user",
                        MessageRole::Assistant => "model",
                    },
                    parts: [WireTextPart { text: &m.content }],
                })
                .collect(),
            system_instruction: r.system.as_deref().map(|text| WireSystem {
                parts: [WireTextPart { text }],
            }),
            generation_config: WireGenerationConfig {
                temperature: r.temperature,
                max_output_tokens: r.max_tokens,
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    #[serde(default)]
    candidates: Vec<WireCandidate>,
    usage_metadata: Option<WireUsage>,
    model_version: Option<String>,
    prompt_feedback: Option<WirePromptFeedback>,
    /// Sent instead of a chunk when the server fails mid-stream.
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCandidate {
    content: Option<WireCandidateContent>,
    finish_reason: Option<String>,
    avg_logprobs: Option<f64>,
}

#[derive(Deserialize)]
struct WireCandidateContent {
    #[serde(default)]
    parts: Vec<WirePart>,
}

#[derive(Deserialize)]
struct WirePart {
    text: Option<String>,
    #[serde(default)]
    thought: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
}

impl From<WireUsage> for TokenUsage {
    fn from(u: WireUsage) -> Self {
        Self {
            input: u.prompt_token_count,
            output: u.candidates_token_count + u.thoughts_token_count,
            cached: u.cached_content_token_count,
        }
    }
}

impl WireResponse {
    /// The answer text in this response (or chunk).
    fn text(&self) -> String {
        self.candidates
            .first()
            .and_then(|c| c.content.as_ref())
            .map(|c| {
                c.parts
                    .iter()
                    .filter(|p| !p.thought)
                    .filter_map(|p| p.text.as_deref())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Why generation stopped: the candidate's reason, or a blocked prompt
    /// (which comes with no candidate at all).
    fn finish_reason(&self) -> Option<String> {
        self.candidates
            .first()
            .and_then(|c| c.finish_reason.clone())
            .or_else(|| {
                self.prompt_feedback
                    .as_ref()
                    .and_then(|f| f.block_reason.clone())
                    .map(|_| "SAFETY".to_owned())
            })
    }
}

fn stop_reason(reason: Option<&str>) -> StopReason {
    match reason {
        Some("STOP") => StopReason::Complete,
        Some("MAX_TOKENS") => StopReason::MaxTokens,
        Some("SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII") => {
            StopReason::ContentFilter
        }
        Some(other) => StopReason::Other(other.to_owned()),
        None => StopReason::Other("unknown".to_owned()),
    }
}

#[derive(Default)]
struct StreamState {
    model: Option<String>,
    finish_reason: Option<String>,
    usage: TokenUsage,
}

impl Decoder for StreamState {
    fn event(
        &mut self,
        _event: Option<&str>,
        data: &str,
        deltas: &mut Vec<String>,
    ) -> Result<(), Fault> {
        let chunk: WireResponse = serde_json::from_str(data)
            .map_err(|e| Fault::Interrupted(format!("malformed chunk: {e}")))?;
        if let Some(error) = chunk.error {
            let body = serde_json::json!({ "error": error }).to_string();
            return Err(Fault::Interrupted(http::vendor_message(&body)));
        }
        let text = chunk.text();
        if !text.is_empty() {
            deltas.push(text);
        }
        if let Some(usage) = chunk.usage_metadata {
            // Each chunk carries the running totals, not an increment.
            self.usage = usage.into();
        }
        if chunk.model_version.is_some() {
            self.model = chunk.model_version.clone();
        }
        if let Some(reason) = chunk.finish_reason() {
            self.finish_reason = Some(reason);
        }
        Ok(())
    }

    /// Gemini has no end marker: the chunk with a finish reason is the last.
    fn done(&self) -> bool {
        self.finish_reason.is_some()
    }

    fn usage(&self) -> TokenUsage {
        self.usage
    }
}

#[async_trait]
impl AiProvider for GeminiProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gemini
    }

    fn name(&self) -> &str {
        NAME
    }

    async fn complete(&self, request: &AiRequest) -> Result<Completion, ProviderError> {
        let started = Instant::now();
        let wire: WireResponse = http::call_json(
            self.post(request, false),
            self.config.timeouts.request,
            &self.limits,
        )
        .await?;
        Ok(Completion {
            content: wire.text(),
            stop_reason: stop_reason(wire.finish_reason().as_deref()),
            usage: wire
                .usage_metadata
                .map(TokenUsage::from)
                .unwrap_or_default(),
            latency_ms: http::elapsed_ms(started),
            mean_logprob: wire.candidates.first().and_then(|c| c.avg_logprobs),
            provenance: http::provenance(self.kind(), NAME, wire.model_version, request),
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
        http::expect_content_type(response.headers(), &["event-stream"])?;
        let mut state = StreamState::default();
        let content =
            stream::pump(response, Framing::Sse, timeouts.stall, &mut state, sink).await?;
        Ok(Completion {
            content,
            stop_reason: stop_reason(state.finish_reason.as_deref()),
            usage: state.usage,
            latency_ms: http::elapsed_ms(started),
            provenance: http::provenance(self.kind(), NAME, state.model, request),
            mean_logprob: None,
        })
    }

    async fn health(&self) -> Result<(), ProviderError> {
        let request = self
            .client
            .get(self.config.url("/v1beta/models"))
            .header("x-goog-api-key", self.config.key());
        http::send(request, self.config.timeouts.request, &self.limits)
            .await
            .map(drop)
    }

    fn rate_limit_status(&self) -> RateLimitStatus {
        http::snapshot(&self.limits)
    }
}
