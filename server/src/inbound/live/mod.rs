//! Live updates (spec §4.1, §8): the hub that fans committed events and
//! agents' token deltas out to this instance's WebSocket clients, and the
//! socket itself ([`ws`]).
//!
//! Events reach the hub from the event bus — so an event committed by
//! another instance (sharing the database and Redis) reaches this one's
//! clients too — and the `events` table stays the source of truth: a client
//! that reconnects with its last event id is first sent what it missed from
//! the table, then the live tail, with no gap and no duplicate because
//! `sequence` order is commit order. Deltas are ephemeral: they go only to
//! the clients of the instance whose conductor is running the call.

pub mod ws;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::band::AgentRole;
use domain::events::{BusError, EventSubscriber, FeedScope, StoredEvent};
use domain::sessions::LiveTap;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::outbound::db::{committed_after, last_sequence};

/// How many events or deltas a slow client may fall behind before it is
/// told it lagged (and, for events, re-reads the table).
const CHANNEL: usize = 4096;

/// A piece of an agent's streaming output.
#[derive(Debug, Clone, Serialize)]
pub struct Delta {
    #[serde(skip)]
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub role: AgentRole,
    /// `None` with `restart`: drop what this role streamed so far.
    pub text: Option<String>,
    pub restart: Option<String>,
}

/// This instance's fan-out point. Cheap to share (`Arc`).
pub struct LiveHub {
    db: DatabaseConnection,
    events: broadcast::Sender<Arc<StoredEvent>>,
    deltas: broadcast::Sender<Arc<Delta>>,
    /// Open sockets per user: calls stream only for someone watching.
    watchers: Mutex<HashMap<Uuid, usize>>,
    /// Store ids of sessions that just ended here (sign-out): their
    /// sockets close at once rather than at their next check.
    ended: broadcast::Sender<Arc<str>>,
}

/// Most sockets one user may hold open on an instance (a few tabs and
/// clients each; more is a leak or abuse).
pub const MAX_SOCKETS_PER_USER: usize = 16;

impl LiveHub {
    pub fn new(db: DatabaseConnection) -> Arc<Self> {
        Arc::new(Self {
            db,
            events: broadcast::channel(CHANNEL).0,
            deltas: broadcast::channel(CHANNEL).0,
            watchers: Mutex::new(HashMap::new()),
            ended: broadcast::channel(256).0,
        })
    }

    /// Tells this instance's sockets that the session `id` has ended.
    pub fn session_ended(&self, id: &str) {
        let _ = self.ended.send(Arc::from(id));
    }

    /// Sessions ending from now on.
    pub fn ended_sessions(&self) -> broadcast::Receiver<Arc<str>> {
        self.ended.subscribe()
    }

    /// Follows the bus from the current end of the event log and hands
    /// every event to this instance's sockets, for as long as the process
    /// runs. A lagging or broken feed is resumed from the last event seen,
    /// reading the table for what the bus no longer holds.
    pub fn follow(self: &Arc<Self>, bus: Arc<dyn EventSubscriber>) {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut last = loop {
                match last_sequence(&hub.db).await {
                    Ok(n) => break n,
                    Err(e) => {
                        tracing::warn!(error = %e, "live hub cannot read the event log yet");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            };
            loop {
                match hub.follow_from(bus.as_ref(), &mut last).await {
                    Err(BusError::Lagged { after }) => {
                        if let Err(e) = hub.replay_table(after, &mut last).await {
                            tracing::warn!(error = %e, "live hub cannot catch up from the table");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "live hub lost the event bus; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Ok(()) => {}
                }
            }
        });
    }

    async fn follow_from(&self, bus: &dyn EventSubscriber, last: &mut i64) -> Result<(), BusError> {
        let mut feed = bus.follow(FeedScope::All, Some(*last)).await?;
        loop {
            for event in feed.next(256).await? {
                if event.sequence > *last {
                    *last = event.sequence;
                    // Nobody listening is fine.
                    let _ = self.events.send(Arc::new(event));
                }
            }
        }
    }

    /// Hands out the table's events after `after` (what the bus dropped).
    async fn replay_table(
        &self,
        after: i64,
        last: &mut i64,
    ) -> Result<(), crate::outbound::db::OutboxError> {
        let mut from = after.max(*last);
        loop {
            let batch = committed_after(&self.db, from, 500).await?;
            let Some(tail) = batch.last() else {
                return Ok(());
            };
            from = tail.sequence;
            for event in batch {
                *last = event.sequence;
                let _ = self.events.send(Arc::new(event));
            }
        }
    }

    /// Counts a socket of `user_id` while the guard lives, unless the user
    /// already holds [`MAX_SOCKETS_PER_USER`] sockets here.
    pub fn try_watch(self: &Arc<Self>, user_id: Uuid) -> Option<WatchGuard> {
        let mut w = self.watchers.lock().ok()?;
        let n = w.entry(user_id).or_insert(0);
        if *n >= MAX_SOCKETS_PER_USER {
            return None;
        }
        *n += 1;
        Some(WatchGuard {
            hub: self.clone(),
            user_id,
        })
    }

    pub fn subscribe(
        &self,
    ) -> (
        broadcast::Receiver<Arc<StoredEvent>>,
        broadcast::Receiver<Arc<Delta>>,
    ) {
        (self.events.subscribe(), self.deltas.subscribe())
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    fn send_delta(&self, delta: Delta) {
        let _ = self.deltas.send(Arc::new(delta));
    }
}

/// Un-counts a socket when dropped.
pub struct WatchGuard {
    hub: Arc<LiveHub>,
    user_id: Uuid,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if let Ok(mut w) = self.hub.watchers.lock()
            && let Some(n) = w.get_mut(&self.user_id)
        {
            *n -= 1;
            if *n == 0 {
                w.remove(&self.user_id);
            }
        }
    }
}

impl LiveTap for LiveHub {
    fn watching(&self, user_id: Uuid) -> bool {
        self.watchers.lock().is_ok_and(|w| w.contains_key(&user_id))
    }

    fn delta(&self, user_id: Uuid, session_id: Uuid, role: AgentRole, text: &str) {
        self.send_delta(Delta {
            user_id,
            session_id,
            role,
            text: Some(text.to_owned()),
            restart: None,
        });
    }

    fn restart(&self, user_id: Uuid, session_id: Uuid, role: AgentRole, reason: &str) {
        self.send_delta(Delta {
            user_id,
            session_id,
            role,
            text: None,
            restart: Some(reason.to_owned()),
        });
    }
}
