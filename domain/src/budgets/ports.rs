//! Storage port for budgets and reservations. Every method is one atomic
//! step: implementations use conditional updates so that concurrent
//! sessions can never push `used_this_month + reserved_tokens` past the
//! monthly limit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{BudgetError, Reservation, Settlement, TokenBudget};
use crate::events::EventEnvelope;

#[async_trait]
pub trait BudgetLedger: Send + Sync {
    /// The budget period that contains `now`; when the user's last period has
    /// reset, a fresh one (same tier, nothing used) is opened first.
    ///
    /// # Errors
    /// `NoBudget` for an unknown user; `Unexpected` on storage failure.
    async fn current(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<TokenBudget, BudgetError>;

    /// Atomically adds `reservation.amount` to the period's reserved tokens
    /// and records the reservation, **only if** used + reserved + amount
    /// stays within the monthly limit. `Ok(false)` when it does not fit.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn try_reserve(
        &self,
        reservation: &Reservation,
        now: DateTime<Utc>,
    ) -> Result<bool, BudgetError>;

    /// Charges `used` real tokens: moves up to what the reservation still
    /// holds from reserved to used, and adds any excess to used as well (real
    /// usage is never hidden), in one transaction.
    ///
    /// # Errors
    /// `ReservationNotFound`, `ReservationClosed`, or `Unexpected`.
    async fn settle(
        &self,
        reservation_id: Uuid,
        used: i64,
        now: DateTime<Utc>,
    ) -> Result<Settlement, BudgetError>;

    /// Closes the reservation and returns what it still held to the budget.
    /// Answers the number of tokens released.
    ///
    /// # Errors
    /// `ReservationNotFound`, `ReservationClosed`, or `Unexpected`.
    async fn release(&self, reservation_id: Uuid, now: DateTime<Utc>) -> Result<i64, BudgetError>;

    /// Appends an event about the budget that changes no state (a refused
    /// reservation).
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn record(&self, event: &EventEnvelope) -> Result<(), BudgetError>;
}
