//! The band's edits, checked and applied onto a commit's tree in the
//! object database — no work tree, no index file.
//!
//! Every refusal is an error naming the path: an edit is never dropped
//! silently, because the human reviews the diff believing it is the whole
//! proposal.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{Oid, Repository};

use super::{ChangeError, PathProblem, TreeEdits, patch, tree_of};

/// One change to one file, as the band proposes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Create the file or replace its whole content.
    Write { path: String, content: Vec<u8> },
    /// A unified diff of this one file (see [`super::patch`] for what is
    /// accepted). `--- /dev/null` creates the file, `+++ /dev/null`
    /// deletes it.
    Patch { path: String, diff: String },
    /// Remove the file; it must exist.
    Delete { path: String },
}

impl Edit {
    pub fn path(&self) -> &str {
        match self {
            Edit::Write { path, .. } | Edit::Patch { path, .. } | Edit::Delete { path } => path,
        }
    }
}

/// Bounds on what an edit may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest file, before or after an edit, we accept to edit.
    pub max_file_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 1024 * 1024,
        }
    }
}

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileChange {
    Added,
    Modified,
    Deleted,
}

/// Per-file figures of a built change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    pub path: String,
    pub change: FileChange,
    pub additions: usize,
    pub deletions: usize,
}

/// The result of [`build_tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The new root tree (equal to the base's tree if nothing changed).
    pub tree: Oid,
    /// Files whose content or existence changed, sorted by path.
    pub files: Vec<FileStat>,
}

/// Refuses paths that must never be written, whatever the tree holds.
///
/// `.git` is compared case-insensitively and with the trailing dots and
/// spaces Windows ignores, plus the 8.3 short name `git~1`, because a
/// checkout on such a file system would write into the real `.git`.
pub fn check_path(path: &str) -> Result<(), ChangeError> {
    let refuse = |problem| {
        Err(ChangeError::InvalidPath {
            path: path.to_string(),
            problem,
        })
    };
    if path.is_empty() {
        return refuse(PathProblem::Empty);
    }
    if path.contains('\0') {
        return refuse(PathProblem::Nul);
    }
    if path.contains('\\') {
        return refuse(PathProblem::Backslash);
    }
    if path.chars().any(char::is_control) {
        return refuse(PathProblem::ControlChar);
    }
    // "C:..." too: absolute on Windows, where a checkout could happen.
    if path.starts_with('/') || (path.len() >= 2 && path.as_bytes()[1] == b':') {
        return refuse(PathProblem::Absolute);
    }
    for component in path.split('/') {
        match component {
            "" => return refuse(PathProblem::EmptyComponent),
            "." => return refuse(PathProblem::CurrentComponent),
            ".." => return refuse(PathProblem::ParentComponent),
            _ => {}
        }
        let trimmed = component.trim_end_matches(['.', ' ']).to_ascii_lowercase();
        if trimmed == ".git" || trimmed == "git~1" {
            return refuse(PathProblem::GitDir);
        }
    }
    Ok(())
}

/// What a path holds at some point while edits are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Missing,
    File { oid: Oid, mode: i32 },
    Dir,
}

const MODE_FILE: i32 = 0o100644;
const MODE_EXEC: i32 = 0o100755;
const MODE_LINK: i32 = 0o120000;
const MODE_COMMIT: i32 = 0o160000;
const MODE_TREE: i32 = 0o040000;

/// The base tree with the edits so far laid over it.
struct Overlay<'r> {
    repo: &'r Repository,
    base: git2::Tree<'r>,
    /// Final state of each touched path: `None` = deleted.
    changes: BTreeMap<String, Option<(Oid, i32)>>,
}

