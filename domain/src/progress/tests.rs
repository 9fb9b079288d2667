//! Task progress over the in-memory store and a scripted band: the card
//! follows the run, the AI fields follow the session, and a human's move
//! always wins.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use super::Stage;
use crate::band::{AgentRole, ProviderKind};
use crate::events::DomainEvent;
use crate::reviews::Decision;
use crate::sessions::{AiSession, SessionStatus};
use crate::tasks::{TaskPatch, TaskStatus};
use crate::testing::band::{CODER_UNSURE, Rig, Scripted, Step, good_answer, intent, rig};

fn unsure(kind: ProviderKind) -> Arc<Scripted> {
    Scripted::new(kind, |role| match role {
        AgentRole::Coder => Step::Answer(CODER_UNSURE),
        other => Step::Answer(good_answer(other)),
    })
}

/// Starts a session on the rig's task without playing it.
async fn start(rig: &Rig) -> (AiSession, crate::sessions::SessionJob) {
    let started = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .unwrap();
    (started.session, started.job)
}

async fn open_review(rig: &Rig, session: &AiSession) -> uuid::Uuid {
    rig.reviews
        .open_review_of(rig.user, session.id)
        .await
        .unwrap()
        .id
}

async fn human_moves(rig: &Rig, to: TaskStatus) {
    rig.conductor
        .tasks
        .update(
            rig.user,
            rig.task,
            TaskPatch {
                status: Some(to),
                ..TaskPatch::default()
            },
        )
        .await
        .unwrap();
}

