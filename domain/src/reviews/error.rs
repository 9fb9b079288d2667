//! What can go wrong with reviews.

use super::ReviewStatus;
use crate::BoxError;
use crate::InvalidField;
use crate::budgets::BudgetError;
use crate::sessions::{ConductorError, SessionError, SessionStatus};

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    InvalidField(#[from] InvalidField),
    /// Absent, or someone else's.
    #[error("review not found")]
    NotFound,
    /// The decision names outputs other than the ones the review shows.
    #[error("the review's outputs are not the ones you saw; reload it and decide again")]
    Stale,
    /// Decided otherwise first (another tab, another client).
    #[error("the review is already {}", .status.as_str())]
    AlreadyDecided { status: ReviewStatus },
    #[error("the review expired before a decision was taken")]
    Expired,
    /// The session left `awaiting_review` by another path.
    #[error("the session is {} now; nothing was changed", .actual.as_str())]
    SessionMoved { actual: SessionStatus },
    /// Playing on needs tokens the month no longer has.
    #[error(transparent)]
    Budget(BudgetError),
    /// Playing on needs a provider that is no longer configured.
    #[error("no AI provider is configured: set {0}")]
    NoProvider(String),
    #[error("unexpected review error")]
    Unexpected(#[source] BoxError),
}

impl From<SessionError> for ReviewError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::InvalidField(f) => Self::InvalidField(f),
            SessionError::NotFound => Self::NotFound,
            SessionError::ReviewClosed { actual } => Self::AlreadyDecided { status: actual },
            SessionError::Conflict { actual } => Self::SessionMoved { actual },
            other => Self::Unexpected(Box::new(other)),
        }
    }
}

impl From<ConductorError> for ReviewError {
    fn from(e: ConductorError) -> Self {
        match e {
            ConductorError::InvalidField(f) => Self::InvalidField(f),
            // The task went away under the session: the review cannot go on.
            ConductorError::TaskNotFound | ConductorError::SessionNotFound => Self::NotFound,
            ConductorError::NoProvider(s) => Self::NoProvider(s),
            // A continuation binds no lineup, so this cannot arise from one;
            // mapped for completeness.
            e @ ConductorError::ProviderNotConfigured { .. } => Self::NoProvider(e.to_string()),
            ConductorError::Budget(b) => Self::Budget(b),
            ConductorError::NotRunning { status } | ConductorError::NotRetryable { status } => {
                Self::SessionMoved { actual: status }
            }
            // A continuation is not a new start; mapped for completeness.
            e @ (ConductorError::TooManySessions { .. } | ConductorError::Repository(_)) => {
                Self::Unexpected(Box::new(e))
            }
            ConductorError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}
