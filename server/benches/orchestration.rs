//! The conductor's orchestration overhead (issue 3): what EXITON adds on
//! top of the providers' own latency when it plays a session, and how many
//! provider calls per second one core sustains with every call's provenance
//! persisted.
//!
//! Everything is the product's code: the real `AnthropicProvider` over HTTP,
//! the resilience layer, the conductor, the sea-orm repositories and a
//! SQLite file database (WAL, as `server::outbound::db::connect` sets it
//! up). Only the vendor is fake: a loopback axum server speaking the
//! Anthropic Messages wire format, answering each band role with an answer
//! that passes the gate (so every session makes four calls: coder →
//! reviewer, designer alongside, then the conductor's synthesis) after a
//! fixed latency. It runs on its own thread and runtime, like a remote
//! vendor would, so it does not compete with the measured runtime.
//!
//! 1. **Overhead**: sessions one at a time, the vendor answering after
//!    `EXITON_BENCH_LATENCY_MS` (20). Overhead = wall time of `run(job)`
//!    minus its slowest path, the three calls in a row (coder → reviewer →
//!    synthesis). The slowest path is measured, not assumed: before each
//!    session a bare reqwest client — no EXITON code — makes the same three
//!    calls in a row to the same vendor, and the session's overhead is its
//!    run minus that. So what the machine charges any client for three
//!    sequential calls (waking sleeping cores, the loopback, the vendor's own
//!    timer) is not counted as EXITON's; everything EXITON does around the
//!    calls is. Also shown: run − 3 × latency, and run − the vendor's
//!    measured hold times.
//! 2. **Throughput**: `EXITON_BENCH_CONCURRENCY` (64) sessions at a time,
//!    latency 0, on a tokio runtime with one worker thread; provider calls
//!    per second (four per session), plus the CPU time each thread group
//!    spent (Linux `/proc`), since SQLite runs on sqlx's own threads
//!    (except session steps on a SQLite file, which run in place on the
//!    worker and which sea-orm's statement metric does not see).
//!
//! Every session is checked — `awaiting_review` with a final-approval
//! review and four successful invocations carrying provenance — so a broken
//! run cannot pass for a fast one.
//!
//! Run with `cargo bench -p server --bench orchestration`. Knobs
//! (environment): `EXITON_BENCH_SESSIONS` (200), `EXITON_BENCH_WARMUP` (10),
//! `EXITON_BENCH_LATENCY_MS` (20), `EXITON_BENCH_THROUGHPUT_SESSIONS`
//! (2048), `EXITON_BENCH_CONCURRENCY` (64), `EXITON_BENCH_DATABASE_URL`
//! (another database to measure, e.g. an empty PostgreSQL one), `EXITON_BENCH_DIR` (where the
//! database file goes; the system temp dir by default).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use domain::Services;
use domain::accounts::{ClientKey, SignUp};
use domain::band::{AgentRole, AiProvider, AiRequest, ChatMessage};
use domain::projects::NewProject;
use domain::sessions::{Conductor, Intent, IntentAction, ReviewKind, SessionStatus};
use domain::tasks::NewTask;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use server::outbound::ai::{AnthropicProvider, VendorConfig};
use uuid::Uuid;

// Answers that pass the gate (see `server/tests/conductor.rs`).
const CODER_OK: &str = "```rust src/login.rs\npub fn login(email: &str) -> bool { !email.is_empty() }\n```\nConfidence: 1.0";
const REVIEW_OK: &str = "Verdict: approve\nIssues:\n- none\nConfidence: 1.0";
const DESIGN_OK: &str = "A centred card with labelled email and password fields and one submit button.\nConfidence: 1.0";
const SYNTH_OK: &str = "Use src/login.rs from the coder inside the designer's centred card with labelled fields.\nConfidence: 0.9";

/// Tokens the vendor reports per call (input, output): small, so the free
/// tier's limits are no concern.
const USAGE: (u64, u64) = (50, 50);
const CALLS_PER_SESSION: usize = 4;
/// Sessions per user: 400 tokens each plus one ≤ 10,000-token reservation
/// in flight stays well inside the free tier's 100,000 a month.
const SESSIONS_PER_USER: usize = 150;

