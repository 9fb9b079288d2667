//! Storage port for projects. Every write carries the event(s) to append in
//! the same transaction.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Project, ProjectError};
use crate::events::EventEnvelope;
use crate::pagination::{Page, PageRequest};

#[async_trait]
pub trait ProjectRepository: Send + Sync {
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn insert(&self, project: &Project, event: &EventEnvelope) -> Result<(), ProjectError>;

    /// Overwrites the project's mutable fields.
    ///
    /// # Errors
    /// `NotFound` if it vanished meanwhile; `Unexpected` on storage failure.
    async fn update(&self, project: &Project, events: &[EventEnvelope])
    -> Result<(), ProjectError>;

    /// Deletes the project and its tasks.
    ///
    /// # Errors
    /// `NotFound` if `owner_id` has no such project; `Unexpected` otherwise.
    async fn delete(
        &self,
        owner_id: Uuid,
        id: Uuid,
        event: &EventEnvelope,
    ) -> Result<(), ProjectError>;

    /// The project if it exists **and** belongs to `owner_id`.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn find(&self, owner_id: Uuid, id: Uuid) -> Result<Option<Project>, ProjectError>;

    /// The owner's projects, most recently updated first.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn list(&self, owner_id: Uuid) -> Result<Vec<Project>, ProjectError>;

    /// One page of `list`: the same order (most recently updated first,
    /// ties by id ascending), resuming after `page.after()`, whose `at` is
    /// an `updated_at`. A page's `next` is the key of its last project.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn page(&self, owner_id: Uuid, page: &PageRequest)
    -> Result<Page<Project>, ProjectError>;

    /// How many projects the owner has.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn count(&self, owner_id: Uuid) -> Result<u64, ProjectError>;
}
