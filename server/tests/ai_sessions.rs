//! Session persistence: conditional status changes (exactly one of many
//! racing writers wins), invocations adding up tokens, owner scoping and
//! events — on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::Utc;
use common::TestApp;
use domain::band::{AgentRole, CoderOutput, Provenance, ProviderKind, StopReason, TokenUsage};
use domain::events::{AggregateType, DomainEvent, EventEnvelope};
use domain::sessions::{
    AgentInvocation, AiSession, Attempt, Intent, IntentAction, InvocationRecord, SessionError,
    SessionRepository, SessionStatus, SessionStep, StatusMove,
};
use server::outbound::db::{SeaOrmSessionRepository, read_events};
use uuid::Uuid;

struct Fixture {
    app: TestApp,
    repo: Arc<SeaOrmSessionRepository>,
    user: Uuid,
    project: Uuid,
    task: Uuid,
}

async fn fixture(url: &str) -> Fixture {
    let app = TestApp::new(url).await;
    let mut c = app.client();
    let user = c.sign_up("band@example.com").await;
    let project = c.create_project("Band").await;
    let pid = project["id"].as_str().unwrap().to_owned();
    let task = c.create_task(&pid, "Write the login form", "").await;
    let repo = Arc::new(SeaOrmSessionRepository::new(app.db.clone()));
    Fixture {
        repo,
        user: Uuid::parse_str(user["id"].as_str().unwrap()).unwrap(),
        project: Uuid::parse_str(&pid).unwrap(),
        task: Uuid::parse_str(task["id"].as_str().unwrap()).unwrap(),
        app,
    }
}

fn session(f: &Fixture) -> AiSession {
    AiSession {
        id: Uuid::new_v4(),
        project_id: f.project,
        task_id: Some(f.task),
        user_id: f.user,
        conductor: ProviderKind::Gpt,
        status: SessionStatus::Pending,
        intent: Intent::new(
            IntentAction::GenerateCode,
            "a login form",
            &["Accessible".into()],
        )
        .unwrap(),
        total_tokens_used: 0,
        reservation_id: Some(Uuid::new_v4()),
        failure: None,
        resumed_at: None,
        retry_of: None,
        code: None,
        change: None,
        started_at: Utc::now(),
        completed_at: None,
    }
}

/// A new session of the fixture's user, stored and moved to executing.
async fn executing(f: &Fixture) -> AiSession {
    let s = session(f);
    f.repo.create(&s, &[], 10).await.unwrap();
    f.repo
        .transition(
            s.id,
            SessionStatus::Pending,
            SessionStatus::Executing,
            None,
            Utc::now(),
            &[],
        )
        .await
        .unwrap();
    s
}

fn changed(f: &Fixture, s: &AiSession, from: SessionStatus, to: SessionStatus) -> EventEnvelope {
    EventEnvelope::new(
        AggregateType::AiSession,
        s.id,
        f.user,
        Utc::now(),
        DomainEvent::AiSessionStatusChanged {
            session_id: s.id,
            from,
            to,
            reason: None,
        },
    )
}

fn invocation(s: &AiSession, role: AgentRole, tokens: i64) -> AgentInvocation {
    AgentInvocation {
        id: Uuid::new_v4(),
        session_id: s.id,
        agent: ProviderKind::Claude,
        role,
        prompt: "Write the form".into(),
        response: InvocationRecord {
            content: "```rust src/form.rs\nfn form() {}\n```".into(),
            stop_reason: Some(StopReason::Complete),
            usage: TokenUsage {
                input: 40,
                output: 60,
                cached: 0,
            },
            provenance: Some(Provenance {
                agent: ProviderKind::Claude,
                provider: "anthropic".into(),
                model_version: "claude-sonnet-4-20250514".into(),
                timestamp: Utc::now(),
                temperature: 0.2,
                max_tokens: 1024,
            }),
            reasoning: vec!["stop reason: complete".into()],
            attempts: vec![Attempt {
                provider: "anthropic".into(),
                model: "claude-sonnet-4-20250514".into(),
                usage: TokenUsage::default(),
                error: None,
                latency_ms: 12,
            }],
            error: None,
            coder_output: Some(CoderOutput::parse("```rust src/form.rs\nfn form() {}\n```")),
            review: None,
            safety: None,
        },
        confidence: 0.9,
        tokens_used: tokens,
        execution_time_ms: 12,
        invoked_at: Utc::now(),
    }
}

