//! Anthropic Messages API adapter (`POST /v1/messages`): wire types, request
//! mapping, response mapping and the SSE stream decoder.
//!
//! Usage: Anthropic's `input_tokens` excludes prompt-cache reads and writes;
//! the domain's `input` counts every input token (as OpenAI and Gemini do)
//! with `cached` as the part served from cache, so the three are added.

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

const API_VERSION: &str = "2023-06-01";
const NAME: &str = "anthropic";

/// Claude through the Messages API.
#[derive(Debug)]
pub struct AnthropicProvider {
    client: reqwest::Client,
    config: VendorConfig,
    limits: Mutex<RateLimitStatus>,
}

impl AnthropicProvider {
    pub fn new(client: reqwest::Client, config: VendorConfig) -> Self {
        Self {
            client,
            config,
            limits: Mutex::default(),
        }
    }

    fn post(&self, body: &WireRequest<'_>) -> reqwest::RequestBuilder {
        self.client
            .post(self.config.url("/v1/messages"))
            .header("x-api-key", self.config.key())
            .header("anthropic-version", API_VERSION)
            .json(body)
    }
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    temperature: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

impl<'a> WireRequest<'a> {
    fn new(r: &'a AiRequest, stream: bool) -> Self {
        Self {
            model: &r.model,
            max_tokens: r.max_tokens,
            temperature: r.temperature,
            system: r.system.as_deref(),
            messages: r
                .messages
                .iter()
                .map(|m| WireMessage {
                    role: match m.role {
                        MessageRole::User => "user",
                        MessageRole::Assistant => "assistant",
                    },
                    content: &m.content,
                })
                .collect(),
            stream,
        }
    }
}

#[derive(Deserialize)]
struct WireMessageResponse {
    model: Option<String>,
    #[serde(default)]
    content: Vec<WireBlock>,
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
struct WireBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Later events repeat only some counters (`message_delta` may carry
    /// just `output_tokens`): what an event leaves out keeps its value.
    fn merge(&mut self, newer: Self) {
        self.input_tokens = newer.input_tokens.or(self.input_tokens);
        self.output_tokens = newer.output_tokens.or(self.output_tokens);
        self.cache_read_input_tokens = newer
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.cache_creation_input_tokens = newer
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
    }

    fn usage(&self) -> TokenUsage {
        let read = self.cache_read_input_tokens.unwrap_or_default();
        TokenUsage {
            input: self.input_tokens.unwrap_or_default()
                + read
                + self.cache_creation_input_tokens.unwrap_or_default(),
            output: self.output_tokens.unwrap_or_default(),
            cached: read,
        }
    }
}

fn stop_reason(reason: Option<&str>) -> StopReason {
    match reason {
        Some("end_turn") => StopReason::Complete,
        Some("max_tokens") => StopReason::MaxTokens,
        Some("stop_sequence") => StopReason::StopSequence,
        Some("refusal") => StopReason::ContentFilter,
        Some(other) => StopReason::Other(other.to_owned()),
        None => StopReason::Other("unknown".to_owned()),
    }
}

/// Stream events, told apart by their `type` (which repeats the SSE event
/// name). Unknown types are skipped: Anthropic adds event types over time.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: WireStartMessage,
    },
    ContentBlockDelta {
        delta: WireDelta,
    },
    MessageDelta {
        delta: WireMessageDelta,
        #[serde(default)]
        usage: WireUsage,
    },
    MessageStop,
    Error {
        error: WireError,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct WireStartMessage {
    model: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
struct WireDelta {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct WireMessageDelta {
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    message: String,
}

#[derive(Default)]
struct StreamState {
    model: Option<String>,
    stop_reason: Option<String>,
    usage: WireUsage,
    done: bool,
}

impl Decoder for StreamState {
    fn event(
        &mut self,
        _event: Option<&str>,
        data: &str,
        deltas: &mut Vec<String>,
    ) -> Result<(), Fault> {
        let event: WireEvent = serde_json::from_str(data)
            .map_err(|e| Fault::Interrupted(format!("malformed event: {e}")))?;
        match event {
            WireEvent::MessageStart { message } => {
                self.model = message.model;
                self.usage.merge(message.usage);
            }
            WireEvent::ContentBlockDelta { delta } if delta.kind == "text_delta" => {
                deltas.push(delta.text);
            }
            WireEvent::MessageDelta { delta, usage } => {
                self.stop_reason = delta.stop_reason.or(self.stop_reason.take());
                self.usage.merge(usage);
            }
            WireEvent::MessageStop => self.done = true,
            WireEvent::Error { error } => {
                let message = format!("{}: {}", error.kind, error.message);
                return Err(match error.kind.as_str() {
                    "overloaded_error" => {
                        Fault::Error(ProviderError::Overloaded { retry_after: None })
                    }
                    "rate_limit_error" => {
                        Fault::Error(ProviderError::RateLimited { retry_after: None })
                    }
                    "api_error" => Fault::Error(ProviderError::Server {
                        status: 500,
                        message,
                    }),
                    _ => Fault::Interrupted(message),
                });
            }
            WireEvent::ContentBlockDelta { .. } | WireEvent::Other => {}
        }
        Ok(())
    }

    fn done(&self) -> bool {
        self.done
    }

    fn usage(&self) -> TokenUsage {
        self.usage.usage()
    }
}

#[async_trait]
impl AiProvider for AnthropicProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Claude
    }

    fn name(&self) -> &str {
        NAME
    }

    async fn complete(&self, request: &AiRequest) -> Result<Completion, ProviderError> {
        let started = Instant::now();
        let wire: WireMessageResponse = http::call_json(
            self.post(&WireRequest::new(request, false)),
            self.config.timeouts.request,
            &self.limits,
        )
        .await?;
        let content = wire
            .content
            .iter()
            .filter(|b| b.kind == "text")
            .map(|b| b.text.as_str())
            .collect();
        Ok(Completion {
            content,
            stop_reason: stop_reason(wire.stop_reason.as_deref()),
            usage: wire.usage.usage(),
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
        let response = http::send(
            self.post(&WireRequest::new(request, true)),
            timeouts.request,
            &self.limits,
        )
        .await?;
        http::expect_content_type(response.headers(), &["event-stream"])?;
        let mut state = StreamState::default();
        let content =
            stream::pump(response, Framing::Sse, timeouts.stall, &mut state, sink).await?;
        Ok(Completion {
            content,
            stop_reason: stop_reason(state.stop_reason.as_deref()),
            usage: state.usage(),
            latency_ms: http::elapsed_ms(started),
            provenance: http::provenance(self.kind(), NAME, state.model, request),
            mean_logprob: None,
        })
    }

    async fn health(&self) -> Result<(), ProviderError> {
        let request = self
            .client
            .get(self.config.url("/v1/models"))
            .header("x-api-key", self.config.key())
            .header("anthropic-version", API_VERSION);
        http::send(request, self.config.timeouts.request, &self.limits)
            .await
            .map(drop)
    }

    fn rate_limit_status(&self) -> RateLimitStatus {
        http::snapshot(&self.limits)
    }
}
