//! Storage port for review requests, decisions and interventions. A
//! decision is written with all its effects — the session's move, a
//! reservation for what it sets going, the task's move — in one
//! transaction, with its events.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{HumanDecision, InterventionFilter, InterventionPoint, ReviewRequest, ReviewStatus};
use crate::budgets::Reservation;
use crate::events::EventEnvelope;
use crate::sessions::{SessionError, StatusMove};

/// A human decision (or an expiry) and all its effects, written in **one
/// transaction** that starts with a conditional move of the review out of
/// its open states: of two racing decisions — a double click, two tabs, a
/// retry — exactly one writes anything.
#[derive(Debug, Clone, Copy)]
pub struct DecisionStep<'a> {
    pub review_id: Uuid,
    pub session_id: Uuid,
    /// `approved`, `rejected`, `modified` or `expired`.
    pub to: ReviewStatus,
    /// The stored decision (none for an expiry).
    pub decision: Option<&'a HumanDecision>,
    pub intervention: Option<&'a InterventionPoint>,
    pub status: StatusMove<'a>,
    /// Reserve these tokens for what the approval sets going (the
    /// synthesis), as the session's new reservation. Refused → nothing is
    /// written.
    pub reserve: Option<&'a Reservation>,
    pub at: DateTime<Utc>,
    pub events: &'a [EventEnvelope],
}

/// A review request with its decision, if taken.
pub type ReviewRecord = (ReviewRequest, Option<HumanDecision>);

#[async_trait]
pub trait ReviewStore: Send + Sync {
    /// The review requests of a session (oldest first), if it belongs to
    /// `owner_id`.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn reviews(
        &self,
        owner_id: Uuid,
        session_id: Uuid,
    ) -> Result<Vec<ReviewRequest>, SessionError>;

    /// Applies a decision atomically.
    ///
    /// # Errors
    /// `ReviewClosed` when the review is no longer open, `Conflict` when
    /// the session moved, `BudgetRefused` when `reserve` does not fit (in
    /// each case nothing is written); `NotFound`; `Unexpected`.
    async fn decide(&self, step: DecisionStep<'_>) -> Result<(), SessionError>;

    /// Marks a pending review `under_review`; answers whether it moved.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn open_review(
        &self,
        owner_id: Uuid,
        review_id: Uuid,
        events: &[EventEnvelope],
    ) -> Result<bool, SessionError>;

    /// One review request with its decision, if it belongs to `owner_id`.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn review(
        &self,
        owner_id: Uuid,
        review_id: Uuid,
    ) -> Result<Option<ReviewRecord>, SessionError>;

    /// The owner's open reviews, oldest first.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn open_reviews(&self, owner_id: Uuid) -> Result<Vec<ReviewRequest>, SessionError>;

    /// Every user's open reviews that expired before `now`.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn overdue_reviews(&self, now: DateTime<Utc>)
    -> Result<Vec<ReviewRequest>, SessionError>;

    /// The owner's logged interventions, newest first, at most `limit`.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn interventions(
        &self,
        owner_id: Uuid,
        filter: &InterventionFilter,
        limit: u64,
    ) -> Result<Vec<InterventionPoint>, SessionError>;
}
