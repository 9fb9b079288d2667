//! What can go wrong linking or reading a project's repository.

use crate::{BoxError, InvalidField};

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    InvalidField(#[from] InvalidField),
    #[error("project not found")]
    ProjectNotFound,
    #[error("project is archived; restore it before changing its repository")]
    ProjectArchived,
    /// The project has no repository linked.
    #[error("this project has no repository linked")]
    NotLinked,
    /// A server path (in `field`) outside the operator's allowed roots, or
    /// none are set.
    #[error("{message}")]
    PathNotAllowed {
        field: &'static str,
        message: String,
    },
    /// The clone failed, with git's reason (never the credentials).
    #[error("the clone failed: {0}")]
    CloneFailed(String),
    /// The coder's proposal cannot become a commit (a failing hunk, a path
    /// outside the repository, a binary or huge file...).
    #[error("the proposal does not apply: {0}")]
    ProposalRefused(String),
    /// The base branch is gone from the repository.
    #[error("the repository has no branch {0} any more: link it again with another base branch")]
    BaseBranchGone(String),
    #[error("unexpected repository error")]
    Unexpected(#[source] BoxError),
}
