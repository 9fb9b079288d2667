//! The conductor's use cases over the in-memory store and a scripted band
//! (`testing::band`): what a run stores, settles and releases, how it
//! ends, and how cancel, retry and the running limit behave — without a
//! database. The server's integration tests cover the same ground over
//! real storage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use crate::band::{AgentRole, ProviderError, ProviderKind};
use crate::reviews::Decision;
use crate::sessions::{
    AgentInvocation, AiSession, ConductorError, Halt, ReviewKind, ReviewReason, ReviewRequest,
    ReviewStatus, SessionStatus,
};
use crate::testing::band::{CODER_UNSURE, Rig, Runner, Scripted, Step, good_answer, intent, rig};

struct Played {
    status: SessionStatus,
    session: AiSession,
    calls: Vec<AgentInvocation>,
    reviews: Vec<ReviewRequest>,
    reserved: i64,
}

impl Played {
    fn call(&self, role: AgentRole) -> &AgentInvocation {
        self.calls
            .iter()
            .find(|c| c.role == role)
            .unwrap_or_else(|| panic!("no {role:?} invocation"))
    }

    fn has(&self, role: AgentRole) -> bool {
        self.calls.iter().any(|c| c.role == role)
    }
}

/// Starts and runs one session to its end.
async fn play(rig: &Rig) -> Played {
    let started = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .unwrap();
    assert_eq!(started.session.status, SessionStatus::Executing);
    let reserved = rig.store.budget(rig.user).reserved_tokens;
    assert!(reserved > 0, "the whole task is reserved before fan-out");
    assert_eq!(reserved, started.job.reservation().amount);
    let status = rig.conductor.run(started.job).await.unwrap();
    finished(rig, started.session.id, status, reserved).await
}

async fn finished(rig: &Rig, id: Uuid, status: SessionStatus, reserved: i64) -> Played {
    let (session, calls, reviews) = rig.conductor.session(rig.user, id).await.unwrap();
    assert_eq!(session.status, status);
    Played {
        status,
        session,
        calls,
        reviews,
        reserved,
    }
}

/// The ledger after a session: nothing still reserved, and exactly the
/// invocations' tokens used — never more than was reserved.
fn assert_settled(rig: &Rig, played: &Played) {
    let budget = rig.store.budget(rig.user);
    let charged: i64 = played.calls.iter().map(|c| c.tokens_used).sum();
    assert_eq!(budget.reserved_tokens, 0, "the remainder was released");
    assert_eq!(budget.used_this_month, charged);
    assert_eq!(played.session.total_tokens_used, charged);
    assert_eq!(rig.store.open_reservations(), 0);
    assert!(
        charged <= played.reserved,
        "spent {charged} of a {} reservation",
        played.reserved
    );
}

fn unsure_coder(kind: ProviderKind) -> Arc<Scripted> {
    Scripted::new(kind, |role| match role {
        AgentRole::Coder => Step::Answer(CODER_UNSURE),
        other => Step::Answer(good_answer(other)),
    })
}

/// Waits (in real time, briefly) until `cond` holds.
async fn until(cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("condition never held");
}

