//! `POST /api/v1/tasks/{id}/execute-ai` and `GET /api/v1/ai/session/{id}`
//! through the real router, the real Anthropic adapter and a loopback
//! server speaking the Messages API — on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use common::{Client, TestApp};
use serde_json::{Value, json};

/// A loopback Anthropic Messages endpoint answering by role; it keeps the
/// request bodies it received.
struct FakeAnthropic {
    base_url: String,
    seen: Arc<Mutex<Vec<Value>>>,
}

async fn messages(
    State(seen): State<Arc<Mutex<Vec<Value>>>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    seen.lock().unwrap().push(body.clone());
    let system = body["system"].as_str().unwrap_or_default().to_owned();
    // A task titled with "[bad-diff]" gets a diff whose context is not in
    // the file: it cannot apply.
    let bad_diff = body["messages"].to_string().contains("[bad-diff]");
    let text = if system.contains("You are the coder") && bad_diff {
        "```diff\n--- a/src/login.rs\n+++ b/src/login.rs\n@@ -1 +1 @@\n-fn not_in_the_file() {}\n+fn replaced() {}\n```\nConfidence: 1.0"
    } else if system.contains("You are the coder") {
        "```rust src/login.rs\npub fn login(email: &str) -> bool { !email.is_empty() }\n```\nConfidence: 1.0"
    } else if system.contains("You are the reviewer") {
        "Verdict: approve\nIssues:\n- none\nConfidence: 1.0"
    } else if system.contains("You are the designer") {
        "A centred card with labelled email and password fields.\nConfidence: 1.0"
    } else {
        "Ship src/login.rs inside the centred card.\nConfidence: 0.9"
    };
    Json(json!({
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {"input_tokens": 120, "output_tokens": 40, "cache_read_input_tokens": 0}
    }))
}

impl FakeAnthropic {
    async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/v1/messages", post(messages))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base_url: format!("http://{addr}"),
            seen,
        }
    }
}

/// The application with Claude configured against a fresh loopback vendor.
async fn with_vendor(url: &str) -> (FakeAnthropic, TestApp) {
    let vendor = FakeAnthropic::start().await;
    let app = TestApp::with_vars(
        url,
        &[
            ("ANTHROPIC_API_KEY", "sk-ant-test"),
            ("ANTHROPIC_BASE_URL", &vendor.base_url),
        ],
    )
    .await;
    (vendor, app)
}

async fn signed_in_with_task(app: &TestApp, email: &str) -> (Client, String) {
    let mut c = app.client();
    c.sign_up(email).await;
    let project = c.create_project("Blue Bebop").await;
    let task = c
        .create_task(
            project["id"].as_str().unwrap(),
            "Login form",
            "Email and password",
        )
        .await;
    (c, task["id"].as_str().unwrap().to_owned())
}

fn execute_body() -> Value {
    json!({"intent": {"action": "generate_code", "context": "Use the session cookie.", "constraints": ["Accessible"]}})
}

