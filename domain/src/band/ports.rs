//! The AI provider port. Streaming hands token deltas to a sink rather than
//! returning a `Stream`, which keeps the domain free of async-stream crates.

use async_trait::async_trait;

use super::{AiRequest, Completion, ProviderError, ProviderKind, RateLimitStatus};

/// Receives text deltas as a streaming call produces them.
pub trait DeltaSink: Send + Sync {
    fn delta(&self, text: &str);

    /// The deltas sent so far belong to an attempt that failed and is being
    /// retried or failed over: a viewer should discard them. `reason` says
    /// why, for display.
    fn restart(&self, reason: &str) {
        let _ = reason;
    }
}

#[async_trait]
pub trait AiProvider: Send + Sync {
    /// The family, for provenance and the band's bindings.
    fn kind(&self) -> ProviderKind;

    /// A stable name for logs and the console ("anthropic", "openai", ...).
    fn name(&self) -> &str;

    /// One non-streaming call.
    ///
    /// # Errors
    /// Any [`ProviderError`]; transient ones may be retried by the caller.
    async fn complete(&self, request: &AiRequest) -> Result<Completion, ProviderError>;

    /// A streaming call: every text delta goes to `sink` as it arrives; the
    /// returned completion holds the whole text and the real usage.
    ///
    /// # Errors
    /// As `complete`; a stream that breaks after it started is
    /// `StreamInterrupted` with what had arrived.
    async fn stream(
        &self,
        request: &AiRequest,
        sink: &dyn DeltaSink,
    ) -> Result<Completion, ProviderError>;

    /// A cheap reachability check (e.g. listing models).
    ///
    /// # Errors
    /// Why the provider is not usable right now.
    async fn health(&self) -> Result<(), ProviderError>;

    /// What the provider last reported about its rate limits.
    fn rate_limit_status(&self) -> RateLimitStatus;

    /// The one model this provider runs, when it cannot run another (the
    /// built-in local model): it then replaces the locked model version.
    fn fixed_model(&self) -> Option<&str> {
        None
    }
}
