//! A proposal turned into a commit in memory; merging and landing it.
//!
//! Everything here works on the object database of a `git2::Repository`:
//! the band's edits become blobs and trees without touching any work tree,
//! merges happen in an in-memory index, and only [`land`] ever touches the
//! files a human may be editing — and then only when they are clean.
//!
//! - [`edit`]: [`Edit`]s (whole files, unified diffs, deletions) checked and
//!   applied onto a commit's tree ([`build_tree`]).
//! - [`patch`]: the unified-diff parser and the hunk application, which
//!   follows `git apply` (exact context, offsets allowed, no fuzz).
//! - [`diff`]: the reviewable diff of two commits and `git format-patch`
//!   text.
//! - [`merge`]: the in-memory three-way merge.
//! - [`land`]: task branches, the compare-and-swap landing of one squash
//!   commit, pruning, and crash recovery.

pub mod diff;
pub mod edit;
pub mod land;
pub mod merge;
pub mod patch;

pub use diff::{ChangeDiff, DiffLine, FileDiff, FileStatus, Hunk, LineKind, diff, format_patch};
pub use edit::{Built, Edit, FileChange, FileStat, Limits, build_tree, check_path};
pub use land::{
    LandError, Landed, WorktreeUpdate, commit_on_branch, find_landed, land, prune_task_branch,
    task_branch_name,
};
pub use merge::{Conflict, ConflictKind, MergeOutcome, merge};

/// Why a path given by the band is refused outright, before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathProblem {
    #[error("the path is empty")]
    Empty,
    #[error("the path is absolute")]
    Absolute,
    #[error("the path has a '..' component")]
    ParentComponent,
    #[error("the path has a '.' component")]
    CurrentComponent,
    #[error("the path has an empty component ('//' or a trailing '/')")]
    EmptyComponent,
    #[error("the path contains a backslash")]
    Backslash,
    #[error("the path contains a NUL byte")]
    Nul,
    #[error("the path contains a control character")]
    ControlChar,
    #[error("the path is inside the repository's .git directory")]
    GitDir,
}

/// Everything that can go wrong building, diffing or merging a change.
/// Each refusal names the path so the band (or the human) can act on it.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("refused path {path:?}: {problem}")]
    InvalidPath { path: String, problem: PathProblem },
    #[error("refused path {path:?}: {through:?} is a symbolic link")]
    Symlink { path: String, through: String },
    #[error("refused path {path:?}: {through:?} is a submodule")]
    Submodule { path: String, through: String },
    #[error("refused path {path:?}: {through:?} is a file, not a directory")]
    NotADirectory { path: String, through: String },
    #[error("refused path {path:?}: it is a directory")]
    IsADirectory { path: String },
    #[error("refused path {path:?}: binary content (a NUL byte) cannot be edited")]
    Binary { path: String },
    #[error("refused path {path:?}: {size} bytes is over the limit of {limit}")]
    TooLarge {
        path: String,
        size: usize,
        limit: usize,
    },
    #[error("{path:?} does not exist in the base commit")]
    NotFound { path: String },
    #[error("{path:?} already exists, but the patch creates it")]
    AlreadyExists { path: String },
    #[error("patch for {path:?} is malformed at its line {line}: {reason}")]
    MalformedPatch {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("patch for {path:?}: hunk {hunk} ({header}) does not apply")]
    HunkFailed {
        path: String,
        hunk: usize,
        header: String,
    },
    #[error("patch for {path:?} deletes the file but its contents remain")]
    DeletionLeavesContent { path: String },
    #[error("object {oid} is not a {expected}")]
    WrongObject {
        oid: git2::Oid,
        expected: &'static str,
    },
    #[error("{name:?} is not a valid branch name")]
    InvalidBranchName { name: String },
    #[error("branch {branch:?} is checked out in a work tree; it will not be moved under it")]
    BranchCheckedOut { branch: String },
    #[error("branch {branch:?} moved to {actual} while it was being updated")]
    BranchMoved { branch: String, actual: git2::Oid },
    #[error("branch {branch:?} does not exist")]
    NoSuchBranch { branch: String },
    #[error(transparent)]
    Git(#[from] git2::Error),
}

/// The tree of `oid`, which may name a commit or a tree (or a tag of either).
pub(crate) fn tree_of(
    repo: &git2::Repository,
    oid: git2::Oid,
) -> Result<git2::Tree<'_>, ChangeError> {
    let object = repo.find_object(oid, None)?;
    object.peel_to_tree().map_err(|_| ChangeError::WrongObject {
        oid,
        expected: "commit or tree",
    })
}

/// The commit `oid` names (peeling tags).
pub(crate) fn commit_of(
    repo: &git2::Repository,
    oid: git2::Oid,
) -> Result<git2::Commit<'_>, ChangeError> {
    let object = repo.find_object(oid, None)?;
    object
        .peel_to_commit()
        .map_err(|_| ChangeError::WrongObject {
            oid,
            expected: "commit",
        })
}

/// Changes to lay over a tree. libgit2's `TreeUpdateBuilder` cannot remove
/// a file and create a directory of the same name (or the reverse) in one
/// pass ("D/F conflict"), so removals are applied first, then upserts.
#[derive(Default)]
pub(crate) struct TreeEdits {
    removals: Vec<String>,
    upserts: Vec<(String, git2::Oid, git2::FileMode)>,
}

impl TreeEdits {
    pub(crate) fn remove(&mut self, path: &str) {
        self.removals.push(path.to_string());
    }

    pub(crate) fn upsert(&mut self, path: &str, oid: git2::Oid, mode: i32) {
        let mode = match mode {
            0o100755 => git2::FileMode::BlobExecutable,
            0o120000 => git2::FileMode::Link,
            0o160000 => git2::FileMode::Commit,
            _ => git2::FileMode::Blob,
        };
        self.upserts.push((path.to_string(), oid, mode));
    }

    /// The tree `base` with these changes, written to the object database.
    pub(crate) fn apply(
        &self,
        repo: &git2::Repository,
        base: &git2::Tree<'_>,
    ) -> Result<git2::Oid, ChangeError> {
        let mut tree = base.id();
        if !self.removals.is_empty() {
            let mut update = git2::build::TreeUpdateBuilder::new();
            for path in &self.removals {
                update.remove(path.as_str());
            }
            tree = update.create_updated(repo, base)?;
        }
        if !self.upserts.is_empty() {
            let mut update = git2::build::TreeUpdateBuilder::new();
            for (path, oid, mode) in &self.upserts {
                update.upsert(path.as_str(), *oid, *mode);
            }
            tree = update.create_updated(repo, &repo.find_tree(tree)?)?;
        }
        Ok(tree)
    }
}