backends!(lifecycle_invocations_and_events, |url: String| async move {
    let f = fixture(&url).await;
    let s = session(&f);
    f.repo.create(&s, &[], 10).await.unwrap();
    f.repo
        .transition(
            s.id,
            SessionStatus::Pending,
            SessionStatus::Executing,
            None,
            Utc::now(),
            &[changed(
                &f,
                &s,
                SessionStatus::Pending,
                SessionStatus::Executing,
            )],
        )
        .await
        .unwrap();
    f.repo
        .record_invocation(&invocation(&s, AgentRole::Coder, 100), &[])
        .await
        .unwrap();
    f.repo
        .record_invocation(&invocation(&s, AgentRole::Reviewer, 50), &[])
        .await
        .unwrap();
    f.repo
        .transition(
            s.id,
            SessionStatus::Executing,
            SessionStatus::AwaitingReview,
            None,
            Utc::now(),
            &[],
        )
        .await
        .unwrap();

    let (stored, calls) = f.repo.find(f.user, s.id).await.unwrap().unwrap();
    assert_eq!(stored.status, SessionStatus::AwaitingReview);
    assert_eq!(stored.total_tokens_used, 150);
    assert_eq!(stored.intent, s.intent);
    assert_eq!(stored.reservation_id, s.reservation_id);
    assert_eq!(stored.conductor, ProviderKind::Gpt);
    assert!(stored.completed_at.is_none());
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].role, AgentRole::Coder);
    assert_eq!(
        calls[0].response.provenance.as_ref().unwrap().model_version,
        "claude-sonnet-4-20250514"
    );
    assert_eq!(calls[0].response.usage.output, 60);

    // Another user sees nothing.
    assert!(f.repo.find(Uuid::new_v4(), s.id).await.unwrap().is_none());
    // Only the pending/executing sessions count as unfinished.
    assert!(
        f.repo
            .unfinished()
            .await
            .unwrap()
            .iter()
            .all(|u| u.id != s.id)
    );

    f.repo
        .transition(
            s.id,
            SessionStatus::AwaitingReview,
            SessionStatus::Failed,
            Some("rejected by the human"),
            Utc::now(),
            &[],
        )
        .await
        .unwrap();
    let (failed, _) = f.repo.find(f.user, s.id).await.unwrap().unwrap();
    assert_eq!(failed.status, SessionStatus::Failed);
    assert_eq!(failed.failure.as_deref(), Some("rejected by the human"));
    assert!(failed.completed_at.is_some());

    let events = read_events(&f.app.db, f.user).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event_type == "AISessionStatusChanged" && e.aggregate_type == "AISession")
    );
    // An invocation for a session that does not exist is refused.
    let ghost = AiSession {
        id: Uuid::new_v4(),
        ..s.clone()
    };
    assert!(matches!(
        f.repo
            .record_invocation(&invocation(&ghost, AgentRole::Coder, 1), &[])
            .await,
        Err(SessionError::NotFound)
    ));
});

backends!(
    racing_transitions_have_exactly_one_winner,
    |url: String| async move {
        let f = fixture(&url).await;
        let s = executing(&f).await;
        assert_eq!(
            f.repo.unfinished().await.unwrap().len(),
            1,
            "an executing session is unfinished"
        );

        // Twenty actors try to finish the same session at once, each with its event.
        let racers: Vec<_> = (0..20)
            .map(|_| {
                let repo = f.repo.clone();
                let event = changed(&f, &s, SessionStatus::Executing, SessionStatus::Completed);
                tokio::spawn(async move {
                    repo.transition(
                        s.id,
                        SessionStatus::Executing,
                        SessionStatus::Completed,
                        None,
                        Utc::now(),
                        &[event],
                    )
                    .await
                })
            })
            .collect();
        let mut winners = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(()) => winners += 1,
                Err(SessionError::Conflict { actual }) => {
                    assert_eq!(actual, SessionStatus::Completed)
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(winners, 1);
        let events = read_events(&f.app.db, f.user).await.unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.event_type == "AISessionStatusChanged")
                .count(),
            1,
            "losers append no event"
        );
        assert!(matches!(
            f.repo
                .transition(
                    Uuid::new_v4(),
                    SessionStatus::Pending,
                    SessionStatus::Executing,
                    None,
                    Utc::now(),
                    &[]
                )
                .await,
            Err(SessionError::NotFound)
        ));
    }
);

