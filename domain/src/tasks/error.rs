//! What can go wrong with tasks.

use crate::{BoxError, InvalidField};

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    InvalidField(#[from] InvalidField),
    /// Absent, or in someone else's project.
    #[error("task not found")]
    NotFound,
    #[error("project not found")]
    ProjectNotFound,
    /// Archived projects are read-only until un-archived.
    #[error("project is archived; restore it before changing its tasks")]
    ProjectArchived,
    #[error("unexpected task error")]
    Unexpected(#[source] BoxError),
}
