//! Task branches, landing one squash commit on the base branch, pruning
//! and crash recovery.
//!
//! The rule throughout: no ref that may hold someone's work moves without
//! a backup ref (`refs/exiton/backup/<branch>/<unix nanos>`) recording its
//! old value, refs move only by compare-and-swap against the value the
//! human approved, and a branch checked out in a dirty work tree is not
//! moved at all — moving it would make the human's files look like a
//! revert of the landed change.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use git2::{ErrorCode, Oid, Reference, Repository, Signature, Status, StatusOptions};

use super::{ChangeError, MergeOutcome, commit_of, merge, tree_of};

/// How [`land`] left the work tree holding the base branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorktreeUpdate {
    /// The branch is checked out and was clean: its files now match the
    /// landed commit, as after `git merge --ff-only`.
    Updated,
    /// The branch is not checked out in any work tree; only the ref moved.
    NotCheckedOut,
    /// Kept for callers that report without failing; [`land`] itself
    /// returns [`LandError::WorktreeDirty`] instead of moving the ref.
    Dirty { paths: Vec<String> },
    /// The repository has no work tree (and no linked one holds the
    /// branch).
    Bare,
}

/// A landed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    /// The squash commit, whose parent is the approved base tip.
    pub commit: Oid,
    pub worktree: WorktreeUpdate,
    /// The backup ref holding the base branch's previous tip.
    pub backup_ref: String,
}

/// Why [`land`] did not land. In every case the base ref did not move.
#[derive(Debug, thiserror::Error)]
pub enum LandError {
    #[error("the base branch moved to {actual} since the change was approved")]
    BaseMoved { actual: Oid },
    #[error("the base branch is checked out with uncommitted changes: {}", paths.join(", "))]
    WorktreeDirty { paths: Vec<String> },
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error(transparent)]
    Git(#[from] git2::Error),
}

/// `refs/heads/<branch>`, if `branch` makes a valid ref name.
fn branch_ref(branch: &str) -> Result<String, ChangeError> {
    let name = format!("refs/heads/{branch}");
    if branch.is_empty() || branch.starts_with('-') || !Reference::is_valid_name(&name) {
        return Err(ChangeError::InvalidBranchName {
            name: branch.to_string(),
        });
    }
    Ok(name)
}