#[tokio::test]
async fn a_clean_run_reaches_final_approval_with_every_call_settled() {
    let claude = Scripted::good(ProviderKind::Claude);
    let gpt = Scripted::good(ProviderKind::Gpt);
    let rig = rig(vec![claude.clone(), gpt.clone()]).await;
    let played = play(&rig).await;

    assert_eq!(played.status, SessionStatus::AwaitingReview);
    // Default bindings: Claude codes, designs (no Gemini) and reviews; GPT conducts.
    assert_eq!(gpt.roles(), [AgentRole::Conductor]);
    assert_eq!(claude.roles().len(), 3);
    assert_eq!(played.calls.len(), 4);
    let coder = played.call(AgentRole::Coder);
    assert_eq!(coder.agent, ProviderKind::Claude);
    assert_eq!(
        coder.response.coder_output.as_ref().unwrap().files[0].path,
        "src/login.rs"
    );
    assert!(coder.confidence > 0.85, "{:?}", coder.response.reasoning);
    assert!(coder.tokens_used > 0);
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
    assert!(played.session.completed_at.is_none());

    assert_settled(&rig, &played);
    let reservation = rig
        .store
        .reservation(played.session.reservation_id.unwrap());
    assert!(!reservation.open);
    assert_eq!(reservation.settled, played.session.total_tokens_used);
    assert_eq!(
        rig.store.event_types(played.session.id),
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

#[tokio::test]
async fn low_confidence_stops_at_the_gate_without_a_synthesis() {
    let claude = unsure_coder(ProviderKind::Claude);
    let rig = rig(vec![claude.clone()]).await;
    let played = play(&rig).await;

    assert_eq!(played.status, SessionStatus::AwaitingReview);
    assert!(!played.has(AgentRole::Conductor));
    assert!(!claude.roles().contains(&AgentRole::Conductor));
    assert_eq!(played.reviews.len(), 1);
    let gate = &played.reviews[0];
    assert_eq!(gate.kind, ReviewKind::Gate);
    assert!(gate.reasons.contains(&ReviewReason::LowConfidence));
    assert!(gate.average_confidence < 0.85);
    assert!(played.session.failure.is_none());
    assert_settled(&rig, &played);
}

#[tokio::test]
async fn one_failing_agent_does_not_sink_the_others() {
    // Gemini leads the designer's chain and refuses its key: Claude steps in.
    let claude = Scripted::good(ProviderKind::Claude);
    let gemini = Scripted::new(ProviderKind::Gemini, |_| {
        Step::Fail(ProviderError::Unauthorized)
    });
    let rig = rig(vec![claude, gemini]).await;
    let played = play(&rig).await;

    let designer = played.call(AgentRole::Designer);
    assert_eq!(designer.response.attempts.len(), 2);
    assert_eq!(designer.response.attempts[0].provider, "gemini");
    assert_eq!(designer.agent, ProviderKind::Claude);
    assert_eq!(played.status, SessionStatus::AwaitingReview);
    assert!(played.has(AgentRole::Conductor));
    assert_settled(&rig, &played);
}

#[tokio::test]
async fn a_lone_failure_is_recorded_and_the_rest_still_plays() {
    let claude = Scripted::new(ProviderKind::Claude, |role| match role {
        AgentRole::Designer => Step::Fail(ProviderError::Server {
            status: 500,
            message: "boom".into(),
        }),
        other => Step::Answer(good_answer(other)),
    });
    let rig = rig(vec![claude]).await;
    let played = play(&rig).await;

    let designer = played.call(AgentRole::Designer);
    assert!(designer.response.error.as_deref().unwrap().contains("500"));
    assert_eq!(designer.confidence, 0.0);
    assert!(designer.response.attempts.len() > 1, "retried");
    assert_eq!(designer.tokens_used, 0);
    assert!(played.call(AgentRole::Coder).response.error.is_none());
    assert_eq!(played.status, SessionStatus::AwaitingReview);
    assert!(played.has(AgentRole::Conductor));
    // The synthesis combined only what came in.
    assert!(
        !played
            .call(AgentRole::Conductor)
            .prompt
            .contains("The designer said:")
    );
    assert_settled(&rig, &played);
}

#[tokio::test]
async fn every_agent_failing_fails_the_session_and_settles_what_was_used() {
    let claude = Scripted::new(ProviderKind::Claude, |_| {
        Step::Fail(ProviderError::Unauthorized)
    });
    let rig = rig(vec![claude]).await;
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
    assert_eq!(played.calls.len(), 3, "each agent's failure is recorded");
    assert_settled(&rig, &played);
    assert_eq!(rig.store.budget(rig.user).used_this_month, 0);
}

#[tokio::test]
async fn a_halted_run_is_cancelled_with_exactly_the_finished_calls_tokens() {
    // The coder and the reviewer answer; the designer hangs until halted.
    let claude = Scripted::new(ProviderKind::Claude, |role| match role {
        AgentRole::Designer => Step::Hang,
        other => Step::Answer(good_answer(other)),
    });
    let rig = rig(vec![claude.clone()]).await;
    let started = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .unwrap();
    let reserved = started.job.reservation().amount;
    let control = started.job.control();
    let id = started.session.id;
    let conductor = rig.conductor.clone();
    let run = tokio::spawn(async move { conductor.run(started.job).await });
    until(|| {
        claude.hanging.load(Ordering::SeqCst) == 1 && claude.roles().contains(&AgentRole::Reviewer)
    })
    .await;
    until(|| control.snapshot().tokens_used > 0 && claude.calls().len() == 3).await;
    // Both finished calls are in before the halt.
    until(|| {
        control
            .snapshot()
            .agents
            .iter()
            .filter(|a| a.state == crate::sessions::AgentState::Done)
            .count()
            == 2
    })
    .await;
    control.halt(Halt::Cancelled);
    let status = run.await.unwrap().unwrap();

    assert_eq!(status, SessionStatus::Cancelled);
    assert_eq!(claude.dropped.load(Ordering::SeqCst), 1, "the call was cut");
    let played = finished(&rig, id, status, reserved).await;
    assert_eq!(
        played.session.failure.as_deref(),
        Some("cancelled by its owner")
    );
    assert!(played.session.completed_at.is_some());
    assert!(played.reviews.is_empty());
    assert!(!played.has(AgentRole::Conductor));
    let finished_tokens =
        played.call(AgentRole::Coder).tokens_used + played.call(AgentRole::Reviewer).tokens_used;
    assert!(finished_tokens > 0);
    assert_eq!(played.call(AgentRole::Designer).tokens_used, 0);
    assert_eq!(played.session.total_tokens_used, finished_tokens);
    assert_eq!(control.snapshot().tokens_used, finished_tokens);
    assert_settled(&rig, &played);
}

#[tokio::test]
async fn a_run_interrupted_by_shutdown_fails_as_interrupted() {
    let claude = Scripted::new(ProviderKind::Claude, |_| Step::Hang);
    let rig = rig(vec![claude.clone()]).await;
    let started = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .unwrap();
    let reserved = started.job.reservation().amount;
    let control = started.job.control();
    let id = started.session.id;
    let conductor = rig.conductor.clone();
    let run = tokio::spawn(async move { conductor.run(started.job).await });
    // The coder and the designer hang; the reviewer waits for the coder.
    until(|| claude.hanging.load(Ordering::SeqCst) == 2).await;
    control.halt(Halt::Interrupted);
    assert_eq!(run.await.unwrap().unwrap(), SessionStatus::Failed);
    let played = finished(&rig, id, SessionStatus::Failed, reserved).await;
    assert!(
        played
            .session
            .failure
            .as_deref()
            .unwrap()
            .starts_with("interrupted")
    );
    assert_eq!(played.session.total_tokens_used, 0);
    assert_settled(&rig, &played);
}

#[tokio::test]
async fn cancel_of_a_live_run_halts_it_through_the_runner() {
    let claude = Scripted::new(ProviderKind::Claude, |role| match role {
        AgentRole::Designer => Step::Hang,
        other => Step::Answer(good_answer(other)),
    });
    let rig = rig(vec![claude.clone()]).await;
    let runner = Runner::new(rig.conductor.clone());
    let started = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .unwrap();
    let id = started.session.id;
    crate::sessions::SessionRunner::launch(runner.as_ref(), started.job);
    until(|| claude.hanging.load(Ordering::SeqCst) == 1).await;

    let status = rig
        .conductor
        .cancel(rig.user, id, runner.as_ref())
        .await
        .unwrap();
    assert_eq!(status, SessionStatus::Cancelled);
    runner.drain().await;
    assert_eq!(claude.dropped.load(Ordering::SeqCst), 1);
    assert_eq!(rig.store.budget(rig.user).reserved_tokens, 0);
    assert_eq!(rig.store.open_reservations(), 0);
    let cancelled = rig
        .store
        .event_types(id)
        .iter()
        .filter(|t| **t == "AISessionStatusChanged")
        .count();
    assert_eq!(cancelled, 1, "the run recorded itself once");
}

#[tokio::test]
async fn cancel_without_a_live_run_moves_it_in_place_and_releases() {
    let rig = rig(vec![Scripted::good(ProviderKind::Claude)]).await;
    let runner = Runner::default();
    let started = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .unwrap();
    let id = started.session.id;
    assert!(rig.store.budget(rig.user).reserved_tokens > 0);

    let status = rig.conductor.cancel(rig.user, id, &runner).await.unwrap();
    assert_eq!(status, SessionStatus::Cancelled);
    let session = rig.store.session(id);
    assert_eq!(session.status, SessionStatus::Cancelled);
    assert_eq!(session.failure.as_deref(), Some("cancelled by its owner"));
    assert!(session.completed_at.is_some());
    let budget = rig.store.budget(rig.user);
    assert_eq!((budget.reserved_tokens, budget.used_this_month), (0, 0));
    assert_eq!(rig.store.open_reservations(), 0);
    let events = rig.store.event_types(id);

    // Twice is harmless: the same answer, nothing written.
    let again = rig.conductor.cancel(rig.user, id, &runner).await.unwrap();
    assert_eq!(again, SessionStatus::Cancelled);
    assert_eq!(rig.store.event_types(id), events);

    // A run that was started elsewhere finds its next step refused and
    // settles nothing twice.
    let run = rig.conductor.run(started.job).await;
    assert!(run.is_err(), "the run's step meets a cancelled session");
    assert_eq!(rig.store.session(id).status, SessionStatus::Cancelled);
    assert_eq!(rig.store.budget(rig.user).reserved_tokens, 0);
}

/// A run playing elsewhere when its session is cancelled finds its next
/// step refused; the cancel closed its reservation, so what its calls
/// spent is charged through a reservation of its own (`charge_late`): the
/// vendors charged those tokens, so the month pays them.
#[tokio::test]
async fn a_run_cancelled_elsewhere_still_charges_what_it_spent() {
    let claude = Scripted::good(ProviderKind::Claude);
    let rig = rig(vec![claude.clone()]).await;
    let started = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .unwrap();
    let id = started.session.id;
    rig.conductor
        .cancel(rig.user, id, &Runner::default())
        .await
        .unwrap();
    assert!(rig.conductor.run(started.job).await.is_err());
    assert!(!claude.calls().is_empty(), "the vendors were called");
    assert!(rig.store.budget(rig.user).used_this_month > 0);
}

#[tokio::test]
async fn cancelling_a_session_at_the_gate_or_ended_is_not_running() {
    let rig = rig(vec![unsure_coder(ProviderKind::Claude)]).await;
    let runner = Runner::default();
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
    assert_eq!(
        rig.store.session(played.session.id).status,
        SessionStatus::AwaitingReview
    );
    assert!(matches!(
        rig.conductor
            .cancel(Uuid::new_v4(), played.session.id, &runner)
            .await,
        Err(ConductorError::SessionNotFound)
    ));
}

#[tokio::test]
async fn a_retry_of_a_rejected_session_carries_the_reason_in_every_prompt() {
    let claude = unsure_coder(ProviderKind::Claude);
    let rig = rig(vec![claude.clone()]).await;
    let played = play(&rig).await;
    let review = played.reviews[0].id;
    let reason = "the form must not store the password in local storage";
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
    assert_eq!(
        rig.store.session(played.session.id).status,
        SessionStatus::Failed
    );
    let before = claude.calls().len();

    let retried = rig
        .conductor
        .retry(rig.user, played.session.id)
        .await
        .unwrap();
    assert_eq!(retried.session.retry_of, Some(played.session.id));
    assert_eq!(retried.session.intent, played.session.intent);
    assert_ne!(retried.session.id, played.session.id);
    rig.conductor.run(retried.job).await.unwrap();
    let calls = claude.calls();
    let new_calls = &calls[before..];
    assert!(!new_calls.is_empty());
    let needle = format!("<feedback>\nRejected: {reason}\n</feedback>");
    for call in new_calls {
        assert!(
            call.prompt.contains(&needle),
            "{:?}: {}",
            call.role,
            call.prompt
        );
    }
    for call in &calls[..before] {
        assert!(!call.prompt.contains("<feedback>"));
    }
}

#[tokio::test]
async fn a_session_at_the_gate_or_running_is_not_retryable() {
    let rig = rig(vec![unsure_coder(ProviderKind::Claude)]).await;
    let played = play(&rig).await;
    assert!(matches!(
        rig.conductor.retry(rig.user, played.session.id).await,
        Err(ConductorError::NotRetryable {
            status: SessionStatus::AwaitingReview
        })
    ));
    assert!(matches!(
        rig.conductor.retry(rig.user, Uuid::new_v4()).await,
        Err(ConductorError::SessionNotFound)
    ));
}

#[tokio::test]
async fn the_free_tier_refuses_a_second_start_with_nothing_left_reserved() {
    let rig = rig(vec![Scripted::good(ProviderKind::Claude)]).await;
    let first = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .unwrap();
    let held = rig.store.budget(rig.user).reserved_tokens;
    assert_eq!(held, first.job.reservation().amount);

    let err = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ConductorError::TooManySessions { limit: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("1 of your sessions is already playing")
    );
    // Only the first session's reservation is held; the refused one was
    // released and its session never stored.
    assert_eq!(rig.store.budget(rig.user).reserved_tokens, held);
    assert_eq!(rig.store.open_reservations(), 1);
    assert_eq!(rig.store.state.lock().unwrap().sessions.len(), 1);

    // Once the first ends, a start is allowed again.
    rig.conductor.run(first.job).await.unwrap();
    assert!(
        rig.conductor
            .start(rig.user, rig.task, intent())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn someone_elses_task_or_session_is_not_found() {
    let rig = rig(vec![Scripted::good(ProviderKind::Claude)]).await;
    let stranger = Uuid::new_v4();
    assert!(matches!(
        rig.conductor.start(stranger, rig.task, intent()).await,
        Err(ConductorError::TaskNotFound)
    ));
    let played = play(&rig).await;
    assert!(matches!(
        rig.conductor.session(stranger, played.session.id).await,
        Err(ConductorError::SessionNotFound)
    ));
}

#[tokio::test]
async fn no_provider_means_no_session_and_nothing_reserved() {
    let rig = rig(Vec::new()).await;
    assert!(matches!(
        rig.conductor.start(rig.user, rig.task, intent()).await,
        Err(ConductorError::NoProvider(_))
    ));
    assert_eq!(rig.store.budget(rig.user).reserved_tokens, 0);
    assert!(rig.store.state.lock().unwrap().sessions.is_empty());
}

#[tokio::test]
async fn a_month_too_small_refuses_the_start_with_its_event() {
    let rig = rig(vec![Scripted::good(ProviderKind::Claude)]).await;
    rig.store
        .edit_budget(rig.user, |b| b.used_this_month = b.monthly_limit - 10);
    let err = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ConductorError::Budget(_)), "{err:?}");
    let budget = rig.store.budget(rig.user);
    assert_eq!(budget.reserved_tokens, 0);
    assert_eq!(rig.store.event_types(budget.id), ["TokenBudgetExceeded"]);
}

#[tokio::test]
async fn abandoned_sessions_fail_and_release_their_reservations() {
    let rig = rig(vec![Scripted::good(ProviderKind::Claude)]).await;
    let started = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .unwrap();
    let id = started.session.id;
    // A live run is never that old: nothing is failed yet.
    assert_eq!(rig.conductor.fail_abandoned(Utc::now()).await.unwrap(), 0);
    let later = Utc::now() + rig.conductor.longest_run() + chrono::Duration::seconds(1);
    assert_eq!(rig.conductor.fail_abandoned(later).await.unwrap(), 1);
    let session = rig.store.session(id);
    assert_eq!(session.status, SessionStatus::Failed);
    assert!(
        session
            .failure
            .as_deref()
            .unwrap()
            .starts_with("interrupted")
    );
    assert_eq!(rig.store.budget(rig.user).reserved_tokens, 0);
    assert_eq!(rig.store.open_reservations(), 0);
    // Idempotent: it is no longer executing.
    assert_eq!(rig.conductor.fail_abandoned(later).await.unwrap(), 0);
}

#[tokio::test]
async fn a_step_whose_status_moved_is_refused_whole() {
    use crate::sessions::{SessionError, SessionRepository, SessionStep, StatusMove};
    let rig = rig(vec![Scripted::good(ProviderKind::Claude)]).await;
    let started = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .unwrap();
    let id = started.session.id;
    let reservation = started.job.reservation().id;
    let before = rig.store.budget(rig.user);
    let events = rig.store.event_types(id);
    // A last step that expects the session still pending: it is executing.
    let err = rig
        .store
        .commit(SessionStep {
            charge: Some((reservation, 100)),
            status: Some(StatusMove {
                from: SessionStatus::Pending,
                to: SessionStatus::Failed,
                failure: Some("never"),
            }),
            release: Some(reservation),
            ..SessionStep::new(id, Utc::now(), &[])
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Conflict {
                actual: SessionStatus::Executing
            }
        ),
        "{err:?}"
    );
    // Nothing of it was written: no charge, no release, no move.
    assert_eq!(rig.store.budget(rig.user), before);
    assert!(rig.store.reservation(reservation).open);
    assert_eq!(rig.store.session(id).status, SessionStatus::Executing);
    assert_eq!(rig.store.event_types(id), events);
    // The run still plays to its end on the intact reservation.
    assert_eq!(
        rig.conductor.run(started.job).await.unwrap(),
        SessionStatus::AwaitingReview
    );
}

/// Answers like [`Scripted::good`], but a request is *sent* only once a
/// task of its own has run, as a pooled HTTP connection writes it from
/// its connection task; the answer comes `LATENCY` after that.
struct Wired {
    log: Arc<std::sync::Mutex<Vec<String>>>,
    answers: Arc<Scripted>,
}

const LATENCY: Duration = Duration::from_millis(20);

#[async_trait::async_trait]
impl crate::band::AiProvider for Wired {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Claude
    }

    fn name(&self) -> &str {
        "wired"
    }

    async fn complete(
        &self,
        request: &crate::band::AiRequest,
    ) -> Result<crate::band::Completion, ProviderError> {
        let role = crate::testing::band::role_of(request);
        let log = self.log.clone();
        let (answered, answer) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            log.lock().unwrap().push(format!("{} sent", role.as_str()));
            tokio::time::sleep(LATENCY).await;
            let _ = answered.send(());
        });
        answer.await.unwrap();
        self.answers.complete(request).await
    }

    async fn stream(
        &self,
        request: &crate::band::AiRequest,
        sink: &dyn crate::band::DeltaSink,
    ) -> Result<crate::band::Completion, ProviderError> {
        let completion = self.complete(request).await?;
        sink.delta(&completion.content);
        Ok(completion)
    }

    async fn health(&self) -> Result<(), ProviderError> {
        Ok(())
    }

    fn rate_limit_status(&self) -> crate::band::RateLimitStatus {
        crate::band::RateLimitStatus::default()
    }
}

