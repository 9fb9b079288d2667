//! The three-way merge of two changes, entirely in memory (an index that
//! is never written to disk), with renames detected as `git merge` does.

use git2::{IndexEntry, MergeOptions, Oid, Repository};

use super::{ChangeError, tree_of};

/// Which sides hold a conflicted path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    /// Both sides changed the same lines.
    Content,
    /// Both sides added the path with different content.
    BothAdded,
    /// We deleted (or renamed away) what they changed.
    DeletedByUs,
    /// They deleted (or renamed away) what we changed.
    DeletedByThem,
}

/// One conflicted path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub path: String,
    pub kind: ConflictKind,
    /// For a content conflict of a text file: the merged file with its
    /// `<<<<<<< ours` / `=======` / `>>>>>>> theirs` regions.
    pub text: Option<String>,
}

/// The result of [`merge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    Clean { tree: Oid },
    Conflicted { paths: Vec<Conflict> },
}

/// The largest merged text we keep for a conflict; beyond it the human
/// needs the real file anyway.
const MAX_CONFLICT_TEXT: usize = 256 * 1024;

fn entry_path(entry: &IndexEntry) -> String {
    String::from_utf8_lossy(&entry.path).to_string()
}

/// Merges `theirs` into `ours` against `ancestor` (each a commit or a tree)
/// and writes the merged tree if it is clean. Conflicts are listed sorted
/// by path.
pub fn merge(
    repo: &Repository,
    ancestor: Oid,
    ours: Oid,
    theirs: Oid,
) -> Result<MergeOutcome, ChangeError> {
    let ancestor_tree = tree_of(repo, ancestor)?;
    let our_tree = tree_of(repo, ours)?;
    let their_tree = tree_of(repo, theirs)?;
    // Fast answers git gives too: one side unchanged takes the other.
    if our_tree.id() == their_tree.id() || their_tree.id() == ancestor_tree.id() {
        return Ok(MergeOutcome::Clean {
            tree: our_tree.id(),
        });
    }
    if our_tree.id() == ancestor_tree.id() {
        return Ok(MergeOutcome::Clean {
            tree: their_tree.id(),
        });
    }
    let mut options = MergeOptions::new();
    options.find_renames(true);
    let mut index = repo.merge_trees(&ancestor_tree, &our_tree, &their_tree, Some(&options))?;
    if !index.has_conflicts() {
        let tree = index.write_tree_to(repo)?;
        return Ok(MergeOutcome::Clean { tree });
    }
    let mut conflicts = Vec::new();
    for conflict in index.conflicts()? {
        let conflict = conflict?;
        let (kind, path) = match (&conflict.ancestor, &conflict.our, &conflict.their) {
            (_, Some(our), Some(_)) if conflict.ancestor.is_some() => {
                (ConflictKind::Content, entry_path(our))
            }
            (_, Some(our), Some(_)) => (ConflictKind::BothAdded, entry_path(our)),
            (_, None, Some(their)) => (ConflictKind::DeletedByUs, entry_path(their)),
            (_, Some(our), None) => (ConflictKind::DeletedByThem, entry_path(our)),
            (Some(base), None, None) => (ConflictKind::Content, entry_path(base)),
            (None, None, None) => continue,
        };
        let text = match (&conflict.ancestor, &conflict.our, &conflict.their) {
            (Some(base), Some(our), Some(their)) => {
                let mut file_options = git2::MergeFileOptions::new();
                file_options.our_label("ours").their_label("theirs");
                let merged =
                    repo.merge_file_from_index(base, our, their, Some(&mut file_options))?;
                let content = merged.content();
                if content.len() <= MAX_CONFLICT_TEXT && !content.contains(&0) {
                    Some(String::from_utf8_lossy(content).to_string())
                } else {
                    None
                }
            }
            _ => None,
        };
        conflicts.push(Conflict { path, kind, text });
    }
    conflicts.sort_by(|a, b| a.path.cmp(&b.path));
    conflicts.dedup_by(|a, b| a.path == b.path);
    Ok(MergeOutcome::Conflicted { paths: conflicts })
}
