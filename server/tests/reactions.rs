#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Reactions to events (issue 17): the supervisor runs each registered
//! reaction as a consumer of its own group; a redelivered event is handled
//! once; a failing (or panicking) handler is retried, dead-lettered, and
//! the stream moves on; two instances over one database and one bus handle
//! each event exactly once between them; and the notification inbox fills
//! from events and is read and marked through the API, per user.
//!
//! Every test runs on SQLite and PostgreSQL, each over the in-process bus
//! and Redis Streams (`matrix!`); the Redis variants need
//! `EXITON_TEST_REDIS_URL`, the PostgreSQL ones `EXITON_TEST_DATABASE_URL`.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::server_fns::{ReadAllNotifications, UnreadNotifications};
use async_trait::async_trait;
use chrono::Utc;
use common::{RedisKeys, TestApp, TestDb};
use domain::events::{
    AggregateType, ConsumerGroup, DomainEvent, EventEnvelope, Reaction, ReactionError,
    ReactionLog as _, Reactions, StoredEvent,
};
use domain::pagination::PageRequest;
use domain::sessions::SessionStatus;
use leptos::server_fn::ServerFn as _;
use server::inbound::reactions::{ReactionSettings, RetrySchedule, spawn};
use server::outbound::bus::{BusSettings, EventBus};
use server::outbound::db::SeaOrmReactionLog;
use tokio::time::Instant;
use uuid::Uuid;

fn settings() -> BusSettings {
    BusSettings {
        max_len: 1000,
        claim_idle: Duration::from_millis(300),
        block: Duration::from_millis(100),
    }
}

fn reaction_settings(consumer: &str) -> ReactionSettings {
    ReactionSettings {
        retry: RetrySchedule {
            attempts: 3,
            first: Duration::from_millis(5),
            max: Duration::from_millis(20),
        },
        ..ReactionSettings::new(consumer)
    }
}

#[derive(Clone, Copy)]
enum BusKind {
    InProcess,
    Redis,
}

/// The bus of `kind`, and the Redis keys to delete afterwards; `None` when
/// Redis is asked for but not configured.
async fn bus(kind: BusKind) -> Option<(EventBus, Option<RedisKeys>)> {
    match kind {
        BusKind::InProcess => Some((EventBus::in_process(settings()), None)),
        BusKind::Redis => {
            let keys = RedisKeys::new()?;
            let bus = EventBus::redis(&keys.url, &keys.prefix, settings())
                .await
                .unwrap();
            Some((bus, Some(keys)))
        }
    }
}

/// Another connection to the same bus, as a second instance would have.
/// Where a test's Redis is (URL, key prefix), when it runs on Redis.
type Redis = Option<(String, String)>;

async fn same_bus(bus: &EventBus, redis: Redis) -> EventBus {
    match redis {
        None => bus.clone(),
        Some((url, prefix)) => EventBus::redis(&url, &prefix, settings()).await.unwrap(),
    }
}

