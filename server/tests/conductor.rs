//! The conductor end to end over the real database (SQLite and PostgreSQL):
//! scripted providers stand in for the vendors (the adapters have their own
//! loopback tests), everything else — reservation, settlement, invocations,
//! gate, review rows, events — is the product's code and storage. The
//! scripted band is in `band_rig`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod band_rig;
mod common;

use std::sync::Arc;

use band_rig::*;
use chrono::Utc;
use domain::band::{AgentRole, ProviderError, ProviderKind};
use domain::events::DomainEvent;
use domain::sessions::{
    ConductorError, Lineup, ReviewKind, ReviewReason, ReviewStatus, SessionStatus,
};
use server::outbound::db::read_events;
use uuid::Uuid;

backends!(
    all_agents_succeed_and_the_conductor_synthesises,
    |url: String| async move {
        let claude = Scripted::good(ProviderKind::Claude);
        let gpt = Scripted::good(ProviderKind::Gpt);
        let rig = rig(&url, vec![claude.clone(), gpt.clone()]).await;
        let played = play(&rig).await;

        assert_eq!(played.status, SessionStatus::AwaitingReview);
        // Bindings by default order: Claude codes, designs (no Gemini) and
        // reviews; GPT conducts.
        assert_eq!(
            claude
                .calls()
                .iter()
                .filter(|r| **r != AgentRole::Reviewer)
                .count(),
            2
        );
        assert_eq!(gpt.calls(), [AgentRole::Conductor]);
        assert_eq!(played.calls.len(), 4);

        let coder = played.call(AgentRole::Coder);
        assert_eq!(coder.agent, ProviderKind::Claude);
        let parsed = coder.response.coder_output.as_ref().unwrap();
        assert_eq!(parsed.files[0].path, "src/login.rs");
        assert!(coder.confidence > 0.85, "{:?}", coder.response.reasoning);
        assert!(
            coder
                .response
                .reasoning
                .iter()
                .any(|l| l.contains("reviewer verdict approve"))
        );
        let provenance = coder.response.provenance.as_ref().unwrap();
        assert_eq!(provenance.model_version, "claude-sonnet-4-5-20250929");
        assert!((provenance.temperature - 0.2).abs() < 1e-6);
        assert!(coder.tokens_used > 0 && coder.response.attempts.len() == 1);
        assert!(
            !coder
                .response
                .safety
                .as_ref()
                .unwrap()
                .requires_human_review
        );
        let review = played
            .call(AgentRole::Reviewer)
            .response
            .review
            .clone()
            .unwrap();
        assert_eq!(review.verdict.as_str(), "approve");
        let synthesis = played.call(AgentRole::Conductor);
        assert_eq!(synthesis.agent, ProviderKind::Gpt);
        assert!(synthesis.prompt.contains("The coder said:"));
        assert!(synthesis.prompt.contains("The designer said:"));
        assert!(synthesis.prompt.contains("The reviewer said:"));

        assert_eq!(played.reviews.len(), 1);
        let pending = &played.reviews[0];
        assert_eq!(pending.kind, ReviewKind::FinalApproval);
        assert_eq!(pending.status, ReviewStatus::PendingReview);
        assert!(pending.reasons.is_empty());
        assert!(pending.expires_at > pending.created_at + chrono::Duration::hours(23));

        assert_ledger_settled(&rig, &played).await;
        assert_eq!(
            event_types(&rig, played.session.id).await,
            [
                "AISessionStarted",
                "AgentInvoked",
                "AgentInvoked",
                "AgentInvoked",
                "AgentInvoked",
                "AISessionStatusChanged",
                "HumanReviewRequired",
            ]
        );
    }
);