/// Keeps the ascii alphanumerics of `text`, lowercased, with every other
/// run of characters turned into one '-'.
fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if out.len() == max {
                break;
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            if out.len() == max {
                break;
            }
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The task branch for a task: `exiton/<slug>-<short id>`, the slug made
/// of the title's lowercase ascii letters and digits and '-', at most 40
/// characters and never empty ("task" if the title has none).
pub fn task_branch_name(task_title: &str, short_id: &str) -> String {
    let mut title = slug(task_title, 40);
    if title.is_empty() {
        title = "task".to_string();
    }
    let id = slug(short_id, 40);
    if id.is_empty() {
        format!("exiton/{title}")
    } else {
        format!("exiton/{title}-{id}")
    }
}

/// Records `old` under `refs/exiton/backup/<branch>/<unix nanos>` and
/// returns that ref's name. Never overwrites an existing backup.
fn backup(repo: &Repository, branch: &str, old: Oid) -> Result<String, ChangeError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    for attempt in 0u32..100 {
        let name = if attempt == 0 {
            format!("refs/exiton/backup/{branch}/{nanos}")
        } else {
            format!("refs/exiton/backup/{branch}/{nanos}-{attempt}")
        };
        match repo.reference(&name, old, false, "exiton: backup before moving the branch") {
            Ok(_) => return Ok(name),
            Err(e) if e.code() == ErrorCode::Exists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(git2::Error::from_str("could not name a unique backup ref").into())
}

/// The repository (this one or a linked work tree of it) whose HEAD is the
/// branch `refname`, if any.
fn checked_out_in(repo: &Repository, refname: &str) -> Result<Option<Repository>, ChangeError> {
    let heads_here = |r: &Repository| -> bool {
        !r.is_bare()
            && r.find_reference("HEAD")
                .ok()
                .and_then(|h| h.symbolic_target().ok().flatten().map(|t| t == refname))
                .unwrap_or(false)
    };
    if heads_here(repo) {
        return Ok(Some(Repository::open(repo.path())?));
    }
    // The main work tree, when `repo` is itself a linked one.
    if repo.is_worktree()
        && let Ok(main) = Repository::open(repo.commondir())
        && heads_here(&main)
    {
        return Ok(Some(main));
    }
    for name in repo.worktrees()?.iter().flatten().flatten() {
        let Ok(worktree) = repo.find_worktree(name) else {
            continue;
        };
        // A pruned or unreachable work tree holds nothing we could break.
        let Ok(linked) = Repository::open_from_worktree(&worktree) else {
            continue;
        };
        if heads_here(&linked) {
            return Ok(Some(linked));
        }
    }
    Ok(None)
}

/// Creates `refs/heads/<branch>` at a new commit of `tree` on `parent`, or
/// moves it there. An existing tip that the new commit does not contain is
/// first recorded in a backup ref; the move is a compare-and-swap against
/// the tip read, and a branch checked out in a work tree is refused.
pub fn commit_on_branch(
    repo: &Repository,
    branch: &str,
    parent: Oid,
    tree: Oid,
    message: &str,
    who: &Signature<'_>,
) -> Result<Oid, ChangeError> {
    let refname = branch_ref(branch)?;
    let parent_commit = commit_of(repo, parent)?;
    let tree = repo.find_tree(tree).map_err(|_| ChangeError::WrongObject {
        oid: tree,
        expected: "tree",
    })?;
    let commit = repo.commit(None, who, who, message, &tree, &[&parent_commit])?;
    let log = format!("exiton: commit on {branch}");
    match repo.find_reference(&refname) {
        Ok(existing) => {
            let old = existing
                .resolve()?
                .target()
                .ok_or_else(|| git2::Error::from_str("branch is not a direct reference"))?;
            if checked_out_in(repo, &refname)?.is_some() {
                return Err(ChangeError::BranchCheckedOut {
                    branch: branch.to_string(),
                });
            }
            if old != parent && !repo.graph_descendant_of(commit, old)? {
                backup(repo, branch, old)?;
            }
            match repo.reference_matching(&refname, commit, true, old, &log) {
                Ok(_) => Ok(commit),
                Err(e) if e.code() == ErrorCode::Modified => Err(moved(repo, &refname, branch)),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) if e.code() == ErrorCode::NotFound => {
            match repo.reference(&refname, commit, false, &log) {
                Ok(_) => Ok(commit),
                Err(e) if e.code() == ErrorCode::Exists => Err(moved(repo, &refname, branch)),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn moved(repo: &Repository, refname: &str, branch: &str) -> ChangeError {
    let actual = repo.refname_to_id(refname).unwrap_or(Oid::ZERO_SHA1);
    ChangeError::BranchMoved {
        branch: branch.to_string(),
        actual,
    }
}

/// Paths that make the work tree of `repo` unsafe to update to `target`:
/// every tracked file modified, staged, deleted or conflicted, and every
/// untracked file the update would overwrite. Ignored files never count.
fn dirty_paths(repo: &Repository, target: &git2::Tree<'_>) -> Result<Vec<String>, ChangeError> {
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = repo.statuses(Some(&mut options))?;
    let mut paths = Vec::new();
    for entry in statuses.iter() {
        let status = entry.status();
        let path = String::from_utf8_lossy(entry.path_bytes()).to_string();
        if status == Status::WT_NEW {
            if collides(target, &path) {
                paths.push(path);
            }
        } else if !status.is_empty() && !status.contains(Status::IGNORED) {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// Would checking out `tree` write at untracked `path` or at one of its
/// parents?
fn collides(tree: &git2::Tree<'_>, path: &str) -> bool {
    if tree.get_path(Path::new(path)).is_ok() {
        return true;
    }
    let mut prefix = String::new();
    for part in path.split('/') {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        if let Ok(entry) = tree.get_path(Path::new(&prefix))
            && entry.kind() != Some(git2::ObjectType::Tree)
        {
            return true;
        }
    }
    false
}

/// Lands `tree` on `base_branch` as one commit whose parent is
/// `expected_tip`, the tip the human approved.
///
/// The base ref moves only by compare-and-swap against `expected_tip`
/// ([`LandError::BaseMoved`] otherwise), after a backup ref of the old tip
/// is written. If the branch is checked out in this repository or a linked
/// work tree, that work tree must be clean (see `dirty_paths`): its files
/// are then updated first, as `git merge --ff-only` would, with a safe
/// checkout; if it is dirty nothing moves ([`LandError::WorktreeDirty`]),
/// and the change waits on its task branch.
///
/// Between the checkout and the compare-and-swap lies a window (a few
/// microseconds) in which another writer could move the branch; then the
/// files we just wrote are restored to `expected_tip` and `BaseMoved` is
/// returned.
pub fn land(
    repo: &Repository,
    base_branch: &str,
    expected_tip: Oid,
    tree: Oid,
    message: &str,
    who: &Signature<'_>,
) -> Result<Landed, LandError> {
    let refname = branch_ref(base_branch)?;
    let actual = match repo.refname_to_id(&refname) {
        Ok(actual) => actual,
        Err(e) if e.code() == ErrorCode::NotFound => {
            return Err(ChangeError::NoSuchBranch {
                branch: base_branch.to_string(),
            }
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    if actual != expected_tip {
        return Err(LandError::BaseMoved { actual });
    }
    let parent = commit_of(repo, expected_tip)?;
    let new_tree = repo.find_tree(tree).map_err(|_| ChangeError::WrongObject {
        oid: tree,
        expected: "tree",
    })?;
    let commit = repo.commit(None, who, who, message, &new_tree, &[&parent])?;

    let holder = checked_out_in(repo, &refname)?;
    let worktree = match &holder {
        None if repo.is_bare() => WorktreeUpdate::Bare,
        None => WorktreeUpdate::NotCheckedOut,
        Some(work) => {
            // Objects are looked up through the handle that uses them:
            // libgit2 refuses a tree of another `Repository`, even of the
            // same object database.
            let target = work.find_tree(tree)?;
            let dirty = dirty_paths(work, &target)?;
            if !dirty.is_empty() {
                return Err(LandError::WorktreeDirty { paths: dirty });
            }
            checkout(work, &target)?;
            WorktreeUpdate::Updated
        }
    };

    let backup_ref = backup(repo, base_branch, expected_tip)?;
    let log = format!("exiton: land {}", message.lines().next().unwrap_or(""));
    match repo.reference_matching(&refname, commit, true, expected_tip, &log) {
        Ok(_) => Ok(Landed {
            commit,
            worktree,
            backup_ref,
        }),
        Err(e) if e.code() == ErrorCode::Modified => {
            if let Some(work) = &holder {
                let old = work.find_commit(expected_tip)?.tree()?;
                restore(work, &old, &work.find_tree(tree)?)?;
            }
            let actual = repo.refname_to_id(&refname)?;
            Err(LandError::BaseMoved { actual })
        }
        Err(e) => Err(e.into()),
    }
}

/// Updates the files and index of `repo` to `tree` with a safe checkout,
/// HEAD still naming the old tip so it is the checkout's baseline. A
/// conflict (a file changed since `dirty_paths` looked) is reported as
/// dirty.
fn checkout(repo: &Repository, tree: &git2::Tree<'_>) -> Result<(), LandError> {
    let mut conflicts = Vec::new();
    let result = {
        let mut builder = git2::build::CheckoutBuilder::new();
        builder.safe();
        builder.notify_on(git2::CheckoutNotificationType::CONFLICT);
        builder.notify(|_, path, _, _, _| {
            if let Some(path) = path {
                conflicts.push(path.to_string_lossy().to_string());
            }
            true
        });
        repo.checkout_tree(tree.as_object(), Some(&mut builder))
    };
    match result {
        Ok(()) => Ok(()),
        Err(_) if !conflicts.is_empty() => Err(LandError::WorktreeDirty { paths: conflicts }),
        Err(e) => Err(e.into()),
    }
}

/// Puts back, by force, the paths that differ between `old` and `new`,
/// which `checkout` just wrote from `new` over a clean work tree.
fn restore(repo: &Repository, old: &git2::Tree<'_>, new: &git2::Tree<'_>) -> Result<(), LandError> {
    let diff = repo.diff_tree_to_tree(Some(old), Some(new), None)?;
    let mut builder = git2::build::CheckoutBuilder::new();
    builder.force().remove_untracked(false);
    let mut any = false;
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            if let Some(path) = file.path() {
                builder.path(path);
                any = true;
            }
        }
    }
    if any {
        repo.checkout_tree(old.as_object(), Some(&mut builder))?;
    }
    Ok(())
}

/// Deletes task branch `branch` if nothing in it is missing from
/// `base_branch`, and returns whether it did. "Nothing missing" means its
/// tip is reachable from the base tip, or — the squash-landed case, where
/// it is not — merging it into the base tip (against their merge base)
/// changes nothing. The old tip is recorded in a backup ref first; a
/// branch checked out in a work tree is refused.
pub fn prune_task_branch(
    repo: &Repository,
    branch: &str,
    base_branch: &str,
) -> Result<bool, ChangeError> {
    let refname = branch_ref(branch)?;
    let base_ref = branch_ref(base_branch)?;
    let task_tip = repo
        .refname_to_id(&refname)
        .map_err(|_| ChangeError::NoSuchBranch {
            branch: branch.to_string(),
        })?;
    let base_tip = repo
        .refname_to_id(&base_ref)
        .map_err(|_| ChangeError::NoSuchBranch {
            branch: base_branch.to_string(),
        })?;
    let merged = task_tip == base_tip
        || repo.graph_descendant_of(base_tip, task_tip)?
        || match repo.merge_base(base_tip, task_tip) {
            Ok(ancestor) => match merge(repo, ancestor, base_tip, task_tip)? {
                MergeOutcome::Clean { tree } => tree == tree_of(repo, base_tip)?.id(),
                MergeOutcome::Conflicted { .. } => false,
            },
            Err(e) if e.code() == ErrorCode::NotFound => false,
            Err(e) => return Err(e.into()),
        };
    if !merged {
        return Ok(false);
    }
    if checked_out_in(repo, &refname)?.is_some() {
        return Err(ChangeError::BranchCheckedOut {
            branch: branch.to_string(),
        });
    }
    backup(repo, branch, task_tip)?;
    repo.find_reference(&refname)?.delete()?;
    Ok(true)
}

/// The most recent commit among the last `depth` first-parent commits of
/// `base_branch` whose message has a line equal to `trailer` (e.g.
/// "Exiton-Session: <uuid>"): after a crash, tells whether a land went
/// through.
pub fn find_landed(
    repo: &Repository,
    base_branch: &str,
    trailer: &str,
    depth: usize,
) -> Result<Option<Oid>, ChangeError> {
    let refname = branch_ref(base_branch)?;
    let tip = repo
        .refname_to_id(&refname)
        .map_err(|_| ChangeError::NoSuchBranch {
            branch: base_branch.to_string(),
        })?;
    let wanted = trailer.trim();
    let mut walk = repo.revwalk()?;
    walk.push(tip)?;
    walk.simplify_first_parent()?;
    for oid in walk.take(depth) {
        let oid = oid?;
        let commit = repo.find_commit(oid)?;
        let message = String::from_utf8_lossy(commit.message_bytes());
        if message.lines().any(|line| line.trim() == wanted) {
            return Ok(Some(oid));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names() {
        assert_eq!(
            task_branch_name("Fix the LOGIN page!", "ab12cd"),
            "exiton/fix-the-login-page-ab12cd"
        );
        assert_eq!(task_branch_name("¡¡¡", "x1"), "exiton/task-x1");
        assert_eq!(task_branch_name("--a--b--", ""), "exiton/a-b");
        let long = task_branch_name(&"word ".repeat(30), "id");
        let slug = long.trim_start_matches("exiton/").trim_end_matches("-id");
        assert!(slug.len() <= 40 && !slug.ends_with('-'), "{long}");
        assert!(branch_ref(&task_branch_name("a..b/c.lock", "@{x}")).is_ok());
        assert!(branch_ref("bad..name").is_err());
        assert!(branch_ref("").is_err());
    }
}