/// One test body on {SQLite, PostgreSQL} × {in-process, Redis}.
macro_rules! matrix {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            async fn go(db: Option<TestDb>, kind: BusKind) {
                let Some(db) = db else { return };
                common::run_on(db, move |url| async move {
                    let Some((bus, keys)) = bus(kind).await else {
                        return;
                    };
                    let body = $body;
                    let redis = keys.as_ref().map(|k| (k.url.clone(), k.prefix.clone()));
                    body(url, bus, redis).await;
                    drop(keys);
                })
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_in_process() {
                go(Some(TestDb::sqlite()), BusKind::InProcess).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_redis() {
                go(Some(TestDb::sqlite()), BusKind::Redis).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_in_process() {
                go(TestDb::postgres().await, BusKind::InProcess).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_redis() {
                go(TestDb::postgres().await, BusKind::Redis).await;
            }
        }
    };
}

// ---------------------------------------------------------------------------
// A probe reaction
// ---------------------------------------------------------------------------

/// How the probe treats an event, by event id.
#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Fail,
    Panic,
}

/// Counts the calls per event id; fails or panics on the events told to.
#[derive(Default)]
struct Probe {
    calls: Mutex<HashMap<Uuid, u32>>,
    behaviour: Mutex<HashMap<Uuid, Behaviour>>,
    /// Who handled what, when several probes share one count.
    by: Mutex<HashMap<Uuid, String>>,
}

struct ProbeReaction {
    probe: Arc<Probe>,
    instance: String,
}

#[async_trait]
impl Reaction for ProbeReaction {
    fn name(&self) -> ConsumerGroup {
        ConsumerGroup::new("probe").unwrap()
    }

    fn wants(&self, event: &DomainEvent) -> bool {
        matches!(event, DomainEvent::TaskDeleted { .. })
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), ReactionError> {
        let id = event.envelope.id;
        *self.probe.calls.lock().unwrap().entry(id).or_default() += 1;
        self.probe
            .by
            .lock()
            .unwrap()
            .insert(id, self.instance.clone());
        let behaviour = self.probe.behaviour.lock().unwrap().get(&id).copied();
        match behaviour {
            Some(Behaviour::Fail) => Err(ReactionError::Failed("refused on purpose".into())),
            Some(Behaviour::Panic) => panic!("panicked on purpose"),
            None => Ok(()),
        }
    }
}

impl Probe {
    fn reactions(self: &Arc<Self>, instance: &str) -> Reactions {
        Reactions::new()
            .register(Arc::new(ProbeReaction {
                probe: self.clone(),
                instance: instance.to_owned(),
            }))
            .unwrap()
    }

    fn calls(&self, id: Uuid) -> u32 {
        self.calls.lock().unwrap().get(&id).copied().unwrap_or(0)
    }

    /// Waits (at most 10 s) until `id` was handled at least once.
    async fn wait_for(&self, id: Uuid) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.calls(id) == 0 {
            assert!(Instant::now() < deadline, "event {id} was never handled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn task_deleted(user: Uuid) -> EventEnvelope {
    EventEnvelope::new(
        AggregateType::Task,
        Uuid::new_v4(),
        user,
        Utc::now(),
        DomainEvent::TaskDeleted {
            task_id: Uuid::new_v4(),
            project_id: Uuid::new_v4(),
        },
    )
}

fn stored(sequence: i64, envelope: EventEnvelope) -> StoredEvent {
    StoredEvent {
        sequence,
        project_id: None,
        request_id: None,
        envelope,
    }
}

// ---------------------------------------------------------------------------
// The supervisor
// ---------------------------------------------------------------------------

matrix!(
    a_redelivered_event_is_handled_once,
    |url: String, bus: EventBus, _redis: Redis| async move {
        let db = server::outbound::db::connect(&url).await.unwrap();
        let log = Arc::new(SeaOrmReactionLog::new(db.clone()));
        let user = Uuid::new_v4();
        let group = ConsumerGroup::new("probe").unwrap();

        // A consumer that handled event 1 (its receipt is written) and died
        // before acknowledging it: the delivery stays pending for it.
        let first = task_deleted(user);
        bus.publisher
            .publish(&[stored(1, first.clone())])
            .await
            .unwrap();
        let mut dying = bus.subscriber.join(group.clone(), "one").await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        while got.is_empty() {
            assert!(Instant::now() < deadline);
            got = dying.next(10).await.unwrap();
        }
        log.record_handled("probe", first.id, Utc::now())
            .await
            .unwrap();
        drop(dying);

        // It comes back under the same name: its pending delivery is
        // replayed, found handled, and acknowledged without a second call.
        let probe = Arc::new(Probe::default());
        let handle = spawn(
            &probe.reactions("one"),
            bus.subscriber.clone(),
            log.clone(),
            reaction_settings("one"),
        );
        // The same event published again under another sequence (a bus
        // that lost its streams and was refilled) is no new event either.
        let second = task_deleted(user);
        bus.publisher
            .publish(&[stored(2, first.clone()), stored(3, second.clone())])
            .await
            .unwrap();
        probe.wait_for(second.id).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(probe.calls(first.id), 0, "handled before: not again");
        assert_eq!(probe.calls(second.id), 1);
        handle.stop().await;

        // Everything was acknowledged: a new consumer finds nothing pending
        // even after the idle timeout.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let mut later = bus.subscriber.join(group, "two").await.unwrap();
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            let got = later.next(10).await.unwrap();
            assert!(got.is_empty(), "left pending: {got:?}");
        }
    }
);

matrix!(
    a_failing_handler_is_dead_lettered_and_the_stream_moves_on,
    |url: String, bus: EventBus, _redis: Redis| async move {
        let app = TestApp::new(&url).await;
        let mut ada = app.client();
        let user: Uuid = ada.sign_up("ada@example.com").await["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let log = Arc::new(SeaOrmReactionLog::new(app.db.clone()));
        let probe = Arc::new(Probe::default());
        let failing = task_deleted(user);
        let panicking = task_deleted(user);
        let fine = task_deleted(user);
        probe.behaviour.lock().unwrap().extend([
            (failing.id, Behaviour::Fail),
            (panicking.id, Behaviour::Panic),
        ]);
        let handle = spawn(
            &probe.reactions("only"),
            bus.subscriber.clone(),
            log.clone(),
            reaction_settings("only"),
        );
        // An event the reaction does not want is passed over.
        let unwanted = EventEnvelope::new(
            AggregateType::User,
            user,
            user,
            Utc::now(),
            DomainEvent::ApiKeyRevoked {
                key_id: Uuid::new_v4(),
            },
        );
        bus.publisher
            .publish(&[
                stored(1, failing.clone()),
                stored(2, unwanted),
                stored(3, panicking.clone()),
                stored(4, fine.clone()),
            ])
            .await
            .unwrap();
        probe.wait_for(fine.id).await;
        // Its receipt follows the handler.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !log.handled("probe", fine.id).await.unwrap() {
            assert!(Instant::now() < deadline, "no receipt");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        handle.stop().await;

        assert_eq!(probe.calls(failing.id), 3, "tried on the whole schedule");
        assert_eq!(probe.calls(panicking.id), 3);
        assert_eq!(probe.calls(fine.id), 1);

        let letters = log
            .dead_letters(user, &PageRequest::default())
            .await
            .unwrap()
            .items;
        assert_eq!(letters.len(), 2, "{letters:?}");
        // Newest first.
        assert_eq!(letters[0].event_id, panicking.id);
        assert_eq!(letters[1].event_id, failing.id);
        assert!(
            letters[0].error.contains("panicked on purpose"),
            "{letters:?}"
        );
        assert!(
            letters[1].error.contains("refused on purpose"),
            "{letters:?}"
        );
        for letter in &letters {
            assert_eq!(letter.reaction, "probe");
            assert_eq!(letter.attempts, 3);
            assert_eq!(letter.event_type, "TaskDeleted");
            assert_eq!(letter.user_id, Some(user));
        }
        assert_eq!(letters[1].sequence, 1);
        // Somebody else's are not theirs.
        let other = log
            .dead_letters(Uuid::new_v4(), &PageRequest::default())
            .await
            .unwrap();
        assert!(other.items.is_empty());
        // Through the API, to the user whose events they were.
        let r = ada.get("/api/v1/reactions/dead-letters").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let listed = r.body["dead_letters"].as_array().unwrap();
        assert_eq!(listed.len(), 2, "{}", r.text);
        assert_eq!(listed[0]["event_id"], panicking.id.to_string());
        assert_eq!(listed[0]["reaction"], "probe");
        assert_eq!(listed[0]["attempts"], 3);
        let mut bob = app.client();
        bob.sign_up("bob@example.com").await;
        let r = bob.get("/api/v1/reactions/dead-letters").await;
        assert_eq!(r.body["dead_letters"].as_array().unwrap().len(), 0);
        // A dead-lettered event has no receipt: it was not handled.
        assert!(!log.handled("probe", failing.id).await.unwrap());
        assert!(log.handled("probe", fine.id).await.unwrap());
    }
);

matrix!(
    two_instances_handle_each_event_exactly_once,
    |url: String, bus: EventBus, redis: Redis| async move {
        let db_a = server::outbound::db::connect(&url).await.unwrap();
        let db_b = server::outbound::db::connect(&url).await.unwrap();
        let bus_b = same_bus(&bus, redis).await;
        let probe = Arc::new(Probe::default());
        let a = spawn(
            &probe.reactions("a"),
            bus.subscriber.clone(),
            Arc::new(SeaOrmReactionLog::new(db_a.clone())),
            ReactionSettings {
                batch: 2,
                ..reaction_settings("a")
            },
        );
        let b = spawn(
            &probe.reactions("b"),
            bus_b.subscriber.clone(),
            Arc::new(SeaOrmReactionLog::new(db_b.clone())),
            ReactionSettings {
                batch: 2,
                ..reaction_settings("b")
            },
        );
        let user = Uuid::new_v4();
        let events: Vec<EventEnvelope> = (0..40).map(|_| task_deleted(user)).collect();
        // Published by both instances' relays, in overlapping batches, as
        // two relays do: the bus keeps one copy of each.
        for (i, chunk) in events.chunks(10).enumerate() {
            let base = i64::try_from(i * 10).unwrap();
            let batch: Vec<StoredEvent> = chunk
                .iter()
                .enumerate()
                .map(|(j, e)| stored(base + i64::try_from(j).unwrap() + 1, e.clone()))
                .collect();
            bus.publisher.publish(&batch).await.unwrap();
            bus_b.publisher.publish(&batch).await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        for event in &events {
            probe.wait_for(event.id).await;
        }
        // Past the idle timeout: nothing left pending is handed over again.
        tokio::time::sleep(Duration::from_millis(800)).await;
        a.stop().await;
        b.stop().await;
        for event in &events {
            assert_eq!(probe.calls(event.id), 1, "event {} handled once", event.id);
        }
        let by = probe.by.lock().unwrap().clone();
        let log = SeaOrmReactionLog::new(db_a);
        for event in &events {
            assert!(log.handled("probe", event.id).await.unwrap());
        }
        eprintln!(
            "a handled {}, b handled {}",
            by.values().filter(|v| *v == "a").count(),
            by.values().filter(|v| *v == "b").count()
        );
    }
);

// ---------------------------------------------------------------------------
// The notification inbox, through the API
// ---------------------------------------------------------------------------

fn session_event(user: Uuid, session: Uuid, event: DomainEvent, minute: u32) -> EventEnvelope {
    EventEnvelope::new(
        AggregateType::AiSession,
        session,
        user,
        // Recent (the inbox ignores week-old events), in `minute` order.
        Utc::now() - chrono::Duration::hours(1) + chrono::Duration::minutes(i64::from(minute)),
        event,
    )
}

fn status(session: Uuid, to: SessionStatus) -> DomainEvent {
    DomainEvent::AiSessionStatusChanged {
        session_id: session,
        from: SessionStatus::Executing,
        to,
        reason: Some(format!("now {to:?}")),
    }
}

/// Calls a server function without arguments, as the hydrated page does,
/// and answers its JSON result.
async fn server_fn(client: &mut common::Client, path: &str) -> serde_json::Value {
    let request = client
        .request(axum::http::Method::POST, path)
        .header(
            axum::http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(axum::http::header::ORIGIN, "http://localhost:3000")
        .body(axum::body::Body::empty())
        .unwrap();
    let r = client.send(request).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r.body
}

matrix!(
    the_inbox_fills_from_events_per_user,
    |url: String, bus: EventBus, _redis: Redis| async move {
        let app = TestApp::new(&url).await;
        let mut ada = app.client();
        let ada_id: Uuid = ada.sign_up("ada@example.com").await["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let mut bob = app.client();
        bob.sign_up("bob@example.com").await;

        let handle = server::inbound::reactions::spawn(
            &server::startup::reactions(&app.db).unwrap(),
            bus.subscriber.clone(),
            Arc::new(SeaOrmReactionLog::new(app.db.clone())),
            reaction_settings("inbox-test"),
        );

        let session = Uuid::new_v4();
        let review = Uuid::new_v4();
        let required = session_event(
            ada_id,
            session,
            DomainEvent::HumanReviewRequired {
                review_id: review,
                session_id: session,
                kind: domain::sessions::ReviewKind::Gate,
                reasons: vec![],
                average_confidence: 0.5,
                expires_at: Utc::now() + chrono::Duration::days(1),
            },
            1,
        );
        let events = [
            required.clone(),
            // Not a notification: still executing.
            session_event(
                ada_id,
                session,
                status(session, SessionStatus::AwaitingReview),
                2,
            ),
            session_event(
                ada_id,
                session,
                DomainEvent::ReviewExpired {
                    review_id: review,
                    session_id: session,
                },
                3,
            ),
            session_event(ada_id, session, status(session, SessionStatus::Failed), 4),
            session_event(
                ada_id,
                session,
                status(session, SessionStatus::Completed),
                5,
            ),
            session_event(
                ada_id,
                session,
                status(session, SessionStatus::Cancelled),
                6,
            ),
        ];
        let mut stored_events: Vec<StoredEvent> = events
            .iter()
            .enumerate()
            .map(|(i, e)| stored(i64::try_from(i).unwrap() + 1, e.clone()))
            .collect();
        // The review-required event again, under a later sequence: still one
        // notification.
        stored_events.push(stored(7, required.clone()));
        bus.publisher.publish(&stored_events).await.unwrap();

        let deadline = Instant::now() + Duration::from_secs(10);
        let list = loop {
            let r = ada.get("/api/v1/notifications").await;
            assert_eq!(r.status, 200, "{}", r.text);
            if r.body["notifications"].as_array().unwrap().len() >= 5 {
                break r.body;
            }
            assert!(Instant::now() < deadline, "inbox stayed at {}", r.text);
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let list = {
            let r = ada.get("/api/v1/notifications").await;
            assert_eq!(r.body, list, "no more arrive");
            r.body
        };
        handle.stop().await;

        let items = list["notifications"].as_array().unwrap();
        let kinds: Vec<&str> = items.iter().map(|n| n["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            vec![
                "session_cancelled",
                "session_completed",
                "session_failed",
                "review_expired",
                "review_required",
            ],
            "newest first"
        );
        assert_eq!(list["unread_count"], 5);
        assert!(list["next_cursor"].is_null());
        let required_item = &items[4];
        assert_eq!(required_item["review_id"], review.to_string());
        assert_eq!(required_item["session_id"], session.to_string());
        assert_eq!(required_item["link"], format!("/reviews/{review}"));
        assert_eq!(required_item["event_id"], required.id.to_string());
        assert!(required_item["read_at"].is_null());
        assert_eq!(items[0]["link"], format!("/sessions/{session}"));

        // Paged like the other lists.
        let first = ada.get("/api/v1/notifications?limit=2").await.body;
        assert_eq!(first["notifications"].as_array().unwrap().len(), 2);
        let cursor = first["next_cursor"].as_str().unwrap().to_owned();
        let rest = ada
            .get(&format!("/api/v1/notifications?limit=10&cursor={cursor}"))
            .await
            .body;
        assert_eq!(rest["notifications"].as_array().unwrap().len(), 3);
        assert_eq!(ada.get("/api/v1/notifications?limit=0").await.status, 422);

        // Marking one read.
        let id = items[4]["id"].as_str().unwrap().to_owned();
        let r = ada
            .post(
                &format!("/api/v1/notifications/{id}/read"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.body["read_at"].is_string());
        let unread = ada.get("/api/v1/notifications?unread=true").await.body;
        assert_eq!(unread["notifications"].as_array().unwrap().len(), 4);
        assert_eq!(unread["unread_count"], 4);
        assert!(
            unread["notifications"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["id"] != id.as_str())
        );

        // Bob sees none of them, and cannot mark Ada's.
        let theirs = bob.get("/api/v1/notifications").await.body;
        assert_eq!(theirs["notifications"].as_array().unwrap().len(), 0);
        assert_eq!(theirs["unread_count"], 0);
        let other = items[0]["id"].as_str().unwrap();
        let r = bob
            .post(
                &format!("/api/v1/notifications/{other}/read"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.text);
        assert_eq!(r.code(), "not_found");
        let r = bob
            .post("/api/v1/notifications/read-all", serde_json::json!({}))
            .await;
        assert_eq!(r.body["marked"], 0);
        assert_eq!(
            ada.get("/api/v1/notifications?unread=true").await.body["unread_count"],
            4
        );

        // The bell's server functions: the count, and reading them all
        // (Bob's here: he has none).
        assert_eq!(server_fn(&mut ada, UnreadNotifications::PATH).await, 4);
        assert_eq!(server_fn(&mut bob, ReadAllNotifications::PATH).await, 0);
        assert_eq!(server_fn(&mut ada, UnreadNotifications::PATH).await, 4);

        // Marking all.
        let r = ada
            .post("/api/v1/notifications/read-all", serde_json::json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["marked"], 4);
        let unread = ada.get("/api/v1/notifications?unread=true").await.body;
        assert_eq!(unread["notifications"].as_array().unwrap().len(), 0);
        assert_eq!(unread["unread_count"], 0);
        assert_eq!(server_fn(&mut ada, UnreadNotifications::PATH).await, 0);
        assert_eq!(
            ada.get("/api/v1/notifications").await.body["notifications"]
                .as_array()
                .unwrap()
                .len(),
            5
        );

        // No dead letters for anyone here; the endpoint answers an empty page.
        let r = ada.get("/api/v1/reactions/dead-letters").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["dead_letters"].as_array().unwrap().len(), 0);
        assert_eq!(app.client().get("/api/v1/notifications").await.status, 401);
    }
);

// ---------------------------------------------------------------------------
// A bus that fails
// ---------------------------------------------------------------------------

/// The in-process bus, refusing the first `joins` joins and failing the
/// first `reads` reads, as a Redis that comes and goes would.
struct Flaky {
    bus: EventBus,
    joins: Mutex<u32>,
    reads: Arc<Mutex<u32>>,
}

#[async_trait]
impl domain::events::EventSubscriber for Flaky {
    async fn join(
        &self,
        group: ConsumerGroup,
        consumer: &str,
    ) -> Result<Box<dyn domain::events::GroupConsumer>, domain::events::BusError> {
        {
            let mut joins = self.joins.lock().unwrap();
            if *joins > 0 {
                *joins -= 1;
                return Err(domain::events::BusError::Unavailable("down".into()));
            }
        }
        let inner = self.bus.subscriber.join(group, consumer).await?;
        Ok(Box::new(FlakyConsumer {
            inner,
            reads: self.reads.clone(),
        }))
    }

    async fn follow(
        &self,
        scope: domain::events::FeedScope,
        after: Option<i64>,
    ) -> Result<Box<dyn domain::events::EventFeed>, domain::events::BusError> {
        self.bus.subscriber.follow(scope, after).await
    }
}

struct FlakyConsumer {
    inner: Box<dyn domain::events::GroupConsumer>,
    reads: Arc<Mutex<u32>>,
}

#[async_trait]
impl domain::events::GroupConsumer for FlakyConsumer {
    async fn next(
        &mut self,
        max: usize,
    ) -> Result<Vec<domain::events::Delivery>, domain::events::BusError> {
        {
            let mut reads = self.reads.lock().unwrap();
            if *reads > 0 {
                *reads -= 1;
                return Err(domain::events::BusError::Unavailable("lost".into()));
            }
        }
        self.inner.next(max).await
    }

    async fn ack(
        &mut self,
        tags: &[domain::events::DeliveryTag],
    ) -> Result<(), domain::events::BusError> {
        self.inner.ack(tags).await
    }
}

backends!(
    bus_errors_make_the_consumer_rejoin_not_stop,
    |url: String| async move {
        let db = server::outbound::db::connect(&url).await.unwrap();
        let bus = EventBus::in_process(settings());
        let flaky = Arc::new(Flaky {
            bus: bus.clone(),
            joins: Mutex::new(2),
            reads: Arc::new(Mutex::new(2)),
        });
        let probe = Arc::new(Probe::default());
        let handle = spawn(
            &probe.reactions("flaky"),
            flaky.clone(),
            Arc::new(SeaOrmReactionLog::new(db)),
            ReactionSettings {
                max_backoff: Duration::from_millis(200),
                ..reaction_settings("flaky")
            },
        );
        let event = task_deleted(Uuid::new_v4());
        bus.publisher
            .publish(&[stored(1, event.clone())])
            .await
            .unwrap();
        probe.wait_for(event.id).await;
        assert_eq!(*flaky.joins.lock().unwrap(), 0, "both refusals were met");
        assert_eq!(*flaky.reads.lock().unwrap(), 0, "both failed reads too");
        // Stopping is prompt even while the consumer waits on the bus.
        tokio::time::timeout(Duration::from_secs(2), handle.stop())
            .await
            .unwrap();
        assert_eq!(probe.calls(event.id), 1);
    }
);

// ---------------------------------------------------------------------------
// Task progress
// ---------------------------------------------------------------------------

/// Reads the task until `done` holds of it.
async fn task_until(
    client: &mut common::Client,
    task: &str,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = client.get(&format!("/api/v1/tasks/{task}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        if done(&r.body) {
            return r.body;
        }
        assert!(Instant::now() < deadline, "waiting for {what}: {}", r.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

matrix!(
    a_run_moves_its_card_but_never_over_the_human,
    |url: String, bus: EventBus, _redis: Redis| async move {
        use domain::sessions::{AiSession, Intent, IntentAction, SessionRepository as _};
        let app = TestApp::new(&url).await;
        let mut ada = app.client();
        let ada_id: Uuid = ada.sign_up("ada@example.com").await["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let project = ada.create_project("Progress").await;
        let project_id: Uuid = project["id"].as_str().unwrap().parse().unwrap();
        let r = ada
            .post(
                &format!("/api/v1/projects/{project_id}/tasks"),
                serde_json::json!({"title": "Login form"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let task = r.body["id"].as_str().unwrap().to_owned();
        let session = AiSession {
            id: Uuid::new_v4(),
            project_id,
            task_id: Some(task.parse().unwrap()),
            user_id: ada_id,
            conductor: domain::band::ProviderKind::Claude,
            status: SessionStatus::Executing,
            intent: Intent::new(IntentAction::GenerateCode, "", &[]).unwrap(),
            total_tokens_used: 0,
            reservation_id: None,
            failure: None,
            resumed_at: None,
            retry_of: None,
            code: None,
            change: None,
            started_at: Utc::now(),
            completed_at: None,
        };
        server::outbound::db::SeaOrmSessionRepository::new(app.db.clone())
            .create(&session, &[], 10)
            .await
            .unwrap();
        let handle = server::inbound::reactions::spawn(
            &server::startup::reactions(&app.db).unwrap(),
            bus.subscriber.clone(),
            Arc::new(SeaOrmReactionLog::new(app.db.clone())),
            reaction_settings("progress-test"),
        );
        let event = |event: DomainEvent| {
            EventEnvelope::new(
                AggregateType::AiSession,
                session.id,
                ada_id,
                Utc::now(),
                event,
            )
        };
        let started = event(DomainEvent::AiSessionStarted {
            session_id: session.id,
            project_id,
            task_id: session.task_id,
            intent: session.intent.clone(),
            reserved_tokens: 0,
        });
        bus.publisher
            .publish(&[stored(1, started.clone())])
            .await
            .unwrap();
        let moved = task_until(&mut ada, &task, "in progress", |t| {
            t["status"] == "in_progress"
        })
        .await;
        assert_eq!(moved["assigned_ai_agent"], "claude");
        assert_eq!(moved["human_review_required"], false);

        // The human puts the card back; the run's wait for review then
        // sets the AI fields but leaves the card.
        let r = ada
            .patch(
                &format!("/api/v1/tasks/{task}"),
                serde_json::json!({"status": "todo"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let required = event(DomainEvent::HumanReviewRequired {
            review_id: Uuid::new_v4(),
            session_id: session.id,
            kind: domain::sessions::ReviewKind::FinalApproval,
            reasons: vec![],
            average_confidence: 0.62,
            expires_at: Utc::now() + chrono::Duration::days(1),
        });
        bus.publisher.publish(&[stored(2, required)]).await.unwrap();
        let waiting = task_until(&mut ada, &task, "the review flag", |t| {
            t["human_review_required"] == true
        })
        .await;
        assert_eq!(waiting["status"], "todo", "where the human put it");
        assert_eq!(waiting["confidence_score"], 0.62);
        assert_eq!(waiting["ai_generated"], true);

        // Final approval, after the human's move, delivers the task.
        let completed = event(status(session.id, SessionStatus::Completed));
        bus.publisher
            .publish(&[stored(3, completed)])
            .await
            .unwrap();
        let done = task_until(&mut ada, &task, "done", |t| t["status"] == "done").await;
        assert_eq!(done["human_review_required"], false);

        // The start handed over again, late, under a new sequence: nothing
        // moves back.
        bus.publisher.publish(&[stored(4, started)]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let r = ada.get(&format!("/api/v1/tasks/{task}")).await;
        assert_eq!(r.body["status"], "done");
        handle.stop().await;

        let moves: Vec<(String, bool)> = server::outbound::db::read_events(&app.db, ada_id)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type == "TaskMoved")
            .map(|e| {
                (
                    e.payload["to"].as_str().unwrap().to_owned(),
                    e.payload["by_session"] == session.id.to_string(),
                )
            })
            .collect();
        assert_eq!(
            moves,
            [
                ("in_progress".to_owned(), true),
                ("todo".to_owned(), false),
                ("done".to_owned(), true),
            ]
        );
    }
);
