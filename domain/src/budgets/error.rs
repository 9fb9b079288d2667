//! Why tokens could not be reserved or settled.

use chrono::{DateTime, Utc};

use crate::accounts::SubscriptionTier;
use crate::{BoxError, InvalidField};

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error(transparent)]
    InvalidField(#[from] InvalidField),
    /// One session may not use more than its tier allows.
    #[error(
        "this task may need up to {requested} tokens; the {tier:?} tier allows {limit} per session"
    )]
    SessionLimitExceeded {
        tier: SubscriptionTier,
        requested: i64,
        limit: i64,
    },
    /// Not enough left this month (counting other sessions' reservations).
    #[error(
        "this task may need up to {requested} tokens but only {remaining} remain this month (resets {resets_at})"
    )]
    MonthlyLimitExceeded {
        requested: i64,
        remaining: i64,
        resets_at: DateTime<Utc>,
    },
    #[error("no token budget for this user")]
    NoBudget,
    #[error("reservation not found")]
    ReservationNotFound,
    /// Settling or releasing a reservation that was already released.
    #[error("reservation already closed")]
    ReservationClosed,
    #[error("unexpected budget error")]
    Unexpected(#[source] BoxError),
}
