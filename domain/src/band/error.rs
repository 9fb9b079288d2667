//! How a provider call can fail, in terms the resilience layer acts on:
//! retry (and when), fail over, or give up.

use std::time::Duration;

use super::TokenUsage;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// 429: slow down; `retry_after` when the provider said how long.
    #[error("rate limited by the provider")]
    RateLimited { retry_after: Option<Duration> },
    /// 529 (Anthropic) or 503: the provider is overloaded.
    #[error("provider overloaded")]
    Overloaded { retry_after: Option<Duration> },
    /// A shared provider has no room for another of this user's calls
    /// right now (its waiting line for them is full). Back-pressure, not a
    /// fault: the provider is healthy and serving others, so the resilience
    /// layer never counts it against the circuit breaker; it fails over to
    /// the next link, or waits `retry_after` on the last one.
    #[error("provider busy: too many calls are waiting for it")]
    Busy { retry_after: Option<Duration> },
    /// Other 5xx.
    #[error("provider server error {status}")]
    Server { status: u16, message: String },
    /// No answer (or no next chunk) within the deadline.
    #[error("provider timed out")]
    Timeout,
    /// The stream broke after it started: the text so far and the usage the
    /// provider had reported are kept, so the attempt can be recorded.
    #[error("stream interrupted: {reason}")]
    StreamInterrupted {
        reason: String,
        partial: String,
        usage: TokenUsage,
    },
    /// The body did not parse as the vendor's format (or had the wrong
    /// content type).
    #[error("malformed provider response: {0}")]
    Malformed(String),
    /// 401/403: the key is missing or wrong. Retrying will not help.
    #[error("provider refused the credentials")]
    Unauthorized,
    /// 400/404/422: the request itself is wrong. Retrying will not help.
    #[error("provider refused the request: {0}")]
    InvalidRequest(String),
    /// The caller's token reservation cannot cover another attempt (after
    /// an attempt that spent tokens failed). Not retried: waiting does not
    /// refill a reservation.
    #[error("the task's token reservation cannot cover another attempt")]
    BudgetExhausted,
    /// Could not connect at all.
    #[error("provider unreachable: {0}")]
    Unreachable(String),
}

impl ProviderError {
    /// Whether the same call may succeed if tried again (here or on the
    /// same provider after a wait).
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            Self::Unauthorized | Self::InvalidRequest(_) | Self::BudgetExhausted
        )
    }

    /// The wait the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after }
            | Self::Overloaded { retry_after }
            | Self::Busy { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// Whether the provider turned the call away to pace it, not because
    /// anything is wrong with it: such answers say nothing about its health.
    pub fn is_back_pressure(&self) -> bool {
        matches!(self, Self::Busy { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_and_bad_requests_are_not_retried() {
        assert!(!ProviderError::Unauthorized.is_transient());
        assert!(!ProviderError::InvalidRequest("x".into()).is_transient());
        assert!(ProviderError::Timeout.is_transient());
        assert!(ProviderError::Overloaded { retry_after: None }.is_transient());
        let rl = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(rl.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn busy_is_transient_back_pressure_with_its_wait() {
        let busy = ProviderError::Busy {
            retry_after: Some(Duration::from_secs(2)),
        };
        assert!(busy.is_transient());
        assert!(busy.is_back_pressure());
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(
            busy.to_string(),
            "provider busy: too many calls are waiting for it"
        );
        assert!(!ProviderError::Overloaded { retry_after: None }.is_back_pressure());
    }
}