const ROLES: [(&str, AgentRole, &str); 4] = [
    ("You are the coder", AgentRole::Coder, CODER_OK),
    ("You are the reviewer", AgentRole::Reviewer, REVIEW_OK),
    ("You are the designer", AgentRole::Designer, DESIGN_OK),
    ("You are the conductor", AgentRole::Conductor, SYNTH_OK),
];

// --- fake vendor -------------------------------------------------------------

/// The loopback vendor's knobs and counters.
#[derive(Default)]
struct Vendor {
    latency_us: AtomicU64,
    calls: AtomicU64,
    /// Time actually spent holding answers, per role (index into `ROLES`).
    held_ns: [AtomicU64; 4],
}

impl Vendor {
    fn held(&self, i: usize) -> Duration {
        Duration::from_nanos(self.held_ns[i].load(Ordering::SeqCst))
    }

    /// Real hold time of the critical path so far: coder, reviewer, synthesis.
    fn critical_held(&self) -> Duration {
        self.held(0) + self.held(1) + self.held(3)
    }
}

/// The slowest path on its own: the critical path's three calls in a row
/// (coder, reviewer, conductor — the vendor holds each for the latency),
/// made by a bare reqwest client with bodies of a session's size.
async fn direct_path(client: &reqwest::Client, url: &str, task: &str) -> Duration {
    let t = Instant::now();
    for (system, _, _) in [ROLES[0], ROLES[1], ROLES[3]] {
        let body = json!({
            "model": "claude-sonnet-4-5-20250929",
            "max_tokens": 4096,
            "temperature": 0.2,
            "system": format!("{system}. Answer in the format asked."),
            "messages": [{"role": "user", "content": task}],
        });
        let answer: Value = client
            .post(url)
            .header("x-api-key", "test")
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["type"], "message");
    }
    t.elapsed()
}

async fn messages(State(vendor): State<Arc<Vendor>>, Json(body): Json<Value>) -> Json<Value> {
    let system = body["system"].as_str().unwrap_or_default();
    let (i, text) = ROLES
        .iter()
        .enumerate()
        .find(|(_, (needle, _, _))| system.contains(needle))
        .map_or(
            (usize::MAX, "no band role in the system prompt"),
            |(i, r)| (i, r.2),
        );
    let latency = Duration::from_micros(vendor.latency_us.load(Ordering::SeqCst));
    if !latency.is_zero() {
        // A blocking sleep is precise to tens of µs; tokio's timer rounds
        // up to the next millisecond, which would inflate the overhead.
        let t = Instant::now();
        tokio::task::spawn_blocking(move || std::thread::sleep(latency))
            .await
            .unwrap();
        if let Some(held) = vendor.held_ns.get(i) {
            held.fetch_add(t.elapsed().as_nanos() as u64, Ordering::SeqCst);
        }
    }
    vendor.calls.fetch_add(1, Ordering::SeqCst);
    Json(json!({
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {"input_tokens": USAGE.0, "output_tokens": USAGE.1}
    }))
}

/// Starts the vendor on its own thread and current-thread runtime; answers
/// its base URL.
fn start_vendor(vendor: Arc<Vendor>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("mock-vendor".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .thread_name("mock-vendor")
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new()
                    .route("/v1/messages", post(messages))
                    .with_state(vendor);
                axum::serve(listener, app).await.unwrap();
            });
        })
        .unwrap();
    format!("http://{}", rx.recv().unwrap())
}

// --- the application ---------------------------------------------------------

/// SQL statements run through sea-orm and the time they took (sea-orm's
/// metric callback: the statement's round trip to sqlx's SQLite thread,
/// without pool acquisition, `BEGIN` or `COMMIT`).
#[derive(Default)]
struct DbMeter {
    statements: AtomicU64,
    ns: AtomicU64,
}

impl DbMeter {
    fn snapshot(&self) -> (u64, Duration) {
        (
            self.statements.load(Ordering::SeqCst),
            Duration::from_nanos(self.ns.load(Ordering::SeqCst)),
        )
    }
}

/// A user with a task to run sessions on.
#[derive(Clone, Copy)]
struct Seat {
    user: Uuid,
    task: Uuid,
}

