//! Storage port for sessions and their invocations. Writes carry their
//! events, appended in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AgentInvocation, AiSession, ReviewRequest, SessionError, SessionStatus};
use crate::events::EventEnvelope;

#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn create(
        &self,
        session: &AiSession,
        events: &[EventEnvelope],
    ) -> Result<(), SessionError>;

    /// Moves the session from `from` to `to` **only if** it is still in
    /// `from`; `failure` is stored when failing, `completed_at` is set on a
    /// terminal status.
    ///
    /// # Errors
    /// `Conflict` with the actual status when it had moved on;
    /// `NotFound`; `Unexpected`.
    async fn transition(
        &self,
        id: Uuid,
        from: SessionStatus,
        to: SessionStatus,
        failure: Option<&str>,
        at: DateTime<Utc>,
        events: &[EventEnvelope],
    ) -> Result<(), SessionError>;

    /// Moves the session from `from` to `awaiting_review` **only if** it is
    /// still in `from`, and stores the pending `review`, in one transaction.
    ///
    /// # Errors
    /// As [`Self::transition`].
    async fn hold_for_review(
        &self,
        from: SessionStatus,
        review: &ReviewRequest,
        events: &[EventEnvelope],
    ) -> Result<(), SessionError>;

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

    /// Stores an invocation and adds its tokens to the session's total.
    ///
    /// # Errors
    /// `NotFound` if the session vanished; `Unexpected`.
    async fn record_invocation(
        &self,
        invocation: &AgentInvocation,
        events: &[EventEnvelope],
    ) -> Result<(), SessionError>;

    /// The session with its invocations (oldest first), if it belongs to
    /// `owner_id`.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn find(
        &self,
        owner_id: Uuid,
        id: Uuid,
    ) -> Result<Option<(AiSession, Vec<AgentInvocation>)>, SessionError>;

    /// Sessions left non-terminal (e.g. by a restart), oldest first.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn unfinished(&self) -> Result<Vec<AiSession>, SessionError>;
}