backends!(
    one_failing_agent_does_not_sink_the_others,
    |url: String| async move {
        // Only Gemini is asked to design (it leads that role), and its key is wrong.
        let claude = Scripted::good(ProviderKind::Claude);
        let gemini = Scripted::new(ProviderKind::Gemini, |_| {
            Step::Fail(ProviderError::Unauthorized)
        });
        let rig = rig(&url, vec![claude.clone(), gemini.clone()]).await;
        let played = play(&rig).await;

        let designer = played.call(AgentRole::Designer);
        // Gemini refused, then the chain fell back to Claude, which answered.
        assert_eq!(designer.response.attempts.len(), 2);
        assert_eq!(designer.response.attempts[0].provider, "gemini");
        assert!(designer.response.attempts[0].error.is_some());
        assert_eq!(designer.agent, ProviderKind::Claude);
        assert_eq!(played.status, SessionStatus::AwaitingReview);
        assert!(played.has(AgentRole::Conductor));
        assert_ledger_settled(&rig, &played).await;
    }
);

backends!(
    a_lone_failure_is_recorded_and_the_rest_still_plays,
    |url: String| async move {
        let claude = Scripted::new(ProviderKind::Claude, |role| match role {
            AgentRole::Designer => Step::Fail(ProviderError::Server {
                status: 500,
                message: "boom".into(),
            }),
            other => Step::Answer(good_answer(other)),
        });
        let rig = rig(&url, vec![claude.clone()]).await;
        let played = play(&rig).await;

        let designer = played.call(AgentRole::Designer);
        assert!(designer.response.error.as_deref().unwrap().contains("500"));
        assert_eq!(designer.confidence, 0.0);
        // Retried with backoff (the policy's attempts), all charged nothing.
        assert!(designer.response.attempts.len() > 1);
        assert_eq!(designer.tokens_used, 0);
        assert!(played.call(AgentRole::Coder).response.error.is_none());
        assert!(played.call(AgentRole::Reviewer).response.error.is_none());
        assert_eq!(played.status, SessionStatus::AwaitingReview);
        assert!(played.has(AgentRole::Conductor));
        assert_ledger_settled(&rig, &played).await;
        let failed_events = read_events(&rig.app.db, rig.user)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type == "AgentInvoked" && e.payload["failed"] == true)
            .count();
        assert_eq!(failed_events, 1);
    }
);

backends!(
    all_agents_failing_fails_the_session_and_releases_the_budget,
    |url: String| async move {
        let claude = Scripted::new(ProviderKind::Claude, |_| {
            Step::Fail(ProviderError::Unauthorized)
        });
        let rig = rig(&url, vec![claude]).await;
        let played = play(&rig).await;

        assert_eq!(played.status, SessionStatus::Failed);
        let why = played.session.failure.as_deref().unwrap();
        assert!(why.starts_with("every agent failed"), "{why}");
        assert!(
            why.contains("coder: provider refused the credentials"),
            "{why}"
        );
        assert!(played.session.completed_at.is_some());
        assert!(played.reviews.is_empty());
        assert!(!played.has(AgentRole::Conductor));
        assert_eq!(
            played.calls.len(),
            3,
            "coder, reviewer and designer were each recorded"
        );
        assert_ledger_settled(&rig, &played).await;
        assert_eq!(
            rig.app
                .services
                .budgets
                .current(rig.user)
                .await
                .unwrap()
                .used_this_month,
            0
        );
    }
);