/// Polls the session until it leaves `executing`.
async fn settled(c: &mut Client, session: &str) -> Value {
    for _ in 0..200 {
        let r = c.get(&format!("/api/v1/ai/session/{session}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        if r.body["session"]["status"] != "executing" {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the session never left executing");
}

backends!(
    the_band_runs_over_the_wire_and_waits_for_approval,
    |url: String| async move {
        let (vendor, app) = with_vendor(&url).await;
        let (mut c, task) = signed_in_with_task(&app, "wire@example.com").await;

        let r = c
            .post(&format!("/api/v1/tasks/{task}/execute-ai"), execute_body())
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        let session = r.body["session_id"].as_str().unwrap().to_owned();
        assert_eq!(r.body["status"], "executing");
        assert!(r.body["estimated_completion_seconds"].as_u64().unwrap() > 0);
        assert_eq!(
            r.body["stream_url"],
            format!("/api/v1/ai/session/{session}")
        );

        let view = settled(&mut c, &session).await;
        assert_eq!(view["session"]["status"], "awaiting_review", "{view}");
        let calls = view["invocations"].as_array().unwrap();
        let roles: Vec<&str> = calls.iter().map(|c| c["role"].as_str().unwrap()).collect();
        for role in ["coder", "reviewer", "designer", "conductor"] {
            assert!(roles.contains(&role), "{roles:?}");
        }
        for call in calls {
            assert_eq!(call["agent"], "claude");
            assert_eq!(call["tokens_used"], 160, "real usage from the wire");
            let p = &call["response"]["provenance"];
            assert_eq!(p["model_version"], "claude-sonnet-4-5-20250929");
            assert!(p["temperature"].is_number() && p["max_tokens"].as_u64().unwrap() > 0);
            assert!(!call["response"]["reasoning"].as_array().unwrap().is_empty());
        }
        let coder = calls.iter().find(|c| c["role"] == "coder").unwrap();
        assert_eq!(
            coder["response"]["coder_output"]["files"][0]["path"],
            "src/login.rs"
        );
        assert_eq!(view["reviews"][0]["kind"], "final_approval");
        assert_eq!(view["reviews"][0]["status"], "pending_review");
        assert_eq!(view["session"]["total_tokens_used"], 640);

        // What went over the wire: the locked model, the role's system prompt,
        // the task fenced as data, the key in its header (checked by the adapter tests).
        let seen = vendor.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 4);
        assert!(
            seen.iter()
                .all(|b| b["model"] == "claude-sonnet-4-5-20250929")
        );
        assert!(seen.iter().any(|b| {
            b["messages"][0]["content"]
                .as_str()
                .unwrap()
                .contains("<task>\nTitle: Login form")
        }));

        let budget = c.get("/api/v1/budget").await;
        assert_eq!(budget.body["used_this_month"], 640);
        assert_eq!(budget.body["reserved_tokens"], 0);
    }
);

backends!(
    execute_ai_refuses_bad_requests_clearly,
    |url: String| async move {
        let (vendor, app) = with_vendor(&url).await;
        let (mut c, task) = signed_in_with_task(&app, "owner@example.com").await;
        let path = format!("/api/v1/tasks/{task}/execute-ai");

        let r = c
            .post(&path, json!({"intent": {"action": "deploy_to_prod"}}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        let too_many: Vec<String> = (0..21).map(|i| format!("c{i}")).collect();
        let r = c
            .post(
                &path,
                json!({"intent": {"action": "design_ui", "constraints": too_many}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.field(), "constraints");
        let r = c
            .post("/api/v1/tasks/not-a-uuid/execute-ai", execute_body())
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);

        // Someone else's task and session are not found; no session without a cookie.
        let (mut other, _) = signed_in_with_task(&app, "other@example.com").await;
        let r = other.post(&path, execute_body()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        let mine = c.post(&path, execute_body()).await;
        assert_eq!(mine.status, StatusCode::ACCEPTED);
        let session = mine.body["session_id"].as_str().unwrap();
        let r = other.get(&format!("/api/v1/ai/session/{session}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = app.client().post(&path, execute_body()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        settled(&mut c, session).await;
        assert_eq!(
            vendor.seen.lock().unwrap().len(),
            4,
            "only the owner's run called out"
        );
    }
);

backends!(
    without_providers_or_budget_the_band_does_not_start,
    |url: String| async move {
        // No provider configured at all.
        let app = TestApp::new(&url).await;
        let (mut c, task) = signed_in_with_task(&app, "nokey@example.com").await;
        let r = c
            .post(&format!("/api/v1/tasks/{task}/execute-ai"), execute_body())
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert_eq!(r.code(), "no_provider");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("ANTHROPIC_API_KEY")
        );

        // A provider, but a month already spent.
        let (vendor, app) = with_vendor(&url).await;
        let (mut c, task) = signed_in_with_task(&app, "broke@example.com").await;
        let me = c.get("/api/v1/auth/me").await;
        let user = uuid::Uuid::parse_str(me.body["id"].as_str().unwrap()).unwrap();
        for _ in 0..10 {
            app.services
                .budgets
                .reserve(user, None, 9_990)
                .await
                .unwrap();
        }
        let r = c
            .post(&format!("/api/v1/tasks/{task}/execute-ai"), execute_body())
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert_eq!(r.code(), "budget");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("tokens"),
            "{}",
            r.text
        );
        assert!(vendor.seen.lock().unwrap().is_empty());
    }
);

backends!(
    the_specs_execute_body_is_accepted_and_checked,
    |url: String| async move {
        let (vendor, app) = with_vendor(&url).await;
        let (mut c, task) = signed_in_with_task(&app, "spec@example.com").await;
        let path = format!("/api/v1/tasks/{task}/execute-ai");
        let spec = |task_id: &str, agents: Value| {
            json!({
                "task_id": task_id,
                "intent": {
                    "action": "generate_code",
                    "context": "Create a React component for user profile",
                    "constraints": ["TypeScript", "Tailwind CSS", "Accessibility"]
                },
                "agents": agents
            })
        };

        // `task_id` must be the path's task.
        for wrong in ["task-123", &uuid::Uuid::new_v4().to_string()] {
            let r = c.post(&path, spec(wrong, json!({}))).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
            assert_eq!(r.field(), "task_id");
        }
        // An unknown provider or role is refused naming the field.
        let r = c
            .post(&path, spec(&task, json!({"coder": "drummer"})))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.field(), "agents.coder");
        let r = c.post(&path, spec(&task, json!({"pm": "claude"}))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        // A known provider this server has no key for: 409, naming the setting.
        let r = c
            .post(&path, spec(&task, json!({"designer": "gemini"})))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert_eq!(r.code(), "no_provider");
        assert_eq!(r.field(), "agents.designer");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("GEMINI_API_KEY"),
            "{}",
            r.text
        );
        assert!(vendor.seen.lock().unwrap().is_empty(), "nothing started");
        assert_eq!(c.get("/api/v1/budget").await.body["reserved_tokens"], 0);

        // The spec's own example, with its agents.
        let r = c
            .post(
                &path,
                spec(&task, json!({"coder": "claude", "reviewer": "claude"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        assert_eq!(r.body["status"], "executing");
        let session = r.body["session_id"].as_str().unwrap().to_owned();
        let view = settled(&mut c, &session).await;
        assert_eq!(view["session"]["status"], "awaiting_review", "{view}");
        for call in view["invocations"].as_array().unwrap() {
            assert_eq!(call["agent"], "claude");
        }
        // And the bare body without `task_id` or `agents` still works.
        let r = c.post(&path, execute_body()).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        settled(&mut c, r.body["session_id"].as_str().unwrap()).await;
    }
);

backends!(
    the_specs_approve_body_is_accepted_and_checked,
    |url: String| async move {
        let (_vendor, app) = with_vendor(&url).await;
        let (mut c, task) = signed_in_with_task(&app, "approver@example.com").await;
        let r = c
            .post(&format!("/api/v1/tasks/{task}/execute-ai"), execute_body())
            .await;
        let session = r.body["session_id"].as_str().unwrap().to_owned();
        let view = settled(&mut c, &session).await;
        let review = view["reviews"][0]["id"].as_str().unwrap().to_owned();
        let approve = format!("/api/v1/reviews/{review}/approve");

        // The review under decision is the synthesis, by Claude.
        let r = c
            .post(
                &approve,
                json!({"review_id": uuid::Uuid::new_v4().to_string()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.field(), "review_id");
        let r = c
            .post(
                &approve,
                json!({"review_id": review, "modifications": [{"agent": "gpt", "modified_output": "x"}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.field(), "modifications[0].agent");
        let r = c
            .post(
                &approve,
                json!({"review_id": review, "modifications": [{"agent": "claude"}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(r.field().starts_with("modifications[0]"), "{}", r.text);

        // The spec's body: the provider names the one output it made.
        let edited = "Ship src/login.rs inside the centred card, with a visible focus ring.";
        let r = c
            .post(
                &approve,
                json!({
                    "review_id": review,
                    "modifications": [{"agent": "claude", "modified_output": edited}],
                    "comment": "focus ring added"
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["status"], "modified");
        assert_eq!(r.body["next_action"], "completed");
        let shown = c.get(&format!("/api/v1/reviews/{review}")).await;
        let decision = &shown.body["decision"]["decision"];
        assert_eq!(decision["decision"], "modify", "{}", shown.text);
        assert_eq!(decision["outputs"]["conductor"], edited, "{}", shown.text);
    }
);

backends!(
    the_band_is_shown_the_linked_repository_at_its_base_commit,
    |url: String| async move {
        let vendor = FakeAnthropic::start().await;
        let root = common::TempDir::new("root");
        let data = common::TempDir::new("data");
        let app = TestApp::with_vars(
            &url,
            &[
                ("ANTHROPIC_API_KEY", "sk-ant-test"),
                ("ANTHROPIC_BASE_URL", &vendor.base_url),
                ("EXITON_REPO_ROOTS", &root.0.display().to_string()),
                ("EXITON_DATA_DIR", &data.0.display().to_string()),
            ],
        )
        .await;
        let (mut c, task) = signed_in_with_task(&app, "code@example.com").await;
        let project = c.get(&format!("/api/v1/tasks/{task}")).await.body["project_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let dir = root.0.join("app");
        common::repo_with(
            &dir,
            &[
                ("src/login.rs", "pub fn login_form_marker() {}\n"),
                ("docs/history.md", "Nothing about the task.\n"),
            ],
        );
        let base = common::git(&dir, &["rev-parse", "HEAD"]);
        // The user's uncommitted edit is theirs: the band works on the commit.
        std::fs::write(dir.join("src/login.rs"), "pub fn uncommitted_edit() {}\n").unwrap();
        let r = c
            .put(
                &format!("/api/v1/projects/{project}/repository"),
                json!({"kind": "local", "path": dir.display().to_string()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);

        let r = c
            .post(&format!("/api/v1/tasks/{task}/execute-ai"), execute_body())
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        let session = r.body["session_id"].as_str().unwrap().to_owned();
        let view = settled(&mut c, &session).await;
        let code = &view["session"]["code"];
        assert_eq!(code["commit"], base.as_str(), "{view}");
        assert_eq!(code["base_branch"], "main");
        let shown: Vec<&str> = code["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(shown.first(), Some(&"src/login.rs"), "{code}");
        assert_eq!(
            code["files"][0]["blob"],
            common::git(&dir, &["rev-parse", "HEAD:src/login.rs"]).as_str()
        );

        let seen = vendor.seen.lock().unwrap().clone();
        let coder = seen
            .iter()
            .find(|b| b["system"].as_str().unwrap().contains("You are the coder"))
            .unwrap();
        let prompt = coder["messages"][0]["content"].to_string();
        assert!(prompt.contains("login_form_marker"), "{prompt}");
        assert!(!prompt.contains("uncommitted_edit"));
        assert!(
            prompt.contains("<repository branch=\\\"main\\\""),
            "{prompt}"
        );
        assert!(
            prompt.contains("docs/history.md"),
            "the map lists every file"
        );
        // The coder's file became a commit on the task branch, on the base.
        let change = &view["session"]["change"];
        assert_eq!(change["outcome"], "proposed", "{view}");
        let branch = change["branch"].as_str().unwrap();
        assert!(branch.starts_with("exiton/login-form-"), "{branch}");
        let commit = change["commit"].as_str().unwrap();
        assert_eq!(common::git(&dir, &["rev-parse", branch]), commit);
        assert_eq!(
            common::git(&dir, &["rev-parse", &format!("{commit}^")]),
            base
        );
        assert_eq!(
            common::git(&dir, &["show", &format!("{commit}:src/login.rs")]),
            "pub fn login(email: &str) -> bool { !email.is_empty() }"
        );
        assert_eq!(change["files"][0]["path"], "src/login.rs");
        assert_eq!(change["files"][0]["change"], "modified");
        assert!(
            common::git(&dir, &["log", "-1", "--format=%B", commit])
                .contains(&format!("Exiton-Session: {session}"))
        );
        // Nothing else moved: the base branch, HEAD, and the work tree as
        // the user left it.
        assert_eq!(common::git(&dir, &["rev-parse", "main"]), base);
        assert_eq!(
            common::git(&dir, &["rev-parse", "--abbrev-ref", "HEAD"]),
            "main"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("src/login.rs")).unwrap(),
            "pub fn uncommitted_edit() {}\n"
        );

        // A diff that does not apply stops at the gate, saying why.
        let bad = c
            .create_task(&project, "Login form [bad-diff]", "Email and password")
            .await;
        let r = c
            .post(
                &format!("/api/v1/tasks/{}/execute-ai", bad["id"].as_str().unwrap()),
                execute_body(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        let refused = settled(&mut c, r.body["session_id"].as_str().unwrap()).await;
        assert_eq!(refused["session"]["status"], "awaiting_review", "{refused}");
        assert_eq!(refused["session"]["change"]["outcome"], "refused");
        let why = refused["session"]["change"]["why"].as_str().unwrap();
        assert!(why.contains("src/login.rs"), "{why}");
        let reasons = refused["reviews"][0]["reasons"].to_string();
        assert!(reasons.contains("proposal_refused"), "{refused}");
        let branches = common::git(&dir, &["branch", "--list", "exiton/*"]);
        assert_eq!(
            branches.lines().count(),
            1,
            "no branch for a refused proposal: {branches}"
        );
    }
);
