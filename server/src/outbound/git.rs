//! `GitHost` over the `repo-git` crate (libgit2). libgit2 blocks, so every
//! call runs on tokio's blocking pool.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use domain::repos::{
    ChangeRequest, ChangedFile, CodeContext, ContextAsk, Credentials, GitHost, GitHostError,
    MapEntry, ProposedChange, ProposedEdit, RepoStatus, ShownFile,
};
use repo_git::repo::{self, RepoError};
use repo_git::{change, context};

/// The git host of this server's file system.
#[derive(Debug, Clone, Default)]
pub struct LibGitHost;

fn unexpected(e: impl std::error::Error + Send + Sync + 'static) -> GitHostError {
    GitHostError::Unexpected(Box::new(e))
}

fn host_error(e: RepoError) -> GitHostError {
    match e {
        RepoError::NotARepository(_) => GitHostError::NotARepository,
        RepoError::NotEmpty(_) => GitHostError::NotEmpty,
        RepoError::InvalidBranch(_) | RepoError::NoSuchBranch(_) => GitHostError::InvalidBranch,
        RepoError::Clone(why) => GitHostError::CloneFailed(why),
        other => unexpected(other),
    }
}

/// Who the band's commits are by.
const BAND_NAME: &str = "EXITON band";
const BAND_EMAIL: &str = "band@exiton.invalid";

/// A change that cannot be built, as the gate's reason: what and where.
/// libgit2's own failures stay unexpected.
fn refused(e: change::ChangeError) -> GitHostError {
    match e {
        change::ChangeError::Git(e) => unexpected(e),
        other => GitHostError::Refused(other.to_string()),
    }
}

/// Runs `work` on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, GitHostError> + Send + 'static,
) -> Result<T, GitHostError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(unexpected)?
}

