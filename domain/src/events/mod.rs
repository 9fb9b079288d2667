//! Domain events (spec §3.3): every state change produces one, and the
//! persistence adapter appends it in the same transaction as the change, so
//! the `events` table is a complete, immutable history. The event bus
//! (spec §4.1, [`bus`]) carries committed events to whoever reacts to them,
//! and [`reactions`] is where those reactions are registered.

mod bus;
mod model;
pub mod reactions;

pub use bus::{
    BusError, ConsumerGroup, Delivery, DeliveryTag, EventFeed, EventPublisher, EventSubscriber,
    FeedScope, GroupConsumer, StoredEvent,
};
pub use model::{AggregateType, DomainEvent, EventEnvelope};
pub use reactions::{
    DeadLetter, DuplicateReaction, Reaction, ReactionError, ReactionLog, ReactionService, Reactions,
};