backends!(low_confidence_stops_at_the_gate, |url: String| async move {
    let claude = Scripted::new(ProviderKind::Claude, |role| match role {
        AgentRole::Coder => Step::Answer("fn login() { todo!() }\nConfidence: 0.3"),
        AgentRole::Reviewer => {
            Step::Answer("Verdict: reject\nIssues:\n- it does nothing\nConfidence: 0.9")
        }
        other => Step::Answer(good_answer(other)),
    });
    let rig = rig(&url, vec![claude.clone()]).await;
    let played = play(&rig).await;

    assert_eq!(played.status, SessionStatus::AwaitingReview);
    assert!(
        !played.has(AgentRole::Conductor),
        "no synthesis past the gate"
    );
    assert!(!claude.calls().contains(&AgentRole::Conductor));
    let coder = played.call(AgentRole::Coder);
    assert!(coder.confidence < 0.5, "{}", coder.confidence);
    assert_eq!(played.reviews.len(), 1);
    assert_eq!(played.reviews[0].kind, ReviewKind::Gate);
    assert!(
        played.reviews[0]
            .reasons
            .contains(&ReviewReason::LowConfidence)
    );
    assert!(played.reviews[0].average_confidence < 0.85);
    assert_ledger_settled(&rig, &played).await;

    let events = read_events(&rig.app.db, rig.user).await.unwrap();
    let required = events
        .iter()
        .find(|e| e.event_type == "HumanReviewRequired")
        .unwrap();
    let payload: DomainEvent = serde_json::from_value(required.payload.clone()).unwrap();
    match payload {
        DomainEvent::HumanReviewRequired {
            review_id,
            kind,
            reasons,
            ..
        } => {
            assert_eq!(review_id, played.reviews[0].id);
            assert_eq!(kind, ReviewKind::Gate);
            assert!(reasons.contains(&ReviewReason::LowConfidence));
        }
        other => panic!("unexpected {other:?}"),
    }
});

backends!(
    a_critical_operation_stops_at_the_gate_even_when_confident,
    |url: String| async move {
        let claude = Scripted::new(ProviderKind::Claude, |role| match role {
            AgentRole::Coder => Step::Answer(
                "First clean up:\n```sql migrations/001.sql\nDROP TABLE users;\n```\nConfidence: 1.0",
            ),
            other => Step::Answer(good_answer(other)),
        });
        let rig = rig(&url, vec![claude]).await;
        let played = play(&rig).await;

        assert_eq!(played.status, SessionStatus::AwaitingReview);
        assert!(!played.has(AgentRole::Conductor));
        let safety = played
            .call(AgentRole::Coder)
            .response
            .safety
            .clone()
            .unwrap();
        assert!(safety.has_critical_operation());
        assert!(
            played.reviews[0]
                .reasons
                .contains(&ReviewReason::CriticalOperation)
        );
        assert_ledger_settled(&rig, &played).await;
    }
);

backends!(
    a_budget_spent_by_a_failover_stops_before_synthesis,
    |url: String| async move {
        // Claude's coder stream breaks after charging a whole call; GPT, next in
        // the chain, answers. That second attempt spends what the synthesis
        // was reserved for, so the conductor must not start it.
        // Long answers fill every passed-on slot: each call costs its whole bound.
        let claude = Scripted::new(ProviderKind::Claude, |role| match role {
            AgentRole::Coder => Step::Cut,
            other => Step::Answer(long_answer(other)),
        });
        let gpt = Scripted::new(ProviderKind::Gpt, |role| match role {
            AgentRole::Conductor => panic!("the synthesis must not run uncovered"),
            other => Step::Answer(long_answer(other)),
        });
        let rig = rig(&url, vec![claude, gpt.clone()]).await;
        let played = play(&rig).await;

        let coder = played.call(AgentRole::Coder);
        assert_eq!(coder.response.attempts.len(), 2, "both attempts are kept");
        assert!(
            coder.response.attempts[0].usage.total() > 0,
            "the cut attempt is billed"
        );
        assert_eq!(coder.agent, ProviderKind::Gpt);
        assert_eq!(
            coder.tokens_used as u64,
            coder
                .response
                .attempts
                .iter()
                .map(|a| a.usage.total())
                .sum::<u64>()
        );
        assert_eq!(played.status, SessionStatus::AwaitingReview);
        let synthesis = played.call(AgentRole::Conductor);
        assert!(
            synthesis
                .response
                .error
                .as_deref()
                .unwrap()
                .contains("reservation")
        );
        assert_eq!(synthesis.tokens_used, 0);
        assert_eq!(played.reviews[0].kind, ReviewKind::Gate);
        assert!(
            played.reviews[0]
                .reasons
                .contains(&ReviewReason::BudgetExhausted)
        );
        assert_ledger_settled(&rig, &played).await;
    }
);

