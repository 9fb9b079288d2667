//! The review workflow over the in-memory store and a scripted band
//! (`testing::band`): what each decision moves — the review, the session,
//! the budget, the task — and how repeats, stale views and expiry are
//! answered, without a database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::{
    Decision, InterventionFilter, InterventionType, NextAction, ReviewError, ReviewKind,
    ReviewStatus,
};
use crate::band::{AgentRole, ProviderKind};
use crate::sessions::{AiSession, SessionStatus};
use crate::tasks::TaskStatus;
use crate::testing::band::{CODER_UNSURE, Rig, Scripted, Step, good_answer, intent, rig};

fn unsure(kind: ProviderKind) -> Arc<Scripted> {
    Scripted::new(kind, |role| match role {
        AgentRole::Coder => Step::Answer(CODER_UNSURE),
        other => Step::Answer(good_answer(other)),
    })
}

fn approve() -> Decision {
    Decision::Approve { comment: None }
}

/// Plays one session to its review; answers the session and the review.
async fn to_review(rig: &Rig) -> (AiSession, Uuid) {
    let started = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .unwrap();
    let status = rig.conductor.run(started.job).await.unwrap();
    assert_eq!(status, SessionStatus::AwaitingReview);
    let open = rig
        .reviews
        .open_review_of(rig.user, started.session.id)
        .await;
    (rig.store.session(started.session.id), open.unwrap().id)
}

fn task_status(rig: &Rig) -> TaskStatus {
    rig.memory.tasks.lock().unwrap()[&rig.task].status
}

#[tokio::test]
async fn approval_at_the_gate_plays_the_synthesis_to_final_approval() {
    let claude = unsure(ProviderKind::Claude);
    let rig = rig(vec![claude.clone()]).await;
    let (session, gate) = to_review(&rig).await;

    let opened = rig.reviews.open_review(rig.user, gate).await.unwrap();
    assert_eq!(opened.review.kind, ReviewKind::Gate);
    assert_eq!(opened.review.status, ReviewStatus::UnderReview);
    assert!(
        opened
            .outputs
            .iter()
            .all(|o| o.role != AgentRole::Conductor)
    );
    assert!(
        rig.store
            .event_types(session.id)
            .contains(&"HumanReviewStarted")
    );

    let decided = rig
        .reviews
        .decide(rig.user, gate, approve(), Some(&opened.output_hash))
        .await
        .unwrap();
    assert_eq!(decided.status, ReviewStatus::Approved);
    assert_eq!(decided.next_action, NextAction::Synthesis);
    assert!(!decided.replayed);
    let job = decided.job.unwrap();
    // The synthesis is reserved for in the decision's own step.
    let resumed = rig.store.session(session.id);
    assert_eq!(resumed.status, SessionStatus::Executing);
    assert!(resumed.resumed_at.is_some());
    assert_eq!(resumed.reservation_id, Some(job.reservation().id));
    assert_eq!(
        rig.store.budget(rig.user).reserved_tokens,
        job.reservation().amount
    );

    let status = rig.conductor.run(job).await.unwrap();
    assert_eq!(status, SessionStatus::AwaitingReview);
    let (after, calls, reviews) = rig.conductor.session(rig.user, session.id).await.unwrap();
    assert_eq!(reviews.len(), 2);
    assert_eq!(reviews[0].status, ReviewStatus::Approved);
    assert_eq!(reviews[1].kind, ReviewKind::FinalApproval);
    assert_eq!(reviews[1].status, ReviewStatus::PendingReview);
    let synthesis: Vec<_> = calls
        .iter()
        .filter(|c| c.role == AgentRole::Conductor)
        .collect();
    assert_eq!(synthesis.len(), 1);
    assert!(synthesis[0].prompt.contains("The coder said:"));
    // Both reservations settled exactly, nothing left held.
    let charged: i64 = calls.iter().map(|c| c.tokens_used).sum();
    let budget = rig.store.budget(rig.user);
    assert_eq!(budget.reserved_tokens, 0);
    assert_eq!(budget.used_this_month, charged);
    assert_eq!(after.total_tokens_used, charged);
    assert_eq!(rig.store.open_reservations(), 0);

    let done = rig
        .reviews
        .decide(rig.user, reviews[1].id, approve(), None)
        .await
        .unwrap();
    assert_eq!(done.next_action, NextAction::Completed);
    assert_eq!(
        rig.store.session(session.id).status,
        SessionStatus::Completed
    );
    rig.react_progress().await;
    assert_eq!(task_status(&rig), TaskStatus::Done);
}

