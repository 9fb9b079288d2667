//! The event bus port (spec §4.1): how committed events leave the `events`
//! table for whoever reacts to them, and how those readers receive them.
//!
//! The table stays the source of truth. An outbox relay publishes what has
//! been committed, in `sequence` order, and may publish an event more than
//! once (after a crash, or from two server instances); adapters therefore
//! treat a sequence they already hold as published and deliver it no second
//! time. Every delivery carries the event's global `sequence`, so a reader
//! that also reads the table (a reconnecting WebSocket, say) can join the
//! two without gaps or duplicates: read the table up to sequence `n`, then
//! [`EventSubscriber::follow`] from `n`.
//!
//! Two ways to read:
//! * **Consumer groups** ([`ConsumerGroup`]): each group sees every event
//!   once; inside a group, consumers share the work. A delivery stays
//!   pending until acknowledged, and one left pending by a consumer that
//!   died is handed to another after the adapter's idle timeout
//!   (at-least-once).
//! * **Feeds** ([`EventFeed`]): every follower sees every event from a
//!   position on, nothing to acknowledge (fan-out to live clients).

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DomainEvent, EventEnvelope};
use crate::{BoxError, InvalidField};

/// An event as committed: its envelope and where it stands in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Global position in the `events` table: strictly increasing in commit
    /// order, with gaps where a transaction rolled back.
    pub sequence: i64,
    /// The project the event concerns, when there is one; it picks the
    /// per-project stream live views listen to.
    pub project_id: Option<Uuid>,
    /// The request that caused it, to find the matching log lines.
    pub request_id: Option<String>,
    pub envelope: EventEnvelope,
}

impl DomainEvent {
    /// The project this event's payload names, if any. Events whose payload
    /// does not name one (an AI session's later events, say) get theirs from
    /// the storage adapter, which knows the session's project.
    pub fn project_id(&self) -> Option<Uuid> {
        match self {
            Self::ProjectCreated { project } | Self::ProjectUpdated { project, .. } => {
                Some(project.id)
            }
            Self::TaskCreated { task } | Self::TaskUpdated { task, .. } => Some(task.project_id),
            Self::ProjectArchived { project_id, .. }
            | Self::ProjectDeleted { project_id }
            | Self::RepositoryLinked { project_id, .. }
            | Self::RepositoryUnlinked { project_id }
            | Self::TaskMoved { project_id, .. }
            | Self::TaskDeleted { project_id, .. }
            | Self::AiSessionStarted { project_id, .. } => Some(*project_id),
            // A wildcard rather than every variant: new events are
            // project-less until someone says otherwise, and the storage
            // adapter still finds the project of any AI session event.
            _ => None,
        }
    }
}

/// A consumer group's name (spec §4.1). Each group receives every event;
/// inside a group, consumers share the work.
///
/// Open-ended: every reaction (see [`super::reactions`]) reads through a
/// group of its own, named after it. Names are short lowercase
/// identifiers, since adapters put them in broker commands and keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConsumerGroup(Cow<'static, str>);

impl ConsumerGroup {
    /// The groups spec §4.1 names; the bus creates them up front.
    pub const NOTIFICATIONS: Self = Self(Cow::Borrowed("notifications"));
    pub const ANALYTICS: Self = Self(Cow::Borrowed("analytics"));
    pub const AUDIT: Self = Self(Cow::Borrowed("audit"));
    pub const ALL: [Self; 3] = [Self::NOTIFICATIONS, Self::ANALYTICS, Self::AUDIT];
    /// The task-progress reaction's group (not one the spec names).
    pub const TASK_PROGRESS: Self = Self(Cow::Borrowed("task-progress"));
    /// The longest name accepted.
    pub const MAX_LEN: usize = 40;

