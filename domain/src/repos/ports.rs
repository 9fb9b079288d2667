//! Ports: where links are stored, the git host that opens, creates, clones
//! and reads repositories, and the box that seals stored credentials.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use uuid::Uuid;

use super::{
    ChangeRequest, CodeContext, ContextAsk, Credentials, ProposedChange, RepoError, RepoLink,
    RepoStatus,
};
use crate::BoxError;
use crate::events::EventEnvelope;

/// What the git host can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum GitHostError {
    #[error("does not exist")]
    Missing,
    #[error("is not a git repository")]
    NotARepository,
    #[error("exists and is not empty")]
    NotEmpty,
    #[error("is not a valid branch name")]
    InvalidBranch,
    #[error("{0}")]
    CloneFailed(String),
    /// A proposal that cannot become a commit, with why (which path, which
    /// hunk).
    #[error("{0}")]
    Refused(String),
    #[error("unexpected git error")]
    Unexpected(#[source] BoxError),
}

#[async_trait]
pub trait GitHost: Send + Sync {
    /// `path` made absolute with every symlink resolved.
    ///
    /// # Errors
    /// `Missing`; `Unexpected`.
    async fn canonical(&self, path: &str) -> Result<PathBuf, GitHostError>;

    /// Opens the repository at exactly `path`; answers its checked-out
    /// branch (also when it has no commit yet).
    ///
    /// # Errors
    /// `NotARepository`; `Unexpected`.
    async fn open(&self, path: &Path) -> Result<Option<String>, GitHostError>;

    /// Creates a repository at `path` with `branch` and an empty first commit.
    ///
    /// # Errors
    /// `NotEmpty`, `InvalidBranch`; `Unexpected`.
    async fn create(&self, path: &Path, branch: &str) -> Result<(), GitHostError>;

    /// Clones `url` into `dest`; answers the branch checked out.
    ///
    /// # Errors
    /// `CloneFailed` with git's reason, `NotEmpty`, `InvalidBranch`; `Unexpected`.
    async fn clone_repo(
        &self,
        url: &str,
        credentials: Option<&Credentials>,
        dest: &Path,
        branch: Option<&str>,
    ) -> Result<Option<String>, GitHostError>;

    /// The commit local branch `branch` of the repository at `path`
    /// points at; `None` when there is no such branch.
    ///
    /// # Errors
    /// `NotARepository`; `Unexpected`.
    async fn branch_tip(&self, path: &Path, branch: &str) -> Result<Option<String>, GitHostError>;

    /// Where the repository at `path` stands against `base_branch`.
    ///
    /// # Errors
    /// `NotARepository`; `Unexpected`.
    async fn status(&self, path: &Path, base_branch: &str) -> Result<RepoStatus, GitHostError>;

    /// Builds `change` into a commit on its task branch, in memory: no
    /// work tree is touched and no other branch moves.
    ///
    /// # Errors
    /// `Refused` naming the path and the reason; `NotARepository`;
    /// `Unexpected`.
    async fn propose(
        &self,
        path: &Path,
        change: &ChangeRequest,
    ) -> Result<ProposedChange, GitHostError>;

    /// What to show the band of the repository at `path` at `commit`
    /// (`base_branch` left empty for the caller to fill in).
    ///
    /// # Errors
    /// `NotARepository`; `Unexpected`.
    async fn context(
        &self,
        path: &Path,
        commit: &str,
        ask: &ContextAsk,
    ) -> Result<CodeContext, GitHostError>;
}

/// Seals secrets for storage (authenticated encryption).
pub trait SecretBox: Send + Sync {
    /// # Errors
    /// When sealing fails.
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, BoxError>;

    /// # Errors
    /// When the data was not sealed with this box's key, or was altered.
    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, BoxError>;
}

/// A stored link with its sealed credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLink {
    pub link: RepoLink,
    pub sealed_credentials: Option<Vec<u8>>,
}

#[async_trait]
pub trait RepoLinkStore: Send + Sync {
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn find(&self, project_id: Uuid) -> Result<Option<StoredLink>, RepoError>;

    /// Stores the project's link, replacing any earlier one.
    ///
    /// # Errors
    /// `ProjectNotFound` if the project vanished; `Unexpected`.
    async fn save(&self, link: &StoredLink, event: &EventEnvelope) -> Result<(), RepoError>;

    /// Removes the project's link; `false` when there was none.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn delete(&self, project_id: Uuid, event: &EventEnvelope) -> Result<bool, RepoError>;
}