backends!(
    a_step_commits_whole_or_not_at_all,
    |url: String| async move {
        // A session step goes to the database as one batch: the status move,
        // the invocation, the settlement of the reservation and the events.
        let f = fixture(&url).await;
        let budgets = &f.app.services.budgets;
        let s = executing(&f).await;
        let start = budgets.current(f.user).await.unwrap();

        // Its reservation was closed under it (say, the session was failed
        // as abandoned): nothing of the step is written.
        let closed = budgets.reserve(f.user, Some(s.id), 1_000).await.unwrap();
        budgets.release(closed.id).await.unwrap();
        let call = invocation(&s, AgentRole::Coder, 100);
        let event = changed(&f, &s, SessionStatus::Executing, SessionStatus::Completed);
        let step = |reservation: Uuid| SessionStep {
            invocations: std::slice::from_ref(&call),
            charge: Some((reservation, 100)),
            status: Some(StatusMove {
                from: SessionStatus::Executing,
                to: SessionStatus::Completed,
                failure: None,
            }),
            release: Some(reservation),
            ..SessionStep::new(s.id, Utc::now(), std::slice::from_ref(&event))
        };
        let refused = f.repo.commit(step(closed.id)).await;
        assert!(
            matches!(refused, Err(SessionError::Unexpected(_))),
            "{refused:?}"
        );
        let (after, calls) = f.repo.find(f.user, s.id).await.unwrap().unwrap();
        assert_eq!(after.status, SessionStatus::Executing);
        assert_eq!(after.total_tokens_used, 0);
        assert!(calls.is_empty());
        let ledger = budgets.current(f.user).await.unwrap();
        assert_eq!(
            (ledger.used_this_month, ledger.reserved_tokens),
            (start.used_this_month, start.reserved_tokens),
            "a closed reservation is not charged again"
        );
        let status_changes = |events: Vec<server::outbound::db::EventRecord>| {
            events
                .into_iter()
                .filter(|e| e.aggregate_id == s.id)
                .map(|e| e.event_type)
                .filter(|t| t == "AISessionStatusChanged")
                .count()
        };
        let before_events = status_changes(read_events(&f.app.db, f.user).await.unwrap());

        // With an open reservation the same step lands whole: 100 tokens
        // charged, the other 900 back to the month, one more event.
        let open = budgets.reserve(f.user, Some(s.id), 1_000).await.unwrap();
        f.repo.commit(step(open.id)).await.unwrap();
        let (after, calls) = f.repo.find(f.user, s.id).await.unwrap().unwrap();
        assert_eq!(after.status, SessionStatus::Completed);
        assert_eq!(after.total_tokens_used, 100);
        assert_eq!(calls.len(), 1);
        let ledger = budgets.current(f.user).await.unwrap();
        assert_eq!(
            (ledger.used_this_month, ledger.reserved_tokens),
            (start.used_this_month + 100, start.reserved_tokens)
        );
        assert_eq!(
            status_changes(read_events(&f.app.db, f.user).await.unwrap()),
            before_events + 1
        );

        // A step for a session that moved on is refused with its status.
        let again = budgets.reserve(f.user, Some(s.id), 1_000).await.unwrap();
        let late = f.repo.commit(step(again.id)).await;
        assert!(
            matches!(
                late,
                Err(SessionError::Conflict {
                    actual: SessionStatus::Completed
                })
            ),
            "{late:?}"
        );
        budgets.release(again.id).await.unwrap();
        let ledger = budgets.current(f.user).await.unwrap();
        assert_eq!(ledger.used_this_month, start.used_this_month + 100);
    }
);
