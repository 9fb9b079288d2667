//! The in-process event bus: the default when no `REDIS_URL` is set, and
//! the model the Redis adapter is tested against.
//!
//! One bounded log of published events (like one Redis stream holding
//! everything), consumer groups with a pending list each (like a stream's
//! PEL), and a `watch` channel carrying the last published sequence that
//! wakes waiting consumers and feeds. Semantics follow Redis Streams where
//! they matter to callers: a repeated sequence is ignored, a group is
//! created on its first join and starts from the oldest retained event, a rejoining consumer gets its own pending
//! deliveries first, and a delivery pending longer than the idle timeout is
//! handed to whichever consumer asks next.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use domain::events::{
    BusError, ConsumerGroup, Delivery, DeliveryTag, EventFeed, EventPublisher, EventSubscriber,
    FeedScope, GroupConsumer, StoredEvent,
};
use tokio::sync::watch;
use tokio::time::Instant;

use super::BusSettings;

/// The in-process bus. Cheap to clone; clones share the log.
#[derive(Clone)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

struct Inner {
    settings: BusSettings,
    state: Mutex<State>,
    /// The last published sequence.
    published: watch::Sender<i64>,
}

struct State {
    /// Published events, ascending by sequence, at most `max_len`.
    log: VecDeque<StoredEvent>,
    /// The highest sequence published: anything at or below is a repeat.
    last: i64,
    /// The highest sequence trimmed from the log (0: none yet).
    dropped_through: i64,
    groups: HashMap<ConsumerGroup, Group>,
}

#[derive(Default)]
struct Group {
    /// The last sequence handed out as new.
    delivered_through: i64,
    /// Delivered, not yet acknowledged: sequence → who has it since when.
    pending: BTreeMap<i64, Pending>,
}

struct Pending {
    consumer: String,
    since: Instant,
}

impl InProcessBus {
    pub fn new(settings: BusSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                state: Mutex::new(State {
                    log: VecDeque::new(),
                    last: 0,
                    dropped_through: 0,
                    groups: HashMap::new(),
                }),
                published: watch::channel(0).0,
            }),
        }
    }

    /// The highest sequence published so far (0: none).
    pub fn last_sequence(&self) -> i64 {
        *self.inner.published.borrow()
    }
}

impl Inner {
    /// A poisoned lock only means another task panicked mid-update; every
    /// update leaves the state consistent, so carry on with it.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Index of the first logged event after `sequence` (the log is sorted).
fn after(log: &VecDeque<StoredEvent>, sequence: i64) -> usize {
    log.partition_point(|e| e.sequence <= sequence)
}

fn find(log: &VecDeque<StoredEvent>, sequence: i64) -> Option<&StoredEvent> {
    log.binary_search_by_key(&sequence, |e| e.sequence)
        .ok()
        .and_then(|i| log.get(i))
}

#[async_trait]
impl EventPublisher for InProcessBus {
    async fn publish(&self, events: &[StoredEvent]) -> Result<(), BusError> {
        let last = {
            let mut state = self.inner.state();
            for event in events {
                if event.sequence <= state.last {
                    continue;
                }
                state.last = event.sequence;
                state.log.push_back(event.clone());
            }
            while state.log.len() > self.inner.settings.max_len {
                let Some(dropped) = state.log.pop_front() else {
                    break;
                };
                state.dropped_through = dropped.sequence;
                // As Redis does: a trimmed entry leaves the pending lists.
                for group in state.groups.values_mut() {
                    group.pending.remove(&dropped.sequence);
                }
            }
            state.last
        };
        self.inner.published.send_if_modified(|seen| {
            let changed = *seen != last;
            *seen = last;
            changed
        });
        Ok(())
    }
}

#[async_trait]
impl EventSubscriber for InProcessBus {
    async fn join(
        &self,
        group: ConsumerGroup,
        consumer: &str,
    ) -> Result<Box<dyn GroupConsumer>, BusError> {
        {
            // Groups are made on first join, as Redis's `XGROUP CREATE … 0`:
            // from the oldest event still retained, so a reaction added
            // later still sees what the log holds.
            let mut state = self.inner.state();
            let start = state.dropped_through;
            state.groups.entry(group.clone()).or_insert_with(|| Group {
                delivered_through: start,
                pending: BTreeMap::new(),
            });
        }
        Ok(Box::new(MemoryConsumer {
            inner: self.inner.clone(),
            group,
            name: consumer.to_owned(),
            published: self.inner.published.subscribe(),
            history_after: Some(0),
        }))
    }

