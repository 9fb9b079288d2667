//! Storage port for tasks. Every write carries its event(s).

use async_trait::async_trait;
use uuid::Uuid;

use super::{Task, TaskError, TaskQuery};
use crate::events::EventEnvelope;
use crate::pagination::{Page, PageRequest};

#[async_trait]
pub trait TaskRepository: Send + Sync {
    /// # Errors
    /// `ProjectNotFound` if the project vanished meanwhile; `Unexpected` otherwise.
    async fn insert(&self, task: &Task, event: &EventEnvelope) -> Result<(), TaskError>;

    /// Overwrites the task's mutable fields.
    ///
    /// # Errors
    /// `NotFound` if it vanished meanwhile; `Unexpected` otherwise.
    async fn update(&self, task: &Task, events: &[EventEnvelope]) -> Result<(), TaskError>;

    /// Writes `after`'s status, AI fields and `progressed_at` over the task
    /// **only if** it is still as `before` (same `updated_at`): a run's
    /// progress never overwrites a change it did not see. `false` when the
    /// task changed meanwhile or vanished; then nothing is written.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn update_if_unchanged(
        &self,
        before: &Task,
        after: &Task,
        events: &[EventEnvelope],
    ) -> Result<bool, TaskError>;

    /// # Errors
    /// `NotFound` if it vanished meanwhile; `Unexpected` otherwise.
    async fn delete(&self, task: &Task, event: &EventEnvelope) -> Result<(), TaskError>;

    /// The task if it exists **and** its project belongs to `owner_id`.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn find(&self, owner_id: Uuid, id: Uuid) -> Result<Option<Task>, TaskError>;

    /// Tasks of one project matching `query`, oldest first. The caller has
    /// already checked the project belongs to the user.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn list(&self, project_id: Uuid, query: &TaskQuery) -> Result<Vec<Task>, TaskError>;

    /// One page of `list`: the same filter and order (oldest first, ties
    /// by id ascending), resuming after `page.after()`, whose `at` is a
    /// `created_at`. A page's `next` is the key of its last task.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn page(
        &self,
        project_id: Uuid,
        query: &TaskQuery,
        page: &PageRequest,
    ) -> Result<Page<Task>, TaskError>;

    /// How many tasks of the project match `query`.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn count(&self, project_id: Uuid, query: &TaskQuery) -> Result<u64, TaskError>;
}
