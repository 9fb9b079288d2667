//! The diff the human reviews, in plain structs, and the same change as a
//! `git format-patch` mail.

use git2::{DiffFindOptions, DiffOptions, Oid, Repository};

use super::{ChangeError, commit_of, tree_of};

/// How a file changed between the two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
}

/// What a line of a hunk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Context,
    Added,
    Removed,
}

/// One line of a hunk, without its newline.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffLine {
    pub kind: LineKind,
    /// The line's text (invalid UTF-8 replaced).
    pub text: String,
    /// 1-based line numbers on each side, when the line exists there.
    pub old_line: Option<u32>,
    pub new_line: Option<u32>,
    /// The file ends on this line without a newline (`\ No newline at end
    /// of file`).
    pub no_newline_at_eof: bool,
}

/// A hunk, with its `@@ … @@` header.
#[derive(Debug, Clone, PartialEq)]
pub struct Hunk {
    pub header: String,
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
    pub lines: Vec<DiffLine>,
}

/// One file's diff. Binary files carry no hunks.
#[derive(Debug, Clone, PartialEq)]
pub struct FileDiff {
    pub old_path: Option<String>,
    pub new_path: Option<String>,
    pub status: FileStatus,
    pub binary: bool,
    pub additions: usize,
    pub deletions: usize,
    pub hunks: Vec<Hunk>,
}

/// The whole diff between two commits or trees.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeDiff {
    pub files: Vec<FileDiff>,
}

fn path_string(path: Option<&std::path::Path>) -> Option<String> {
    path.map(|p| p.to_string_lossy().to_string())
}

/// The diff from `from` to `to` (each a commit or a tree), with
/// `context_lines` of context and renames detected as `git diff -M` does.
pub fn diff(
    repo: &Repository,
    from: Oid,
    to: Oid,
    context_lines: u32,
) -> Result<ChangeDiff, ChangeError> {
    let old = tree_of(repo, from)?;
    let new = tree_of(repo, to)?;
    let mut options = DiffOptions::new();
    options.context_lines(context_lines);
    let mut git_diff = repo.diff_tree_to_tree(Some(&old), Some(&new), Some(&mut options))?;
    git_diff.find_similar(Some(DiffFindOptions::new().renames(true)))?;

    let mut files = Vec::new();
    for index in 0..git_diff.deltas().len() {
        let Some(patch) = git2::Patch::from_diff(&git_diff, index)? else {
            continue;
        };
        let delta = patch.delta();
        let status = match delta.status() {
            git2::Delta::Added => FileStatus::Added,
            git2::Delta::Deleted => FileStatus::Deleted,
            git2::Delta::Renamed => FileStatus::Renamed,
            _ => FileStatus::Modified,
        };
        let binary = delta.flags().is_binary();
        let (_, additions, deletions) = patch.line_stats()?;
        let mut hunks = Vec::new();
        for h in 0..patch.num_hunks() {
            let (hunk, count) = patch.hunk(h)?;
            let mut lines: Vec<DiffLine> = Vec::with_capacity(count);
            for l in 0..count {
                let line = patch.line_in_hunk(h, l)?;
                let kind = match line.origin() {
                    ' ' => LineKind::Context,
                    '+' => LineKind::Added,
                    '-' => LineKind::Removed,
                    // '=', '>', '<': the end-of-file-without-newline marker
                    // of the line before.
                    _ => {
                        if let Some(last) = lines.last_mut() {
                            last.no_newline_at_eof = true;
                        }
                        continue;
                    }
                };
                let text = String::from_utf8_lossy(line.content());
                let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
                lines.push(DiffLine {
                    kind,
                    text,
                    old_line: line.old_lineno(),
                    new_line: line.new_lineno(),
                    no_newline_at_eof: false,
                });
            }
            let header = String::from_utf8_lossy(hunk.header());
            hunks.push(Hunk {
                header: header.trim_end().to_string(),
                old_start: hunk.old_start(),
                old_lines: hunk.old_lines(),
                new_start: hunk.new_start(),
                new_lines: hunk.new_lines(),
                lines,
            });
        }
        files.push(FileDiff {
            old_path: if status == FileStatus::Added {
                None
            } else {
                path_string(delta.old_file().path())
            },
            new_path: if status == FileStatus::Deleted {
                None
            } else {
                path_string(delta.new_file().path())
            },
            status,
            binary,
            additions,
            deletions,
            hunks,
        });
    }
    Ok(ChangeDiff { files })
}

/// Commit `commit` as `git format-patch -1` writes it (mbox header, `From:`,
/// `Date:`, `Subject: [PATCH]`, the body, `---`, the diffstat, the diff and
/// a `-- ` signature line), for a human who wants to apply it elsewhere
/// with `git am`.
pub fn format_patch(repo: &Repository, commit: Oid) -> Result<String, ChangeError> {
    let commit = commit_of(repo, commit)?;
    let mut options = git2::EmailCreateOptions::new();
    options.omit_numbers(true);
    let email = git2::Email::from_commit(&commit, &mut options)?;
    let text = String::from_utf8_lossy(email.as_slice()).to_string();
    // libgit2 signs the mail "--\nlibgit2 <version>"; git's separator is
    // "-- " (with the space mail readers recognise) and its version.
    let text = match text.rfind("\n--\nlibgit2 ") {
        Some(at) => format!("{}\n-- \nexiton\n\n", &text[..at]),
        None => text,
    };
    Ok(text)
}
