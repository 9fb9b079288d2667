//! Which files the last commits touched: what was changed recently is
//! likely what the next task is about.

use std::collections::HashMap;

use git2::{Commit, DiffOptions, Repository};

/// A commit touching more files than this is a mass change (an import, a
/// reformat, a rename of a directory); it says nothing about focus.
const MAX_FILES_PER_CHANGE: usize = 200;

/// The paths changed by `commit` and its first-parent ancestors, at most
/// `depth` commits, each with how many commits back it last changed (0 for
/// `commit` itself). Root commits are skipped: they add every file.
pub(crate) fn recently_changed(
    repo: &Repository,
    commit: &Commit<'_>,
    depth: usize,
) -> Result<HashMap<String, usize>, git2::Error> {
    let mut changed: HashMap<String, usize> = HashMap::new();
    let mut current = commit.clone();
    for back in 0..depth {
        if current.parent_count() == 0 {
            break;
        }
        let parent = current.parent(0)?;
        // Tree-to-tree only: unchanged subtrees are skipped by id and no
        // file content is read.
        let mut options = DiffOptions::new();
        options.skip_binary_check(true);
        let diff = repo.diff_tree_to_tree(
            Some(&parent.tree()?),
            Some(&current.tree()?),
            Some(&mut options),
        )?;
        if diff.deltas().len() <= MAX_FILES_PER_CHANGE {
            for delta in diff.deltas() {
                if let Some(path) = delta.new_file().path().and_then(|p| p.to_str()) {
                    changed.entry(path.to_owned()).or_insert(back);
                }
            }
        }
        current = parent;
    }
    Ok(changed)
}
