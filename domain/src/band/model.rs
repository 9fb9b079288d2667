//! Requests to and answers from an AI provider, independent of any vendor's
//! wire format.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which family of provider an agent runs on (spec `agent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Anthropic Messages API.
    Claude,
    /// OpenAI Chat Completions.
    Gpt,
    /// Google Gemini generateContent.
    Gemini,
    /// A local model: Ollama or any OpenAI-compatible server, or in-process.
    Local,
}

impl ProviderKind {
    pub const ALL: [Self; 4] = [Self::Claude, Self::Gpt, Self::Gemini, Self::Local];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Claude => "Claude (Anthropic)",
            Self::Gpt => "GPT (OpenAI)",
            Self::Gemini => "Gemini (Google)",
            Self::Local => "Local model",
        }
    }

    /// The setting that makes it available, for "not configured" hints.
    pub fn setting(self) -> &'static str {
        match self {
            Self::Claude => "ANTHROPIC_API_KEY",
            Self::Gpt => "OPENAI_API_KEY",
            Self::Gemini => "GEMINI_API_KEY",
            Self::Local => "OLLAMA_HOST or EXITON_LOCAL_MODEL",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Gpt => "gpt",
            Self::Gemini => "gemini",
            Self::Local => "local",
        }
    }
}

/// What an agent does in the band (spec `role`), plus the conductor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentRole {
    Coder,
    Reviewer,
    Designer,
    Pm,
    Conductor,
}

impl AgentRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coder => "coder",
            Self::Reviewer => "reviewer",
            Self::Designer => "designer",
            Self::Pm => "pm",
            Self::Conductor => "conductor",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: MessageRole,
    pub content: String,
}

impl ChatMessage {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: MessageRole::User,
            content: content.into(),
        }
    }
}

/// One call to a model. `model` is the locked model version for the role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiRequest {
    pub model: String,
    /// System instructions, sent the way each vendor expects them.
    pub system: Option<String>,
    pub messages: Vec<ChatMessage>,
    pub temperature: f32,
    pub max_tokens: u32,
    /// The user on whose behalf the call is made (a session's owner), so a
    /// provider shared by every user (the built-in model) can take turns
    /// between users instead of serving whoever queued most first. `None`
    /// for calls made for nobody in particular (health probes, the
    /// console's tests); those share one anonymous turn. Never sent to a
    /// vendor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<uuid::Uuid>,
}

/// Why generation stopped, normalised across vendors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model finished its answer (`end_turn`, `stop`, `STOP`).
    Complete,
    /// Cut off by `max_tokens`: the answer is truncated.
    MaxTokens,
    StopSequence,
    /// Withheld by the vendor's safety system.
    ContentFilter,
    /// Anything else the vendor reported, verbatim.
    Other(String),
}

/// Tokens the provider says it used (never estimated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
    /// Input tokens served from the vendor's prompt cache.
    pub cached: u64,
}

impl TokenUsage {
    pub fn total(&self) -> u64 {
        self.input + self.output
    }
}

/// Where an output came from (spec `Provenance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub agent: ProviderKind,
    pub provider: String,
    /// The model version the provider reports having used.
    pub model_version: String,
    pub timestamp: DateTime<Utc>,
    pub temperature: f32,
    pub max_tokens: u32,
}

/// A finished call: the text and everything known about how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub content: String,
    pub stop_reason: StopReason,
    pub usage: TokenUsage,
    pub latency_ms: u64,
    pub provenance: Provenance,
    /// Mean log-probability of the generated tokens, where the vendor offers it.
    pub mean_logprob: Option<f64>,
}

/// What a provider last said about its rate limits (Anthropic's
/// `anthropic-ratelimit-*`, OpenAI's `x-ratelimit-*`, `retry-after`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitStatus {
    pub requests_limit: Option<u64>,
    pub requests_remaining: Option<u64>,
    pub tokens_limit: Option<u64>,
    pub tokens_remaining: Option<u64>,
    /// When the most constrained limit resets.
    pub reset_at: Option<DateTime<Utc>>,
    /// Seconds the provider asked us to wait, from its last 429/529.
    pub retry_after_secs: Option<u64>,
}

/// One provider attempt inside an invocation (a failed-over stream keeps
/// both attempts, each with its real usage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub provider: String,
    pub model: String,
    pub usage: TokenUsage,
    pub error: Option<String>,
    pub latency_ms: u64,
}