/// The task's moves as (from, to, by a run?), in order.
fn moves(rig: &Rig) -> Vec<(TaskStatus, TaskStatus, bool)> {
    rig.memory
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.event {
            DomainEvent::TaskMoved {
                from,
                to,
                by_session,
                ..
            } => Some((*from, *to, by_session.is_some())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_card_follows_the_run_to_done_and_the_ai_fields_follow_the_session() {
    let rig = rig(vec![Scripted::good(ProviderKind::Claude)]).await;
    let (session, job) = start(&rig).await;
    rig.react_progress().await;
    let task = rig.task();
    assert_eq!(task.status, TaskStatus::InProgress);
    assert_eq!(task.assigned_ai_agent.as_deref(), Some("claude"));
    assert!(!task.ai_generated);

    assert_eq!(
        rig.conductor.run(job).await.unwrap(),
        SessionStatus::AwaitingReview
    );
    rig.react_progress().await;
    let task = rig.task();
    assert_eq!(task.status, TaskStatus::Review);
    assert!(task.ai_generated);
    assert!(task.human_review_required);
    let confidence = task.confidence_score.unwrap();
    assert!((0.0..=1.0).contains(&confidence));

    let review = open_review(&rig, &session).await;
    rig.reviews
        .decide(rig.user, review, Decision::Approve { comment: None }, None)
        .await
        .unwrap();
    rig.react_progress().await;
    let task = rig.task();
    assert_eq!(task.status, TaskStatus::Done);
    assert!(!task.human_review_required);
    assert_eq!(
        moves(&rig),
        [
            (TaskStatus::Todo, TaskStatus::InProgress, true),
            (TaskStatus::InProgress, TaskStatus::Review, true),
            (TaskStatus::Review, TaskStatus::Done, true),
        ],
        "each move once, though every event was handed over again and again"
    );
    assert!(rig.memory.event_types().contains(&"TaskUpdated"));
}

#[tokio::test]
async fn a_card_the_human_moved_since_the_start_stays_until_final_approval() {
    let rig = rig(vec![unsure(ProviderKind::Claude)]).await;
    let (session, job) = start(&rig).await;
    rig.react_progress().await;
    assert_eq!(rig.task().status, TaskStatus::InProgress);
    human_moves(&rig, TaskStatus::Todo).await;

    assert_eq!(
        rig.conductor.run(job).await.unwrap(),
        SessionStatus::AwaitingReview
    );
    rig.react_progress().await;
    let task = rig.task();
    assert_eq!(task.status, TaskStatus::Todo, "where the human put it");
    assert!(task.human_review_required, "the AI fields still follow");

    // Approval at the gate plays on: still no move over the human's.
    let gate = open_review(&rig, &session).await;
    let decided = rig
        .reviews
        .decide(rig.user, gate, Decision::Approve { comment: None }, None)
        .await
        .unwrap();
    rig.conductor.run(decided.job.unwrap()).await.unwrap();
    rig.react_progress().await;
    assert_eq!(rig.task().status, TaskStatus::Todo);

    // Final approval is the human's own act, after their move.
    let last = open_review(&rig, &session).await;
    rig.reviews
        .decide(rig.user, last, Decision::Approve { comment: None }, None)
        .await
        .unwrap();
    rig.react_progress().await;
    assert_eq!(rig.task().status, TaskStatus::Done);
}

#[tokio::test]
async fn a_move_after_the_approval_wins_over_the_late_reaction() {
    let rig = rig(vec![Scripted::good(ProviderKind::Claude)]).await;
    let (session, job) = start(&rig).await;
    rig.conductor.run(job).await.unwrap();
    let review = open_review(&rig, &session).await;
    rig.reviews
        .decide(rig.user, review, Decision::Approve { comment: None }, None)
        .await
        .unwrap();
    // The human takes the card back before the reaction gets to the
    // approval (it never ran: the card is still in To do).
    human_moves(&rig, TaskStatus::InProgress).await;
    rig.react_progress().await;
    let task = rig.task();
    assert_eq!(task.status, TaskStatus::InProgress);
    assert!(task.ai_generated);
    assert!(moves(&rig).iter().all(|(.., by_run)| !by_run));
}

#[tokio::test]
async fn events_handed_over_late_never_undo_newer_ones() {
    let rig = rig(vec![Scripted::good(ProviderKind::Claude)]).await;
    let (_, job) = start(&rig).await;
    rig.conductor.run(job).await.unwrap();
    let mut events = rig.store.state.lock().unwrap().events.clone();
    events.reverse();
    rig.react_progress_to(&events).await;
    let task = rig.task();
    assert_eq!(task.status, TaskStatus::Review);
    assert!(task.human_review_required);
    assert_eq!(
        moves(&rig),
        [(TaskStatus::Todo, TaskStatus::Review, true)],
        "the late start moved nothing"
    );
    assert_eq!(
        task.assigned_ai_agent.as_deref(),
        Some("claude"),
        "but filled in who plays it"
    );
    // Handed over again in order, nothing changes.
    let before = rig.memory.events.lock().unwrap().len();
    rig.react_progress().await;
    assert_eq!(rig.memory.events.lock().unwrap().len(), before);
}

#[tokio::test]
async fn a_rejection_leaves_the_card_and_clears_the_review_flag() {
    let rig = rig(vec![unsure(ProviderKind::Claude)]).await;
    let (session, job) = start(&rig).await;
    rig.conductor.run(job).await.unwrap();
    let gate = open_review(&rig, &session).await;
    rig.reviews
        .decide(
            rig.user,
            gate,
            Decision::Reject {
                reason: "not this way".into(),
            },
            None,
        )
        .await
        .unwrap();
    rig.react_progress().await;
    let task = rig.task();
    assert_eq!(task.status, TaskStatus::Review);
    assert!(!task.human_review_required);
}

#[test]
fn only_run_events_with_a_stage_are_wanted() {
    let session = uuid::Uuid::new_v4();
    let changed = |from, to| DomainEvent::AiSessionStatusChanged {
        session_id: session,
        from,
        to,
        reason: None,
    };
    assert_eq!(
        Stage::of(&changed(
            SessionStatus::AwaitingReview,
            SessionStatus::Executing
        )),
        Some((session, Stage::Resumed))
    );
    assert_eq!(
        Stage::of(&changed(SessionStatus::Executing, SessionStatus::Cancelled)),
        Some((session, Stage::Stopped))
    );
    assert_eq!(
        Stage::of(&changed(SessionStatus::Pending, SessionStatus::Executing)),
        None,
        "the start is told by AiSessionStarted"
    );
    assert_eq!(
        Stage::of(&changed(
            SessionStatus::Executing,
            SessionStatus::AwaitingReview
        )),
        None,
        "the wait is told by HumanReviewRequired, which has the confidence"
    );
}