    /// A group named `name`.
    ///
    /// # Errors
    /// `InvalidField("group")` unless `name` is 1 to 40 characters of
    /// `a-z`, `0-9`, `_` and `-`.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Result<Self, InvalidField> {
        let name = name.into();
        let valid = !name.is_empty()
            && name.len() <= Self::MAX_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(name))
        } else {
            Err(InvalidField::new(
                "group",
                format!(
                    "must be 1 to {} characters of a-z, 0-9, _ and -",
                    Self::MAX_LEN
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ConsumerGroup {
    type Error = InvalidField;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::new(name)
    }
}

impl From<ConsumerGroup> for String {
    fn from(group: ConsumerGroup) -> Self {
        group.0.into_owned()
    }
}

impl fmt::Display for ConsumerGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which events a feed carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedScope {
    /// Every event.
    All,
    /// The events of one project (those whose `project_id` is it).
    Project(Uuid),
}

/// Names one delivery for [`GroupConsumer::ack`]. Opaque to consumers: the
/// adapter that made it decides what `source` means (for Redis, the stream).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryTag {
    pub source: String,
    pub sequence: i64,
}

/// One event handed to one consumer of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub event: StoredEvent,
    pub tag: DeliveryTag,
    /// Delivered before, to this consumer (after its restart) or to another
    /// that did not acknowledge it in time: the consumer may have acted on it
    /// already, so its handling must be idempotent.
    pub redelivered: bool,
}

/// Why the bus could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker could not be reached; trying again later may work.
    #[error("the event bus is unavailable")]
    Unavailable(#[source] BoxError),
    /// A feed fell behind what the bus retains: events after `after` were
    /// dropped before it read them. Re-read them from the event table.
    #[error("the feed fell behind the bus after sequence {after}")]
    Lagged { after: i64 },
    #[error("unexpected event bus failure")]
    Unexpected(#[source] BoxError),
}

/// Hands committed events to the bus (spec `IEventPublisher`).
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes `events`, given in ascending `sequence` order. Idempotent:
    /// an event the bus already holds (same sequence) is skipped, so the
    /// outbox relay may safely publish a batch again.
    ///
    /// # Errors
    /// `Unavailable` when the broker cannot be reached, `Unexpected` on any
    /// other failure; some of the events may have been published (publishing
    /// them again is harmless).
    async fn publish(&self, events: &[StoredEvent]) -> Result<(), BusError>;
}

/// Where readers of the bus come in.
#[async_trait]
pub trait EventSubscriber: Send + Sync {
    /// Joins `group` as `consumer` (a name unique within the group and stable
    /// across restarts, e.g. host and process). A consumer that rejoins gets
    /// its own unacknowledged deliveries first.
    ///
    /// # Errors
    /// `Unavailable` or `Unexpected` when the group cannot be set up.
    async fn join(
        &self,
        group: ConsumerGroup,
        consumer: &str,
    ) -> Result<Box<dyn GroupConsumer>, BusError>;

    /// Follows `scope` from just after sequence `after` (`None`: from now).
    ///
    /// # Errors
    /// `Lagged` when the bus no longer holds every event after `after`;
    /// `Unavailable` or `Unexpected` otherwise.
    async fn follow(
        &self,
        scope: FeedScope,
        after: Option<i64>,
    ) -> Result<Box<dyn EventFeed>, BusError>;
}

/// One consumer's view of its group.
#[async_trait]
pub trait GroupConsumer: Send {
    /// Up to `max` deliveries: this consumer's own unacknowledged ones after
    /// a rejoin, then ones a dead consumer left pending past the idle
    /// timeout, then new events. Waits a short while (the adapter's block
    /// time) when there is nothing, then answers an empty list, so a caller
    /// can check for shutdown between calls.
    ///
    /// # Errors
    /// `Unavailable` or `Unexpected`; nothing is lost, the next call retries.
    async fn next(&mut self, max: usize) -> Result<Vec<Delivery>, BusError>;

    /// Marks deliveries as handled: they will not be delivered again.
    ///
    /// # Errors
    /// `Unavailable` or `Unexpected`; the deliveries stay pending.
    async fn ack(&mut self, tags: &[DeliveryTag]) -> Result<(), BusError>;
}

/// A live tail of the bus: every event in scope, in `sequence` order.
#[async_trait]
pub trait EventFeed: Send {
    /// Up to `max` further events, in sequence order; waits a short while
    /// when there are none, then answers an empty list.
    ///
    /// # Errors
    /// `Lagged` when events were dropped before this feed read them (re-read
    /// the table from the last sequence seen); `Unavailable` or `Unexpected`.
    async fn next(&mut self, max: usize) -> Result<Vec<StoredEvent>, BusError>;
}
