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

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DomainEvent, EventEnvelope};
use crate::BoxError;

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

/// The consumer groups of spec §4.1. Each group receives every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerGroup {
    Notifications,
    Analytics,
    Audit,
}

impl ConsumerGroup {
    pub const ALL: [Self; 3] = [Self::Notifications, Self::Analytics, Self::Audit];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notifications => "notifications",
            Self::Analytics => "analytics",
            Self::Audit => "audit",
        }
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
