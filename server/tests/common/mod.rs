//! Test harness shared by the integration tests: a fresh database per test
//! (SQLite file, or a throw-away PostgreSQL database when
//! `EXITON_TEST_DATABASE_URL` is set), the full router, and a tiny HTTP
//! client that keeps the session cookie.
//!
//! `backends!` turns one async test body into `<name>_sqlite` and
//! `<name>_postgres`, so both engines pass the very same assertions. Under
//! `CI` a missing PostgreSQL URL fails the test instead of skipping it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::Value;
use server::config::Config;
use tower::ServiceExt as _;
use uuid::Uuid;

pub const PG_ENV: &str = "EXITON_TEST_DATABASE_URL";
pub const REDIS_ENV: &str = "EXITON_TEST_REDIS_URL";

/// A database that lives as long as the test.
pub struct TestDb {
    pub url: String,
    cleanup: Option<(String, String)>,
    _dir: Option<TempDir>,
}

pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TempDir {
    /// A fresh directory under the system's temporary one, by its canonical
    /// path (what a repository's link records), removed when dropped.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("exiton-{name}-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(std::fs::canonicalize(&dir).unwrap())
    }
}

/// The git CLI in `dir`, isolated from the machine's configuration: the
/// oracle the repository tests check EXITON against. Answers its output,
/// trimmed.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A repository at `dir` with `files` committed on `main`.
pub fn repo_with(dir: &std::path::Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    for (path, content) in files {
        let at = dir.join(path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, content).unwrap();
    }
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "Start"]);
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("exiton-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            url: format!("sqlite://{}/exiton.db", dir.display()),
            cleanup: None,
            _dir: Some(TempDir(dir)),
        }
    }

    /// `None` when no PostgreSQL is configured (outside CI).
    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var(PG_ENV) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{PG_ENV} must be set in CI: PostgreSQL tests may not be skipped"
            );
            eprintln!("note: {PG_ENV} unset; PostgreSQL variant not run");
            return None;
        };
        let name = format!("exiton_it_{}", Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url)
            .await
            .expect("connect to PostgreSQL admin URL");
        admin
            .execute(Statement::from_string(
                admin.get_database_backend(),
                format!("CREATE DATABASE \"{name}\""),
            ))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b)
            .to_owned();
        Some(Self {
            url: format!("{base}/{name}"),
            cleanup: Some((admin_url, name)),
            _dir: None,
        })
    }

    pub async fn drop_database(&self) {
        if let Some((admin_url, name)) = &self.cleanup {
            let admin = Database::connect(admin_url).await.unwrap();
            let _ = admin
                .execute(Statement::from_string(
                    admin.get_database_backend(),
                    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                ))
                .await;
        }
    }
}

/// Longer than any test takes on a busy CI machine (the built-in model's band
/// session is the slowest, about a minute), short enough that a hang fails
/// with the test's name instead of stalling the whole run.
const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Runs `body` against a fresh database, dropping it afterwards even when
/// the body panics (the panic is then re-raised).
pub async fn run_on<F, Fut>(db: TestDb, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let run = tokio::spawn(body(db.url.clone()));
    let abort = run.abort_handle();
    let outcome = tokio::time::timeout(TEST_TIMEOUT, run).await;
    db.drop_database().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        Err(_) => {
            abort.abort();
            panic!("the test did not finish within {TEST_TIMEOUT:?}: a hang");
        }
    }
}

#[macro_export]
macro_rules! backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::common::run_on($crate::common::TestDb::sqlite(), $body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::common::TestDb::postgres().await {
                    $crate::common::run_on(db, $body).await;
                }
            }
        }
    };
}

/// Test configuration: cheap argon2 so tests stay fast; everything else default.
pub fn config(database_url: &str) -> Config {
    config_with(database_url, &[])
}

/// Test configuration with extra variables (AI providers, model locks...).
pub fn config_with(database_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<&str, String> =
        extra.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    vars.insert("DATABASE_URL", database_url.to_owned());
    vars.insert("EXITON_ARGON2_MEMORY_KIB", "1024".into());
    vars.insert("EXITON_ARGON2_ITERATIONS", "1".into());
    vars.insert("EXITON_MAX_BODY_BYTES", (64 * 1024).to_string());
    // Router tests have no client address, so every sign-up shares one
    // budget; the throttle's own tests set it low again.
    vars.entry("EXITON_SIGNUPS_PER_HOUR")
        .or_insert_with(|| "1000".into());
    Config::from_lookup(|k| vars.get(k).cloned()).unwrap()
}

/// The full application over a migrated database.
pub struct TestApp {
    pub router: Router,
    pub db: DatabaseConnection,
    /// The same services the router serves with (its band, its breakers).
    pub services: domain::Services,
    /// Its live hub: idle until [`TestApp::go_live`].
    pub live: std::sync::Arc<server::inbound::live::LiveHub>,
}

impl TestApp {
    pub async fn new(database_url: &str) -> Self {
        let db = server::outbound::db::connect(database_url).await.unwrap();
        Self::over(db)
    }

    /// The application with extra configuration variables.
    pub async fn with_vars(database_url: &str, vars: &[(&str, &str)]) -> Self {
        let db = server::outbound::db::connect(database_url).await.unwrap();
        Self::over_with(db, &config_with("sqlite::memory:", vars))
    }

    /// A second "process" over the same database: new services, new router.
    pub fn over(db: DatabaseConnection) -> Self {
        Self::over_with(db, &config("sqlite::memory:"))
    }

