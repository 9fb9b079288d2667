//! The Task Board rendered on the server (issue 15): how many bytes of HTML
//! a board of 200 tasks sends, before and after compression, and how long
//! the server takes to render it.
//!
//! Everything is the product's code: the full router (sessions, CSRF, the
//! Leptos app with its server functions, compression) over a migrated
//! SQLite file, signed in with a real session cookie. The board holds
//! `EXITON_BENCH_TASKS` (200) tasks spread over the four columns, each with
//! a title of about 40 characters and, for every other task, a description
//! of about 120. Each measured request is a whole page load
//! (`Accept: text/html`) through `tower::ServiceExt::oneshot`, so the time is
//! the server's: no socket, no browser.
//!
//! Run with `cargo bench -p server --bench board_ssr`. Knobs (environment):
//! `EXITON_BENCH_TASKS` (200), `EXITON_BENCH_LOADS` (200),
//! `EXITON_BENCH_WARMUP` (20), `EXITON_BENCH_HTML_OUT` (a file to save the
//! page to, to see where its bytes go).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use common::{TestApp, TestDb};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let tasks = knob("EXITON_BENCH_TASKS", 200);
    let loads = knob("EXITON_BENCH_LOADS", 200);
    let warmup = knob("EXITON_BENCH_WARMUP", 20);

    let db = TestDb::sqlite();
    let app = TestApp::new(&db.url).await;
    let mut c = app.client();
    c.sign_up("bench@example.com").await;
    let (pid, _) = c.full_board(tasks).await;
    let board = format!("/projects/{pid}");

    // What a browser receives: identity, gzip and brotli.
    let mut sizes = Vec::new();
    for encoding in ["identity", "gzip", "br"] {
        let req = c
            .request(Method::GET, &board)
            .header(header::ACCEPT, "text/html")
            .header(header::ACCEPT_ENCODING, encoding)
            .body(Body::empty())
            .unwrap();
        let response = app.router.clone().oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        if encoding == "identity" {
            let html = String::from_utf8_lossy(&bytes);
            if let Ok(path) = std::env::var("EXITON_BENCH_HTML_OUT") {
                std::fs::write(path, html.as_bytes()).unwrap();
            }
            assert_eq!(
                html.matches("class=\"task-card\"").count(),
                tasks,
                "every task is on the page"
            );
        }
        sizes.push((encoding, bytes.len()));
    }

    for _ in 0..warmup {
        assert_eq!(c.page(&board).await.status, StatusCode::OK);
    }
    let mut times = Vec::with_capacity(loads);
    for _ in 0..loads {
        let start = Instant::now();
        let r = c.page(&board).await;
        times.push(start.elapsed());
        assert_eq!(r.status, StatusCode::OK);
    }
    times.sort();

    println!("board of {tasks} tasks, {loads} server-side renders (after {warmup} warm-up)");
    for (encoding, bytes) in &sizes {
        println!("  html {encoding:>8}: {:>7.1} KB", *bytes as f64 / 1000.0);
    }
    println!(
        "  render: p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.9).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
    );
}