async fn seats(services: &Services, n: usize) -> Vec<Seat> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // One address per seat: the sign-up throttle counts per client.
        let octets = u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes();
        let client = ClientKey::from_ip(std::net::IpAddr::from([
            10, octets[1], octets[2], octets[3],
        ]));
        let user = services
            .accounts
            .sign_up(
                SignUp {
                    email: format!("bench-{}@example.com", Uuid::new_v4().simple()),
                    password: "correct horse battery".into(),
                    name: "Bench".into(),
                },
                &client,
            )
            .await
            .unwrap();
        let project = services
            .projects
            .create(
                user.id,
                NewProject {
                    name: "Blue Bebop".into(),
                    description: None,
                },
            )
            .await
            .unwrap();
        let task = services
            .tasks
            .create(
                user.id,
                project.id,
                NewTask {
                    title: "Login form".into(),
                    description: Some("Email and password, accessible.".into()),
                    status: None,
                },
            )
            .await
            .unwrap();
        out.push(Seat {
            user: user.id,
            task: task.id,
        });
    }
    out
}

fn intent() -> Intent {
    Intent::new(
        IntentAction::GenerateCode,
        "Use the existing session cookie.",
        &["Accessible".into()],
    )
    .unwrap()
}

/// Asserts the session went the whole way: synthesised, waiting for final
/// approval, four successful calls with provenance, each charged.
async fn verify(conductor: &Conductor, user: Uuid, session: Uuid) {
    let (session, calls, reviews) = conductor.session(user, session).await.unwrap();
    assert_eq!(session.status, SessionStatus::AwaitingReview);
    assert_eq!(calls.len(), CALLS_PER_SESSION, "{calls:#?}");
    for (_, role, _) in ROLES {
        assert_eq!(
            calls.iter().filter(|c| c.role == role).count(),
            1,
            "{role:?}"
        );
    }
    for c in &calls {
        assert!(c.response.error.is_none(), "{:?}", c.response.error);
        assert!(c.response.provenance.is_some(), "no provenance: {c:#?}");
        assert_eq!(c.tokens_used, (USAGE.0 + USAGE.1) as i64);
    }
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].kind, ReviewKind::FinalApproval);
    assert_eq!(session.total_tokens_used, 400);
}

// --- measurement helpers -----------------------------------------------------

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank percentile of sorted samples.
fn pct(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

struct Summary {
    p50: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

fn summary(mut v: Vec<f64>) -> Summary {
    v.sort_by(f64::total_cmp);
    Summary {
        p50: pct(&v, 0.50),
        p99: pct(&v, 0.99),
        max: *v.last().unwrap(),
        mean: v.iter().sum::<f64>() / v.len() as f64,
    }
}

fn row(name: &str, s: &Summary) {
    println!(
        "  {name:<42} p50 {:>8.3}  p99 {:>8.3}  max {:>8.3}  mean {:>8.3}  (ms)",
        s.p50, s.p99, s.max, s.mean
    );
}

/// CPU time per thread group of this process (threads grouped by name,
/// digits dropped), from `/proc/self/task/*/schedstat`. Empty off Linux.
fn thread_cpu() -> BTreeMap<String, Duration> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let Some(ns) = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        else {
            continue;
        };
        let group: String = comm
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
            .to_owned();
        *out.entry(group).or_default() += Duration::from_nanos(ns);
    }
    out
}

/// CPU time spent per thread group between two [`thread_cpu`] readings.
fn cpu_spent(
    before: &BTreeMap<String, Duration>,
    after: &BTreeMap<String, Duration>,
) -> BTreeMap<String, Duration> {
    after
        .iter()
        .map(|(group, a)| {
            let b = before.get(group).copied().unwrap_or_default();
            (group.clone(), a.saturating_sub(b))
        })
        .filter(|(_, d)| !d.is_zero())
        .collect()
}

// --- the bench ---------------------------------------------------------------

fn main() {
    // One worker thread: the throughput figure is per core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-worker")
        .enable_all()
        .build()
        .unwrap();
    // Spawned, so it runs on the worker rather than on the main thread.
    rt.block_on(async { tokio::spawn(bench()).await.unwrap() });
}