    pub fn over_with(db: DatabaseConnection, config: &Config) -> Self {
        let options = leptos::config::LeptosOptions::builder()
            .output_name("exiton")
            .build();
        let live = server::inbound::live::LiveHub::new(db.clone());
        let services = server::startup::services_with(&db, config, Some(live.clone())).unwrap();
        let router = server::startup::router_with(
            services.clone(),
            db.clone(),
            config,
            options,
            live.clone(),
        );
        Self {
            router,
            db,
            services,
            live,
        }
    }

    /// Feeds the live hub as the server does: an in-process bus, the outbox
    /// relay from the event table, the hub following the bus. The relay
    /// stops when the handle is dropped.
    pub fn go_live(&self) -> server::outbound::bus::RelayHandle {
        let bus = server::outbound::bus::EventBus::in_process(Default::default());
        let relay = server::startup::spawn_relay(&self.db, &bus);
        self.live.follow(bus.subscriber.clone());
        relay
    }

    pub fn client(&self) -> Client {
        Client {
            router: self.router.clone(),
            cookie: None,
        }
    }
}

/// The answer to one request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The error code of a `{"error":{...}}` body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }
}

/// Sends requests through the router like a browser: keeps the cookie.
#[derive(Clone)]
pub struct Client {
    router: Router,
    pub cookie: Option<String>,
}

impl Client {
    pub async fn send(&mut self, req: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(set) = headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
        {
            let pair = set.split(';').next().unwrap_or_default().to_owned();
            // An expired cookie (logout) clears it.
            if set.contains("Max-Age=0") || pair.ends_with('=') {
                self.cookie = None;
            } else {
                self.cookie = Some(pair);
            }
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> axum::http::request::Builder {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost:3000");
        if let Some(cookie) = &self.cookie {
            b = b.header(header::COOKIE, cookie);
        }
        b
    }

    pub async fn json(&mut self, method: Method, path: &str, body: Value) -> Reply {
        let req = self
            .request(method, path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(req).await
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let req = self.request(Method::GET, path).body(Body::empty()).unwrap();
        self.send(req).await
    }

    /// A page load as a browser makes it (`Accept: text/html`).
    pub async fn page(&mut self, path: &str) -> Reply {
        let req = self
            .request(Method::GET, path)
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .body(Body::empty())
            .unwrap();
        self.send(req).await
    }

    pub async fn delete(&mut self, path: &str) -> Reply {
        let req = self
            .request(Method::DELETE, path)
            .body(Body::empty())
            .unwrap();
        self.send(req).await
    }

    pub async fn post(&mut self, path: &str, body: Value) -> Reply {
        self.json(Method::POST, path, body).await
    }

    pub async fn patch(&mut self, path: &str, body: Value) -> Reply {
        self.json(Method::PATCH, path, body).await
    }

    pub async fn put(&mut self, path: &str, body: Value) -> Reply {
        self.json(Method::PUT, path, body).await
    }

    /// Signs up a fresh user and keeps their cookie; returns the user JSON.
    pub async fn sign_up(&mut self, email: &str) -> Value {
        let r = self
            .post(
                "/api/v1/auth/signup",
                serde_json::json!({"email": email, "password": "correct horse battery", "name": "Test User"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body
    }

    pub async fn create_project(&mut self, name: &str) -> Value {
        let r = self
            .post("/api/v1/projects", serde_json::json!({"name": name}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body
    }

    pub async fn create_task(&mut self, project_id: &str, title: &str, description: &str) -> Value {
        let r = self
            .post(
                &format!("/api/v1/projects/{project_id}/tasks"),
                serde_json::json!({"title": title, "description": description}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body
    }

    /// A project holding a full board, the shape the board's benchmark and
    /// its size test share: `tasks` tasks spread over the four columns in
    /// turn, titled "Wire the login form to the session NNN", every other
    /// one with a description of about 110 characters. Returns the
    /// project's id and the tasks' ids in creation order.
    pub async fn full_board(&mut self, tasks: usize) -> (String, Vec<String>) {
        let project = self.create_project("Benchmark Big Band").await;
        let pid = project["id"].as_str().unwrap().to_owned();
        let statuses = ["todo", "in_progress", "review", "done"];
        let mut ids = Vec::with_capacity(tasks);
        for i in 0..tasks {
            let description = if i % 2 == 0 {
                format!(
                    "Step {i} of the rollout: keep the old endpoint answering until every client has moved, then remove it."
                )
            } else {
                String::new()
            };
            let task = self
                .create_task(
                    &pid,
                    &format!("Wire the login form to the session {i:03}"),
                    &description,
                )
                .await;
            let id = task["id"].as_str().unwrap().to_owned();
            let status = statuses[i % statuses.len()];
            if status != "todo" {
                let r = self
                    .patch(
                        &format!("/api/v1/tasks/{id}"),
                        serde_json::json!({ "status": status }),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            }
            ids.push(id);
        }
        (pid, ids)
    }
}

/// A key prefix of this test's own; its keys are deleted on drop (even
/// when the test panics).
pub struct RedisKeys {
    pub url: String,
    pub prefix: String,
}

impl RedisKeys {
    /// `None` when no test Redis is configured (outside CI).
    pub fn new() -> Option<Self> {
        let Ok(url) = std::env::var(REDIS_ENV) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{REDIS_ENV} must be set in CI: Redis tests may not be skipped"
            );
            eprintln!("note: {REDIS_ENV} unset; Redis variant not run");
            return None;
        };
        Some(Self {
            url,
            prefix: format!("exiton-test-{}", Uuid::new_v4().simple()),
        })
    }
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let Ok(mut con) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query(&mut con)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query(&mut con);
        }
    }
}
