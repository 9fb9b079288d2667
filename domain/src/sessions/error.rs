//! What can go wrong with sessions.

use super::SessionStatus;
use crate::{BoxError, InvalidField};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    InvalidField(#[from] InvalidField),
    /// Absent, or someone else's.
    #[error("session not found")]
    NotFound,
    /// The requested change is not allowed from the current status.
    #[error("a session cannot go from {from:?} to {to:?}")]
    InvalidTransition {
        from: SessionStatus,
        to: SessionStatus,
    },
    /// Someone else changed the session first; `actual` is its status now.
    #[error("the session is already {actual:?}")]
    Conflict { actual: SessionStatus },
    /// The review was decided (or expired) first; `actual` is its status.
    #[error("the review is already {actual:?}")]
    ReviewClosed { actual: super::ReviewStatus },
    /// The user already has `limit` sessions pending or executing.
    #[error("{limit} sessions are already running")]
    TooManyRunning { limit: u32 },
    /// The tokens to reserve did not fit the month.
    #[error("the token reservation was refused")]
    BudgetRefused,
    #[error("unexpected session error")]
    Unexpected(#[source] BoxError),
}
