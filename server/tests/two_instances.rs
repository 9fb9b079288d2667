//! Two real `server` processes sharing one PostgreSQL database and one
//! Redis (under a key prefix of this test's own) deliver each other's
//! events to their WebSocket clients: a change made through one instance
//! reaches a socket open on the other, both ways.
//!
//! Their reactions share the work too: session events committed once
//! reach the notification inbox once, read through either instance, and
//! move each run's card to Done once, whichever instance handles which
//! of its events.
//!
//! Needs `EXITON_TEST_DATABASE_URL` and `EXITON_TEST_REDIS_URL` (both set
//! by `scripts/test`); without them it prints a notice and passes, except
//! under `CI`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{RedisKeys, TestDb};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A running server process, killed when dropped.
struct Instance {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

async fn start(database_url: &str, redis: &RedisKeys, site: &std::path::Path) -> Instance {
    let addr = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_server"))
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", &redis.url)
        .env("EXITON_REDIS_PREFIX", &redis.prefix)
        .env("LEPTOS_OUTPUT_NAME", "exiton")
        .env("LEPTOS_SITE_ROOT", site)
        .env("LEPTOS_SITE_ADDR", addr.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let instance = Instance { child, addr };
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("http://{addr}/api/health")).send().await
            && r.status().is_success()
        {
            return instance;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server on {addr} did not come up");
}

/// Signs up through `on` and answers the session cookie.
async fn sign_up(on: &Instance, email: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/auth/signup", on.addr))
        .json(&json!({"email": email, "password": "correct horse battery", "name": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

async fn create_project(on: &Instance, cookie: &str, name: &str) -> Value {
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/projects", on.addr))
        .header("cookie", cookie)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn socket(on: &Instance, cookie: &str) -> Socket {
    let mut request = format!("ws://{}/api/v1/ws", on.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(next(&mut socket).await["type"], "ready");
    socket
}

async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(15), socket.next())
            .await
            .expect("a frame within 15 s")
            .expect("the socket open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// The next event frame's type and project name.
async fn next_project_event(socket: &mut Socket) -> (String, String) {
    loop {
        let f = next(socket).await;
        if f["type"] == "event" {
            return (
                f["event_type"].as_str().unwrap().to_owned(),
                f["event"]["event"]["project"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
}

#[tokio::test]
async fn two_instances_deliver_each_others_events_to_their_sockets() {
    with_two(|a, b, _url| async move {
        let cookie = sign_up(&a, "ada@example.com").await;
        let mut on_b = socket(&b, &cookie).await;
        let mut on_a = socket(&a, &cookie).await;
        create_project(&a, &cookie, "Made on A").await;
        assert_eq!(
            next_project_event(&mut on_b).await,
            ("ProjectCreated".to_owned(), "Made on A".to_owned())
        );
        assert_eq!(
            next_project_event(&mut on_a).await,
            ("ProjectCreated".to_owned(), "Made on A".to_owned())
        );
        create_project(&b, &cookie, "Made on B").await;
        assert_eq!(
            next_project_event(&mut on_a).await,
            ("ProjectCreated".to_owned(), "Made on B".to_owned())
        );
        assert_eq!(
            next_project_event(&mut on_b).await,
            ("ProjectCreated".to_owned(), "Made on B".to_owned())
        );
    })
    .await;
}

/// The caller's inbox as `on` answers it.
async fn inbox(on: &Instance, cookie: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("http://{}/api/v1/notifications?limit=200", on.addr))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Runs `body` against two instances over a PostgreSQL database and a
/// Redis prefix of its own (skipped without them), then cleans up.
async fn with_two<F, Fut>(body: F)
where
    F: FnOnce(Instance, Instance, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (Some(db), Some(redis)) = (TestDb::postgres().await, RedisKeys::new()) else {
        return;
    };
    let site = std::env::temp_dir().join(format!("exiton-site-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&site).unwrap();
    let outcome = tokio::spawn({
        let url = db.url.clone();
        let site = site.clone();
        async move {
            // One after the other: the first migrates the fresh database.
            let a = start(&url, &redis, &site).await;
            let b = start(&url, &redis, &site).await;
            body(a, b, url).await;
            drop(redis);
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(&site);
    db.drop_database().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// The signed-in user's id, as `on` answers it.
async fn me(on: &Instance, cookie: &str) -> uuid::Uuid {
    let me: Value = reqwest::Client::new()
        .get(format!("http://{}/api/v1/auth/me", on.addr))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me["id"].as_str().unwrap().parse().unwrap()
}

/// Commits `events` as a use case would; both relays see them.
async fn commit(url: &str, events: &[domain::events::EventEnvelope]) {
    use sea_orm::TransactionTrait as _;
    let conn = server::outbound::db::connect(url).await.unwrap();
    let txn = conn.begin().await.unwrap();
    server::outbound::db::append(&txn, events).await.unwrap();
    txn.commit().await.unwrap();
}

#[tokio::test]
async fn two_instances_fill_one_inbox_once() {
    use domain::events::{AggregateType, DomainEvent, EventEnvelope};
    use domain::sessions::SessionStatus;

    with_two(|a, b, url| async move {
        let cookie = sign_up(&a, "ada@example.com").await;
        let user = me(&a, &cookie).await;

        // Twenty sessions end, committed as the conductor would; both
        // relays see them, the bus keeps one copy, and the two instances'
        // inbox consumers share them.
        let events: Vec<EventEnvelope> = (0..20)
            .map(|_| {
                let session = uuid::Uuid::new_v4();
                EventEnvelope::new(
                    AggregateType::AiSession,
                    session,
                    user,
                    chrono::Utc::now(),
                    DomainEvent::AiSessionStatusChanged {
                        session_id: session,
                        from: SessionStatus::Executing,
                        to: SessionStatus::Failed,
                        reason: Some("the provider was down".into()),
                    },
                )
            })
            .collect();
        commit(&url, &events).await;

        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = inbox(&b, &cookie).await;
            if got["notifications"].as_array().unwrap().len() >= events.len() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the inbox stayed at {got}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        for on in [&a, &b] {
            let got = inbox(on, &cookie).await;
            let items = got["notifications"].as_array().unwrap();
            assert_eq!(items.len(), events.len(), "one each: {got}");
            assert_eq!(got["unread_count"], events.len());
            let mut ids: Vec<&str> = items
                .iter()
                .map(|n| n["event_id"].as_str().unwrap())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), events.len());
            assert!(items.iter().all(|n| n["kind"] == "session_failed"));
        }
    })
    .await;
}

/// Two instances share the task-progress reaction's events, in whatever
/// order each gets them: every run's card still ends in Done, moved there
/// once, and never back.
#[tokio::test]
async fn two_instances_move_each_card_to_done_once() {
    use domain::events::{AggregateType, DomainEvent, EventEnvelope};
    use domain::sessions::{
        AiSession, Intent, IntentAction, SessionRepository as _, SessionStatus,
    };

    with_two(|a, b, url| async move {
        let cookie = sign_up(&a, "ada@example.com").await;
        let user = me(&a, &cookie).await;
        let project = create_project(&a, &cookie, "Progress").await;
        let project_id: uuid::Uuid = project["id"].as_str().unwrap().parse().unwrap();
        let http = reqwest::Client::new();
        let sessions = server::outbound::db::SeaOrmSessionRepository::new(
            server::outbound::db::connect(&url).await.unwrap(),
        );
        let mut tasks = Vec::new();
        let mut events = Vec::new();
        for i in 0..8 {
            let r = http
                .post(format!(
                    "http://{}/api/v1/projects/{project_id}/tasks",
                    a.addr
                ))
                .header("cookie", &cookie)
                .json(&json!({"title": format!("Task {i}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let task: Value = r.json().await.unwrap();
            let task_id: uuid::Uuid = task["id"].as_str().unwrap().parse().unwrap();
            let session = AiSession {
                id: uuid::Uuid::new_v4(),
                project_id,
                task_id: Some(task_id),
                user_id: user,
                conductor: domain::band::ProviderKind::Gpt,
                status: SessionStatus::Executing,
                intent: Intent::new(IntentAction::GenerateCode, "", &[]).unwrap(),
                total_tokens_used: 0,
                reservation_id: None,
                failure: None,
                resumed_at: None,
                retry_of: None,
                code: None,
                change: None,
                started_at: chrono::Utc::now(),
                completed_at: None,
            };
            sessions.create(&session, &[], 100).await.unwrap();
            let at = |ms: i64| chrono::Utc::now() + chrono::Duration::milliseconds(ms);
            let on = |at, event| {
                EventEnvelope::new(AggregateType::AiSession, session.id, user, at, event)
            };
            events.push(on(
                at(1),
                DomainEvent::AiSessionStarted {
                    session_id: session.id,
                    project_id,
                    task_id: Some(task_id),
                    intent: session.intent.clone(),
                    reserved_tokens: 0,
                },
            ));
            events.push(on(
                at(2),
                DomainEvent::HumanReviewRequired {
                    review_id: uuid::Uuid::new_v4(),
                    session_id: session.id,
                    kind: domain::sessions::ReviewKind::FinalApproval,
                    reasons: vec![],
                    average_confidence: 0.9,
                    expires_at: at(86_400_000),
                },
            ));
            events.push(on(
                at(3),
                DomainEvent::AiSessionStatusChanged {
                    session_id: session.id,
                    from: SessionStatus::AwaitingReview,
                    to: SessionStatus::Completed,
                    reason: None,
                },
            ));
            tasks.push(task_id);
        }
        commit(&url, &events).await;

        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        for task in &tasks {
            loop {
                let got: Value = http
                    .get(format!("http://{}/api/v1/tasks/{task}", b.addr))
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if got["status"] == "done" {
                    assert_eq!(got["ai_generated"], true);
                    assert_eq!(got["human_review_required"], false);
                    assert_eq!(got["assigned_ai_agent"], "gpt");
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the card stayed at {got}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let log = server::outbound::db::read_events(
            &server::outbound::db::connect(&url).await.unwrap(),
            user,
        )
        .await
        .unwrap();
        for task in &tasks {
            let to: Vec<&str> = log
                .iter()
                .filter(|e| e.event_type == "TaskMoved" && e.aggregate_id == *task)
                .map(|e| e.payload["to"].as_str().unwrap())
                .collect();
            assert_eq!(to.iter().filter(|t| **t == "done").count(), 1, "{to:?}");
            assert_eq!(to.last(), Some(&"done"), "never back: {to:?}");
        }
        // Only their addresses are used above, which a closure would
        // capture alone, stopping the instances on its first line.
        drop((a, b));
    })
    .await;
}
