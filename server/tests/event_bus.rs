#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The event bus (spec §4.1): both adapters pass the same contract tests
//! (`buses!` runs each body on the in-process bus and on Redis Streams), the
//! Redis layout is checked key by key, and the outbox relay is run over
//! SQLite and PostgreSQL (`backends!`): in sequence order, resuming from its
//! cursor, woken by commits, never skipping an event that commits late, and
//! two relays sharing one Redis publishing each event exactly once.
//!
//! Redis tests read `EXITON_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`)
//! and work under a key prefix of their own, deleted afterwards. Without
//! the variable they print a notice and pass, except under `CI`.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use common::{RedisKeys, TestApp};
use domain::accounts::SubscriptionTier;
use domain::events::{
    AggregateType, BusError, ConsumerGroup, Delivery, DomainEvent, EventEnvelope, EventFeed,
    EventPublisher as _, EventSubscriber as _, FeedScope, GroupConsumer, StoredEvent,
};
use domain::sessions::SessionStatus;
use rand::Rng as _;
use sea_orm::{
    ActiveModelTrait as _, ConnectionTrait as _, DatabaseConnection, Set, TransactionTrait as _,
};
use server::outbound::bus::{
    BusSettings, EventBus, InProcessBus, RedisStreamsBus, Relay, RelaySettings,
};
use server::outbound::db;
use tokio::time::Instant;
use uuid::Uuid;

/// Short timeouts, so waiting out an idle claim costs a fraction of a second.
fn settings() -> BusSettings {
    BusSettings {
        max_len: 1000,
        claim_idle: Duration::from_millis(200),
        block: Duration::from_millis(100),
    }
}

// ---------------------------------------------------------------------------
// Redis under a throw-away key prefix
// ---------------------------------------------------------------------------

impl RedisKeys {
    async fn bus(&self, settings: BusSettings) -> EventBus {
        EventBus::redis(&self.url, &self.prefix, settings)
            .await
            .unwrap()
    }

    async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Entry ids of `key`, oldest first.
    async fn ids(&self, key: &str) -> Vec<String> {
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(key)
            .arg("-")
            .arg("+")
            .query_async(&mut self.raw().await)
            .await
            .unwrap();
        reply.ids.into_iter().map(|e| e.id).collect()
    }
}

/// Runs one contract body on the in-process bus and on Redis Streams.
macro_rules! buses {
    ($name:ident, $settings:expr, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn in_process() {
                let body = $body;
                body(EventBus::in_process($settings)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                let Some(keys) = RedisKeys::new() else {
                    return;
                };
                let bus = keys.bus($settings).await;
                let body = $body;
                body(bus).await;
                drop(keys);
            }
        }
    };
}

// ---------------------------------------------------------------------------
// Events and collecting helpers
// ---------------------------------------------------------------------------

/// A fixed, microsecond-exact time, so events survive a database round trip
/// unchanged.
fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn task_deleted(project_id: Uuid) -> EventEnvelope {
    let task_id = Uuid::new_v4();
    EventEnvelope::new(
        AggregateType::Task,
        task_id,
        Uuid::new_v4(),
        at(),
        DomainEvent::TaskDeleted {
            task_id,
            project_id,
        },
    )
}

fn user_registered() -> EventEnvelope {
    let user_id = Uuid::new_v4();
    EventEnvelope::new(
        AggregateType::User,
        user_id,
        user_id,
        at(),
        DomainEvent::UserRegistered {
            email: format!("{}@example.com", user_id.simple()),
            tier: SubscriptionTier::Free,
        },
    )
}

/// A stored event at `sequence`: a task event of `project`, or (without
/// one) a user event, so events spread over several streams.
fn stored(sequence: i64, project: Option<Uuid>) -> StoredEvent {
    let envelope = project.map_or_else(user_registered, task_deleted);
    StoredEvent {
        sequence,
        project_id: project,
        request_id: None,
        envelope,
    }
}

fn seqs<'a>(events: impl IntoIterator<Item = &'a StoredEvent>) -> Vec<i64> {
    events.into_iter().map(|e| e.sequence).collect()
}

fn delivered(deliveries: &[Delivery]) -> Vec<i64> {
    let mut s: Vec<i64> = deliveries.iter().map(|d| d.event.sequence).collect();
    s.sort_unstable();
    s
}

