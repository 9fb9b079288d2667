//! Budget use cases: reserve a task's maximum before the band fans out,
//! settle every call, release what is left.

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::{BudgetError, BudgetLedger, Reservation, Settlement, TokenBudget};
use crate::InvalidField;
use crate::events::{AggregateType, DomainEvent, EventEnvelope};

#[derive(Clone)]
pub struct BudgetService {
    ledger: Arc<dyn BudgetLedger>,
}

impl BudgetService {
    pub fn new(ledger: Arc<dyn BudgetLedger>) -> Self {
        Self { ledger }
    }

    /// The user's current budget period.
    ///
    /// # Errors
    /// `NoBudget` or `Unexpected`.
    pub async fn current(&self, user_id: Uuid) -> Result<TokenBudget, BudgetError> {
        self.ledger.current(user_id, Utc::now()).await
    }

    /// Reserves `estimate` tokens for a session. When the session or the
    /// month cannot afford it, nothing is reserved, a `TokenBudgetExceeded`
    /// event is appended and the error says why.
    ///
    /// # Errors
    /// `InvalidField("estimate")` for a non-positive estimate,
    /// `SessionLimitExceeded`, `MonthlyLimitExceeded`, `NoBudget`, `Unexpected`.
    pub async fn reserve(
        &self,
        user_id: Uuid,
        session_id: Option<Uuid>,
        estimate: i64,
    ) -> Result<Reservation, BudgetError> {
        if estimate <= 0 {
            return Err(
                InvalidField::new("estimate", "must be a positive number of tokens").into(),
            );
        }
        let now = Utc::now();
        let budget = self.ledger.current(user_id, now).await?;
        if estimate > budget.max_session_tokens {
            self.refused(&budget, estimate, "session_limit").await?;
            return Err(BudgetError::SessionLimitExceeded {
                tier: budget.tier,
                requested: estimate,
                limit: budget.max_session_tokens,
            });
        }
        let reservation = Reservation {
            id: Uuid::new_v4(),
            budget_id: budget.id,
            user_id,
            session_id,
            amount: estimate,
        };
        if self.ledger.try_reserve(&reservation, now).await? {
            return Ok(reservation);
        }
        // Re-read so the message shows what is left now, not before.
        let budget = self.ledger.current(user_id, now).await?;
        self.refused(&budget, estimate, "monthly_limit").await?;
        Err(BudgetError::MonthlyLimitExceeded {
            requested: estimate,
            remaining: budget.remaining(),
            resets_at: budget.resets_at,
        })
    }

    /// Charges one call's real usage.
    ///
    /// # Errors
    /// `InvalidField("used")` for negative usage, `ReservationNotFound`,
    /// `ReservationClosed`, `Unexpected`.
    pub async fn settle(&self, reservation_id: Uuid, used: i64) -> Result<Settlement, BudgetError> {
        if used < 0 {
            return Err(InvalidField::new("used", "must not be negative").into());
        }
        self.ledger.settle(reservation_id, used, Utc::now()).await
    }

    /// Returns what the reservation still holds.
    ///
    /// # Errors
    /// `ReservationNotFound`, `ReservationClosed`, `Unexpected`.
    pub async fn release(&self, reservation_id: Uuid) -> Result<i64, BudgetError> {
        self.ledger.release(reservation_id, Utc::now()).await
    }

    async fn refused(
        &self,
        budget: &TokenBudget,
        requested: i64,
        limit: &str,
    ) -> Result<(), BudgetError> {
        let event = EventEnvelope::new(
            AggregateType::Budget,
            budget.id,
            budget.user_id,
            Utc::now(),
            DomainEvent::TokenBudgetExceeded {
                tier: budget.tier,
                limit: limit.to_owned(),
                requested,
                remaining: budget.remaining(),
                max_session_tokens: budget.max_session_tokens,
            },
        );
        self.ledger.record(&event).await
    }
}
