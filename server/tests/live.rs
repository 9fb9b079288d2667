//! Live updates over a real WebSocket (tokio-tungstenite against the router
//! served on a loopback port), on SQLite and PostgreSQL: authentication,
//! ordering, reconnect-and-resume without gaps or duplicates, isolation
//! between users, and agents' token deltas while the band streams.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod band_rig;
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use band_rig::*;
use common::{Client, TestApp};
use domain::band::{AgentRole, ProviderKind};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Serves the app's router on a loopback port.
async fn serve(app: &TestApp) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

async fn connect(
    addr: SocketAddr,
    query: &str,
    headers: &[(&'static str, String)],
) -> Result<Socket, WsError> {
    let mut request = format!("ws://{addr}/api/v1/ws{query}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

fn cookie(client: &Client) -> Vec<(&'static str, String)> {
    vec![("cookie", client.cookie.clone().expect("signed in"))]
}

/// The next JSON frame, skipping pings; fails after a few seconds.
async fn frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Frames up to and including the first of type `kind`.
async fn until(socket: &mut Socket, kind: &str) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let f = frame(socket).await;
        let done = f["type"] == kind;
        frames.push(f);
        if done {
            return frames;
        }
    }
}

/// `(id, event type)` of the event frames among `frames`.
fn events(frames: &[Value]) -> Vec<(i64, String)> {
    frames
        .iter()
        .filter(|f| f["type"] == "event")
        .map(|f| {
            (
                f["id"].as_i64().unwrap(),
                f["event_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Waits for `n` event frames.
async fn next_events(socket: &mut Socket, n: usize) -> Vec<(i64, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        let f = frame(socket).await;
        got.extend(events(&[f]));
    }
    got
}

backends!(
    a_socket_needs_credentials_and_the_app_origin,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let addr = serve(&app).await;
        match connect(addr, "", &[]).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("expected 401, got {:?}", other.map(|_| ())),
        }
        let mut c = app.client();
        c.sign_up("ada@example.com").await;
        let mut headers = cookie(&c);
        headers.push(("origin", "https://evil.example".to_owned()));
        match connect(addr, "", &headers).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 403),
            other => panic!("expected 403, got {:?}", other.map(|_| ())),
        }
        let bad_key = [("authorization", "Bearer exk_nope_nope".to_owned())];
        match connect(addr, "", &bad_key).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("expected 401, got {:?}", other.map(|_| ())),
        }
        match connect(addr, "?after=-1", &cookie(&c)).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 422),
            other => panic!("expected 422, got {:?}", other.map(|_| ())),
        }

        // An API key opens it too.
        let key = c
            .post("/api/v1/api-keys", json!({"name": "live"}))
            .await
            .body["key"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut socket = connect(addr, "", &[("authorization", format!("Bearer {key}"))])
            .await
            .unwrap();
        let ready = frame(&mut socket).await;
        assert_eq!(ready["type"], "ready");
        assert!(ready["last_event_id"].as_i64().unwrap() > 0);
    }
);

backends!(
    events_arrive_in_order_and_a_reconnect_resumes_without_gaps_or_duplicates,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let _relay = app.go_live();
        let addr = serve(&app).await;
        let mut c = app.client();
        c.sign_up("ada@example.com").await;
        let mut other = app.client();
        other.sign_up("bob@example.com").await;

        let mut socket = connect(addr, "", &cookie(&c)).await.unwrap();
        let ready = until(&mut socket, "ready").await;
        assert!(events(&ready).is_empty(), "from now: no backlog");
        let project = c.create_project("Live").await;
        let pid = project["id"].as_str().unwrap().to_owned();
        // Someone else's changes never reach this socket.
        other.create_project("Not yours").await;
        c.create_task(&pid, "one", "").await;
        let first = next_events(&mut socket, 2).await;
        assert_eq!(first[0].1, "ProjectCreated");
        assert_eq!(first[1].1, "TaskCreated");
        assert!(first[0].0 < first[1].0);
        let resume_from = first[1].0;
        socket.close(None).await.unwrap();

        // Changes while disconnected.
        c.create_task(&pid, "two", "").await;
        c.create_task(&pid, "three", "").await;
        other.create_project("Still not yours").await;
        let task = c.create_task(&pid, "four", "").await;
        c.patch(
            &format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()),
            json!({"status": "in_progress"}),
        )
        .await;

        let mut socket = connect(addr, &format!("?after={resume_from}"), &cookie(&c))
            .await
            .unwrap();
        let resumed = until(&mut socket, "ready").await;
        let missed = events(&resumed);
        let kinds: Vec<&str> = missed.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(
            kinds,
            ["TaskCreated", "TaskCreated", "TaskCreated", "TaskMoved"],
            "exactly what was missed"
        );
        let last_id = resumed.last().unwrap()["last_event_id"].as_i64().unwrap();
        assert!(last_id >= missed.last().unwrap().0);

        // Then live again, continuing the same order.
        c.create_task(&pid, "five", "").await;
        let live = next_events(&mut socket, 1).await;
        assert_eq!(live[0].1, "TaskCreated");

        let all: Vec<i64> = first
            .iter()
            .chain(&missed)
            .chain(&live)
            .map(|(id, _)| *id)
            .collect();
        assert!(
            all.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing: {all:?}"
        );
        // The same as the user's own log, no more, no less.
        let log: Vec<i64> = server::outbound::db::read_events(&app.db, {
            let me = c.get("/api/v1/auth/me").await;
            uuid::Uuid::parse_str(me.body["id"].as_str().unwrap()).unwrap()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.sequence)
        .filter(|s| *s >= all[0])
        .collect();
        assert_eq!(all, log);
    }
);

