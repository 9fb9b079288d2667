//! What a run's event asks of its task, and the rules that decide what
//! of it is applied.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::events::DomainEvent;
use crate::sessions::{AiSession, SessionStatus};
use crate::tasks::{Task, TaskStatus};

/// How far a run has come, as one of its events tells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stage {
    /// The run started.
    Started,
    /// It stopped for a human (at the gate or for final approval).
    AwaitingReview { confidence: f64 },
    /// An approval at the gate set it playing on.
    Resumed,
    /// Final approval delivered its result.
    Completed,
    /// It failed, was rejected, expired or was cancelled.
    Stopped,
}

impl Stage {
    /// The session `event` is about and the stage it marks, if it marks one.
    pub fn of(event: &DomainEvent) -> Option<(Uuid, Self)> {
        match event {
            DomainEvent::AiSessionStarted {
                session_id,
                task_id: Some(_),
                ..
            } => Some((*session_id, Self::Started)),
            DomainEvent::HumanReviewRequired {
                session_id,
                average_confidence,
                ..
            } => Some((
                *session_id,
                Self::AwaitingReview {
                    confidence: *average_confidence,
                },
            )),
            DomainEvent::AiSessionStatusChanged {
                session_id,
                from,
                to,
                ..
            } => {
                let stage = match to {
                    SessionStatus::Executing if *from == SessionStatus::AwaitingReview => {
                        Self::Resumed
                    }
                    SessionStatus::Completed => Self::Completed,
                    SessionStatus::Failed | SessionStatus::Cancelled => Self::Stopped,
                    _ => return None,
                };
                Some((*session_id, stage))
            }
            _ => None,
        }
    }

    /// The column the run moves its card to at this stage.
    fn column(self) -> Option<TaskStatus> {
        match self {
            Self::Started | Self::Resumed => Some(TaskStatus::InProgress),
            Self::AwaitingReview { .. } => Some(TaskStatus::Review),
            Self::Completed => Some(TaskStatus::Done),
            Self::Stopped => None,
        }
    }

    /// `task` as this stage of `session`, which happened `at`, leaves it
    /// (its `updated_at` set to `now`), with the events that say what
    /// changed; `None` when nothing does.
    ///
    /// Events can arrive late and out of order (a retried delivery,
    /// another instance's consumer). One older than the last applied
    /// (`stale`) moves nothing and leaves the review flag alone — a late
    /// "started" must not pull a card back out of Review — but still fills
    /// in what is not known yet (who plays it, how sure the band was), so
    /// the task ends the same whatever order its events came in.
    pub fn apply(
        self,
        session: &AiSession,
        task: &Task,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<(Task, Vec<DomainEvent>)> {
        let stale = task.progressed_at.is_some_and(|last| last > at);
        let mut after = task.clone();
        if !stale
            && let Some(column) = self.column()
            && !self.human_moved_since(session, task, at)
        {
            after.status = column;
        }
        let waiting = match self {
            Self::Started => {
                if !stale || after.assigned_ai_agent.is_none() {
                    after.assigned_ai_agent = Some(session.conductor.as_str().to_owned());
                }
                false
            }
            Self::AwaitingReview { confidence } => {
                after.ai_generated = true;
                if !stale || after.confidence_score.is_none() {
                    after.confidence_score = Some(confidence);
                }
                true
            }
            Self::Completed => {
                after.ai_generated = true;
                false
            }
            Self::Resumed | Self::Stopped => false,
        };
        if !stale {
            after.human_review_required = waiting;
        }
        let changed = changed_fields(task, &after);
        let moved = after.status != task.status;
        if changed.is_empty() && !moved {
            return None;
        }
        after.progressed_at = task.progressed_at.max(Some(at));
        after.updated_at = now;
        let mut events = Vec::new();
        if moved {
            events.push(DomainEvent::TaskMoved {
                task_id: task.id,
                project_id: task.project_id,
                from: task.status,
                to: after.status,
                by_session: Some(session.id),
            });
        }
        if !changed.is_empty() {
            events.push(DomainEvent::TaskUpdated {
                task: after.clone(),
                changed,
            });
        }
        Some((after, events))
    }

    /// Whether a human moved the card after the run started — or, for
    /// final approval (a human's own act), after that approval.
    fn human_moved_since(self, session: &AiSession, task: &Task, at: DateTime<Utc>) -> bool {
        let since = match self {
            Self::Completed => at,
            _ => session.started_at,
        };
        task.human_moved_at.is_some_and(|moved| moved > since)
    }
}

/// The AI fields that differ between `before` and `after`, by name.
fn changed_fields(before: &Task, after: &Task) -> Vec<String> {
    let mut changed = Vec::new();
    if before.assigned_ai_agent != after.assigned_ai_agent {
        changed.push("assigned_ai_agent".to_owned());
    }
    if before.ai_generated != after.ai_generated {
        changed.push("ai_generated".to_owned());
    }
    if before.confidence_score != after.confidence_score {
        changed.push("confidence_score".to_owned());
    }
    if before.human_review_required != after.human_review_required {
        changed.push("human_review_required".to_owned());
    }
    changed
}