backends!(
    a_hanging_agent_is_cut_at_its_deadline,
    |url: String| async move {
        let claude = Scripted::new(ProviderKind::Claude, |role| match role {
            AgentRole::Designer => Step::Hang,
            other => Step::Answer(good_answer(other)),
        });
        let rig = rig(&url, vec![claude]).await;
        let played = play(&rig).await;

        let designer = played.call(AgentRole::Designer);
        assert!(
            designer
                .response
                .error
                .as_deref()
                .unwrap()
                .contains("no answer within 2 s")
        );
        assert!(played.call(AgentRole::Coder).response.error.is_none());
        assert_eq!(played.status, SessionStatus::AwaitingReview);
        assert_ledger_settled(&rig, &played).await;
    }
);

backends!(
    a_session_that_cannot_be_afforded_never_starts,
    |url: String| async move {
        let claude = Scripted::good(ProviderKind::Claude);
        let rig = rig(&url, vec![claude.clone()]).await;
        // Other sessions' reservations leave this user almost nothing this month.
        let budgets = &rig.app.services.budgets;
        let mut holds = Vec::new();
        for _ in 0..10 {
            holds.push(budgets.reserve(rig.user, None, 9_950).await.unwrap());
        }
        let before = budgets.current(rig.user).await.unwrap();
        assert_eq!(before.remaining(), 500);

        let err = rig
            .conductor
            .start(rig.user, rig.task, intent())
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("token"), "{err}");
        assert!(claude.calls().is_empty(), "no provider was called");
        let after = budgets.current(rig.user).await.unwrap();
        assert_eq!(after.reserved_tokens, before.reserved_tokens);
        let types: Vec<String> = read_events(&rig.app.db, rig.user)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect();
        assert!(types.contains(&"TokenBudgetExceeded".to_owned()));
        assert!(!types.contains(&"AISessionStarted".to_owned()));
        for hold in holds {
            budgets.release(hold.id).await.unwrap();
        }
    }
);

backends!(someone_elses_task_is_not_found, |url: String| async move {
    let rig = rig(&url, vec![Scripted::good(ProviderKind::Claude)]).await;
    let mut other = rig.app.client();
    let stranger = other.sign_up("stranger@example.com").await;
    let stranger = Uuid::parse_str(stranger["id"].as_str().unwrap()).unwrap();
    let err = rig
        .conductor
        .start(stranger, rig.task, intent())
        .await
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "task not found");
    assert_eq!(
        rig.app
            .services
            .budgets
            .current(stranger)
            .await
            .unwrap()
            .reserved_tokens,
        0
    );
});

backends!(
    hundreds_of_band_sessions_at_once_never_overspend,
    |url: String| async move {
        // Every call reports the most it could cost, and long answers fill
        // every passed-on slot: each session spends close to its whole bound.
        let claude = Scripted::new(ProviderKind::Claude, |role| Step::Answer(long_answer(role)));
        let rig = Arc::new(rig(&url, vec![claude]).await);
        // The token budget, not the sessions-at-once limit, is under test.
        several_at_once(&rig).await;
        let budgets = rig.app.services.budgets.clone();

        // One session alone, to learn the plan's estimate.
        let first = play(&rig).await;
        let estimate = first.reserved;
        let spent_alone = budgets.current(rig.user).await.unwrap().used_this_month;
        assert!(spent_alone <= estimate);

        // Hold the month so that two and a half sessions' worth is left.
        let mut holds = Vec::new();
        loop {
            let left = budgets.current(rig.user).await.unwrap().remaining();
            let excess = left - estimate * 5 / 2;
            if excess <= 0 {
                break;
            }
            holds.push(
                budgets
                    .reserve(rig.user, None, excess.min(9_990))
                    .await
                    .unwrap(),
            );
        }
        let before = budgets.current(rig.user).await.unwrap();

        const RUSH: usize = 200;
        let runs: Vec<_> = (0..RUSH)
            .map(|_| {
                let rig = rig.clone();
                tokio::spawn(async move {
                    match rig.conductor.start(rig.user, rig.task, intent()).await {
                        Ok(started) => Some(rig.conductor.run(started.job).await.unwrap()),
                        Err(e) => {
                            assert!(e.to_string().contains("token"), "{e}");
                            None
                        }
                    }
                })
            })
            .collect();
        let mut played = 0;
        for run in runs {
            if let Some(status) = run.await.unwrap() {
                assert_eq!(status, SessionStatus::AwaitingReview);
                played += 1;
            }
        }
        assert_eq!(played, 2, "exactly what fits plays");

        let after = budgets.current(rig.user).await.unwrap();
        let held: i64 = holds.iter().map(|h| h.amount).sum();
        assert_eq!(
            after.reserved_tokens, held,
            "only the holds remain reserved"
        );
        assert!(
            after.used_this_month - before.used_this_month <= 2 * estimate,
            "no session spent past its reservation"
        );
        assert!(after.used_this_month + after.reserved_tokens <= after.monthly_limit);
        let refused = read_events(&rig.app.db, rig.user)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type == "TokenBudgetExceeded")
            .count();
        assert_eq!(refused, RUSH - 2);
    }
);