backends!(
    agents_stream_their_output_to_a_watching_user,
    |url: String| async move {
        let mut rig = rig(&url, vec![Scripted::good(ProviderKind::Claude)]).await;
        rig.conductor.live = Some(rig.app.live.clone());
        let _relay = rig.app.go_live();
        let addr = serve(&rig.app).await;
        let mut socket = connect(addr, "", &cookie(&rig.client)).await.unwrap();
        until(&mut socket, "ready").await;

        let played = play(&rig).await;
        // Deltas and events interleave; gather until the session stops.
        let mut coder = String::new();
        let mut kinds = Vec::new();
        loop {
            let f = frame(&mut socket).await;
            if f["type"] == "delta" && f["role"] == "coder" {
                assert_eq!(f["session_id"], played.session.id.to_string().as_str());
                coder.push_str(f["text"].as_str().unwrap());
            }
            if f["type"] == "event" {
                let kind = f["event_type"].as_str().unwrap().to_owned();
                let stop = kind == "HumanReviewRequired";
                kinds.push(kind);
                if stop {
                    break;
                }
            }
        }
        assert_eq!(coder, played.call(AgentRole::Coder).response.content);
        assert_eq!(kinds.first().map(String::as_str), Some("AISessionStarted"));
        assert_eq!(kinds.iter().filter(|k| *k == "AgentInvoked").count(), 4);

        // Nobody watching: the calls do not stream.
        socket.close(None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        use domain::sessions::LiveTap;
        assert!(!rig.app.live.watching(rig.user));
    }
);

/// Reads until the server closes the socket; its close code and reason.
async fn closed(socket: &mut Socket) -> (u16, String) {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("closed within 10 s")
            .expect("a close frame before the end")
            .unwrap();
        if let Message::Close(frame) = message {
            let frame = frame.expect("a close frame that says why");
            return (u16::from(frame.code), frame.reason.to_string());
        }
    }
}

backends!(
    a_socket_closes_when_its_session_ends_or_its_key_is_revoked,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let _relay = app.go_live();
        let addr = serve(&app).await;
        let mut c = app.client();
        c.sign_up("ada@example.com").await;
        // A second session of the same user, in another browser.
        let mut elsewhere = app.client();
        let login = elsewhere
            .post(
                "/api/v1/auth/login",
                json!({"email": "ada@example.com", "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(login.status, 200, "{}", login.text);
        let created = c.post("/api/v1/api-keys", json!({"name": "live"})).await;
        let key = created.body["key"].as_str().unwrap().to_owned();
        let key_id = created.body["id"].as_str().unwrap().to_owned();

        let mut by_cookie = connect(addr, "", &cookie(&c)).await.unwrap();
        until(&mut by_cookie, "ready").await;
        let mut other_session = connect(addr, "", &cookie(&elsewhere)).await.unwrap();
        until(&mut other_session, "ready").await;
        let bearer = [("authorization", format!("Bearer {key}"))];
        let mut by_key = connect(addr, "", &bearer).await.unwrap();
        until(&mut by_key, "ready").await;

        // Signing out closes that session's socket at once, and only it.
        let out = c.post("/api/v1/auth/logout", json!({})).await;
        assert_eq!(out.status, 204, "{}", out.text);
        assert_eq!(closed(&mut by_cookie).await, (4001, "signed out".into()));

        // Revoking the key closes the key's socket.
        let revoked = elsewhere
            .delete(&format!("/api/v1/api-keys/{key_id}"))
            .await;
        assert_eq!(revoked.status, 204, "{}", revoked.text);
        assert_eq!(closed(&mut by_key).await, (4003, "API key revoked".into()));

        // The other session's socket still carries the user's events.
        let pid = elsewhere.create_project("Still live").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let got = next_events(&mut other_session, 2).await;
        assert!(
            got.iter().any(|(_, t)| t == "ProjectCreated"),
            "{got:?} (project {pid})"
        );
    }
);

backends!(
    a_user_holds_a_bounded_number_of_sockets,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let addr = serve(&app).await;
        let mut c = app.client();
        c.sign_up("ada@example.com").await;
        let mut open = Vec::new();
        for _ in 0..server::inbound::live::MAX_SOCKETS_PER_USER {
            let mut socket = connect(addr, "", &cookie(&c)).await.unwrap();
            until(&mut socket, "ready").await;
            open.push(socket);
        }
        match connect(addr, "", &cookie(&c)).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 429),
            other => panic!("expected 429, got {:?}", other.map(|_| ())),
        }
        // Closing one frees its place.
        let mut first = open.remove(0);
        first.close(None).await.unwrap();
        drop(first);
        let mut again = None;
        for _ in 0..50 {
            if let Ok(socket) = connect(addr, "", &cookie(&c)).await {
                again = Some(socket);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut again = again.expect("a place once a socket closed");
        until(&mut again, "ready").await;
    }
);