/// Exactly `n` deliveries (waiting for them, at most 10 s).
async fn take(consumer: &mut Box<dyn GroupConsumer>, n: usize) -> Vec<Delivery> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {:?} of {n} deliveries arrived",
            delivered(&got)
        );
        got.extend(consumer.next(n - got.len()).await.unwrap());
    }
    assert_eq!(got.len(), n, "more than asked for: {:?}", delivered(&got));
    got
}

/// Events from `feed` until one at or past `last` (at most 10 s).
async fn follow_until(feed: &mut Box<dyn EventFeed>, last: i64) -> Vec<StoredEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got: Vec<StoredEvent> = Vec::new();
    while got.last().is_none_or(|e| e.sequence < last) {
        assert!(
            Instant::now() < deadline,
            "feed stopped at {:?}, waiting for {last}",
            seqs(&got)
        );
        got.extend(feed.next(100).await.unwrap());
    }
    got
}

/// Nothing arrives for `consumer` within `wait` (several block periods).
async fn nothing_for(consumer: &mut Box<dyn GroupConsumer>, wait: Duration) {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        let got = consumer.next(10).await.unwrap();
        assert!(
            got.is_empty(),
            "unexpected deliveries {:?}",
            delivered(&got)
        );
    }
}

// ---------------------------------------------------------------------------
// The contract, on both adapters
// ---------------------------------------------------------------------------

buses!(
    groups_each_get_every_event,
    settings(),
    |bus: EventBus| async move {
        let project = Uuid::new_v4();
        let events: Vec<StoredEvent> = (1..=6)
            .map(|s| stored(s, (s % 2 == 1).then_some(project)))
            .collect();
        bus.publisher.publish(&events).await.unwrap();

        for group in ConsumerGroup::ALL {
            let mut consumer = bus.subscriber.join(group.clone(), "only").await.unwrap();
            let got = take(&mut consumer, 6).await;
            assert_eq!(delivered(&got), vec![1, 2, 3, 4, 5, 6], "{group}");
            assert!(got.iter().all(|d| !d.redelivered));
            let by_seq: BTreeMap<i64, &StoredEvent> =
                got.iter().map(|d| (d.event.sequence, &d.event)).collect();
            for event in &events {
                assert_eq!(by_seq[&event.sequence], event, "delivered as published");
            }
            let tags: Vec<_> = got.iter().map(|d| d.tag.clone()).collect();
            consumer.ack(&tags).await.unwrap();
            nothing_for(&mut consumer, Duration::from_millis(300)).await;
        }

        // Consumers of one group share the work: what one took, the other
        // does not get.
        bus.publisher
            .publish(&[stored(7, None), stored(8, Some(project))])
            .await
            .unwrap();
        let mut a = bus
            .subscriber
            .join(ConsumerGroup::NOTIFICATIONS, "a")
            .await
            .unwrap();
        let mut b = bus
            .subscriber
            .join(ConsumerGroup::NOTIFICATIONS, "b")
            .await
            .unwrap();
        let got = take(&mut a, 2).await;
        assert_eq!(delivered(&got), vec![7, 8]);
        let tags: Vec<_> = got.iter().map(|d| d.tag.clone()).collect();
        a.ack(&tags).await.unwrap();
        nothing_for(&mut b, Duration::from_millis(300)).await;
    }
);

buses!(
    duplicate_publish_is_harmless,
    settings(),
    |bus: EventBus| async move {
        let project = Uuid::new_v4();
        let first: Vec<StoredEvent> = (1..=3).map(|s| stored(s, Some(project))).collect();
        bus.publisher.publish(&first).await.unwrap();
        // A relay that crashed before moving its cursor, or a second instance,
        // publishes the same events again, and overlapping batches.
        bus.publisher.publish(&first).await.unwrap();
        bus.publisher
            .publish(&[first[1].clone(), first[2].clone(), stored(4, None)])
            .await
            .unwrap();

        let mut consumer = bus
            .subscriber
            .join(ConsumerGroup::AUDIT, "auditor")
            .await
            .unwrap();
        let got = take(&mut consumer, 4).await;
        assert_eq!(delivered(&got), vec![1, 2, 3, 4]);
        let tags: Vec<_> = got.iter().map(|d| d.tag.clone()).collect();
        consumer.ack(&tags).await.unwrap();
        nothing_for(&mut consumer, Duration::from_millis(300)).await;

        let mut feed = bus
            .subscriber
            .follow(FeedScope::All, Some(0))
            .await
            .unwrap();
        assert_eq!(seqs(&follow_until(&mut feed, 4).await), vec![1, 2, 3, 4]);
    }
);