backends!(
    sessions_left_executing_by_a_stopped_server_are_failed_and_refunded,
    |url: String| async move {
        let rig = rig(&url, vec![Scripted::good(ProviderKind::Claude)]).await;
        several_at_once(&rig).await;
        let budgets = &rig.app.services.budgets;
        // A session whose server stopped before `run`: it stays executing
        // and holds its reservation.
        let orphan = rig
            .conductor
            .start(rig.user, rig.task, intent())
            .await
            .unwrap();
        let held = budgets.current(rig.user).await.unwrap().reserved_tokens;
        assert!(held > 0);
        // A finished one is never touched.
        let finished = play(&rig).await;

        // While a run could still be alive, nothing happens.
        let now = Utc::now();
        assert_eq!(rig.conductor.fail_abandoned(now).await.unwrap(), 0);
        let later = now + rig.conductor.longest_run() + chrono::Duration::seconds(1);
        assert_eq!(rig.conductor.fail_abandoned(later).await.unwrap(), 1);
        assert_eq!(
            rig.conductor.fail_abandoned(later).await.unwrap(),
            0,
            "only once"
        );

        let (session, calls, _) = rig
            .conductor
            .session(rig.user, orphan.session.id)
            .await
            .unwrap();
        assert_eq!(session.status, SessionStatus::Failed);
        assert!(session.failure.unwrap().contains("interrupted"));
        assert!(calls.is_empty());
        assert_eq!(budgets.current(rig.user).await.unwrap().reserved_tokens, 0);
        let (still, ..) = rig
            .conductor
            .session(rig.user, finished.session.id)
            .await
            .unwrap();
        assert_eq!(still.status, SessionStatus::AwaitingReview);
        let failed_events = read_events(&rig.app.db, rig.user)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| {
                e.aggregate_id == orphan.session.id && e.event_type == "AISessionStatusChanged"
            })
            .count();
        assert_eq!(failed_events, 1);
    }
);

