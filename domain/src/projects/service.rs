//! Project use cases. Ownership is part of every lookup, so another user's
//! project is simply `NotFound`.

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::model::{project_description, project_name};
use super::{NewProject, Project, ProjectError, ProjectPatch, ProjectRepository, ProjectStatus};
use crate::events::{AggregateType, DomainEvent, EventEnvelope};
use crate::pagination::{Page, PageRequest};

#[derive(Clone)]
pub struct ProjectService {
    projects: Arc<dyn ProjectRepository>,
}

impl ProjectService {
    pub fn new(projects: Arc<dyn ProjectRepository>) -> Self {
        Self { projects }
    }

    /// Every project of the owner, most recently updated first (the UI's
    /// list; the REST API pages with [`ProjectService::page`]).
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    pub async fn list(&self, owner_id: Uuid) -> Result<Vec<Project>, ProjectError> {
        self.projects.list(owner_id).await
    }

    /// One page of [`ProjectService::list`]'s order. Because the order is by
    /// `updated_at`, a project created during a walk lands before the
    /// cursor (not seen in that walk, nothing repeated), and one updated
    /// during it moves there too: seen once at most, but skipped if the
    /// walk had not reached it yet.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    pub async fn page(
        &self,
        owner_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<Project>, ProjectError> {
        self.projects.page(owner_id, page).await
    }

    /// How many projects the owner has in all.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    pub async fn count(&self, owner_id: Uuid) -> Result<u64, ProjectError> {
        self.projects.count(owner_id).await
    }

    /// # Errors
    /// `NotFound` (also for another user's project) or `Unexpected`.
    pub async fn get(&self, owner_id: Uuid, id: Uuid) -> Result<Project, ProjectError> {
        self.projects
            .find(owner_id, id)
            .await?
            .ok_or(ProjectError::NotFound)
    }

    /// # Errors
    /// `InvalidField` naming the bad field, or `Unexpected`.
    pub async fn create(&self, owner_id: Uuid, input: NewProject) -> Result<Project, ProjectError> {
        let now = Utc::now();
        let project = Project {
            id: Uuid::new_v4(),
            owner_id,
            name: project_name(&input.name)?,
            description: project_description(input.description.as_deref().unwrap_or_default())?,
            status: ProjectStatus::Active,
            created_at: now,
            updated_at: now,
        };
        let event = event(
            &project,
            DomainEvent::ProjectCreated {
                project: project.clone(),
            },
        );
        self.projects.insert(&project, &event).await?;
        Ok(project)
    }

    /// Applies a partial update. A change of status to `archived` is recorded
    /// as `ProjectArchived`; other changes as `ProjectUpdated`. An empty or
    /// no-op patch changes nothing and records nothing.
    ///
    /// # Errors
    /// `InvalidField`, `NotFound` or `Unexpected`.
    pub async fn update(
        &self,
        owner_id: Uuid,
        id: Uuid,
        patch: ProjectPatch,
    ) -> Result<Project, ProjectError> {
        let before = self.get(owner_id, id).await?;
        let mut after = before.clone();
        let mut changed = Vec::new();
        if let Some(name) = patch.name {
            after.name = project_name(&name)?;
            if after.name != before.name {
                changed.push("name".to_owned());
            }
        }
        if let Some(description) = patch.description {
            after.description = project_description(&description)?;
            if after.description != before.description {
                changed.push("description".to_owned());
            }
        }
        if let Some(status) = patch.status {
            after.status = status;
            if status != before.status {
                changed.push("status".to_owned());
            }
        }
        if changed.is_empty() {
            return Ok(before);
        }
        after.updated_at = Utc::now();
        let mut events = Vec::new();
        let archived =
            after.status == ProjectStatus::Archived && before.status != ProjectStatus::Archived;
        if archived {
            events.push(event(
                &after,
                DomainEvent::ProjectArchived {
                    project_id: after.id,
                    previous_status: before.status,
                },
            ));
        }
        if !archived || changed.len() > 1 {
            events.push(event(
                &after,
                DomainEvent::ProjectUpdated {
                    project: after.clone(),
                    changed,
                },
            ));
        }
        self.projects.update(&after, &events).await?;
        Ok(after)
    }

    /// Deletes the project and everything in it.
    ///
    /// # Errors
    /// `NotFound` or `Unexpected`.
    pub async fn delete(&self, owner_id: Uuid, id: Uuid) -> Result<(), ProjectError> {
        let project = self.get(owner_id, id).await?;
        let event = event(&project, DomainEvent::ProjectDeleted { project_id: id });
        self.projects.delete(owner_id, id, &event).await
    }
}

fn event(project: &Project, event: DomainEvent) -> EventEnvelope {
    EventEnvelope::new(
        AggregateType::Project,
        project.id,
        project.owner_id,
        Utc::now(),
        event,
    )
}