#[tokio::test]
async fn final_approval_completes_the_session_and_moves_the_task_to_done() {
    let rig = rig(vec![Scripted::good(ProviderKind::Claude)]).await;
    let (session, review) = to_review(&rig).await;
    let detail = rig.reviews.review(rig.user, review).await.unwrap();
    assert_eq!(detail.review.kind, ReviewKind::FinalApproval);
    assert_eq!(detail.outputs.len(), 1);
    assert_eq!(detail.outputs[0].role, AgentRole::Conductor);
    assert_ne!(task_status(&rig), TaskStatus::Done);
    let used = rig.store.budget(rig.user).used_this_month;

    let decided = rig
        .reviews
        .decide(
            rig.user,
            review,
            Decision::Approve {
                comment: Some("  ship it  ".into()),
            },
            Some(&detail.output_hash),
        )
        .await
        .unwrap();
    assert_eq!(decided.next_action, NextAction::Completed);
    assert!(decided.job.is_none());
    let after = rig.store.session(session.id);
    assert_eq!(after.status, SessionStatus::Completed);
    assert!(after.completed_at.is_some());
    // The card moves by reaction to the completion, not in the decision.
    assert_ne!(task_status(&rig), TaskStatus::Done);
    rig.react_progress().await;
    assert_eq!(task_status(&rig), TaskStatus::Done);
    assert!(rig.memory.event_types().contains(&"TaskMoved"));
    // A decision spends nothing.
    assert_eq!(rig.store.budget(rig.user).used_this_month, used);
    assert_eq!(rig.store.open_reservations(), 0);

    let (points, stats) = rig
        .reviews
        .interventions(rig.user, &InterventionFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].kind, InterventionType::Approval);
    assert_eq!(points[0].reason, "ship it");
    assert_eq!(points[0].context.review_kind, ReviewKind::FinalApproval);
    assert_eq!(points[0].session_id, session.id);
    let _ = stats;
    assert!(rig.reviews.open_reviews(rig.user).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_rejection_needs_a_reason_and_fails_the_session() {
    let rig = rig(vec![unsure(ProviderKind::Claude)]).await;
    let (session, gate) = to_review(&rig).await;

    let err = rig
        .reviews
        .decide(
            rig.user,
            gate,
            Decision::Reject {
                reason: "   ".into(),
            },
            None,
        )
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, ReviewError::InvalidField(f) if f.field == "reason"),
        "{err:?}"
    );
    assert_eq!(
        rig.store.session(session.id).status,
        SessionStatus::AwaitingReview
    );

    let decided = rig
        .reviews
        .decide(
            rig.user,
            gate,
            Decision::Reject {
                reason: "too risky".into(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(decided.status, ReviewStatus::Rejected);
    assert_eq!(decided.next_action, NextAction::Stopped);
    assert!(decided.job.is_none());
    let after = rig.store.session(session.id);
    assert_eq!(after.status, SessionStatus::Failed);
    assert_eq!(
        after.failure.as_deref(),
        Some("rejected by the reviewer: too risky")
    );
    rig.react_progress().await;
    assert_ne!(task_status(&rig), TaskStatus::Done);
    let (points, _) = rig
        .reviews
        .interventions(
            rig.user,
            &InterventionFilter {
                kind: Some(InterventionType::Rejection),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].reason, "too risky");
    // The least confident output is the one the rejection is about.
    assert_eq!(points[0].role, AgentRole::Coder);
}

#[tokio::test]
async fn a_stale_output_hash_is_refused_and_nothing_changes() {
    let rig = rig(vec![unsure(ProviderKind::Claude)]).await;
    let (session, gate) = to_review(&rig).await;
    let events = rig.store.event_types(session.id);
    let err = rig
        .reviews
        .decide(rig.user, gate, approve(), Some("deadbeef"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ReviewError::Stale), "{err:?}");
    assert_eq!(rig.store.event_types(session.id), events);
    assert_eq!(
        rig.store.session(session.id).status,
        SessionStatus::AwaitingReview
    );
    assert_eq!(rig.store.open_reservations(), 0);
}

#[tokio::test]
async fn a_repeated_decision_is_a_replay_and_a_different_one_is_refused() {
    let rig = rig(vec![unsure(ProviderKind::Claude)]).await;
    let (session, gate) = to_review(&rig).await;
    let first = rig
        .reviews
        .decide(rig.user, gate, approve(), None)
        .await
        .unwrap();
    assert!(first.job.is_some());
    let reserved = rig.store.budget(rig.user).reserved_tokens;
    let events = rig.store.event_types(session.id);

    let again = rig
        .reviews
        .decide(rig.user, gate, approve(), None)
        .await
        .unwrap();
    assert!(again.replayed);
    assert!(again.job.is_none(), "a replay sets nothing going again");
    assert_eq!(again.status, ReviewStatus::Approved);
    assert_eq!(again.next_action, NextAction::Synthesis);
    assert_eq!(rig.store.budget(rig.user).reserved_tokens, reserved);
    assert_eq!(rig.store.open_reservations(), 1);
    assert_eq!(rig.store.event_types(session.id), events);

    let err = rig
        .reviews
        .decide(
            rig.user,
            gate,
            Decision::Reject {
                reason: "changed my mind".into(),
            },
            None,
        )
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            ReviewError::AlreadyDecided {
                status: ReviewStatus::Approved
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        rig.store.session(session.id).status,
        SessionStatus::Executing
    );
}

#[tokio::test]
async fn an_overdue_review_expires_and_fails_its_session() {
    let rig = rig(vec![unsure(ProviderKind::Claude)]).await;
    let (session, gate) = to_review(&rig).await;
    assert_eq!(rig.reviews.expire_overdue(Utc::now()).await.unwrap(), 0);

    let later = Utc::now() + chrono::Duration::hours(25);
    assert_eq!(rig.reviews.expire_overdue(later).await.unwrap(), 1);
    let after = rig.store.session(session.id);
    assert_eq!(after.status, SessionStatus::Failed);
    assert!(after.failure.as_deref().unwrap().contains("expired"));
    let detail = rig.reviews.review(rig.user, gate).await.unwrap();
    assert_eq!(detail.review.status, ReviewStatus::Expired);
    assert!(detail.decision.is_none());
    assert!(rig.store.event_types(session.id).contains(&"ReviewExpired"));
    // Once only; and a late decision is told why.
    assert_eq!(rig.reviews.expire_overdue(later).await.unwrap(), 0);
    assert!(matches!(
        rig.reviews.decide(rig.user, gate, approve(), None).await,
        Err(ReviewError::Expired)
    ));
    // An expired session can be run again.
    assert!(rig.conductor.retry(rig.user, session.id).await.is_ok());
}

#[tokio::test]
async fn an_edit_at_the_gate_reaches_the_synthesis() {
    let claude = unsure(ProviderKind::Claude);
    let rig = rig(vec![claude.clone()]).await;
    let (_, gate) = to_review(&rig).await;
    let edit = "pub fn login(email: &str, password: &str) -> bool { verify(email, password) }";

    // The gate shows no synthesis to edit.
    let err = rig
        .reviews
        .decide(
            rig.user,
            gate,
            Decision::Modify {
                outputs: BTreeMap::from([(AgentRole::Conductor, "x".to_owned())]),
                comment: None,
            },
            None,
        )
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, ReviewError::InvalidField(f) if f.field == "modifications"),
        "{err:?}"
    );

    let decided = rig
        .reviews
        .decide(
            rig.user,
            gate,
            Decision::Modify {
                outputs: BTreeMap::from([(AgentRole::Coder, edit.to_owned())]),
                comment: Some("use the verifier".into()),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(decided.status, ReviewStatus::Modified);
    rig.conductor.run(decided.job.unwrap()).await.unwrap();
    let synthesis = claude
        .calls()
        .into_iter()
        .find(|c| c.role == AgentRole::Conductor)
        .unwrap();
    assert!(synthesis.prompt.contains(edit));
    assert!(!synthesis.prompt.contains("todo!()"));
}

#[tokio::test]
async fn playing_on_past_the_month_is_refused_and_the_review_stays_open() {
    let rig = rig(vec![unsure(ProviderKind::Claude)]).await;
    let (session, gate) = to_review(&rig).await;
    rig.store
        .edit_budget(rig.user, |b| b.used_this_month = b.monthly_limit - 5);
    let err = rig
        .reviews
        .decide(rig.user, gate, approve(), None)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ReviewError::Budget(_)), "{err:?}");
    let detail = rig.reviews.review(rig.user, gate).await.unwrap();
    assert!(detail.review.status.is_open());
    assert_eq!(
        rig.store.session(session.id).status,
        SessionStatus::AwaitingReview
    );
    assert_eq!(rig.store.budget(rig.user).reserved_tokens, 0);
}