backends!(
    a_lineup_binds_providers_for_one_session_only,
    |url: String| async move {
        let claude = Scripted::good(ProviderKind::Claude);
        let gpt = Scripted::good(ProviderKind::Gpt);
        let rig = rig(&url, vec![claude.clone(), gpt.clone()]).await;
        // By default Claude codes and reviews; this session binds GPT to both
        // and leaves the designer to the default order.
        let lineup = Lineup {
            coder: Some(ProviderKind::Gpt),
            reviewer: Some(ProviderKind::Gpt),
            designer: None,
        };
        let started = rig
            .conductor
            .start_with(rig.user, rig.task, intent(), lineup)
            .await
            .unwrap();
        rig.conductor.run(started.job).await.unwrap();
        let (_, calls, _) = rig
            .conductor
            .session(rig.user, started.session.id)
            .await
            .unwrap();
        let agent = |role| calls.iter().find(|c| c.role == role).unwrap().agent;
        assert_eq!(agent(AgentRole::Coder), ProviderKind::Gpt);
        assert_eq!(agent(AgentRole::Reviewer), ProviderKind::Gpt);
        assert_eq!(agent(AgentRole::Designer), ProviderKind::Claude);
        assert!(!claude.calls().contains(&AgentRole::Coder));

        // The next session, without a lineup, is back to the defaults.
        let played = play(&rig).await;
        assert_eq!(played.call(AgentRole::Coder).agent, ProviderKind::Claude);
        assert_eq!(played.call(AgentRole::Reviewer).agent, ProviderKind::Claude);

        // A provider the server cannot call is refused before anything is
        // reserved, stored or called.
        let calls_before = claude.calls().len() + gpt.calls().len();
        let err = rig
            .conductor
            .start_with(
                rig.user,
                rig.task,
                intent(),
                Lineup {
                    designer: Some(ProviderKind::Gemini),
                    ..Lineup::default()
                },
            )
            .await
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                ConductorError::ProviderNotConfigured {
                    role: AgentRole::Designer,
                    provider: ProviderKind::Gemini
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("GEMINI_API_KEY"), "{err}");
        assert_eq!(claude.calls().len() + gpt.calls().len(), calls_before);
        let budget = rig.app.services.budgets.current(rig.user).await.unwrap();
        assert_eq!(budget.reserved_tokens, 0);
    }
);

/// The real repository, but the step that ends a run (its move to
/// `awaiting_review`) fails, as a database that went away would.
struct FailingFinish(Arc<dyn domain::sessions::SessionRepository>);

#[async_trait::async_trait]
impl domain::sessions::SessionRepository for FailingFinish {
    async fn create(
        &self,
        session: &domain::sessions::AiSession,
        events: &[domain::events::EventEnvelope],
        running_limit: u32,
    ) -> Result<(), domain::sessions::SessionError> {
        self.0.create(session, events, running_limit).await
    }
    async fn commit(
        &self,
        step: domain::sessions::SessionStep<'_>,
    ) -> Result<(), domain::sessions::SessionError> {
        if step
            .status
            .as_ref()
            .is_some_and(|s| s.to == SessionStatus::AwaitingReview)
        {
            return Err(domain::sessions::SessionError::Unexpected(
                "injected: the database went away".into(),
            ));
        }
        self.0.commit(step).await
    }
    async fn find(
        &self,
        owner_id: Uuid,
        id: Uuid,
    ) -> Result<
        Option<(
            domain::sessions::AiSession,
            Vec<domain::sessions::AgentInvocation>,
        )>,
        domain::sessions::SessionError,
    > {
        self.0.find(owner_id, id).await
    }
    async fn unfinished(
        &self,
    ) -> Result<Vec<domain::sessions::AiSession>, domain::sessions::SessionError> {
        self.0.unfinished().await
    }
}

backends!(
    a_run_that_fails_after_its_calls_still_pays_for_them,
    |url: String| async move {
        let rig = rig(
            &url,
            vec![
                Scripted::good(ProviderKind::Claude),
                Scripted::good(ProviderKind::Gpt),
            ],
        )
        .await;
        let used = || async { rig.app.services.budgets.current(rig.user).await.unwrap() };
        // The first round is stored, the synthesis is called, then the last
        // step fails: the synthesis's tokens were charged by the vendor.
        let mut failing = rig.conductor.clone();
        failing.sessions = Arc::new(FailingFinish(rig.conductor.sessions.clone()));
        let started = failing.start(rig.user, rig.task, intent()).await.unwrap();
        assert!(failing.run(started.job).await.is_err());
        let (session, stored, _) = rig
            .conductor
            .session(rig.user, started.session.id)
            .await
            .unwrap();
        assert_eq!(session.status, SessionStatus::Failed);
        assert_eq!(stored.len(), 3, "the first round was stored");
        let after_failure = used().await;
        assert_eq!(after_failure.reserved_tokens, 0, "the rest went back");

        // The same run that succeeds costs exactly as much: every call made
        // was settled, the unstored synthesis included.
        let played = play(&rig).await;
        assert_eq!(played.status, SessionStatus::AwaitingReview);
        let whole: i64 = played.calls.iter().map(|c| c.tokens_used).sum();
        let stored_part: i64 = stored.iter().map(|c| c.tokens_used).sum();
        assert!(whole > stored_part);
        assert_eq!(after_failure.used_this_month, whole);
        assert_eq!(used().await.used_this_month, 2 * whole);
    }
);