/// The store, logging each step the run commits.
struct Logged {
    log: Arc<std::sync::Mutex<Vec<String>>>,
    inner: Arc<dyn crate::sessions::SessionRepository>,
}

#[async_trait::async_trait]
impl crate::sessions::SessionRepository for Logged {
    async fn create(
        &self,
        session: &AiSession,
        events: &[crate::events::EventEnvelope],
        running_limit: u32,
    ) -> Result<(), crate::sessions::SessionError> {
        self.inner.create(session, events, running_limit).await
    }

    async fn commit(
        &self,
        step: crate::sessions::SessionStep<'_>,
    ) -> Result<(), crate::sessions::SessionError> {
        let stored = format!("{} calls stored", step.invocations.len());
        self.inner.commit(step).await?;
        self.log.lock().unwrap().push(stored);
        Ok(())
    }

    async fn find(
        &self,
        owner_id: Uuid,
        id: Uuid,
    ) -> Result<Option<(AiSession, Vec<AgentInvocation>)>, crate::sessions::SessionError> {
        self.inner.find(owner_id, id).await
    }

    async fn unfinished(&self) -> Result<Vec<AiSession>, crate::sessions::SessionError> {
        self.inner.unfinished().await
    }
}

/// What the conductor's scheduling promises, on the runtime the server
/// uses (tokio, multi-threaded; one worker, as in the benchmark): the
/// first round is stored only once the synthesis request has been sent,
/// so the store's work never holds that request back. The coder's and the
/// designer's requests leave in whichever order the runtime writes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn the_synthesis_request_leaves_before_the_first_round_is_stored() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let wired = Arc::new(Wired {
        log: log.clone(),
        answers: Scripted::good(ProviderKind::Claude),
    });
    let mut rig = crate::testing::band::rig_of(vec![wired], Default::default()).await;
    rig.conductor.sessions = Arc::new(Logged {
        log: log.clone(),
        inner: rig.conductor.sessions.clone(),
    });
    let started = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .unwrap();
    let conductor = rig.conductor.clone();
    // On the worker, as the runner plays a job (the test's own thread is
    // not one of the runtime's workers).
    let status = tokio::spawn(async move { conductor.run(started.job).await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, SessionStatus::AwaitingReview);
    let mut log = log.lock().unwrap().clone();
    log[..2].sort();
    assert_eq!(
        log,
        [
            "coder sent",
            "designer sent",
            "reviewer sent",
            "conductor sent",
            "3 calls stored",
            "1 calls stored",
        ]
    );
}
