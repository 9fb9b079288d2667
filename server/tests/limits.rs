//! Limits that hold against slow and abusive clients, over the real
//! accept loop (`server::serve::run`) on a loopback port: the header-read
//! deadline, the connection cap, the throttles per client address (read
//! from `X-Forwarded-For` only behind a trusted proxy), and the sign-up
//! throttle.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{TestApp, config_with};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Serves `app` through the binary's accept loop with `vars`' limits.
async fn serve(app: &TestApp, vars: &[(&str, &str)]) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    let limits = config_with("sqlite::memory:", vars).net;
    tokio::spawn(async move {
        server::serve::run(listener, router, &limits, std::future::pending()).await;
    });
    addr
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn login(addr: SocketAddr, from: &str, email: &str, password: &str) -> reqwest::Response {
    http()
        .post(format!("http://{addr}/api/v1/auth/login"))
        .header("x-forwarded-for", from)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn sign_up(addr: SocketAddr, from: &str, email: &str) -> reqwest::Response {
    http()
        .post(format!("http://{addr}/api/v1/auth/signup"))
        .header("x-forwarded-for", from)
        .json(&json!({"email": email, "password": "correct horse battery", "name": "Limits"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let db = common::TestDb::sqlite();
    let app = TestApp::new(&db.url).await;
    let addr = serve(&app, &[("EXITON_HEADER_READ_TIMEOUT_SECS", "1")]).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The server hangs up (perhaps after a 408) instead of waiting forever.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection is still open after 10 s");
    let text = String::from_utf8_lossy(&rest);
    assert!(
        rest.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    // A client that sends its request in time is served.
    let ok = http()
        .get(format!("http://{addr}/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let db = common::TestDb::sqlite();
    let app = TestApp::new(&db.url).await;
    let addr = serve(&app, &[("EXITON_MAX_CONNECTIONS", "1")]).await;
    // The one connection, held open (its headers unfinished).
    let mut holder = TcpStream::connect(addr).await.unwrap();
    holder
        .write_all(b"GET /api/health HTTP/1.1\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = tokio::spawn(async move {
        http()
            .get(format!("http://{addr}/api/health"))
            .send()
            .await
            .map(|r| r.status())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "served past the cap");
    // Once the holder finishes, the waiting client is served.
    holder
        .write_all(b"Host: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    holder.read_to_end(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert_eq!(waiting.await.unwrap().unwrap(), 200);
}

backends!(
    behind_a_trusted_proxy_each_client_has_its_own_lockout,
    |url: String| async move {
        let vars = [("EXITON_TRUSTED_PROXIES", "127.0.0.1")];
        let app = TestApp::with_vars(&url, &vars).await;
        let addr = serve(&app, &vars).await;
        app.client().sign_up("ada@example.com").await;
        for _ in 0..5 {
            let r = login(addr, "203.0.113.1", "ada@example.com", "wrong password").await;
            assert_eq!(r.status(), 401);
        }
        let locked = login(
            addr,
            "203.0.113.1",
            "ada@example.com",
            "correct horse battery",
        )
        .await;
        assert_eq!(locked.status(), 429);
        assert!(locked.headers().contains_key("retry-after"));
        // Someone else's failures never lock the owner out.
        let owner = login(
            addr,
            "198.51.100.7",
            "ada@example.com",
            "correct horse battery",
        )
        .await;
        assert_eq!(owner.status(), 200, "{}", owner.text().await.unwrap());
        // A client cannot dodge its lock-out by naming another address
        // first: the proxy appends the real one, and that is what counts.
        let forged = login(
            addr,
            "198.51.100.7, 203.0.113.1",
            "ada@example.com",
            "correct horse battery",
        )
        .await;
        assert_eq!(forged.status(), 429);
    }
);

backends!(
    without_a_trusted_proxy_forwarded_headers_are_ignored,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let addr = serve(&app, &[]).await;
        app.client().sign_up("ada@example.com").await;
        for n in 0..5 {
            let r = login(addr, &format!("203.0.113.{n}"), "ada@example.com", "wrong").await;
            assert_eq!(r.status(), 401);
        }
        // Every attempt came from 127.0.0.1, whatever the header said.
        let r = login(
            addr,
            "198.51.100.7",
            "ada@example.com",
            "correct horse battery",
        )
        .await;
        assert_eq!(r.status(), 429);
    }
);

backends!(
    one_client_cannot_spray_passwords_across_accounts,
    |url: String| async move {
        let vars = [("EXITON_TRUSTED_PROXIES", "127.0.0.1")];
        let app = TestApp::with_vars(&url, &vars).await;
        let addr = serve(&app, &vars).await;
        app.client().sign_up("ada@example.com").await;
        // One guess per account, never enough to lock any one of them.
        for n in 0..30 {
            let r = login(
                addr,
                "203.0.113.9",
                &format!("user{n}@example.com"),
                "Summer2026!",
            )
            .await;
            assert_eq!(r.status(), 401, "attempt {n}");
        }
        let r = login(addr, "203.0.113.9", "ada@example.com", "Summer2026!").await;
        assert_eq!(r.status(), 429);
        // Other clients are unaffected.
        let r = login(
            addr,
            "203.0.113.10",
            "ada@example.com",
            "correct horse battery",
        )
        .await;
        assert_eq!(r.status(), 200);
        // An IPv6 client is one /64: a new address in it is the same client.
        for n in 0..30 {
            let from = format!("2001:db8:1:2::{n:x}");
            let r = login(addr, &from, &format!("user{n}@example.com"), "Summer2026!").await;
            assert_eq!(r.status(), 401, "attempt {n}");
        }
        let r = login(
            addr,
            "2001:db8:1:2:ffff::1",
            "ada@example.com",
            "Summer2026!",
        )
        .await;
        assert_eq!(r.status(), 429);
        let r = login(
            addr,
            "2001:db8:1:3::1",
            "ada@example.com",
            "correct horse battery",
        )
        .await;
        assert_eq!(r.status(), 200);
    }
);

backends!(
    sign_ups_are_throttled_per_client,
    |url: String| async move {
        let vars = [
            ("EXITON_TRUSTED_PROXIES", "127.0.0.1"),
            ("EXITON_SIGNUPS_PER_HOUR", "3"),
        ];
        let app = TestApp::with_vars(&url, &vars).await;
        let addr = serve(&app, &vars).await;
        let first = sign_up(addr, "203.0.113.5", "taken@example.com").await;
        assert_eq!(first.status(), 201);
        // Probing which emails exist counts as well.
        for _ in 0..2 {
            let r = sign_up(addr, "203.0.113.5", "taken@example.com").await;
            assert_eq!(r.status(), 409);
        }
        let r = sign_up(addr, "203.0.113.5", "new@example.com").await;
        assert_eq!(r.status(), 429);
        assert!(r.headers().contains_key("retry-after"));
        let r = sign_up(addr, "203.0.113.6", "new@example.com").await;
        assert_eq!(r.status(), 201);
    }
);