impl<'r> Overlay<'r> {
    fn base_entry(&self, path: &str) -> Result<Option<(Oid, i32)>, ChangeError> {
        match self.base.get_path(Path::new(path)) {
            Ok(entry) => Ok(Some((entry.id(), entry.filemode()))),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// What `path` holds, refusing symlinks, submodules and files on the
    /// way to it (a parent that is a file would have to be replaced by a
    /// directory: not an edit the band can ask for implicitly).
    fn slot(&self, path: &str) -> Result<Slot, ChangeError> {
        let parts: Vec<&str> = path.split('/').collect();
        for depth in 1..=parts.len() {
            let prefix = parts[..depth].join("/");
            let last = depth == parts.len();
            // Files written below `prefix` by earlier edits make it a
            // directory, whatever it was in the base.
            let below = format!("{prefix}/");
            let created_below = self
                .changes
                .range(below.clone()..)
                .take_while(|(k, _)| k.starts_with(&below))
                .any(|(_, v)| v.is_some());
            let entry = match self.changes.get(&prefix) {
                Some(Some(file)) => Some(*file),
                _ if created_below => Some((Oid::ZERO_SHA1, MODE_TREE)),
                Some(None) => None,
                None => self.base_entry(&prefix)?,
            };
            let Some((oid, mode)) = entry else {
                return Ok(Slot::Missing);
            };
            match mode {
                MODE_LINK => {
                    return Err(ChangeError::Symlink {
                        path: path.to_string(),
                        through: prefix,
                    });
                }
                MODE_COMMIT => {
                    return Err(ChangeError::Submodule {
                        path: path.to_string(),
                        through: prefix,
                    });
                }
                MODE_TREE if last => return Ok(Slot::Dir),
                MODE_TREE => {}
                _ if last => return Ok(Slot::File { oid, mode }),
                _ => {
                    return Err(ChangeError::NotADirectory {
                        path: path.to_string(),
                        through: prefix,
                    });
                }
            }
        }
        Ok(Slot::Missing)
    }

    fn content(&self, oid: Oid) -> Result<Vec<u8>, ChangeError> {
        Ok(self.repo.find_blob(oid)?.content().to_vec())
    }
}

fn is_binary(content: &[u8]) -> bool {
    content.contains(&0)
}

/// Applies `edits`, in order, to the tree of commit (or tree) `base` and
/// writes the resulting blobs and trees. Nothing is written to any ref,
/// index or work tree. Later edits see earlier ones (a Write then a Patch
/// of the same path patches the written content).
pub fn build_tree(
    repo: &Repository,
    base: Oid,
    edits: &[Edit],
    limits: &Limits,
) -> Result<Built, ChangeError> {
    let mut overlay = Overlay {
        repo,
        base: tree_of(repo, base)?,
        changes: BTreeMap::new(),
    };
    let too_large = |path: &str, size: usize| ChangeError::TooLarge {
        path: path.to_string(),
        size,
        limit: limits.max_file_bytes,
    };
    for edit in edits {
        let path = edit.path();
        check_path(path)?;
        let slot = overlay.slot(path)?;
        if slot == Slot::Dir {
            return Err(ChangeError::IsADirectory {
                path: path.to_string(),
            });
        }
        let result = match edit {
            Edit::Write { content, .. } => {
                if content.len() > limits.max_file_bytes {
                    return Err(too_large(path, content.len()));
                }
                if is_binary(content) {
                    return Err(ChangeError::Binary {
                        path: path.to_string(),
                    });
                }
                let mode = match slot {
                    Slot::File { mode, .. } => mode,
                    _ => MODE_FILE,
                };
                Some((repo.blob(content)?, mode))
            }
            Edit::Delete { .. } => match slot {
                Slot::File { .. } => None,
                _ => {
                    return Err(ChangeError::NotFound {
                        path: path.to_string(),
                    });
                }
            },
            Edit::Patch { diff, .. } => {
                let parsed = patch::parse(path, diff)?;
                let (old, mode) = match (slot, parsed.creates) {
                    (Slot::File { .. }, true) => {
                        return Err(ChangeError::AlreadyExists {
                            path: path.to_string(),
                        });
                    }
                    (Slot::File { oid, mode }, false) => (overlay.content(oid)?, mode),
                    (_, true) => (
                        Vec::new(),
                        if parsed.new_executable {
                            MODE_EXEC
                        } else {
                            MODE_FILE
                        },
                    ),
                    (_, false) => {
                        return Err(ChangeError::NotFound {
                            path: path.to_string(),
                        });
                    }
                };
                if old.len() > limits.max_file_bytes {
                    return Err(too_large(path, old.len()));
                }
                if is_binary(&old) {
                    return Err(ChangeError::Binary {
                        path: path.to_string(),
                    });
                }
                let new = patch::apply(path, &parsed, &old)?;
                if parsed.deletes {
                    if !new.is_empty() {
                        return Err(ChangeError::DeletionLeavesContent {
                            path: path.to_string(),
                        });
                    }
                    None
                } else {
                    if new.len() > limits.max_file_bytes {
                        return Err(too_large(path, new.len()));
                    }
                    if is_binary(&new) {
                        return Err(ChangeError::Binary {
                            path: path.to_string(),
                        });
                    }
                    Some((repo.blob(&new)?, mode))
                }
            }
        };
        overlay.changes.insert(path.to_string(), result);
    }

    let mut update = TreeEdits::default();
    let mut files = Vec::new();
    let mut changed = false;
    for (path, after) in &overlay.changes {
        let before = match overlay.base_entry(path)? {
            Some((oid, mode)) if mode != MODE_TREE => Some((oid, mode)),
            _ => None,
        };
        if before == *after {
            continue;
        }
        changed = true;
        match after {
            Some((oid, mode)) => update.upsert(path, *oid, *mode),
            // Removing a path the base never had (written then deleted by
            // the edits) would be an error in libgit2: skip it.
            None if before.is_none() => continue,
            None => update.remove(path),
        }
        let old = match before {
            Some((oid, _)) => overlay.content(oid)?,
            None => Vec::new(),
        };
        let new = match after {
            Some((oid, _)) => overlay.content(*oid)?,
            None => Vec::new(),
        };
        let (additions, deletions) = line_stats(&old, &new)?;
        let change = match (before, after) {
            (None, _) => FileChange::Added,
            (_, None) => FileChange::Deleted,
            _ => FileChange::Modified,
        };
        files.push(FileStat {
            path: path.clone(),
            change,
            additions,
            deletions,
        });
    }
    let tree = if changed {
        update.apply(repo, &overlay.base)?
    } else {
        overlay.base.id()
    };
    Ok(Built { tree, files })
}

/// Added and removed line counts between two texts, by libgit2's diff.
fn line_stats(old: &[u8], new: &[u8]) -> Result<(usize, usize), ChangeError> {
    let patch = git2::Patch::from_buffers(old, None, new, None, None)?;
    let (_, additions, deletions) = patch.line_stats()?;
    Ok((additions, deletions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_checks() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "a//b",
            "a/",
            "./a",
            "a\\b",
            "a\0b",
            ".git/config",
            "x/.GIT/hooks/pre-commit",
            ".git",
            "sub/.git. /x",
            "GIT~1/config",
            "C:/x",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "a",
            "a/b.txt",
            ".gitignore",
            "src/.github/x",
            "..a",
            "a..b/c",
        ] {
            assert!(check_path(good).is_ok(), "{good:?} refused");
        }
    }
}