buses!(
    ack_removes_from_pending,
    settings(),
    |bus: EventBus| async move {
        let events: Vec<StoredEvent> = (1..=4).map(|s| stored(s, None)).collect();
        bus.publisher.publish(&events).await.unwrap();

        let mut a = bus
            .subscriber
            .join(ConsumerGroup::ANALYTICS, "a")
            .await
            .unwrap();
        let got = take(&mut a, 4).await;
        let tags: BTreeMap<i64, _> = got
            .iter()
            .map(|d| (d.event.sequence, d.tag.clone()))
            .collect();
        a.ack(&[tags[&1].clone(), tags[&3].clone()]).await.unwrap();
        drop(a);

        // Rejoining under the same name replays exactly the unacknowledged.
        let mut a = bus
            .subscriber
            .join(ConsumerGroup::ANALYTICS, "a")
            .await
            .unwrap();
        let replay = take(&mut a, 2).await;
        assert_eq!(delivered(&replay), vec![2, 4]);
        assert!(replay.iter().all(|d| d.redelivered));
        let tags: Vec<_> = replay.iter().map(|d| d.tag.clone()).collect();
        a.ack(&tags).await.unwrap();
        drop(a);

        // Nothing is pending any more: not for the same name, and nothing for
        // another consumer to claim however long it waits.
        let mut a = bus
            .subscriber
            .join(ConsumerGroup::ANALYTICS, "a")
            .await
            .unwrap();
        nothing_for(&mut a, Duration::from_millis(250)).await;
        let mut b = bus
            .subscriber
            .join(ConsumerGroup::ANALYTICS, "b")
            .await
            .unwrap();
        nothing_for(&mut b, settings().claim_idle * 3).await;
    }
);

buses!(
    a_dead_consumers_entries_go_to_another,
    settings(),
    |bus: EventBus| async move {
        bus.publisher
            .publish(&[
                stored(1, None),
                stored(2, Some(Uuid::new_v4())),
                stored(3, None),
            ])
            .await
            .unwrap();

        let before = Instant::now();
        let mut doomed = bus
            .subscriber
            .join(ConsumerGroup::NOTIFICATIONS, "doomed")
            .await
            .unwrap();
        assert_eq!(delivered(&take(&mut doomed, 3).await), vec![1, 2, 3]);
        drop(doomed); // dies without acknowledging

        let mut heir = bus
            .subscriber
            .join(ConsumerGroup::NOTIFICATIONS, "heir")
            .await
            .unwrap();
        // Not yet: the entries have not been idle long enough.
        assert!(heir.next(10).await.unwrap().is_empty());
        let got = take(&mut heir, 3).await;
        assert!(
            before.elapsed() >= settings().claim_idle,
            "claimed after {:?}",
            before.elapsed()
        );
        assert_eq!(delivered(&got), vec![1, 2, 3]);
        assert!(got.iter().all(|d| d.redelivered));
        let tags: Vec<_> = got.iter().map(|d| d.tag.clone()).collect();
        heir.ack(&tags).await.unwrap();

        let mut third = bus
            .subscriber
            .join(ConsumerGroup::NOTIFICATIONS, "third")
            .await
            .unwrap();
        nothing_for(&mut third, settings().claim_idle * 3).await;

        // The other groups were never touched: they still get everything.
        let mut audit = bus
            .subscriber
            .join(ConsumerGroup::AUDIT, "auditor")
            .await
            .unwrap();
        assert_eq!(delivered(&take(&mut audit, 3).await), vec![1, 2, 3]);
    }
);

