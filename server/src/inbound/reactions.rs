//! Runs the registered reactions (issue 17) off the event bus: each as a
//! consumer of its own consumer group, supervised.
//!
//! Per delivery: an event the reaction does not want is acknowledged at
//! once; one it already handled (a receipt in the [`ReactionLog`]) too;
//! otherwise the handler runs, the receipt is written, and the delivery is
//! acknowledged. A failing handler (an error or a panic) is retried on the
//! [`RetrySchedule`], then recorded as a dead letter and acknowledged, so
//! one bad event never blocks the events behind it. When even the dead
//! letter cannot be written (the database is down), the delivery is left
//! unacknowledged: the bus hands it over again after a rejoin.
//!
//! A bus error makes the consumer back off and rejoin; a consumer task that
//! panics anyway is restarted by its supervisor. Nothing here ends the
//! process. [`ReactionsHandle::stop`] stops them all; a delivery being
//! handled at that moment stays pending and is redelivered (at least once).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::events::{
    DeadLetter, Delivery, EventSubscriber, GroupConsumer, Reaction, ReactionError, ReactionLog,
    Reactions,
};
use futures_util::FutureExt as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How often a failing handler is tried, and how long to wait in between:
/// `first`, doubling, at most `max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    /// Tries in all, the first included (at least one is made).
    pub attempts: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            attempts: 5,
            first: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

impl RetrySchedule {
    /// The wait after failed try number `attempt` (1-based).
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// How the reactions run.
#[derive(Debug, Clone)]
pub struct ReactionSettings {
    /// This instance's consumer name in every group: unique among the
    /// instances sharing a bus, and stable across restarts when possible
    /// (a restarted consumer gets its own pending deliveries first).
    pub consumer: String,
    /// Deliveries asked for per read.
    pub batch: usize,
    pub retry: RetrySchedule,
    /// The longest wait before rejoining after a bus error or a restart.
    pub max_backoff: Duration,
}

impl ReactionSettings {
    pub fn new(consumer: impl Into<String>) -> Self {
        Self {
            consumer: consumer.into(),
            batch: 32,
            retry: RetrySchedule::default(),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// A consumer name for this process when none is configured: host and pid,
/// so instances on one host, or on hosts of different names, never share
/// one (two consumers of one name would both replay its pending list).
pub fn default_consumer_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "exiton".to_owned());
    format!("{host}-{}", std::process::id())
}

/// Starts one supervised consumer per reaction.
pub fn spawn(
    reactions: &Reactions,
    subscriber: Arc<dyn EventSubscriber>,
    log: Arc<dyn ReactionLog>,
    settings: ReactionSettings,
) -> ReactionsHandle {
    let (stop, stopped) = watch::channel(false);
    let tasks = reactions
        .iter()
        .map(|reaction| {
            let worker = Worker {
                reaction: reaction.clone(),
                subscriber: subscriber.clone(),
                log: log.clone(),
                settings: settings.clone(),
            };
            tokio::spawn(supervise(worker, stopped.clone()))
        })
        .collect();
    ReactionsHandle { stop, tasks }
}

/// The running reactions. Dropping the handle stops them too (at their
/// next look), so keep it for as long as they should run.
pub struct ReactionsHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ReactionsHandle {
    /// Stops every consumer and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Restarts the worker whenever its task dies of a panic.
async fn supervise(worker: Worker, mut stopped: watch::Receiver<bool>) {
    let mut backoff = Duration::ZERO;
    loop {
        let task = tokio::spawn(worker.clone().run(stopped.clone()));
        match task.await {
            Ok(()) => return,
            Err(e) => {
                backoff =
                    (backoff * 2).clamp(Duration::from_millis(100), worker.settings.max_backoff);
                tracing::error!(reaction = %worker.reaction.name(), error = %e,
                    restart_in_ms = backoff.as_millis() as u64, "reaction consumer died; restarting");
            }
        }
        if wait_or_stop(&mut stopped, backoff).await {
            return;
        }
    }
}

/// Sleeps `wait`; answers whether a stop was asked for meanwhile (or
/// before).
async fn wait_or_stop(stopped: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    if *stopped.borrow_and_update() {
        return true;
    }
    tokio::select! {
        _ = stopped.changed() => true,
        () = tokio::time::sleep(wait) => *stopped.borrow(),
    }
}

/// What became of one delivery.
enum Outcome {
    /// Done with: acknowledge it.
    Settled,
    /// Not done, and not recorded either: leave it pending.
    Unsettled,
}

#[derive(Clone)]
struct Worker {
    reaction: Arc<dyn Reaction>,
    subscriber: Arc<dyn EventSubscriber>,
    log: Arc<dyn ReactionLog>,
    settings: ReactionSettings,
}

impl Worker {
    /// Joins, reads and handles until stopped; rejoins after bus errors.
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let group = self.reaction.name();
        let mut backoff = Duration::ZERO;
        loop {
            if !backoff.is_zero() && wait_or_stop(&mut stopped, backoff).await {
                return;
            }
            if *stopped.borrow() {
                return;
            }
            let mut consumer = match self
                .subscriber
                .join(group.clone(), &self.settings.consumer)
                .await
            {
                Ok(consumer) => consumer,
                Err(e) => {
                    backoff = self.next_backoff(backoff);
                    tracing::warn!(reaction = %group, error = %e,
                        retry_in_ms = backoff.as_millis() as u64, "could not join the bus");
                    continue;
                }
            };
            match self.consume(consumer.as_mut(), &mut stopped).await {
                Ok(()) => return,
                Err(e) => {
                    backoff = self.next_backoff(backoff);
                    tracing::warn!(reaction = %group, error = %e,
                        retry_in_ms = backoff.as_millis() as u64, "reaction lost the bus; rejoining");
                }
            }
        }
    }

