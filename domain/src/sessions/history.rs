//! A project's or a task's sessions as lists show them (spec §6.2):
//! newest first, a page at a time, optionally one status only. A port of
//! its own, apart from the run's repository: listing is not playing.

use async_trait::async_trait;
use uuid::Uuid;

use super::{AiSession, SessionError, SessionStatus};
use crate::pagination::{Page, PageRequest};
use crate::projects::{ProjectError, ProjectService};
use crate::tasks::{TaskError, TaskService};

/// Whose sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionScope {
    Project(Uuid),
    Task(Uuid),
}

/// Reads sessions for lists.
#[async_trait]
pub trait SessionHistory: Send + Sync {
    /// `owner_id`'s sessions in `scope`, newest first (`started_at`, then
    /// id, both descending), with `status` only when given.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn page(
        &self,
        owner_id: Uuid,
        scope: SessionScope,
        status: Option<SessionStatus>,
        page: &PageRequest,
    ) -> Result<Page<AiSession>, SessionError>;
}

/// Why a list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The project or task is absent or someone else's.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Task(#[from] TaskError),
}

/// The lists' use case: checks the caller owns the project or task, then
/// reads the page.
#[derive(Clone)]
pub struct HistoryService {
    history: std::sync::Arc<dyn SessionHistory>,
    projects: ProjectService,
    tasks: TaskService,
}

impl HistoryService {
    pub fn new(
        history: std::sync::Arc<dyn SessionHistory>,
        projects: ProjectService,
        tasks: TaskService,
    ) -> Self {
        Self {
            history,
            projects,
            tasks,
        }
    }

    /// A page of the sessions in `scope`.
    ///
    /// # Errors
    /// `NotFound` for a project or task that is absent or not the
    /// caller's; `Session`/`Project`/`Task` on storage failure.
    pub async fn page(
        &self,
        owner_id: Uuid,
        scope: SessionScope,
        status: Option<SessionStatus>,
        page: &PageRequest,
    ) -> Result<Page<AiSession>, HistoryError> {
        match scope {
            SessionScope::Project(id) => match self.projects.get(owner_id, id).await {
                Ok(_) => {}
                Err(ProjectError::NotFound) => return Err(HistoryError::NotFound("project")),
                Err(e) => return Err(e.into()),
            },
            SessionScope::Task(id) => match self.tasks.get(owner_id, id).await {
                Ok(_) => {}
                Err(TaskError::NotFound) => return Err(HistoryError::NotFound("task")),
                Err(e) => return Err(e.into()),
            },
        }
        Ok(self.history.page(owner_id, scope, status, page).await?)
    }
}
