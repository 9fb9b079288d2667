//! The reaction that applies a run's progress to its task.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use super::Stage;
use crate::events::{
    AggregateType, ConsumerGroup, DomainEvent, EventEnvelope, Reaction, ReactionError, StoredEvent,
};
use crate::sessions::{SessionError, SessionRepository};
use crate::tasks::{TaskError, TaskRepository};

/// How often a handler reads the task again when it changed between the
/// read and the conditional write, before handing the event back to be
/// retried later.
const ATTEMPTS: usize = 3;

/// Moves a run's card and sets its task's AI fields (see the module).
/// Idempotent: applying an event twice finds nothing left to change.
pub struct TaskProgressReaction {
    sessions: Arc<dyn SessionRepository>,
    tasks: Arc<dyn TaskRepository>,
}

impl TaskProgressReaction {
    pub fn new(sessions: Arc<dyn SessionRepository>, tasks: Arc<dyn TaskRepository>) -> Self {
        Self { sessions, tasks }
    }
}

#[async_trait]
impl Reaction for TaskProgressReaction {
    fn name(&self) -> ConsumerGroup {
        ConsumerGroup::TASK_PROGRESS
    }

    fn wants(&self, event: &DomainEvent) -> bool {
        Stage::of(event).is_some()
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), ReactionError> {
        let Some((session_id, stage)) = Stage::of(&event.envelope.event) else {
            return Ok(());
        };
        // Run events always name their user; one without has no task to move.
        let Some(user) = event.envelope.user_id else {
            return Ok(());
        };
        let Some((session, _)) = self
            .sessions
            .find(user, session_id)
            .await
            .map_err(session_failure)?
        else {
            return Ok(());
        };
        let Some(task_id) = session.task_id else {
            return Ok(());
        };
        for _ in 0..ATTEMPTS {
            // A deleted task has nowhere to move.
            let Some(task) = self.tasks.find(user, task_id).await.map_err(task_failure)? else {
                return Ok(());
            };
            let Some((after, events)) =
                stage.apply(&session, &task, event.envelope.timestamp, Utc::now())
            else {
                return Ok(());
            };
            let envelopes: Vec<EventEnvelope> = events
                .into_iter()
                .map(|e| {
                    EventEnvelope::new(AggregateType::Task, task.id, user, after.updated_at, e)
                })
                .collect();
            if self
                .tasks
                .update_if_unchanged(&task, &after, &envelopes)
                .await
                .map_err(task_failure)?
            {
                return Ok(());
            }
        }
        Err(ReactionError::Failed(
            "the task kept changing while its progress was applied".to_owned(),
        ))
    }
}

fn session_failure(e: SessionError) -> ReactionError {
    match e {
        SessionError::Unexpected(e) => ReactionError::Unexpected(e),
        other => ReactionError::Failed(other.to_string()),
    }
}

fn task_failure(e: TaskError) -> ReactionError {
    match e {
        TaskError::Unexpected(e) => ReactionError::Unexpected(e),
        other => ReactionError::Failed(other.to_string()),
    }
}
