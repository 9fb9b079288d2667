//! What can go wrong with projects.

use crate::{BoxError, InvalidField};

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    InvalidField(#[from] InvalidField),
    /// Absent, or owned by someone else: callers cannot tell the difference.
    #[error("project not found")]
    NotFound,
    #[error("unexpected project error")]
    Unexpected(#[source] BoxError),
}
