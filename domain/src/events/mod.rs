//! Domain events (spec §3.3): every state change produces one, and the
//! persistence adapter appends it in the same transaction as the change, so
//! the `events` table is a complete, immutable history.

mod model;

pub use model::{AggregateType, DomainEvent, EventEnvelope};
