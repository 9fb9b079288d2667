//! The three-way merge of two changes, entirely in memory (an index that
//! is never written to disk), with renames detected as `git merge` does.
//!
//! libgit2's `merge_trees` walks every entry of all three trees and builds
//! a full index: on a 20,000-file repository that is ~180 ms, for what is
//! usually a handful of files. So when the two sides touch disjoint paths
//! (no path changed by both, and no changed path a directory of the
//! other's), the merge is computed directly: their changes applied onto
//! our tree. That is exactly what a three-way merge gives then — renames
//! cannot interact, since a rename changes its source path and a
//! rename-aware merge only differs where the other side changed that same
//! path. Otherwise libgit2 merges trees restricted to the paths either side
//! changed (the only ones whose result can differ, and the only possible
//! rename sources and targets), and its result is laid over our tree.
//!
//! Known differences from `git merge` (ort), both libgit2's: no
//! directory-rename detection (a file added in a directory the other side
//! renamed wholesale stays where it was added, where git would report a
//! conflict), and rename similarity is scored differently, so a rename
//! close to the 50% threshold may be seen by one and not the other.
//! Checked against `git merge-tree --write-tree` in `tests/oracle.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use git2::{IndexEntry, MergeOptions, Oid, Repository, Tree};

use super::{ChangeError, TreeEdits, tree_of};

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
    /// Both sides renamed the file, to different names (the conflict is
    /// reported at the old name and at both new ones).
    RenamedBoth,
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
    if let Some(tree) = disjoint_merge(repo, &ancestor_tree, &our_tree, &their_tree)? {
        return Ok(MergeOutcome::Clean { tree });
    }
    // Only the paths either side changed can differ in the result (and
    // only they can be rename sources or targets): merge trees holding
    // just those, then lay the result over our tree.
    let touched: BTreeSet<String> = changes(repo, &ancestor_tree, &our_tree)?
        .into_keys()
        .chain(changes(repo, &ancestor_tree, &their_tree)?.into_keys())
        .collect();
    let empty = repo.find_tree(repo.treebuilder(None)?.write()?)?;
    let small_ancestor = restrict(repo, &ancestor_tree, &touched, &empty)?;
    let small_ours = restrict(repo, &our_tree, &touched, &empty)?;
    let small_theirs = restrict(repo, &their_tree, &touched, &empty)?;
    let mut options = MergeOptions::new();
    options.find_renames(true);
    let index = repo.merge_trees(&small_ancestor, &small_ours, &small_theirs, Some(&options))?;
    if !index.has_conflicts() {
        let mut update = TreeEdits::default();
        let mut merged = BTreeSet::new();
        for entry in index.iter() {
            let path = entry_path(&entry);
            update.upsert(&path, entry.id, entry.mode as i32);
            merged.insert(path);
        }
        for path in touched.difference(&merged) {
            if let Ok(entry) = our_tree.get_path(Path::new(path))
                && entry.kind() != Some(git2::ObjectType::Tree)
            {
                update.remove(path);
            }
        }
        let tree = update.apply(repo, &our_tree)?;
        return Ok(MergeOutcome::Clean { tree });
    }
    // libgit2 groups a conflict's stages by path, so a file renamed on
    // one side shows as two groups: the old path (ancestor, and the side
    // that kept it) and the new path (the renaming side). git reports
    // such a conflict once, where the file went; regroup by the renames
    // libgit2's merge itself detected.
    let our_renames = renames(repo, &small_ancestor, &small_ours)?;
    let their_renames = renames(repo, &small_ancestor, &small_theirs)?;
    let mut groups = Vec::new();
    let mut by_path: BTreeMap<String, usize> = BTreeMap::new();
    for conflict in index.conflicts()? {
        let conflict = conflict?;
        let group = (conflict.ancestor, conflict.our, conflict.their);
        for entry in [&group.0, &group.1, &group.2].into_iter().flatten() {
            by_path.insert(entry_path(entry), groups.len());
        }
        groups.push(group);
    }
    let group_at = |path: &str| by_path.get(path).and_then(|i| groups.get(*i));
    let source_of = |renames: &BTreeMap<String, String>, target: &str| {
        renames
            .iter()
            .find(|(_, to)| to.as_str() == target)
            .map(|(from, _)| from.clone())
    };
    let mut conflicts = Vec::new();
    for (ancestor, our, their) in &groups {
        let (kind, path, sides) = match (ancestor, our, their) {
            (Some(_), Some(our), Some(_)) => (
                ConflictKind::Content,
                entry_path(our),
                (ancestor.as_ref(), Some(our), their.as_ref()),
            ),
            (None, Some(our), Some(_)) => {
                (ConflictKind::BothAdded, entry_path(our), (None, None, None))
            }
            // The old path of a file the other side renamed: reported at
            // its new path.
            (Some(base), Some(_), None) if their_renames.contains_key(&entry_path(base)) => {
                continue;
            }
            (Some(base), None, Some(_)) if our_renames.contains_key(&entry_path(base)) => continue,
            (_, None, Some(their)) => {
                let path = entry_path(their);
                match source_of(&their_renames, &path) {
                    Some(source) if our_renames.contains_key(&source) => {
                        (ConflictKind::RenamedBoth, path, (None, None, None))
                    }
                    // Renamed by them, edited by us: a content conflict.
                    Some(source) => match group_at(&source) {
                        Some((Some(base), Some(our), _)) => (
                            ConflictKind::Content,
                            path,
                            (Some(base), Some(our), Some(their)),
                        ),
                        _ => (ConflictKind::DeletedByUs, path, (None, None, None)),
                    },
                    None => (ConflictKind::DeletedByUs, path, (None, None, None)),
                }
            }
            (_, Some(our), None) => {
                let path = entry_path(our);
                match source_of(&our_renames, &path) {
                    Some(source) if their_renames.contains_key(&source) => {
                        (ConflictKind::RenamedBoth, path, (None, None, None))
                    }
                    Some(source) => match group_at(&source) {
                        Some((Some(base), _, Some(their))) => (
                            ConflictKind::Content,
                            path,
                            (Some(base), Some(our), Some(their)),
                        ),
                        _ => (ConflictKind::DeletedByThem, path, (None, None, None)),
                    },
                    None => (ConflictKind::DeletedByThem, path, (None, None, None)),
                }
            }
            // Only the ancestor: the source of a conflicting rename. git
            // reports it only when both sides renamed it (differently); a
            // rename against a deletion is reported at the new path alone.
            (Some(base), None, None) => {
                let path = entry_path(base);
                if our_renames.contains_key(&path) && their_renames.contains_key(&path) {
                    (ConflictKind::RenamedBoth, path, (None, None, None))
                } else {
                    continue;
                }
            }
            (None, None, None) => continue,
        };
        let text = match sides {
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

/// Each changed path from `from` to `to`, with its new entry (`None`:
/// deleted). A file turned directory appears as a deletion and additions.
fn changes(
    repo: &Repository,
    from: &Tree<'_>,
    to: &Tree<'_>,
) -> Result<BTreeMap<String, Option<(Oid, i32)>>, ChangeError> {
    let diff = repo.diff_tree_to_tree(Some(from), Some(to), None)?;
    let mut out = BTreeMap::new();
    for delta in diff.deltas() {
        let (file, deleted) = match delta.status() {
            git2::Delta::Deleted => (delta.old_file(), true),
            _ => (delta.new_file(), false),
        };
        let Some(path) = file.path() else { continue };
        let path = path.to_string_lossy().to_string();
        let entry = if deleted {
            None
        } else {
            Some((file.id(), i32::from(file.mode())))
        };
        out.insert(path, entry);
    }
    Ok(out)
}

/// The merge of two sides that changed disjoint paths, or `None` when they
/// overlap and the full merge is needed.
fn disjoint_merge(
    repo: &Repository,
    ancestor: &Tree<'_>,
    ours: &Tree<'_>,
    theirs: &Tree<'_>,
) -> Result<Option<Oid>, ChangeError> {
    let our_changes = changes(repo, ancestor, ours)?;
    let their_changes = changes(repo, ancestor, theirs)?;
    let overlaps = |a: &BTreeMap<String, Option<(Oid, i32)>>, path: &str| -> bool {
        if a.contains_key(path) {
            return true;
        }
        // A changed path that is a directory of the other's (file "x" on
        // one side, "x/y" on the other).
        let mut prefix = path;
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            if a.contains_key(parent) {
                return true;
            }
            prefix = parent;
        }
        let below = format!("{path}/");
        a.range(below.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&below))
    };
    if their_changes.keys().any(|p| overlaps(&our_changes, p)) {
        return Ok(None);
    }
    let mut update = TreeEdits::default();
    for (path, entry) in &their_changes {
        match entry {
            Some((oid, mode)) => {
                update.upsert(path, *oid, *mode);
            }
            None => update.remove(path),
        }
    }
    Ok(Some(update.apply(repo, ours)?))
}

