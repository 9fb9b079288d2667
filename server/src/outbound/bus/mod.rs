//! Event bus adapters (spec §4.1): the in-process bus (the default) and
//! Redis Streams (when `REDIS_URL` is set), both behind the domain's
//! `EventPublisher` / `EventSubscriber` ports, and the outbox relay that
//! feeds whichever is configured from the `events` table.
//!
//! Both adapters give the same contract: publishing is idempotent by
//! `sequence`; each consumer group sees every event, shares it among its
//! consumers, keeps it pending until acknowledged and hands it to another
//! consumer once it has been pending longer than the idle timeout; feeds
//! replay from a sequence. The in-process bus keeps all of that in memory,
//! so it is lost with the process (the relay's cursor is not: what was
//! committed but not yet published is published after a restart).

pub mod memory;
pub mod redis_streams;
pub mod relay;

use std::sync::Arc;
use std::time::Duration;

use domain::events::{EventPublisher, EventSubscriber};

pub use memory::InProcessBus;
pub use redis_streams::RedisStreamsBus;
pub use relay::{Relay, RelayError, RelayHandle, RelaySettings};

/// Tunables shared by both adapters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusSettings {
    /// Entries kept per stream (Redis `MAXLEN ~`, approximate) or in the
    /// in-process log (exact). Consumers further behind than this miss
    /// events (feeds are told: `Lagged`); the `events` table still has them.
    pub max_len: usize,
    /// How long a delivery may stay unacknowledged before another consumer
    /// of its group may take it over (its consumer is presumed dead).
    pub claim_idle: Duration,
    /// How long `next` waits for something before answering empty.
    pub block: Duration,
}

impl Default for BusSettings {
    fn default() -> Self {
        Self {
            max_len: 10_000,
            claim_idle: Duration::from_secs(30),
            block: Duration::from_secs(2),
        }
    }
}

/// The configured bus: both ports over one adapter, and the name of the
/// relay cursor that tracks what has been published to it.
#[derive(Clone)]
pub struct EventBus {
    pub publisher: Arc<dyn EventPublisher>,
    pub subscriber: Arc<dyn EventSubscriber>,
    /// A bus of another kind (or another Redis prefix) has its own cursor,
    /// so switching buses never leaves the new one missing events.
    pub cursor: String,
}

impl EventBus {
    /// The in-process bus.
    pub fn in_process(settings: BusSettings) -> Self {
        let bus = Arc::new(InProcessBus::new(settings));
        Self {
            publisher: bus.clone(),
            subscriber: bus,
            cursor: "in_process".to_owned(),
        }
    }

    /// Redis Streams at `url`, under key prefix `prefix`, with the consumer
    /// groups created.
    ///
    /// # Errors
    /// When Redis cannot be reached or refuses to create the groups.
    pub async fn redis(
        url: &str,
        prefix: &str,
        settings: BusSettings,
    ) -> Result<Self, domain::events::BusError> {
        let bus = Arc::new(RedisStreamsBus::connect(url, prefix, settings).await?);
        Ok(Self {
            publisher: bus.clone(),
            subscriber: bus,
            cursor: format!("redis:{prefix}"),
        })
    }
}
