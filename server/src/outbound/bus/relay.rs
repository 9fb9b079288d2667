//! The outbox relay: publishes committed events from the `events` table to
//! the bus, in `sequence` order, and records how far it got.
//!
//! Why this cannot lose an event:
//! * Events are only ever appended in the transaction of their state change
//!   (`db::append`), and sequence order is commit order (see `db::events`),
//!   so "everything after the cursor" never skips one that commits late.
//! * The cursor (`bus_cursors`) only moves after the bus accepted every
//!   event up to it, and only forward. A crash in between publishes the
//!   same events again, which the bus ignores (idempotent by sequence).
//! * Several instances may run relays at once: each publishes in order,
//!   the bus refuses repeats, and each moves the shared cursor only
//!   forward. No lock is needed, and each instance publishes its own
//!   commits without waiting for another's poll.
//!
//! A row this build cannot decode (a newer version's event during a rolling
//! upgrade) stops the relay at that row — logged, retried with back-off —
//! rather than being skipped: a newer instance's relay can publish it.
//!
//! It wakes as soon as this process commits events (`db::notify_committed`)
//! and polls as a fallback, for commits made by other instances.

use std::sync::Arc;
use std::time::Duration;

use domain::events::{BusError, EventPublisher};
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::outbound::db::{self, OutboxError};

/// How the relay runs.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// The cursor's name (one per bus).
    pub cursor: String,
    /// Events read and published per round trip.
    pub batch: u64,
    /// How often to look when nothing woke the relay.
    pub poll: Duration,
    /// The longest wait between retries after a failure.
    pub max_backoff: Duration,
}

impl RelaySettings {
    pub fn new(cursor: impl Into<String>) -> Self {
        Self {
            cursor: cursor.into(),
            batch: 256,
            poll: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Why a relay pass stopped short.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("reading committed events")]
    Outbox(#[from] OutboxError),
    #[error("moving the relay cursor")]
    Cursor(#[from] DbErr),
    #[error("publishing to the event bus")]
    Publish(#[from] BusError),
}

/// Publishes committed events to one bus.
#[derive(Clone)]
pub struct Relay {
    db: DatabaseConnection,
    publisher: Arc<dyn EventPublisher>,
    settings: RelaySettings,
}

impl Relay {
    pub fn new(
        db: DatabaseConnection,
        publisher: Arc<dyn EventPublisher>,
        settings: RelaySettings,
    ) -> Self {
        Self {
            db,
            publisher,
            settings,
        }
    }

    /// Publishes everything committed after the cursor, batch by batch, and
    /// answers how many events it handed to the bus.
    ///
    /// # Errors
    /// When the log cannot be read, the bus refuses, or the cursor cannot be
    /// moved; everything before the failing batch stays published.
    pub async fn run_once(&self) -> Result<usize, RelayError> {
        let mut published = 0;
        loop {
            // Read the cursor every time: another instance may be ahead.
            let position = db::cursor_position(&self.db, &self.settings.cursor).await?;
            let events = db::committed_after(&self.db, position, self.settings.batch).await?;
            let Some(last) = events.last().map(|e| e.sequence) else {
                return Ok(published);
            };
            self.publisher.publish(&events).await?;
            db::advance_cursor(&self.db, &self.settings.cursor, last).await?;
            published += events.len();
            if (events.len() as u64) < self.settings.batch {
                return Ok(published);
            }
        }
    }

    /// Runs the relay in the background until [`RelayHandle::stop`].
    pub fn spawn(self) -> RelayHandle {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.run(stopped));
        RelayHandle { stop, task }
    }

    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut committed = db::committed_signal();
        let mut backoff = Duration::ZERO;
        loop {
            // Seen before reading, so a commit during the pass wakes us.
            committed.borrow_and_update();
            let wait = match self.run_once().await {
                Ok(n) => {
                    if n > 0 {
                        tracing::debug!(events = n, "relayed events to the bus");
                    }
                    backoff = Duration::ZERO;
                    self.settings.poll
                }
                Err(e) => {
                    backoff =
                        (backoff * 2).clamp(Duration::from_millis(100), self.settings.max_backoff);
                    tracing::error!(error = %e, source = ?std::error::Error::source(&e),
                        retry_in_ms = backoff.as_millis() as u64, "event relay failed");
                    backoff
                }
            };
            let failing = !backoff.is_zero();
            tokio::select! {
                _ = stopped.changed() => return,
                // After a failure, wait out the back-off whatever commits.
                changed = committed.changed(), if !failing => {
                    if changed.is_err() {
                        tokio::time::sleep(wait).await;
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
            if *stopped.borrow() {
                return;
            }
        }
    }
}

/// A running relay. Dropping the handle stops it too (after its current
/// pass), so keep it for as long as the relay should run.
pub struct RelayHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RelayHandle {
    /// Stops the relay after its current pass and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
