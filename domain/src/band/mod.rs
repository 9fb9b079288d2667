//! The AI band (spec §2.1–2.3, §3.1): agents, their providers and what a
//! provider answers. This module holds the provider port and the value types
//! every adapter maps its wire format to; the conductor, confidence, safety
//! and resilience build on them.

pub mod binding;
pub mod coder_output;
pub mod confidence;
mod diff;
mod error;
pub mod fallback;
mod model;
mod ports;
pub mod registry;
pub mod resilience;
pub mod safety;

pub use binding::{Binding, Catalog};
pub use coder_output::{
    CoderOutput, ProposedFile, Review, ReviewVerdict, UnsafePath, parse_self_reported_confidence,
};
pub use confidence::{ConfidenceScore, ConfidenceSignals};
pub use diff::{Hunk, Patch};
pub use error::ProviderError;
pub use fallback::{BreakerSettings, ChainLink, ChainOutcome, Resilience, Sleeper};
pub use model::{
    AgentRole, AiRequest, Attempt, ChatMessage, Completion, MessageRole, Provenance, ProviderKind,
    RateLimitStatus, StopReason, TokenUsage,
};
pub use ports::{AiProvider, DeltaSink};
pub use registry::{Band, ModelLock, ProviderStatus};
pub use resilience::{
    BreakerSnapshot, BreakerState, CircuitBreaker, OpenUntil, Permit, RetryPolicy,
};
pub use safety::{FlagKind, Risk, SafetyCheck, SafetyFlag, ValidationOutcome};
