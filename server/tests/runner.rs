//! The session runner (issue 17) over the real database, SQLite and
//! PostgreSQL: live runs are listed with each agent's state, a cancel cuts
//! the calls in flight and settles exactly what the finished ones used, a
//! shutdown records what it stops as interrupted, a retry carries the
//! human's reasons to the band, and a tier's concurrent sessions are a
//! limit. Scripted providers stand in for the vendors (see `band_rig`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod band_rig;
mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use band_rig::*;
use domain::band::{AgentRole, ProviderKind};
use domain::reviews::Decision;
use domain::sessions::{AgentState, ConductorError, SessionRunner as _, SessionStatus};
use server::runner::TokioRunner;

/// The coder answers; everyone else hangs until cut.
fn coder_only() -> std::sync::Arc<Scripted> {
    Scripted::new(ProviderKind::Claude, |role| match role {
        AgentRole::Coder => Step::Answer(CODER_OK),
        _ => Step::Hang,
    })
}

/// Waits until the run shows the coder done and another agent calling.
async fn coder_done_others_calling(runner: &TokioRunner, rig: &Rig) {
    for _ in 0..400 {
        let live = runner.live(Some(rig.user));
        if let Some(run) = live.first() {
            let state = |role| run.agents.iter().find(|a| a.role == role).map(|a| a.state);
            if state(AgentRole::Coder) == Some(AgentState::Done)
                && state(AgentRole::Reviewer) == Some(AgentState::Calling)
            {
                assert!(run.tokens_used > 0, "{run:?}");
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the run never reached the reviewer: {:?}",
        runner.live(None)
    );
}

backends!(
    a_cancel_cuts_the_calls_and_settles_exactly_what_was_used,
    |url: String| async move {
        let claude = coder_only();
        let mut rig = rig(&url, vec![claude.clone()]).await;
        // Long deadlines: only the cancel may stop the hanging calls.
        rig.conductor.settings.agent_timeout = Duration::from_secs(600);
        let runner = TokioRunner::new(rig.conductor.clone());
        let started = rig
            .conductor
            .start(rig.user, rig.task, intent())
            .await
            .unwrap();
        let id = started.session.id;
        let reserved = rig
            .app
            .services
            .budgets
            .current(rig.user)
            .await
            .unwrap()
            .reserved_tokens;
        runner.launch(started.job);
        coder_done_others_calling(&runner, &rig).await;

        let status = rig.conductor.cancel(rig.user, id, &runner).await.unwrap();
        assert_eq!(status, SessionStatus::Cancelled);
        // The reviewer's and the designer's calls were dropped, not awaited.
        assert_eq!(claude.dropped.load(Ordering::SeqCst), 2);
        assert!(runner.live(None).is_empty(), "the run left the live list");

        let (session, calls, reviews) = rig.conductor.session(rig.user, id).await.unwrap();
        assert_eq!(session.status, SessionStatus::Cancelled);
        assert_eq!(session.failure.as_deref(), Some("cancelled by its owner"));
        assert!(session.completed_at.is_some());
        assert!(reviews.is_empty(), "a cancelled run asks for no review");
        // Every agent is on record; only the coder's call used tokens.
        assert_eq!(calls.len(), 3, "{calls:?}");
        let coder = calls.iter().find(|c| c.role == AgentRole::Coder).unwrap();
        assert!(coder.tokens_used > 0);
        let charged: i64 = calls.iter().map(|c| c.tokens_used).sum();
        assert_eq!(charged, coder.tokens_used);
        let budget = rig.app.services.budgets.current(rig.user).await.unwrap();
        assert_eq!(budget.reserved_tokens, 0, "the rest was released");
        assert_eq!(budget.used_this_month, charged);
        assert!(charged < reserved);
        assert_eq!(session.total_tokens_used, charged);
        let events = event_types(&rig, id).await;
        assert_eq!(
            events.last().unwrap(),
            "AISessionStatusChanged",
            "{events:?}"
        );

        // Twice is harmless; the ledger does not move.
        let again = rig.conductor.cancel(rig.user, id, &runner).await.unwrap();
        assert_eq!(again, SessionStatus::Cancelled);
        let after = rig.app.services.budgets.current(rig.user).await.unwrap();
        assert_eq!(after.used_this_month, charged);
    }
);

backends!(
    a_session_at_the_gate_or_ended_is_not_cancelled,
    |url: String| async move {
        let rig = rig(&url, vec![Scripted::good(ProviderKind::Claude)]).await;
        let runner = TokioRunner::new(rig.conductor.clone());
        let played = play(&rig).await;
        assert_eq!(played.status, SessionStatus::AwaitingReview);
        let err = rig
            .conductor
            .cancel(rig.user, played.session.id, &runner)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConductorError::NotRunning {
                    status: SessionStatus::AwaitingReview
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("reject it instead"), "{err}");
        // Someone else's session is not found.
        let other = rig
            .conductor
            .cancel(uuid::Uuid::new_v4(), played.session.id, &runner)
            .await
            .unwrap_err();
        assert!(
            matches!(other, ConductorError::SessionNotFound),
            "{other:?}"
        );
    }
);

backends!(
    a_session_with_no_run_here_is_cancelled_in_place,
    |url: String| async move {
        // Started, but its run is on no runner of this instance (another
        // instance, or a server that stopped).
        let rig = rig(&url, vec![Scripted::good(ProviderKind::Claude)]).await;
        let runner = TokioRunner::new(rig.conductor.clone());
        let started = rig
            .conductor
            .start(rig.user, rig.task, intent())
            .await
            .unwrap();
        let status = rig
            .conductor
            .cancel(rig.user, started.session.id, &runner)
            .await
            .unwrap();
        assert_eq!(status, SessionStatus::Cancelled);
        let budget = rig.app.services.budgets.current(rig.user).await.unwrap();
        assert_eq!(budget.reserved_tokens, 0);
        assert_eq!(budget.used_this_month, 0);
        // The orphaned job, if it ever ran (on another instance), finds its
        // steps refused; what its calls spent is still charged.
        assert!(rig.conductor.run(started.job).await.is_err());
        let (session, _, _) = rig
            .conductor
            .session(rig.user, started.session.id)
            .await
            .unwrap();
        assert_eq!(session.status, SessionStatus::Cancelled);
        let budget = rig.app.services.budgets.current(rig.user).await.unwrap();
        assert_eq!(budget.reserved_tokens, 0);
        assert!(budget.used_this_month > 0, "the calls made are paid for");
    }
);

backends!(
    a_shutdown_records_its_runs_as_interrupted,
    |url: String| async move {
        let claude = coder_only();
        let mut rig = rig(&url, vec![claude.clone()]).await;
        rig.conductor.settings.agent_timeout = Duration::from_secs(600);
        let runner = TokioRunner::new(rig.conductor.clone());
        let started = rig
            .conductor
            .start(rig.user, rig.task, intent())
            .await
            .unwrap();
        let id = started.session.id;
        runner.launch(started.job);
        coder_done_others_calling(&runner, &rig).await;

        let halted = runner.shutdown(Duration::from_millis(50)).await;
        assert_eq!(halted, 1);
        let (session, calls, _) = rig.conductor.session(rig.user, id).await.unwrap();
        assert_eq!(session.status, SessionStatus::Failed);
        assert!(
            session
                .failure
                .as_deref()
                .unwrap()
                .starts_with("interrupted"),
            "{session:?}"
        );
        let charged: i64 = calls.iter().map(|c| c.tokens_used).sum();
        let budget = rig.app.services.budgets.current(rig.user).await.unwrap();
        assert_eq!(budget.reserved_tokens, 0);
        assert_eq!(budget.used_this_month, charged);
        assert!(charged > 0, "the coder's call is paid for");
    }
);

backends!(
    a_retry_runs_again_with_the_reason_in_the_prompts,
    |url: String| async move {
        let claude = Scripted::good(ProviderKind::Claude);
        let rig = rig(&url, vec![claude.clone()]).await;
        let played = play(&rig).await;
        // Not retryable while it waits at the gate.
        let early = rig
            .conductor
            .retry(rig.user, played.session.id)
            .await
            .err()
            .unwrap();
        assert!(
            matches!(early, ConductorError::NotRetryable { .. }),
            "{early:?}"
        );

        let review = played.reviews[0].id;
        let reason = "Store the session in an HttpOnly cookie, never in local storage.";
        rig.reviews
            .decide(
                rig.user,
                review,
                Decision::Reject {
                    reason: reason.into(),
                },
                None,
            )
            .await
            .unwrap();
        let started = rig
            .conductor
            .retry(rig.user, played.session.id)
            .await
            .unwrap();
        assert_eq!(started.session.retry_of, Some(played.session.id));
        assert_eq!(started.session.intent, played.session.intent);
        let id = started.session.id;
        rig.conductor.run(started.job).await.unwrap();
        let (session, calls, _) = rig.conductor.session(rig.user, id).await.unwrap();
        assert_eq!(
            session.retry_of,
            Some(played.session.id),
            "stored and read back"
        );
        for role in [AgentRole::Coder, AgentRole::Reviewer, AgentRole::Designer] {
            let call = calls.iter().find(|c| c.role == role).unwrap();
            assert!(
                call.prompt
                    .contains(&format!("<feedback>\nRejected: {reason}\n</feedback>")),
                "{role:?}: {}",
                call.prompt
            );
        }
        // The session it retried is left as it was.
        let (old, _, _) = rig
            .conductor
            .session(rig.user, played.session.id)
            .await
            .unwrap();
        assert_eq!(old.status, SessionStatus::Failed);
    }
);

backends!(
    a_free_user_plays_one_session_at_a_time,
    |url: String| async move {
        let rig = rig(&url, vec![Scripted::good(ProviderKind::Claude)]).await;
        let runner = TokioRunner::new(rig.conductor.clone());
        let first = rig
            .conductor
            .start(rig.user, rig.task, intent())
            .await
            .unwrap();
        let reserved = rig
            .app
            .services
            .budgets
            .current(rig.user)
            .await
            .unwrap()
            .reserved_tokens;
        let err = rig
            .conductor
            .start(rig.user, rig.task, intent())
            .await
            .err()
            .unwrap();
        match &err {
            ConductorError::TooManySessions { limit, retry_after } => {
                assert_eq!(*limit, 1);
                assert!(*retry_after > Duration::ZERO);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("cancel one"), "{err}");
        // The refused start holds nothing.
        let budget = rig.app.services.budgets.current(rig.user).await.unwrap();
        assert_eq!(budget.reserved_tokens, reserved);

        // Once the first ends, the next may start.
        rig.conductor
            .cancel(rig.user, first.session.id, &runner)
            .await
            .unwrap();
        rig.conductor
            .start(rig.user, rig.task, intent())
            .await
            .unwrap();
    }
);

backends!(
    racing_starts_never_exceed_the_limit,
    |url: String| async move {
        let rig = rig(&url, vec![Scripted::good(ProviderKind::Claude)]).await;
        let starts = (0..6).map(|_| {
            let conductor = rig.conductor.clone();
            let (user, task) = (rig.user, rig.task);
            tokio::spawn(async move { conductor.start(user, task, intent()).await })
        });
        let mut ok = 0;
        for s in starts {
            match s.await.unwrap() {
                Ok(_) => ok += 1,
                Err(ConductorError::TooManySessions { .. }) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(ok, 1, "a free user's one slot went to exactly one start");
    }
);

/// A loopback Messages API on a bare socket: it answers every role but the
/// reviewer, whose request it holds unanswered while watching the socket,
/// so the test sees the moment the server hangs up.
struct HoldingVendor {
    base_url: String,
    hung_up: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HoldingVendor {
    async fn start() -> Self {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let hung_up = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = hung_up.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let hung_up = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    // Read the head, then the body by its length.
                    let (head_end, length) = loop {
                        let n = socket.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (i + 4, length);
                        }
                    };
                    while buf.len() < head_end + length {
                        let n = socket.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let body: serde_json::Value =
                        serde_json::from_slice(&buf[head_end..head_end + length]).unwrap();
                    let system = body["system"].as_str().unwrap_or_default();
                    if system.contains("You are the reviewer") {
                        // Held: wait for the server to hang up.
                        while socket.read(&mut chunk).await.unwrap_or(0) != 0 {}
                        hung_up.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    let text = if system.contains("You are the coder") {
                        CODER_OK
                    } else if system.contains("You are the designer") {
                        DESIGN_OK
                    } else {
                        SYNTH_OK
                    };
                    let reply = serde_json::json!({
                        "id": "msg_01hold", "type": "message", "role": "assistant",
                        "model": body["model"], "content": [{"type": "text", "text": text}],
                        "stop_reason": "end_turn", "stop_sequence": null,
                        "usage": {"input_tokens": 100, "output_tokens": 20}
                    })
                    .to_string();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                        reply.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Self { base_url, hung_up }
    }
}

backends!(
    over_the_api_a_cancel_hangs_up_on_the_vendor_and_a_retry_starts_anew,
    |url: String| async move {
        let vendor = HoldingVendor::start().await;
        let app = common::TestApp::with_vars(
            &url,
            &[
                ("ANTHROPIC_API_KEY", "sk-ant-test"),
                ("ANTHROPIC_BASE_URL", &vendor.base_url),
            ],
        )
        .await;
        let mut c = app.client();
        c.sign_up("runs@example.com").await;
        let project = c.create_project("Blue Bebop").await;
        let task = c
            .create_task(project["id"].as_str().unwrap(), "Login form", "Email")
            .await;
        let task = task["id"].as_str().unwrap();
        let body = serde_json::json!({"intent": {"action": "generate_code"}});
        let r = c
            .post(&format!("/api/v1/tasks/{task}/execute-ai"), body.clone())
            .await;
        assert_eq!(r.status, axum::http::StatusCode::ACCEPTED, "{}", r.text);
        let session = r.body["session_id"].as_str().unwrap().to_owned();

        // A free user's second session at once is refused with a wait.
        let busy = c
            .post(&format!("/api/v1/tasks/{task}/execute-ai"), body.clone())
            .await;
        assert_eq!(
            busy.status,
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "{}",
            busy.text
        );
        assert_eq!(busy.body["error"]["code"], "too_many_sessions");
        assert!(busy.headers.get("retry-after").is_some());

        // The run is listed with the reviewer calling.
        let listed = reviewer_calling(&mut c).await;
        assert_eq!(
            listed["runs"][0]["session_id"],
            session.as_str(),
            "{listed}"
        );
        assert!(listed["runs"][0]["tokens_used"].as_i64().unwrap() > 0);

        cancel_and_see_the_hang_up(&mut c, &session, &vendor).await;
        let runs = c.get("/api/v1/ai/runs").await;
        assert_eq!(runs.body["runs"], serde_json::json!([]));
        // Again: the same answer.
        let again = c
            .post(
                &format!("/api/v1/ai/session/{session}/cancel"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(again.status, axum::http::StatusCode::OK, "{}", again.text);

        // The budget: what the finished calls used, nothing held.
        let view = c.get(&format!("/api/v1/ai/session/{session}")).await;
        let used = view.body["session"]["total_tokens_used"].as_i64().unwrap();
        assert!(used > 0);
        let budget = c.get("/api/v1/budget").await;
        assert_eq!(budget.body["reserved_tokens"], 0);
        assert_eq!(budget.body["used_this_month"].as_i64().unwrap(), used);

        // Run again: 202 with a new session linked to the old one.
        let r = c
            .post(
                &format!("/api/v1/ai/session/{session}/retry"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(r.status, axum::http::StatusCode::ACCEPTED, "{}", r.text);
        assert_eq!(r.body["retry_of"], session.as_str());
        let retried = r.body["session_id"].as_str().unwrap().to_owned();
        assert_ne!(retried, session);
        let shown = c.get(&format!("/api/v1/ai/session/{retried}")).await;
        assert_eq!(shown.body["session"]["retry_of"], session.as_str());
        // A playing session is not retried; it is cancelled.
        let r = c
            .post(
                &format!("/api/v1/ai/session/{retried}/retry"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(r.status, axum::http::StatusCode::CONFLICT, "{}", r.text);
        assert_eq!(r.body["error"]["code"], "not_retryable");
        let r = c
            .post(
                &format!("/api/v1/ai/session/{retried}/cancel"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(r.body["status"], "cancelled", "{}", r.text);
    }
);

backends!(
    a_cancel_made_on_another_instance_hangs_up_on_the_vendor_at_once,
    |url: String| async move {
        let vendor = HoldingVendor::start().await;
        let playing = common::TestApp::with_vars(
            &url,
            &[
                ("ANTHROPIC_API_KEY", "sk-ant-test"),
                ("ANTHROPIC_BASE_URL", &vendor.base_url),
            ],
        )
        .await;
        // As the server wires it: the live feed, and the runner following
        // it for cancels.
        let _relay = playing.go_live();
        let follower = server::runner::follow_cancels(
            playing.services.runner.clone(),
            playing.live.subscribe().0,
        );
        // Another instance over the same database, with a runner of its own.
        let other = common::TestApp::over(playing.db.clone());

        let mut c = playing.client();
        c.sign_up("elsewhere@example.com").await;
        let mut d = other.client();
        d.cookie = c.cookie.clone();
        let project = c.create_project("Blue Bebop").await;
        let task = c
            .create_task(project["id"].as_str().unwrap(), "Login form", "Email")
            .await;
        let task = task["id"].as_str().unwrap();
        let r = c
            .post(
                &format!("/api/v1/tasks/{task}/execute-ai"),
                serde_json::json!({"intent": {"action": "generate_code"}}),
            )
            .await;
        assert_eq!(r.status, axum::http::StatusCode::ACCEPTED, "{}", r.text);
        let session = r.body["session_id"].as_str().unwrap().to_owned();
        reviewer_calling(&mut c).await;
        assert_eq!(
            d.get("/api/v1/ai/runs").await.body["runs"],
            serde_json::json!([]),
            "the other instance plays nothing"
        );

        // The playing instance cuts the held call (the reviewer's deadline
        // is minutes away).
        cancel_and_see_the_hang_up(&mut d, &session, &vendor).await;
        for _ in 0..500 {
            if c.get("/api/v1/ai/runs").await.body["runs"] == serde_json::json!([]) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            c.get("/api/v1/ai/runs").await.body["runs"],
            serde_json::json!([])
        );
        let view = c.get(&format!("/api/v1/ai/session/{session}")).await;
        assert_eq!(view.body["session"]["status"], "cancelled");
        let recorded = view.body["session"]["total_tokens_used"].as_i64().unwrap();
        // Nothing held; the calls that answered are paid, recorded or not.
        let budget = c.get("/api/v1/budget").await;
        assert_eq!(budget.body["reserved_tokens"], 0, "{}", budget.text);
        let used = budget.body["used_this_month"].as_i64().unwrap();
        assert!(used > 0 && used >= recorded, "{used} vs {recorded}");
        follower.abort();
    }
);

/// Cancels `session` through `c` and waits for the held reviewer's HTTP
/// request to be dropped: the vendor sees the hang-up.
async fn cancel_and_see_the_hang_up(c: &mut common::Client, session: &str, vendor: &HoldingVendor) {
    let r = c
        .post(
            &format!("/api/v1/ai/session/{session}/cancel"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "cancelled");
    for _ in 0..500 {
        if vendor.hung_up.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(vendor.hung_up.load(Ordering::SeqCst), 1);
}

/// Waits until the caller's one live run has its reviewer calling.
async fn reviewer_calling(c: &mut common::Client) -> serde_json::Value {
    for _ in 0..400 {
        let r = c.get("/api/v1/ai/runs").await;
        assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.text);
        let reviewer = r.body["runs"][0]["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["role"] == "reviewer" && a["state"] == "calling");
        if reviewer {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the reviewer never started calling");
}