#[tokio::test]
async fn someone_elses_review_is_not_found() {
    let rig = rig(vec![unsure(ProviderKind::Claude)]).await;
    let (_, gate) = to_review(&rig).await;
    let stranger = Uuid::new_v4();
    assert!(matches!(
        rig.reviews.review(stranger, gate).await,
        Err(ReviewError::NotFound)
    ));
    assert!(matches!(
        rig.reviews.decide(stranger, gate, approve(), None).await,
        Err(ReviewError::NotFound)
    ));
    assert!(rig.reviews.open_reviews(stranger).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_decision_on_a_session_moved_elsewhere_writes_nothing() {
    use crate::sessions::SessionRepository;
    let rig = rig(vec![unsure(ProviderKind::Claude)]).await;
    let (session, gate) = to_review(&rig).await;
    // Another path (an operator, another instance) failed the session.
    rig.store
        .transition(
            session.id,
            SessionStatus::AwaitingReview,
            SessionStatus::Failed,
            Some("failed elsewhere"),
            Utc::now(),
            &[],
        )
        .await
        .unwrap();
    let events = rig.store.event_types(session.id);
    let err = rig
        .reviews
        .decide(rig.user, gate, approve(), None)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            ReviewError::SessionMoved {
                actual: SessionStatus::Failed
            }
        ),
        "{err:?}"
    );
    // The review's move was part of the refused step: it stays open,
    // with no decision, no intervention and no reservation.
    let detail = rig.reviews.review(rig.user, gate).await.unwrap();
    assert!(detail.review.status.is_open());
    assert!(detail.decision.is_none());
    let (points, _) = rig
        .reviews
        .interventions(rig.user, &InterventionFilter::default(), 10)
        .await
        .unwrap();
    assert!(points.is_empty());
    assert_eq!(rig.store.open_reservations(), 0);
    assert_eq!(rig.store.budget(rig.user).reserved_tokens, 0);
    assert_eq!(rig.store.event_types(session.id), events);
}

#[tokio::test]
async fn interventions_filter_by_session_and_count_them_all() {
    let rig = rig(vec![unsure(ProviderKind::Claude)]).await;
    let reject = |why: &str| Decision::Reject { reason: why.into() };
    let (first, gate) = to_review(&rig).await;
    rig.reviews
        .decide(rig.user, gate, reject("one"), None)
        .await
        .unwrap();
    let (second, gate) = to_review(&rig).await;
    rig.reviews
        .decide(rig.user, gate, reject("two"), None)
        .await
        .unwrap();

    let only = |session_id| InterventionFilter {
        session_id: Some(session_id),
        ..Default::default()
    };
    let (points, stats) = rig
        .reviews
        .interventions(rig.user, &only(first.id), 10)
        .await
        .unwrap();
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].session_id, first.id);
    assert_eq!(points[0].reason, "one");
    // The rates are over every intervention, whatever the filter.
    let (all, all_stats) = rig
        .reviews
        .interventions(rig.user, &InterventionFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].session_id, second.id, "newest first");
    assert_eq!(format!("{stats:?}"), format!("{all_stats:?}"));
}