async fn bench() {
    let sessions = knob("EXITON_BENCH_SESSIONS", 200).max(1);
    let warmup = knob("EXITON_BENCH_WARMUP", 10);
    let latency = Duration::from_millis(knob("EXITON_BENCH_LATENCY_MS", 20) as u64);
    let lanes = knob("EXITON_BENCH_CONCURRENCY", 64).max(1);
    let per_lane = knob("EXITON_BENCH_THROUGHPUT_SESSIONS", 2048).div_ceil(lanes);
    let base = std::env::var_os("EXITON_BENCH_DIR")
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    let dir = base.join(format!("exiton-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();

    let vendor = Arc::new(Vendor::default());
    let vendor_url = start_vendor(vendor.clone());
    // `EXITON_BENCH_DATABASE_URL` measures another database (an empty
    // PostgreSQL database, say); the default is a SQLite file in `dir`.
    let db_url = std::env::var("EXITON_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db", dir.display()));
    let vars: BTreeMap<&str, String> = [
        ("DATABASE_URL", db_url.clone()),
        ("EXITON_ARGON2_MEMORY_KIB", "1024".into()),
        ("EXITON_ARGON2_ITERATIONS", "1".into()),
        ("ANTHROPIC_API_KEY", "test".into()),
        ("ANTHROPIC_BASE_URL", vendor_url.clone()),
    ]
    .into_iter()
    .collect();
    let config = server::config::Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let mut db = server::outbound::db::connect(&db_url).await.unwrap();
    let meter = Arc::new(DbMeter::default());
    {
        let meter = meter.clone();
        // Before the services are built: their repositories clone `db`.
        db.set_metric_callback(move |info| {
            meter.statements.fetch_add(1, Ordering::SeqCst);
            meter
                .ns
                .fetch_add(info.elapsed.as_nanos() as u64, Ordering::SeqCst);
        });
    }
    let services = server::startup::services(&db, &config).unwrap();
    let conductor = services.conductor.clone();

    println!("EXITON orchestration bench (issue 3)");
    println!(
        "  database {db_url}\n  vendor   {vendor_url} (Anthropic Messages wire format, own thread)\n  \
         runtime  tokio multi-thread, 1 worker; available parallelism {}",
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    // 1. Overhead, one session at a time.
    vendor
        .latency_us
        .store(latency.as_micros() as u64, Ordering::SeqCst);
    let total = warmup + sessions;
    let seats1 = seats(&services, total.div_ceil(SESSIONS_PER_USER)).await;
    let (mut start_ms, mut run_ms, mut nominal_ms, mut net_ms) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut direct_ms, mut overhead_ms) = (Vec::new(), Vec::new());
    let direct_client = reqwest::Client::new();
    let direct_url = format!("{vendor_url}/v1/messages");
    // About the size of a session's prompts (task, context, constraints,
    // format instructions).
    let direct_task = "Write the login form for the task \"Login form\". ".repeat(24);
    let (mut sql_ms, mut rest_ms) = (Vec::new(), Vec::new());
    let (mut start_statements, mut run_statements) = (0, 0);
    let mut played = Vec::with_capacity(total);
    let mut cpu_before = thread_cpu();
    for i in 0..total {
        if i == warmup {
            cpu_before = thread_cpu();
        }
        let seat = seats1[i / SESSIONS_PER_USER];
        let direct = direct_path(&direct_client, &direct_url, &direct_task).await;
        let held_before = vendor.critical_held();
        let (q0, _) = meter.snapshot();
        let t0 = Instant::now();
        let started = conductor
            .start(seat.user, seat.task, intent())
            .await
            .unwrap();
        let t1 = Instant::now();
        let (q1, sql1) = meter.snapshot();
        let status = conductor.run(started.job).await.unwrap();
        let t2 = Instant::now();
        let (q2, sql2) = meter.snapshot();
        let held = vendor.critical_held() - held_before;
        assert_eq!(status, SessionStatus::AwaitingReview);
        played.push((seat.user, started.session.id));
        if i >= warmup {
            let run = t2 - t1;
            start_ms.push(ms(t1 - t0));
            run_ms.push(ms(run));
            nominal_ms.push(ms(run) - 3.0 * ms(latency));
            direct_ms.push(ms(direct));
            overhead_ms.push(ms(run) - ms(direct));
            net_ms.push(ms(run) - ms(held));
            // Every SQL statement of `run` is on the critical path: nothing
            // is stored while the first round is in flight.
            sql_ms.push(ms(sql2 - sql1));
            rest_ms.push(ms(run) - ms(held) - ms(sql2 - sql1));
            start_statements += q1 - q0;
            run_statements += q2 - q1;
        }
    }
    let cpu = cpu_spent(&cpu_before, &thread_cpu());
    for (user, session) in played {
        verify(&conductor, user, session).await;
    }
    let hold_mean = (0..4)
        .map(|i| vendor.held(i))
        .sum::<Duration>()
        .as_secs_f64()
        * 1e3
        / vendor.calls.load(Ordering::SeqCst) as f64;
    let overhead = summary(overhead_ms);
    let start = summary(start_ms);
    println!(
        "\n[1] overhead: {sessions} sessions one at a time (+{warmup} warm-up), \
         vendor latency {} ms (measured hold {hold_mean:.3} ms/call)",
        latency.as_millis()
    );
    row("start()", &start);
    row("run()", &summary(run_ms));
    row(
        "slowest path alone (3 calls, bare client)",
        &summary(direct_ms),
    );
    row("run() - slowest path  [overhead]", &overhead);
    row("run() - 3 x latency", &summary(nominal_ms));
    row("run() - vendor's real critical-path hold", &summary(net_ms));
    row(
        "  of which: SQL through sea-orm (not in-place steps)",
        &summary(sql_ms),
    );
    row(
        "  the rest (pool, BEGIN/COMMIT, HTTP, CPU)",
        &summary(rest_ms),
    );
    println!(
        "  SQL statements through sea-orm per session: start() {:.1}, run() {:.1}",
        start_statements as f64 / sessions as f64,
        run_statements as f64 / sessions as f64
    );
    let per_session: Vec<String> = cpu
        .iter()
        .filter(|(group, _)| *group != "mock-vendor")
        .map(|(group, d)| format!("{group} {:.3} ms", ms(*d) / sessions as f64))
        .collect();
    println!(
        "  CPU per session (start + run): {}",
        per_session.join(", ")
    );

    // What one database round trip and one provider call cost on their own.
    vendor.latency_us.store(0, Ordering::SeqCst);
    let probes = sessions.max(50);
    let (mut select_ms, mut select_sql_ms) = (Vec::new(), Vec::new());
    for _ in 0..probes {
        let (_, before) = meter.snapshot();
        let t = Instant::now();
        db.execute(Statement::from_string(DbBackend::Sqlite, "SELECT 1"))
            .await
            .unwrap();
        select_ms.push(ms(t.elapsed()));
        select_sql_ms.push(ms(meter.snapshot().1 - before));
    }
    let cycle_seat = seats(&services, 1).await[0];
    let mut cycle_ms = Vec::new();
    for _ in 0..probes {
        let t = Instant::now();
        let r = services
            .budgets
            .reserve(cycle_seat.user, None, 1_000)
            .await
            .unwrap();
        services.budgets.settle(r.id, 1).await.unwrap();
        services.budgets.release(r.id).await.unwrap();
        cycle_ms.push(ms(t.elapsed()));
    }
    let provider = AnthropicProvider::new(
        server::outbound::ai::http_client().unwrap(),
        VendorConfig::new(vendor_url.clone(), Some("test".into())),
    );
    let request = AiRequest {
        model: "claude-sonnet-4-5-20250929".into(),
        system: Some("You are the coder.".into()),
        messages: vec![ChatMessage::user("Write a login form.".to_owned())],
        temperature: 0.2,
        max_tokens: 256,
        tenant: None,
    };
    let mut http_ms = Vec::new();
    for _ in 0..probes {
        let t = Instant::now();
        provider.complete(&request).await.unwrap();
        http_ms.push(ms(t.elapsed()));
    }
    println!("\n[1b] building blocks, {probes} each, one at a time, vendor latency 0");
    row("`SELECT 1` through the pool", &summary(select_ms));
    row("  of which the statement itself", &summary(select_sql_ms));
    row("budget reserve + settle + release", &summary(cycle_ms));
    row(
        "one provider call (AnthropicProvider, HTTP)",
        &summary(http_ms),
    );
    // The same call after the runtime has sat idle as long as a vendor's
    // latency: what waking the parked threads costs on this machine, a
    // floor under every sequential call in a session.
    let mut idle_ms = Vec::new();
    for _ in 0..probes {
        tokio::time::sleep(latency).await;
        let t = Instant::now();
        provider.complete(&request).await.unwrap();
        idle_ms.push(ms(t.elapsed()));
    }
    row(
        &format!("  the same after {} ms idle", latency.as_millis()),
        &summary(idle_ms),
    );

    // 2. Throughput, many sessions at a time, no vendor latency.
    vendor.latency_us.store(0, Ordering::SeqCst);
    let per_lane_seats = per_lane.div_ceil(SESSIONS_PER_USER);
    let seats2 = seats(&services, lanes * per_lane_seats).await;
    let calls_before = vendor.calls.load(Ordering::SeqCst);
    let cpu_before = thread_cpu();
    let t0 = Instant::now();
    let handles: Vec<_> = seats2
        .chunks(per_lane_seats)
        .map(|lane| {
            let lane = lane.to_vec();
            let conductor = conductor.clone();
            tokio::spawn(async move {
                let mut played = Vec::with_capacity(per_lane);
                for j in 0..per_lane {
                    let seat = lane[j / SESSIONS_PER_USER];
                    let started = conductor
                        .start(seat.user, seat.task, intent())
                        .await
                        .unwrap();
                    let status = conductor.run(started.job).await.unwrap();
                    assert_eq!(status, SessionStatus::AwaitingReview);
                    played.push((seat.user, started.session.id));
                }
                played
            })
        })
        .collect();
    let mut played = Vec::new();
    for h in handles {
        played.extend(h.await.unwrap());
    }
    let wall = t0.elapsed();
    let cpu_after = thread_cpu();
    let calls = vendor.calls.load(Ordering::SeqCst) - calls_before;
    assert_eq!(calls as usize, played.len() * CALLS_PER_SESSION);
    for (user, session) in &played {
        verify(&conductor, *user, *session).await;
    }
    let rate = calls as f64 / wall.as_secs_f64();
    println!(
        "\n[2] throughput: {} sessions, {lanes} at a time, vendor latency 0, 1 worker thread",
        played.len()
    );
    println!(
        "  {calls} provider calls in {:.3} s = {rate:.0} calls/s ({:.0} sessions/s)",
        wall.as_secs_f64(),
        played.len() as f64 / wall.as_secs_f64()
    );
    let mut cpu_total = Duration::ZERO;
    let mut cpu_ours = Duration::ZERO;
    println!("  CPU time by thread during the run:");
    for (group, spent) in cpu_spent(&cpu_before, &cpu_after) {
        cpu_total += spent;
        if group != "mock-vendor" {
            cpu_ours += spent;
        }
        println!(
            "    {group:<18} {:>8.3} s  ({:>5.1}% of wall)",
            spent.as_secs_f64(),
            100.0 * spent.as_secs_f64() / wall.as_secs_f64()
        );
    }
    if !cpu_ours.is_zero() {
        println!(
            "  {:.0} calls per CPU-second excluding the fake vendor ({:.3} s of {:.3} s)",
            calls as f64 / cpu_ours.as_secs_f64(),
            cpu_ours.as_secs_f64(),
            cpu_total.as_secs_f64()
        );
    }

    println!("\nTargets (issue 3):");
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "  overhead p50 {:.3} ms <= 1 ms: {}",
        overhead.p50,
        verdict(overhead.p50 <= 1.0)
    );
    println!(
        "  overhead p99 {:.3} ms <= 5 ms: {}",
        overhead.p99,
        verdict(overhead.p99 <= 5.0)
    );
    println!(
        "  {rate:.0} provider calls/s per core >= 1000: {}",
        verdict(rate >= 1000.0)
    );

    db.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
