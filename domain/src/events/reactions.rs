//! Reactions to events (issue 17): the one place where what happens *after*
//! an event is registered.
//!
//! A [`Reaction`] names itself (its name is also the consumer group it
//! reads through, so every reaction sees every event, independently of the
//! others), says which events it wants, and handles one event at a time.
//! The server runs each as a supervised consumer of its group: delivery is
//! at least once, so a handler must be idempotent; on top of that the
//! [`ReactionLog`] records which (reaction, event id) pairs were handled,
//! so a redelivered event is acknowledged without running the handler
//! again. A handler that keeps failing is retried with back-off and then
//! recorded as a [`DeadLetter`] instead of blocking its stream.
//!
//! The receipt is written after the handler's own writes, not in the same
//! transaction: that would make every handler take a transaction from the
//! log's adapter. The gap (a crash after the handler, before the receipt)
//! only means the handler runs twice, which its own idempotence covers —
//! the notification inbox, say, is unique on (user, event id).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{ConsumerGroup, DomainEvent, StoredEvent};
use crate::BoxError;
use crate::pagination::{Page, PageRequest};

/// Why a reaction could not handle an event, or its log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReactionError {
    /// The handler refused the event for a reason of its own; retrying may
    /// not help, but is done anyway before the event is dead-lettered.
    #[error("{0}")]
    Failed(String),
    /// An adapter failed (a lost connection, say); retrying may help.
    #[error("unexpected failure")]
    Unexpected(#[source] BoxError),
}

/// Something done in response to events.
#[async_trait]
pub trait Reaction: Send + Sync {
    /// The reaction's name, which is also its consumer group: stable across
    /// releases, or the new group starts over from the oldest retained
    /// event.
    fn name(&self) -> ConsumerGroup;

    /// Whether `event` concerns this reaction; others are acknowledged at
    /// once without touching the log.
    fn wants(&self, event: &DomainEvent) -> bool;

    /// Handles one wanted event. Must be idempotent: the same event may be
    /// handed over again (after a crash, or a slow acknowledgement).
    ///
    /// # Errors
    /// Any failure; the event is retried, then dead-lettered.
    async fn handle(&self, event: &StoredEvent) -> Result<(), ReactionError>;
}

/// Every reaction the application runs, registered once at start-up.
#[derive(Clone, Default)]
pub struct Reactions {
    list: Vec<Arc<dyn Reaction>>,
}

/// Two reactions of one name would share a consumer group, and so split
/// the events between them instead of each seeing all of them.
#[derive(Debug, thiserror::Error)]
#[error("a reaction named {0} is already registered")]
pub struct DuplicateReaction(pub ConsumerGroup);

impl Reactions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `reaction`.
    ///
    /// # Errors
    /// When a reaction of the same name is already registered.
    pub fn register(mut self, reaction: Arc<dyn Reaction>) -> Result<Self, DuplicateReaction> {
        let name = reaction.name();
        if self.list.iter().any(|r| r.name() == name) {
            return Err(DuplicateReaction(name));
        }
        self.list.push(reaction);
        Ok(self)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Reaction>> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// An event a reaction gave up on after its retries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub id: Uuid,
    pub reaction: String,
    pub event_id: Uuid,
    pub sequence: i64,
    pub event_type: String,
    /// Whose event it was (the envelope's user): who may see this letter.
    pub user_id: Option<Uuid>,
    /// The last failure, with its causes.
    pub error: String,
    pub attempts: u32,
    pub failed_at: DateTime<Utc>,
}

/// What reactions have done: the receipts that deduplicate redeliveries,
/// and the dead letters.
#[async_trait]
pub trait ReactionLog: Send + Sync {
    /// Whether `reaction` already handled event `event_id`.
    ///
    /// # Errors
    /// `Unexpected` when the log cannot be read.
    async fn handled(&self, reaction: &str, event_id: Uuid) -> Result<bool, ReactionError>;

    /// Records that `reaction` handled `event_id`; recording it again is
    /// harmless.
    ///
    /// # Errors
    /// `Unexpected` when the log cannot be written.
    async fn record_handled(
        &self,
        reaction: &str,
        event_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), ReactionError>;

    /// Records `letter`. One letter per (reaction, event): a second failure
    /// of the same event replaces the first's error and attempts.
    ///
    /// # Errors
    /// `Unexpected` when the log cannot be written.
    async fn record_dead_letter(&self, letter: &DeadLetter) -> Result<(), ReactionError>;

    /// `user_id`'s dead letters, newest first.
    ///
    /// # Errors
    /// `Unexpected` when the log cannot be read.
    async fn dead_letters(
        &self,
        user_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<DeadLetter>, ReactionError>;
}

/// What the API offers about reactions: a user's dead letters.
#[derive(Clone)]
pub struct ReactionService {
    log: Arc<dyn ReactionLog>,
}

impl ReactionService {
    pub fn new(log: Arc<dyn ReactionLog>) -> Self {
        Self { log }
    }

    /// `user_id`'s dead letters, newest first.
    ///
    /// # Errors
    /// `Unexpected` when the log cannot be read.
    pub async fn dead_letters(
        &self,
        user_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<DeadLetter>, ReactionError> {
        self.log.dead_letters(user_id, page).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);

    #[async_trait]
    impl Reaction for Named {
        fn name(&self) -> ConsumerGroup {
            ConsumerGroup::new(self.0).unwrap()
        }
        fn wants(&self, _: &DomainEvent) -> bool {
            true
        }
        async fn handle(&self, _: &StoredEvent) -> Result<(), ReactionError> {
            Ok(())
        }
    }

    #[test]
    fn names_are_unique() {
        let reactions = Reactions::new()
            .register(Arc::new(Named("a")))
            .unwrap()
            .register(Arc::new(Named("b")))
            .unwrap();
        assert_eq!(reactions.len(), 2);
        let err = reactions.register(Arc::new(Named("a"))).err().unwrap();
        assert_eq!(err.0.as_str(), "a");
    }

    #[test]
    fn group_names_are_validated() {
        for good in ["inbox", "a", "x-1_2", &"a".repeat(40)] {
            assert!(ConsumerGroup::new(good.to_owned()).is_ok(), "{good}");
        }
        for bad in ["", "Inbox", "in box", "in:box", "é", &"a".repeat(41)] {
            let err = ConsumerGroup::new(bad.to_owned()).unwrap_err();
            assert_eq!(err.field, "group", "{bad}");
        }
        let json = serde_json::to_string(&ConsumerGroup::AUDIT).unwrap();
        assert_eq!(json, "\"audit\"");
        assert!(serde_json::from_str::<ConsumerGroup>("\"NO\"").is_err());
    }
}