    async fn follow(
        &self,
        scope: FeedScope,
        after: Option<i64>,
    ) -> Result<Box<dyn EventFeed>, BusError> {
        let state = self.inner.state();
        let position = match after {
            None => state.last,
            Some(after) if after < state.dropped_through => {
                return Err(BusError::Lagged { after });
            }
            Some(after) => after,
        };
        Ok(Box::new(MemoryFeed {
            inner: self.inner.clone(),
            scope,
            position,
            published: self.inner.published.subscribe(),
        }))
    }
}

/// One consumer of a group.
struct MemoryConsumer {
    inner: Arc<Inner>,
    group: ConsumerGroup,
    name: String,
    published: watch::Receiver<i64>,
    /// While replaying this consumer's own pending deliveries (after a
    /// rejoin): the last sequence replayed. `None` once done.
    history_after: Option<i64>,
}

impl MemoryConsumer {
    /// What to deliver now, or when to look again (the earliest moment a
    /// pending delivery becomes claimable).
    fn take(&mut self, max: usize, now: Instant) -> (Vec<Delivery>, Option<Instant>) {
        let idle = self.inner.settings.claim_idle;
        let mut state = self.inner.state();
        let state = &mut *state;
        let Some(group) = state.groups.get_mut(&self.group) else {
            return (Vec::new(), None);
        };
        let mut picked: Vec<(i64, bool)> = Vec::new();

        // 1. Own pending deliveries, as XREADGROUP with id 0 replays them.
        if let Some(after) = self.history_after {
            for (&sequence, pending) in group.pending.range(after + 1..) {
                if picked.len() == max {
                    break;
                }
                if pending.consumer == self.name {
                    picked.push((sequence, true));
                }
            }
            self.history_after = picked.last().map(|&(s, _)| s);
        }
        // 2. Deliveries idle too long, whoever had them (XAUTOCLAIM).
        if picked.is_empty() {
            for (&sequence, pending) in &group.pending {
                if picked.len() == max {
                    break;
                }
                if now.saturating_duration_since(pending.since) >= idle {
                    picked.push((sequence, true));
                }
            }
        }
        // 3. New events (XREADGROUP >).
        if picked.is_empty() {
            for event in state
                .log
                .range(after(&state.log, group.delivered_through)..)
            {
                if picked.len() == max {
                    break;
                }
                picked.push((event.sequence, false));
            }
            if let Some(&(last, _)) = picked.last() {
                group.delivered_through = last;
            }
        }

        let mut deliveries = Vec::with_capacity(picked.len());
        for (sequence, redelivered) in picked {
            group.pending.insert(
                sequence,
                Pending {
                    consumer: self.name.clone(),
                    since: now,
                },
            );
            if let Some(event) = find(&state.log, sequence) {
                deliveries.push(Delivery {
                    event: event.clone(),
                    tag: DeliveryTag {
                        source: self.group.as_str().to_owned(),
                        sequence,
                    },
                    redelivered,
                });
            }
        }
        let wake = group.pending.values().map(|p| p.since + idle).min();
        (deliveries, wake)
    }
}

#[async_trait]
impl GroupConsumer for MemoryConsumer {
    async fn next(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let deadline = Instant::now() + self.inner.settings.block;
        loop {
            // Mark the current value seen *before* looking, so a publish
            // that lands after the look still wakes the wait below.
            self.published.borrow_and_update();
            let now = Instant::now();
            let (deliveries, claimable_at) = self.take(max.max(1), now);
            if !deliveries.is_empty() || now >= deadline {
                return Ok(deliveries);
            }
            let until = claimable_at.map_or(deadline, |at| at.min(deadline));
            if tokio::time::timeout_at(until, self.published.changed())
                .await
                .is_ok_and(|changed| changed.is_err())
            {
                // The bus is gone (cannot happen while we hold `inner`);
                // never spin.
                tokio::time::sleep_until(until).await;
            }
        }
    }

    async fn ack(&mut self, tags: &[DeliveryTag]) -> Result<(), BusError> {
        let mut state = self.inner.state();
        if let Some(group) = state.groups.get_mut(&self.group) {
            for tag in tags {
                group.pending.remove(&tag.sequence);
            }
        }
        Ok(())
    }
}

/// A live tail of the in-process log.
struct MemoryFeed {
    inner: Arc<Inner>,
    scope: FeedScope,
    /// The highest sequence looked at (in scope or not), so a feed over a
    /// quiet project does not fall behind the log's trimming.
    position: i64,
    published: watch::Receiver<i64>,
}

impl MemoryFeed {
    fn take(&mut self, max: usize) -> Result<Vec<StoredEvent>, BusError> {
        let state = self.inner.state();
        if self.position < state.dropped_through {
            return Err(BusError::Lagged {
                after: self.position,
            });
        }
        let mut out = Vec::new();
        for event in state.log.range(after(&state.log, self.position)..) {
            if out.len() == max {
                break;
            }
            self.position = event.sequence;
            let in_scope = match self.scope {
                FeedScope::All => true,
                FeedScope::Project(id) => event.project_id == Some(id),
            };
            if in_scope {
                out.push(event.clone());
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl EventFeed for MemoryFeed {
    async fn next(&mut self, max: usize) -> Result<Vec<StoredEvent>, BusError> {
        let deadline = Instant::now() + self.inner.settings.block;
        loop {
            self.published.borrow_and_update();
            let events = self.take(max.max(1))?;
            if !events.is_empty() || Instant::now() >= deadline {
                return Ok(events);
            }
            if tokio::time::timeout_at(deadline, self.published.changed())
                .await
                .is_ok_and(|changed| changed.is_err())
            {
                tokio::time::sleep_until(deadline).await;
            }
        }
    }
}
