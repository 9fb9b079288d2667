//! Task use cases. Every lookup goes through the owner, so another user's
//! task or project is `NotFound`.

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::model::{task_description, task_title};
use super::{CreatedBy, NewTask, Task, TaskError, TaskPatch, TaskQuery, TaskRepository};
use crate::events::{AggregateType, DomainEvent, EventEnvelope};
use crate::pagination::{Page, PageRequest};
use crate::projects::{Project, ProjectError, ProjectRepository, ProjectStatus};

#[derive(Clone)]
pub struct TaskService {
    projects: Arc<dyn ProjectRepository>,
    tasks: Arc<dyn TaskRepository>,
}

impl TaskService {
    pub fn new(projects: Arc<dyn ProjectRepository>, tasks: Arc<dyn TaskRepository>) -> Self {
        Self { projects, tasks }
    }

    /// Every task of the project matching `query`, oldest first: the board
    /// shows them all. The REST API pages with [`TaskService::page`].
    ///
    /// # Errors
    /// `ProjectNotFound` or `Unexpected`.
    pub async fn list(
        &self,
        owner_id: Uuid,
        project_id: Uuid,
        query: &TaskQuery,
    ) -> Result<Vec<Task>, TaskError> {
        self.project(owner_id, project_id).await?;
        self.tasks.list(project_id, query).await
    }

    /// One page of [`TaskService::list`]. The order is by `created_at`,
    /// which never changes, so moves and edits during a walk disturb
    /// nothing, and tasks created during it come after the cursor (on a
    /// later page) without repeating or skipping the earlier ones.
    ///
    /// # Errors
    /// `ProjectNotFound` or `Unexpected`.
    pub async fn page(
        &self,
        owner_id: Uuid,
        project_id: Uuid,
        query: &TaskQuery,
        page: &PageRequest,
    ) -> Result<Page<Task>, TaskError> {
        self.project(owner_id, project_id).await?;
        self.tasks.page(project_id, query, page).await
    }

    /// How many tasks of the project match `query`, across all pages.
    ///
    /// # Errors
    /// `ProjectNotFound` or `Unexpected`.
    pub async fn count(
        &self,
        owner_id: Uuid,
        project_id: Uuid,
        query: &TaskQuery,
    ) -> Result<u64, TaskError> {
        self.project(owner_id, project_id).await?;
        self.tasks.count(project_id, query).await
    }

    /// # Errors
    /// `NotFound` or `Unexpected`.
    pub async fn get(&self, owner_id: Uuid, id: Uuid) -> Result<Task, TaskError> {
        self.tasks
            .find(owner_id, id)
            .await?
            .ok_or(TaskError::NotFound)
    }

    /// # Errors
    /// `InvalidField`, `ProjectNotFound`, `ProjectArchived` or `Unexpected`.
    pub async fn create(
        &self,
        owner_id: Uuid,
        project_id: Uuid,
        input: NewTask,
    ) -> Result<Task, TaskError> {
        let project = self.writable_project(owner_id, project_id).await?;
        let now = Utc::now();
        let task = Task {
            id: Uuid::new_v4(),
            project_id: project.id,
            title: task_title(&input.title)?,
            description: task_description(input.description.as_deref().unwrap_or_default())?,
            status: input.status.unwrap_or_default(),
            assigned_ai_agent: None,
            ai_generated: false,
            confidence_score: None,
            human_review_required: false,
            created_by: CreatedBy::Human,
            created_at: now,
            updated_at: now,
            human_moved_at: None,
            progressed_at: None,
        };
        let event = event(
            owner_id,
            &task,
            DomainEvent::TaskCreated { task: task.clone() },
        );
        self.tasks.insert(&task, &event).await?;
        Ok(task)
    }

    /// Applies a partial update. A status change is recorded as `TaskMoved`,
    /// other field changes as `TaskUpdated`; a no-op records nothing.
    ///
    /// # Errors
    /// `InvalidField`, `NotFound`, `ProjectArchived` or `Unexpected`.
    pub async fn update(
        &self,
        owner_id: Uuid,
        id: Uuid,
        patch: TaskPatch,
    ) -> Result<Task, TaskError> {
        let before = self.get(owner_id, id).await?;
        let mut after = before.clone();
        let mut changed = Vec::new();
        if let Some(title) = patch.title {
            after.title = task_title(&title)?;
            if after.title != before.title {
                changed.push("title".to_owned());
            }
        }
        if let Some(description) = patch.description {
            after.description = task_description(&description)?;
            if after.description != before.description {
                changed.push("description".to_owned());
            }
        }
        if let Some(status) = patch.status {
            after.status = status;
        }
        let moved = after.status != before.status;
        if changed.is_empty() && !moved {
            return Ok(before);
        }
        self.writable_project(owner_id, before.project_id).await?;
        after.updated_at = Utc::now();
        let mut events = Vec::new();
        if moved {
            // Every move through this service is a human's: runs move cards
            // through `progress`, and never over this.
            after.human_moved_at = Some(after.updated_at);
            events.push(event(
                owner_id,
                &after,
                DomainEvent::TaskMoved {
                    task_id: after.id,
                    project_id: after.project_id,
                    from: before.status,
                    to: after.status,
                    by_session: None,
                },
            ));
        }
        if !changed.is_empty() {
            events.push(event(
                owner_id,
                &after,
                DomainEvent::TaskUpdated {
                    task: after.clone(),
                    changed,
                },
            ));
        }
        self.tasks.update(&after, &events).await?;
        Ok(after)
    }

    /// # Errors
    /// `NotFound`, `ProjectArchived` or `Unexpected`.
    pub async fn delete(&self, owner_id: Uuid, id: Uuid) -> Result<(), TaskError> {
        let task = self.get(owner_id, id).await?;
        self.writable_project(owner_id, task.project_id).await?;
        let event = event(
            owner_id,
            &task,
            DomainEvent::TaskDeleted {
                task_id: task.id,
                project_id: task.project_id,
            },
        );
        self.tasks.delete(&task, &event).await
    }

    async fn project(&self, owner_id: Uuid, project_id: Uuid) -> Result<Project, TaskError> {
        match self.projects.find(owner_id, project_id).await {
            Ok(Some(project)) => Ok(project),
            Ok(None) | Err(ProjectError::NotFound) => Err(TaskError::ProjectNotFound),
            Err(ProjectError::InvalidField(f)) => Err(TaskError::InvalidField(f)),
            Err(ProjectError::Unexpected(e)) => Err(TaskError::Unexpected(e)),
        }
    }

    async fn writable_project(
        &self,
        owner_id: Uuid,
        project_id: Uuid,
    ) -> Result<Project, TaskError> {
        let project = self.project(owner_id, project_id).await?;
        if project.status == ProjectStatus::Archived {
            return Err(TaskError::ProjectArchived);
        }
        Ok(project)
    }
}

fn event(owner_id: Uuid, task: &Task, event: DomainEvent) -> EventEnvelope {
    EventEnvelope::new(AggregateType::Task, task.id, owner_id, Utc::now(), event)
}
