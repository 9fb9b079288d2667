//! Storage port for sessions and their invocations (reviews have their
//! own, `reviews::ReviewStore`). Writes carry their events, appended in
//! the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AgentInvocation, AiSession, SessionError, SessionStatus};
use crate::events::EventEnvelope;
use crate::reviews::ReviewRequest;

/// A conditional status change: only applied if the session is still `from`.
#[derive(Debug, Clone, Copy)]
pub struct StatusMove<'a> {
    pub from: SessionStatus,
    pub to: SessionStatus,
    /// Stored when failing.
    pub failure: Option<&'a str>,
}

/// Everything one step of a run changes, written in **one transaction**:
/// the agent calls it made, their tokens charged to the session's
/// reservation, a status move, a pending review, the release of what the
/// reservation still holds, and the events describing it all. One commit
/// per step keeps the conductor's bookkeeping off the critical path (and
/// a crash can never leave an invocation stored but not charged).
#[derive(Debug, Clone, Copy)]
pub struct SessionStep<'a> {
    pub session_id: Uuid,
    pub invocations: &'a [AgentInvocation],
    /// `(reservation, tokens)`: settle these real tokens.
    pub charge: Option<(Uuid, i64)>,
    pub status: Option<StatusMove<'a>>,
    pub review: Option<&'a ReviewRequest>,
    /// Close this reservation, returning what it still holds to the month.
    pub release: Option<Uuid>,
    /// Record what became of the coder's proposal.
    pub change: Option<&'a crate::repos::SessionChange>,
    pub at: DateTime<Utc>,
    pub events: &'a [EventEnvelope],
}

impl<'a> SessionStep<'a> {
    /// A step that changes nothing yet: fill in what it does.
    pub fn new(session_id: Uuid, at: DateTime<Utc>, events: &'a [EventEnvelope]) -> Self {
        Self {
            session_id,
            invocations: &[],
            charge: None,
            status: None,
            review: None,
            release: None,
            change: None,
            at,
            events,
        }
    }
}

#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session — unless its user would then have more than
    /// `running_limit` sessions pending or executing. The check and the
    /// insert are one step per user, so racing starts (on any instance)
    /// cannot both slip under the limit.
    ///
    /// # Errors
    /// `TooManyRunning`; `Unexpected` on storage failure.
    async fn create(
        &self,
        session: &AiSession,
        events: &[EventEnvelope],
        running_limit: u32,
    ) -> Result<(), SessionError>;

    /// Applies `step` atomically. The invocations' tokens are added to the
    /// session's total; a terminal status sets `completed_at`.
    ///
    /// # Errors
    /// `Conflict` with the actual status when the status move's `from` no
    /// longer holds (then nothing is written); `NotFound`; `Unexpected`
    /// (also for a reservation that is closed or missing).
    async fn commit(&self, step: SessionStep<'_>) -> Result<(), SessionError>;

    /// Moves the session from `from` to `to` **only if** it is still in
    /// `from`; `failure` is stored when failing.
    ///
    /// # Errors
    /// As [`Self::commit`].
    async fn transition(
        &self,
        id: Uuid,
        from: SessionStatus,
        to: SessionStatus,
        failure: Option<&str>,
        at: DateTime<Utc>,
        events: &[EventEnvelope],
    ) -> Result<(), SessionError> {
        self.commit(SessionStep {
            status: Some(StatusMove { from, to, failure }),
            ..SessionStep::new(id, at, events)
        })
        .await
    }

    /// Stores an invocation and adds its tokens to the session's total.
    ///
    /// # Errors
    /// `NotFound` if the session vanished; `Unexpected`.
    async fn record_invocation(
        &self,
        invocation: &AgentInvocation,
        events: &[EventEnvelope],
    ) -> Result<(), SessionError> {
        self.commit(SessionStep {
            invocations: std::slice::from_ref(invocation),
            ..SessionStep::new(invocation.session_id, invocation.invoked_at, events)
        })
        .await
    }

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