    fn next_backoff(&self, backoff: Duration) -> Duration {
        (backoff * 2).clamp(Duration::from_millis(100), self.settings.max_backoff)
    }

    /// Reads and handles until stopped (`Ok`) or the bus fails (`Err`:
    /// rejoin). A delivery left unsettled also rejoins, so it comes back.
    async fn consume(
        &self,
        consumer: &mut dyn GroupConsumer,
        stopped: &mut watch::Receiver<bool>,
    ) -> Result<(), ConsumeError> {
        loop {
            if *stopped.borrow_and_update() {
                return Ok(());
            }
            // Cancelling a read loses nothing: what it had taken stays
            // pending for this consumer and is replayed when it rejoins.
            let deliveries = tokio::select! {
                _ = stopped.changed() => return Ok(()),
                read = consumer.next(self.settings.batch) => read?,
            };
            for delivery in deliveries {
                let outcome = tokio::select! {
                    _ = stopped.changed() => return Ok(()),
                    outcome = self.settle(&delivery) => outcome,
                };
                match outcome {
                    Outcome::Settled => consumer.ack(std::slice::from_ref(&delivery.tag)).await?,
                    Outcome::Unsettled => return Err(ConsumeError::Unsettled),
                }
            }
        }
    }

    /// Handles one delivery as far as it can be.
    async fn settle(&self, delivery: &Delivery) -> Outcome {
        let event = &delivery.event;
        if !self.reaction.wants(&event.envelope.event) {
            return Outcome::Settled;
        }
        let name = self.reaction.name();
        let mut attempt = 0;
        let error = loop {
            attempt += 1;
            let error = match self.attempt(delivery).await {
                Ok(()) => return Outcome::Settled,
                Err(e) => e,
            };
            if attempt >= self.settings.retry.attempts.max(1) {
                break error;
            }
            let wait = self.settings.retry.delay(attempt);
            tracing::warn!(reaction = %name, event_id = %event.envelope.id, attempt,
                error = %chain(&error), retry_in_ms = wait.as_millis() as u64,
                "reaction failed; retrying");
            tokio::time::sleep(wait).await;
        };
        let letter = DeadLetter {
            id: Uuid::new_v4(),
            reaction: name.to_string(),
            event_id: event.envelope.id,
            sequence: event.sequence,
            event_type: event.envelope.event.type_name().to_owned(),
            user_id: event.envelope.user_id,
            error: chain(&error),
            attempts: attempt,
            failed_at: Utc::now(),
        };
        tracing::error!(reaction = %name, event_id = %event.envelope.id,
            sequence = event.sequence, attempts = attempt, error = %letter.error,
            "reaction gave up; event dead-lettered");
        match self.log.record_dead_letter(&letter).await {
            Ok(()) => Outcome::Settled,
            Err(e) => {
                tracing::error!(reaction = %name, event_id = %event.envelope.id,
                    error = %chain(&e), "could not record the dead letter; leaving it pending");
                Outcome::Unsettled
            }
        }
    }

    /// One try: skip if already handled, else handle and write the receipt.
    /// A panicking handler counts as a failed try.
    async fn attempt(&self, delivery: &Delivery) -> Result<(), ReactionError> {
        let name = self.reaction.name();
        let event = &delivery.event;
        let id = event.envelope.id;
        // Looked up even on a first delivery: a group made anew (a Redis
        // that lost its groups, say) hands out events handled long ago.
        if self.log.handled(name.as_str(), id).await? {
            return Ok(());
        }
        AssertUnwindSafe(self.reaction.handle(event))
            .catch_unwind()
            .await
            .map_err(|panic| ReactionError::Failed(panic_message(&*panic)))??;
        self.log.record_handled(name.as_str(), id, Utc::now()).await
    }
}

#[derive(Debug, thiserror::Error)]
enum ConsumeError {
    #[error(transparent)]
    Bus(#[from] domain::events::BusError),
    #[error("a delivery could not be settled")]
    Unsettled,
}

/// An error with its causes, for logs and dead letters.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("the handler panicked: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let schedule = RetrySchedule {
            attempts: 6,
            first: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        let delays: Vec<u128> = (1..=5).map(|a| schedule.delay(a).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 500, 500]);
    }
}
