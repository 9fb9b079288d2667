//! OpenAI Chat Completions adapter (`POST /chat/completions`): wire types,
//! request mapping, response mapping and the SSE stream decoder.
//!
//! The output cap is sent as `max_completion_tokens`: OpenAI deprecated
//! `max_tokens` for it and its reasoning models reject the old name.
//! Non-streaming calls ask for `logprobs` so the band gets a confidence
//! signal; streaming calls ask for `stream_options.include_usage` because
//! otherwise a stream reports no usage at all.

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

const NAME: &str = "openai";

/// GPT through Chat Completions.
#[derive(Debug)]
pub struct OpenAiProvider {
    client: reqwest::Client,
    config: VendorConfig,
    limits: Mutex<RateLimitStatus>,
}

impl OpenAiProvider {
    pub fn new(client: reqwest::Client, config: VendorConfig) -> Self {
        Self {
            client,
            config,
            limits: Mutex::default(),
        }
    }

    fn post(&self, body: &WireRequest<'_>) -> reqwest::RequestBuilder {
        self.client
            .post(self.config.url("/chat/completions"))
            .bearer_auth(self.config.key())
            .json(body)
    }
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    temperature: f32,
    max_completion_tokens: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    logprobs: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

impl<'a> WireRequest<'a> {
    fn new(r: &'a AiRequest, stream: bool) -> Self {
        let system = r.system.as_deref().map(|content| WireMessage {
            role: "system",
            content,
        });
        let messages = system
            .into_iter()
            .chain(r.messages.iter().map(|m| WireMessage {
                role: match m.role {
                    MessageRole::User => "user",
                    MessageRole::Assistant => "assistant",
                },
                content: &m.content,
            }))
            .collect();
        Self {
            model: &r.model,
            messages,
            temperature: r.temperature,
            max_completion_tokens: r.max_tokens,
            logprobs: !stream,
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
        }
    }
}

#[derive(Deserialize)]
struct WireCompletion {
    model: Option<String>,
    #[serde(default)]
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireAnswer,
    finish_reason: Option<String>,
    logprobs: Option<WireLogprobs>,
}

#[derive(Deserialize)]
struct WireAnswer {
    content: Option<String>,
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct WireLogprobs {
    content: Option<Vec<WireTokenLogprob>>,
}

#[derive(Deserialize)]
struct WireTokenLogprob {
    logprob: f64,
}

#[derive(Deserialize, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    prompt_tokens_details: Option<WirePromptDetails>,
}

#[derive(Deserialize, Clone, Copy)]
struct WirePromptDetails {
    #[serde(default)]
    cached_tokens: u64,
}

impl From<WireUsage> for TokenUsage {
    fn from(u: WireUsage) -> Self {
        Self {
            input: u.prompt_tokens,
            output: u.completion_tokens,
            cached: u
                .prompt_tokens_details
                .map(|d| d.cached_tokens)
                .unwrap_or_default(),
        }
    }
}

fn stop_reason(reason: Option<&str>) -> StopReason {
    match reason {
        Some("stop") => StopReason::Complete,
        Some("length") => StopReason::MaxTokens,
        Some("content_filter") => StopReason::ContentFilter,
        Some(other) => StopReason::Other(other.to_owned()),
        None => StopReason::Other("unknown".to_owned()),
    }
}

/// The mean of the per-token log-probabilities, when there are any.
fn mean_logprob(logprobs: Option<&WireLogprobs>) -> Option<f64> {
    let tokens = logprobs?.content.as_ref()?;
    (!tokens.is_empty())
        .then(|| tokens.iter().map(|t| t.logprob).sum::<f64>() / tokens.len() as f64)
}

#[derive(Deserialize)]
struct WireChunk {
    model: Option<String>,
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    usage: Option<WireUsage>,
    /// Sent instead of a chunk when the server fails mid-stream.
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    delta: Option<WireChunkDelta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireChunkDelta {
    content: Option<String>,
}

#[derive(Default)]
struct StreamState {
    model: Option<String>,
    finish_reason: Option<String>,
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
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: WireChunk = serde_json::from_str(data)
            .map_err(|e| Fault::Interrupted(format!("malformed chunk: {e}")))?;
        if let Some(error) = chunk.error {
            let body = serde_json::json!({ "error": error }).to_string();
            return Err(Fault::Interrupted(http::vendor_message(&body)));
        }
        if chunk.model.is_some() {
            self.model = chunk.model;
        }
        if let Some(usage) = chunk.usage {
            self.usage = usage.into();
        }
        if let Some(choice) = chunk.choices.into_iter().next() {
            if let Some(text) = choice.delta.and_then(|d| d.content)
                && !text.is_empty()
            {
                deltas.push(text);
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
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
impl AiProvider for OpenAiProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gpt
    }

    fn name(&self) -> &str {
        NAME
    }

    async fn complete(&self, request: &AiRequest) -> Result<Completion, ProviderError> {
        let started = Instant::now();
        let wire: WireCompletion = http::call_json(
            self.post(&WireRequest::new(request, false)),
            self.config.timeouts.request,
            &self.limits,
        )
        .await?;
        let choice = wire
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| ProviderError::Malformed("completion without choices".to_owned()))?;
        let refused = choice.message.content.is_none() && choice.message.refusal.is_some();
        Ok(Completion {
            content: choice.message.content.unwrap_or_default(),
            stop_reason: if refused {
                StopReason::ContentFilter
            } else {
                stop_reason(choice.finish_reason.as_deref())
            },
            usage: wire.usage.map(TokenUsage::from).unwrap_or_default(),
            latency_ms: http::elapsed_ms(started),
            provenance: http::provenance(self.kind(), NAME, wire.model, request),
            mean_logprob: mean_logprob(choice.logprobs.as_ref()),
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
            .get(self.config.url("/models"))
            .bearer_auth(self.config.key());
        http::send(request, self.config.timeouts.request, &self.limits)
            .await
            .map(drop)
    }

    fn rate_limit_status(&self) -> RateLimitStatus {
        http::snapshot(&self.limits)
    }
}