buses!(
    feeds_resume_from_a_sequence,
    settings(),
    |bus: EventBus| async move {
        let mine = Uuid::new_v4();
        let other = Uuid::new_v4();
        let events = vec![
            stored(1, Some(mine)),
            stored(2, None),
            stored(4, Some(other)), // 3 rolled back: sequences have gaps
            stored(5, Some(mine)),
            stored(6, None),
        ];
        bus.publisher.publish(&events).await.unwrap();

        let mut all = bus
            .subscriber
            .follow(FeedScope::All, Some(2))
            .await
            .unwrap();
        assert_eq!(seqs(&follow_until(&mut all, 6).await), vec![4, 5, 6]);
        let mut project = bus
            .subscriber
            .follow(FeedScope::Project(mine), Some(0))
            .await
            .unwrap();
        let got = follow_until(&mut project, 5).await;
        assert_eq!(seqs(&got), vec![1, 5]);
        assert_eq!(got[1], events[3]);

        // From now: only what is published later, in order, across streams.
        let mut live = bus.subscriber.follow(FeedScope::All, None).await.unwrap();
        let later: Vec<StoredEvent> = (7..=30)
            .map(|s| stored(s, (s % 3 == 0).then_some(mine)))
            .collect();
        bus.publisher.publish(&later).await.unwrap();
        let got = follow_until(&mut live, 30).await;
        assert_eq!(seqs(&got), (7..=30).collect::<Vec<_>>());
        let got = follow_until(&mut project, 30).await;
        assert_eq!(
            seqs(&got),
            (7..=30).filter(|s| s % 3 == 0).collect::<Vec<_>>()
        );
    }
);

buses!(
    a_feed_behind_the_retention_is_told,
    BusSettings {
        max_len: 10,
        ..settings()
    },
    |bus: EventBus| async move {
        let project = Uuid::new_v4();
        let events: Vec<StoredEvent> = (1..=300).map(|s| stored(s, Some(project))).collect();
        bus.publisher.publish(&events).await.unwrap();
        assert!(matches!(
            bus.subscriber.follow(FeedScope::All, Some(0)).await,
            Err(BusError::Lagged { after: 0 })
        ));
        // Recent enough is fine (both buses keep at least `max_len`).
        let mut feed = bus
            .subscriber
            .follow(FeedScope::All, Some(295))
            .await
            .unwrap();
        assert_eq!(
            seqs(&follow_until(&mut feed, 300).await),
            vec![296, 297, 298, 299, 300]
        );
    }
);