backends!(
    a_projects_and_a_tasks_sessions_are_listed_newest_first,
    |url: String| async move {
        let rig = rig(&url, vec![Scripted::good(ProviderKind::Claude)]).await;
        let mut c = rig.client.clone();
        let task = c.get(&format!("/api/v1/tasks/{}", rig.task)).await;
        let pid = task.body["project_id"].as_str().unwrap().to_owned();
        let mut tasks = vec![rig.task];
        for title in ["Second", "Third"] {
            let t = c.create_task(&pid, title, "").await;
            tasks.push(Uuid::parse_str(t["id"].as_str().unwrap()).unwrap());
        }
        let mut started = Vec::new();
        for task in &tasks {
            let s = rig
                .conductor
                .start(rig.user, *task, intent())
                .await
                .unwrap();
            started.push(s.session.id);
            rig.conductor.run(s.job).await.unwrap();
        }
        let ids = |r: &common::Reply| -> Vec<String> {
            r.body["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned())
                .collect()
        };
        let newest_first: Vec<String> = started.iter().rev().map(ToString::to_string).collect();

        let all = c.get(&format!("/api/v1/projects/{pid}/ai-sessions")).await;
        assert_eq!(all.status, 200, "{}", all.text);
        assert_eq!(ids(&all), newest_first);
        assert!(all.body["next_cursor"].is_null());

        // Two pages of two.
        let first = c
            .get(&format!("/api/v1/projects/{pid}/ai-sessions?limit=2"))
            .await;
        assert_eq!(ids(&first), newest_first[..2]);
        let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
        let second = c
            .get(&format!(
                "/api/v1/projects/{pid}/ai-sessions?limit=2&cursor={cursor}"
            ))
            .await;
        assert_eq!(ids(&second), newest_first[2..]);
        assert!(second.body["next_cursor"].is_null());

        // One task's; by status.
        let one = c
            .get(&format!("/api/v1/tasks/{}/ai-sessions", tasks[1]))
            .await;
        assert_eq!(ids(&one), [started[1].to_string()]);
        let waiting = c
            .get(&format!(
                "/api/v1/projects/{pid}/ai-sessions?status=awaiting_review"
            ))
            .await;
        assert_eq!(ids(&waiting).len(), 3);
        let failed = c
            .get(&format!("/api/v1/projects/{pid}/ai-sessions?status=failed"))
            .await;
        assert_eq!(ids(&failed).len(), 0);

        // Bad parameters name themselves; someone else's lists are 404.
        for (query, field) in [
            ("status=sleeping", "status"),
            ("limit=0", "limit"),
            ("cursor=nope", "cursor"),
            ("page=2", "page"),
        ] {
            let r = c
                .get(&format!("/api/v1/projects/{pid}/ai-sessions?{query}"))
                .await;
            assert_eq!(r.status, 422, "{query}: {}", r.text);
            assert_eq!(r.field(), field, "{query}: {}", r.text);
        }
        let mut other = rig.app.client();
        other.sign_up("other@example.com").await;
        let r = other
            .get(&format!("/api/v1/projects/{pid}/ai-sessions"))
            .await;
        assert_eq!(r.status, 404);
        let r = other
            .get(&format!("/api/v1/tasks/{}/ai-sessions", tasks[0]))
            .await;
        assert_eq!(r.status, 404);
    }
);