#[async_trait]
impl GitHost for LibGitHost {
    async fn canonical(&self, path: &str) -> Result<PathBuf, GitHostError> {
        let path = path.to_owned();
        blocking(move || {
            std::fs::canonicalize(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => GitHostError::Missing,
                _ => unexpected(e),
            })
        })
        .await
    }

    async fn open(&self, path: &Path) -> Result<Option<String>, GitHostError> {
        let path = path.to_owned();
        blocking(move || {
            let repo = repo::open(&path).map_err(host_error)?;
            Ok(repo::current_branch(&repo))
        })
        .await
    }

    async fn create(&self, path: &Path, branch: &str) -> Result<(), GitHostError> {
        let (path, branch) = (path.to_owned(), branch.to_owned());
        blocking(move || repo::init(&path, &branch).map(|_| ()).map_err(host_error)).await
    }

    async fn clone_repo(
        &self,
        url: &str,
        credentials: Option<&Credentials>,
        dest: &Path,
        branch: Option<&str>,
    ) -> Result<Option<String>, GitHostError> {
        let url = url.to_owned();
        let credentials = credentials.map(|c| repo::Credentials {
            username: c.username.clone(),
            secret: c.secret.clone(),
        });
        let (dest, branch) = (dest.to_owned(), branch.map(str::to_owned));
        blocking(move || {
            let cloned = repo::clone(&url, credentials.as_ref(), &dest, branch.as_deref());
            match cloned {
                Ok(repo) => Ok(repo::current_branch(&repo)),
                Err(e) => {
                    // A failed clone leaves no half-made directory behind.
                    if !matches!(e, RepoError::NotEmpty(_)) {
                        let _ = std::fs::remove_dir_all(&dest);
                    }
                    Err(host_error(e))
                }
            }
        })
        .await
    }

    async fn branch_tip(&self, path: &Path, branch: &str) -> Result<Option<String>, GitHostError> {
        let (path, branch) = (path.to_owned(), branch.to_owned());
        blocking(move || {
            let repo = repo::open(&path).map_err(host_error)?;
            Ok(repo::branch_tip(&repo, &branch).map(|o| o.to_string()))
        })
        .await
    }

    async fn propose(
        &self,
        path: &Path,
        request: &ChangeRequest,
    ) -> Result<ProposedChange, GitHostError> {
        let (path, request) = (path.to_owned(), request.clone());
        blocking(move || {
            let repo = repo::open(&path).map_err(host_error)?;
            let base = repo_git::git2::Oid::from_str(&request.base_commit).map_err(unexpected)?;
            let edits: Vec<change::Edit> = request
                .edits
                .iter()
                .map(|e| match e {
                    ProposedEdit::Write { path, content } => change::Edit::Write {
                        path: path.clone(),
                        content: content.clone().into_bytes(),
                    },
                    ProposedEdit::Patch { path, diff } => change::Edit::Patch {
                        path: path.clone(),
                        diff: diff.clone(),
                    },
                    ProposedEdit::Delete { path } => change::Edit::Delete { path: path.clone() },
                })
                .collect();
            let built = change::build_tree(&repo, base, &edits, &change::Limits::default())
                .map_err(refused)?;
            let who = repo_git::git2::Signature::now(BAND_NAME, BAND_EMAIL).map_err(unexpected)?;
            let branch = change::task_branch_name(&request.task_title, &request.short_id);
            let commit =
                change::commit_on_branch(&repo, &branch, base, built.tree, &request.message, &who)
                    .map_err(refused)?;
            Ok(ProposedChange {
                branch,
                commit: commit.to_string(),
                base_commit: request.base_commit.clone(),
                files: built
                    .files
                    .into_iter()
                    .map(|f| ChangedFile {
                        path: f.path,
                        change: match f.change {
                            change::FileChange::Added => "added",
                            change::FileChange::Modified => "modified",
                            change::FileChange::Deleted => "deleted",
                        }
                        .to_owned(),
                        additions: u32::try_from(f.additions).unwrap_or(u32::MAX),
                        deletions: u32::try_from(f.deletions).unwrap_or(u32::MAX),
                    })
                    .collect(),
            })
        })
        .await
    }

    async fn context(
        &self,
        path: &Path,
        commit: &str,
        ask: &ContextAsk,
    ) -> Result<CodeContext, GitHostError> {
        let (path, commit, ask) = (path.to_owned(), commit.to_owned(), ask.clone());
        blocking(move || {
            let repo = repo::open(&path).map_err(host_error)?;
            let oid = repo_git::git2::Oid::from_str(&commit).map_err(unexpected)?;
            let (words, identifiers) = context::terms_of(&ask.text);
            let request = context::ContextRequest {
                words,
                identifiers,
                budget_bytes: ask.budget_bytes,
                map_cap: ask.map_cap,
            };
            let chosen = context::choose(&repo, oid, &request).map_err(unexpected)?;
            Ok(CodeContext {
                commit: chosen.commit,
                base_branch: String::new(),
                total_files: chosen.map.total_files,
                map_truncated: chosen.map.truncated,
                map: chosen
                    .map
                    .entries
                    .into_iter()
                    .map(|e| MapEntry {
                        path: e.path,
                        bytes: e.bytes,
                        language: e.language.map(str::to_owned),
                    })
                    .collect(),
                files: chosen
                    .files
                    .into_iter()
                    .map(|f| ShownFile {
                        path: f.path,
                        blob: f.blob,
                        bytes: f.bytes,
                        content: f.content,
                        whole: f.whole,
                        why: f.why,
                    })
                    .collect(),
            })
        })
        .await
    }

    async fn status(&self, path: &Path, base_branch: &str) -> Result<RepoStatus, GitHostError> {
        let (path, base) = (path.to_owned(), base_branch.to_owned());
        blocking(move || {
            let repo = repo::open(&path).map_err(host_error)?;
            let s = repo::status(&repo, &base).map_err(host_error)?;
            Ok(RepoStatus {
                clean: s.dirty_count == 0,
                checked_out: s.checked_out,
                head: s.head,
                base_branch: s.base_branch,
                base_commit: s.base_commit,
                bare: s.bare,
                dirty: s.dirty,
                dirty_count: s.dirty_count,
                upstream: s.upstream,
                ahead: s.ahead,
                behind: s.behind,
            })
        })
        .await
    }
}