// ---------------------------------------------------------------------------
// Redis specifics
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_streams_layout() {
    let Some(keys) = RedisKeys::new() else {
        return;
    };
    let bus = RedisStreamsBus::connect(&keys.url, &keys.prefix, settings())
        .await
        .unwrap();
    let p = Uuid::new_v4();
    let q = Uuid::new_v4();
    let tasks = bus.aggregate_key(AggregateType::Task);
    let users = bus.aggregate_key(AggregateType::User);
    assert_eq!(tasks, format!("{}:events:tasks", keys.prefix));
    assert_eq!(
        bus.aggregate_key(AggregateType::AiSession),
        format!("{}:events:ai_sessions", keys.prefix)
    );
    assert_eq!(
        bus.project_key(p),
        format!("{}:project:{p}:events", keys.prefix)
    );

    // The groups exist on every aggregate stream before anything is published.
    let mut raw = keys.raw().await;
    let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(&tasks)
        .query_async(&mut raw)
        .await
        .unwrap();
    let mut names: Vec<String> = groups.groups.into_iter().map(|g| g.name).collect();
    names.sort();
    assert_eq!(names, vec!["analytics", "audit", "notifications"]);

    let batch = vec![stored(1, Some(p)), stored(2, None), stored(3, Some(p))];
    bus.publish(&batch).await.unwrap();
    bus.publish(&batch).await.unwrap();
    bus.publish(&[stored(3, Some(p)), stored(4, Some(q))])
        .await
        .unwrap();

    // Ids are `<sequence>-0`; a repeat added nothing.
    assert_eq!(keys.ids(&tasks).await, vec!["1-0", "3-0", "4-0"]);
    assert_eq!(keys.ids(&users).await, vec!["2-0"]);
    assert_eq!(keys.ids(&bus.project_key(p)).await, vec!["1-0", "3-0"]);
    assert_eq!(keys.ids(&bus.project_key(q)).await, vec!["4-0"]);
    let entry: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&tasks)
        .arg("1-0")
        .arg("1-0")
        .query_async(&mut raw)
        .await
        .unwrap();
    let fields = &entry.ids[0].map;
    let field = |k: &str| -> String { redis::from_redis_value(fields[k].clone()).unwrap() };
    assert_eq!(field("event_type"), "TaskDeleted");
    assert_eq!(field("aggregate_type"), "Task");
    assert_eq!(field("sequence"), "1");
    assert_eq!(field("project_id"), p.to_string());
    let payload: StoredEvent = serde_json::from_str(&field("payload")).unwrap();
    assert_eq!(payload, batch[0]);

    // Pending until acknowledged, as Redis itself reports it.
    let mut consumer = bus.join(ConsumerGroup::AUDIT, "auditor").await.unwrap();
    let got = take(&mut consumer, 4).await;
    let pending = |raw: redis::aio::MultiplexedConnection, key: String| async move {
        let mut raw = raw;
        let reply: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
            .arg(key)
            .arg("audit")
            .query_async(&mut raw)
            .await
            .unwrap();
        reply.count()
    };
    assert_eq!(pending(raw.clone(), tasks.clone()).await, 3);
    assert_eq!(pending(raw.clone(), users.clone()).await, 1);
    let tags: Vec<_> = got.iter().map(|d| d.tag.clone()).collect();
    consumer.ack(&tags).await.unwrap();
    assert_eq!(pending(raw.clone(), tasks.clone()).await, 0);
    assert_eq!(pending(raw.clone(), users.clone()).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_groups_survive_a_lost_stream() {
    // Redis restarted without persistence: streams and groups are gone.
    // Consumers re-create their group and carry on.
    let Some(keys) = RedisKeys::new() else {
        return;
    };
    let bus = keys.bus(settings()).await;
    let mut consumer = bus
        .subscriber
        .join(ConsumerGroup::AUDIT, "auditor")
        .await
        .unwrap();
    let streams: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", keys.prefix))
        .query_async(&mut keys.raw().await)
        .await
        .unwrap();
    assert_eq!(streams.len(), 6, "one stream per aggregate type");
    let _: i64 = redis::cmd("DEL")
        .arg(&streams)
        .query_async(&mut keys.raw().await)
        .await
        .unwrap();
    assert!(consumer.next(10).await.unwrap().is_empty());
    bus.publisher.publish(&[stored(9, None)]).await.unwrap();
    assert_eq!(delivered(&take(&mut consumer, 1).await), vec![9]);
}

// ---------------------------------------------------------------------------
// The outbox relay, on SQLite and PostgreSQL
// ---------------------------------------------------------------------------

/// Appends `envelopes` in a transaction of their own and commits. Like
/// every product transaction, it writes before it appends: on SQLite a
/// transaction that reads first (the append's project lookup) cannot
/// upgrade to writing once another connection — the relay moving its
/// cursor — has written meanwhile (`SQLITE_BUSY_SNAPSHOT`).
async fn commit(db: &DatabaseConnection, envelopes: &[EventEnvelope]) {
    let txn = db.begin().await.unwrap();
    if txn.get_database_backend() == sea_orm::DbBackend::Sqlite {
        txn.execute_unprepared("UPDATE bus_cursors SET position = position WHERE 0")
            .await
            .unwrap();
    }
    db::append(&txn, envelopes).await.unwrap();
    txn.commit().await.unwrap();
    db::notify_committed();
}

/// Every sequence in the event log, in order.
async fn table_sequences(db: &DatabaseConnection) -> Vec<i64> {
    db::committed_after(db, 0, u64::MAX >> 1)
        .await
        .unwrap()
        .iter()
        .map(|e| e.sequence)
        .collect()
}

fn fast(cursor: &str) -> RelaySettings {
    RelaySettings {
        poll: Duration::from_millis(5),
        batch: 7, // small, so passes span several batches
        ..RelaySettings::new(cursor)
    }
}

backends!(
    the_relay_publishes_in_order_and_resumes_from_its_cursor,
    |url: String| async move {
        let db = db::connect(&url).await.unwrap();
        let project = Uuid::new_v4();
        let first = vec![task_deleted(project), user_registered()];
        commit(&db, &first).await;
        commit(&db, &[task_deleted(project)]).await;
        let rest: Vec<EventEnvelope> = (0..12).map(|_| task_deleted(project)).collect();
        commit(&db, &rest).await;
        let table = table_sequences(&db).await;
        assert_eq!(table.len(), 15);

        let bus = InProcessBus::new(settings());
        let relay = Relay::new(db.clone(), Arc::new(bus.clone()), fast("test"));
        assert_eq!(relay.run_once().await.unwrap(), 15);
        assert_eq!(relay.run_once().await.unwrap(), 0, "nothing twice");
        assert_eq!(
            db::cursor_position(&db, "test").await.unwrap(),
            *table.last().unwrap()
        );
        let mut feed = bus.follow(FeedScope::All, Some(0)).await.unwrap();
        let got = follow_until(&mut feed, *table.last().unwrap()).await;
        assert_eq!(seqs(&got), table);
        // As appended: envelope, project, order within a transaction.
        assert_eq!(got[0].envelope, first[0]);
        assert_eq!(got[0].project_id, Some(project));
        assert_eq!(got[1].envelope, first[1]);
        assert_eq!(got[1].project_id, None);

        // "Restart": a fresh bus and relay with the same cursor publish only
        // what was committed since.
        let later = vec![user_registered(), task_deleted(project)];
        commit(&db, &later).await;
        let fresh = InProcessBus::new(settings());
        let relay = Relay::new(db.clone(), Arc::new(fresh.clone()), fast("test"));
        assert_eq!(relay.run_once().await.unwrap(), 2);
        let mut feed = fresh.follow(FeedScope::All, Some(0)).await.unwrap();
        let table = table_sequences(&db).await;
        let got = follow_until(&mut feed, *table.last().unwrap()).await;
        assert_eq!(seqs(&got), table[15..].to_vec());
        assert_eq!(got[0].envelope, later[0]);

        // Another bus has its own cursor and gets the whole log.
        let other = InProcessBus::new(settings());
        let relay = Relay::new(db.clone(), Arc::new(other), fast("other"));
        assert_eq!(relay.run_once().await.unwrap(), 17);
        // The cursor never moves back.
        db::advance_cursor(&db, "test", 3).await.unwrap();
        assert_eq!(
            db::cursor_position(&db, "test").await.unwrap(),
            *table.last().unwrap()
        );
    }
);

backends!(
    the_relay_wakes_on_commit_and_events_know_their_project,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let bus = InProcessBus::new(settings());
        let mut feed = bus.follow(FeedScope::All, Some(0)).await.unwrap();
        // Polling every minute: only the commit signal can make this quick.
        let relay = Relay::new(
            app.db.clone(),
            Arc::new(bus.clone()),
            RelaySettings {
                poll: Duration::from_secs(60),
                ..RelaySettings::new("wake")
            },
        )
        .spawn();

        let mut c = app.client();
        let user = c.sign_up("bus@example.com").await;
        let project = c.create_project("Live").await;
        let pid = Uuid::parse_str(project["id"].as_str().unwrap()).unwrap();
        c.create_task(pid.to_string().as_str(), "Stream it", "")
            .await;
        let uid = Uuid::parse_str(user["id"].as_str().unwrap()).unwrap();

        // An AI session's later events name only the session; the append
        // finds the session's project.
        let session_id = Uuid::new_v4();
        entity::ai_sessions::ActiveModel {
            id: Set(session_id),
            project_id: Set(pid),
            task_id: Set(None),
            user_id: Set(uid),
            conductor: Set("gpt".into()),
            total_tokens_used: Set(0),
            status: Set("executing".into()),
            started_at: Set(Utc::now().fixed_offset()),
            completed_at: Set(None),
            metadata: Set(serde_json::json!({})),
        }
        .insert(&app.db)
        .await
        .unwrap();
        commit(
            &app.db,
            &[EventEnvelope::new(
                AggregateType::AiSession,
                session_id,
                uid,
                at(),
                DomainEvent::AiSessionStatusChanged {
                    session_id,
                    from: SessionStatus::Executing,
                    to: SessionStatus::Failed,
                    reason: None,
                },
            )],
        )
        .await;

        let table = table_sequences(&app.db).await;
        let started = Instant::now();
        let got = follow_until(&mut feed, *table.last().unwrap()).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "woken by the commits, not the poll"
        );
        relay.stop().await;
        assert_eq!(seqs(&got), table);
        let types: Vec<&str> = got.iter().map(|e| e.envelope.event.type_name()).collect();
        assert_eq!(
            types,
            vec![
                "UserRegistered",
                "ProjectCreated",
                "TaskCreated",
                "AISessionStatusChanged"
            ]
        );
        let projects: Vec<Option<Uuid>> = got.iter().map(|e| e.project_id).collect();
        assert_eq!(projects, vec![None, Some(pid), Some(pid), Some(pid)]);
        // The request that caused it travels along.
        assert!(got[1].request_id.is_some());
        let stored_projects: Vec<Option<Uuid>> = db::read_events(&app.db, uid)
            .await
            .unwrap()
            .iter()
            .map(|r| r.project_id)
            .collect();
        assert_eq!(stored_projects, projects);
    }
);