/// A tree holding only the non-directory entries of `tree` at `paths`.
fn restrict<'r>(
    repo: &'r Repository,
    tree: &Tree<'_>,
    paths: &BTreeSet<String>,
    empty: &Tree<'_>,
) -> Result<Tree<'r>, ChangeError> {
    let mut update = TreeEdits::default();
    for path in paths {
        if let Ok(entry) = tree.get_path(Path::new(path))
            && entry.kind() != Some(git2::ObjectType::Tree)
        {
            update.upsert(path, entry.id(), entry.filemode());
        }
    }
    Ok(repo.find_tree(update.apply(repo, empty)?)?)
}

/// The renames `from` → `to` (old path → new path), by libgit2's rename
/// detection (the one its merge uses).
fn renames(
    repo: &Repository,
    from: &Tree<'_>,
    to: &Tree<'_>,
) -> Result<BTreeMap<String, String>, ChangeError> {
    let mut diff = repo.diff_tree_to_tree(Some(from), Some(to), None)?;
    diff.find_similar(Some(git2::DiffFindOptions::new().renames(true)))?;
    let path = |f: git2::DiffFile<'_>| f.path().map(|p| p.to_string_lossy().to_string());
    Ok(diff
        .deltas()
        .filter(|d| d.status() == git2::Delta::Renamed)
        .filter_map(|d| Some((path(d.old_file())?, path(d.new_file())?)))
        .collect())
}