/// `writers` tasks each commit `rounds` transactions of two events, holding
/// each transaction open a random few milliseconds after the append — the
/// window in which a later sequence could commit first.
async fn racing_writers(db: &DatabaseConnection, writers: usize, rounds: usize) {
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..rounds {
                let txn = db.begin().await.unwrap();
                db::append(&txn, &[task_deleted(Uuid::new_v4()), user_registered()])
                    .await
                    .unwrap();
                let pause = rand::thread_rng().gen_range(0..12);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                txn.commit().await.unwrap();
                db::notify_committed();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

backends!(
    concurrent_commits_are_never_skipped,
    |url: String| async move {
        let db = db::connect(&url).await.unwrap();
        let bus = InProcessBus::new(BusSettings {
            max_len: 100_000,
            ..settings()
        });
        let mut feed = bus.follow(FeedScope::All, Some(0)).await.unwrap();
        // Large batches: every pass reads up to the newest commit, where
        // the transactions still open are.
        let relay = Relay::new(
            db.clone(),
            Arc::new(bus.clone()),
            RelaySettings {
                batch: 1000,
                ..fast("race")
            },
        )
        .spawn();
        // The relay is up and reading before the race starts.
        commit(&db, &[user_registered()]).await;
        let mut got = follow_until(&mut feed, 1).await;
        racing_writers(&db, 12, 10).await;

        let table = table_sequences(&db).await;
        assert_eq!(table.len(), 1 + 12 * 10 * 2);
        got.extend(follow_until(&mut feed, *table.last().unwrap()).await);
        relay.stop().await;
        assert_eq!(seqs(&got), table, "published exactly the log, in order");
    }
);

backends!(
    two_instances_share_redis_without_duplicates,
    |url: String| async move {
        let Some(keys) = RedisKeys::new() else {
            return;
        };
        let db = db::connect(&url).await.unwrap();
        // Two "instances": two connections to Redis, two relays, one cursor.
        let a = keys.bus(settings()).await;
        let b = keys.bus(settings()).await;
        assert_eq!(a.cursor, b.cursor);
        let relay_a = Relay::new(db.clone(), a.publisher.clone(), fast(&a.cursor)).spawn();
        let relay_b = Relay::new(db.clone(), b.publisher.clone(), fast(&b.cursor)).spawn();
        let mut feed = b.subscriber.follow(FeedScope::All, Some(0)).await.unwrap();
        racing_writers(&db, 6, 4).await;

        let table = table_sequences(&db).await;
        let got = follow_until(&mut feed, *table.last().unwrap()).await;
        relay_a.stop().await;
        relay_b.stop().await;
        assert_eq!(seqs(&got), table, "each event once, in order");

        let mut auditor = a
            .subscriber
            .join(ConsumerGroup::AUDIT, "auditor")
            .await
            .unwrap();
        let deliveries = take(&mut auditor, table.len()).await;
        assert_eq!(delivered(&deliveries), table);
        let tags: Vec<_> = deliveries.iter().map(|d| d.tag.clone()).collect();
        auditor.ack(&tags).await.unwrap();
        nothing_for(&mut auditor, settings().claim_idle * 2).await;

        // Per stream too: the task stream holds exactly the task events.
        let tasks: Vec<String> = got
            .iter()
            .filter(|e| e.envelope.aggregate_type == AggregateType::Task)
            .map(|e| format!("{}-0", e.sequence))
            .collect();
        assert_eq!(
            keys.ids(&format!("{}:events:tasks", keys.prefix)).await,
            tasks
        );
        drop(keys);
    }
);
