//! Unified diffs as coder agents write them: split per file, hunks kept with
//! their header line numbers. Tolerant of what models get wrong — missing
//! `a/`/`b/` prefixes, `@@ @@` headers without numbers, blank lines where a
//! context line's leading space was trimmed — because the alternative is
//! throwing away an otherwise usable answer.

use serde::{Deserialize, Serialize};

/// One `@@ -a,b +c,d @@` section of a patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hunk {
    /// The header line as written, e.g. `@@ -1,3 +1,4 @@ fn main()`.
    pub header: String,
    /// First line in the old file (0 when the header had no numbers).
    pub old_start: u32,
    /// Lines of the old file this hunk covers.
    pub old_count: u32,
    pub new_start: u32,
    pub new_count: u32,
    /// Body lines with their ` `, `+`, `-` or `\` prefix.
    pub lines: Vec<String>,
}

/// The changes a diff makes to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patch {
    /// The file's path after the change (before it, for a deletion),
    /// normalised and checked by the caller.
    pub path: String,
    /// The old side was `/dev/null`.
    pub new_file: bool,
    /// The new side is `/dev/null`.
    pub deleted_file: bool,
    pub hunks: Vec<Hunk>,
    /// This file's part of the diff, verbatim, for `git apply` or display.
    pub raw: String,
}

/// What [`parse`] found.
#[derive(Debug, Default)]
pub(crate) struct DiffParse {
    pub patches: Vec<Patch>,
    pub warnings: Vec<String>,
    /// How many input lines belong to the diff (all of them unless `bare`).
    pub consumed: usize,
    /// A hunk ran out of input before its line counts were met.
    pub cut_short: bool,
}

/// Whether the line at `i` starts a file section of a unified diff.
pub(crate) fn starts_file(lines: &[&str], i: usize) -> bool {
    let Some(line) = lines.get(i) else {
        return false;
    };
    line.starts_with("diff --git ")
        || (line.starts_with("--- ") && lines.get(i + 1).is_some_and(|n| n.starts_with("+++ ")))
}

/// Whether a block's content is a unified diff even though its fence did not
/// say `diff`.
pub(crate) fn looks_like_diff(lines: &[&str]) -> bool {
    let has_file = (0..lines.len()).any(|i| starts_file(lines, i));
    has_file && lines.iter().any(|l| l.starts_with("@@"))
}

/// Parses a unified diff.
///
/// `bare` diffs sit in prose: parsing stops at the first line that cannot
/// belong to the diff and `consumed` says where. Fenced diffs skip stray
/// lines instead. `default_path` names the file for hunks that have no
/// `---`/`+++` header (e.g. a ```` ```diff src/x.rs ```` block).
pub(crate) fn parse(lines: &[&str], default_path: Option<&str>, bare: bool) -> DiffParse {
    let mut out = DiffParse::default();
    let mut current: Option<Builder> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("diff --git ") {
            finish(&mut current, &mut out);
            current = Some(Builder {
                git_path: git_header_path(line),
                raw: vec![line.to_owned()],
                ..Builder::default()
            });
            i += 1;
            continue;
        }
        if starts_file(lines, i) {
            // A `diff --git` header that has not seen `---` yet owns this pair.
            let reuse = current
                .as_ref()
                .is_some_and(|b| b.hunks.is_empty() && b.old.is_none());
            if !reuse {
                finish(&mut current, &mut out);
            }
            let b = current.get_or_insert_with(Builder::default);
            b.old = Some(header_path(&line[4..], "a/"));
            b.new = Some(header_path(&lines[i + 1][4..], "b/"));
            b.raw.push(line.to_owned());
            b.raw.push(lines[i + 1].to_owned());
            i += 2;
            continue;
        }
        if let Some(b) = current.as_mut().filter(|b| b.hunks.is_empty())
            && is_extended_header(line)
        {
            b.raw.push(line.to_owned());
            i += 1;
            continue;
        }
        if line.starts_with("@@") {
            if current.is_none() {
                match default_path {
                    Some(p) => {
                        current = Some(Builder {
                            git_path: Some(p.to_owned()),
                            ..Builder::default()
                        });
                    }
                    None if bare => break,
                    None => {
                        out.warnings
                            .push("a diff hunk has no file header; it was ignored".into());
                        i += 1;
                        while i < lines.len() && is_body_line(lines[i]) {
                            i += 1;
                        }
                        continue;
                    }
                }
            }
            let (hunk, next, cut_short) = parse_hunk(lines, i);
            if let Some(b) = current.as_mut() {
                if hunk.old_start == 0 && hunk.new_start == 0 && !hunk.header.contains('-') {
                    out.warnings.push(format!(
                        "a hunk for {} has no line numbers; it must be placed by its context",
                        b.display_path()
                    ));
                }
                if cut_short {
                    out.warnings.push(format!(
                        "a hunk for {} is shorter than its header says",
                        b.display_path()
                    ));
                    out.cut_short |= next >= lines.len();
                }
                b.raw.extend(lines[i..next].iter().map(|l| (*l).to_owned()));
                b.hunks.push(hunk);
            }
            i = next;
            continue;
        }
        if bare {
            break;
        }
        i += 1;
    }
    finish(&mut current, &mut out);
    out.consumed = i;
    out
}

#[derive(Debug, Default)]
struct Builder {
    git_path: Option<String>,
    old: Option<String>,
    new: Option<String>,
    hunks: Vec<Hunk>,
    raw: Vec<String>,
}

impl Builder {
    fn display_path(&self) -> String {
        self.new
            .clone()
            .filter(|p| p != DEV_NULL)
            .or_else(|| self.old.clone())
            .or_else(|| self.git_path.clone())
            .unwrap_or_else(|| "an unnamed file".into())
    }
}

const DEV_NULL: &str = "/dev/null";

fn finish(current: &mut Option<Builder>, out: &mut DiffParse) {
    let Some(b) = current.take() else {
        return;
    };
    if b.hunks.is_empty() {
        // Headers alone (a rename, a mode change) change no content we apply.
        return;
    }
    let new_file = b.old.as_deref() == Some(DEV_NULL);
    let deleted_file = b.new.as_deref() == Some(DEV_NULL);
    let path = b.display_path();
    let mut raw = b.raw.join("\n");
    raw.push('\n');
    out.patches.push(Patch {
        path,
        new_file,
        deleted_file,
        hunks: b.hunks,
        raw,
    });
}

/// The path of a `---`/`+++` line: tab-separated timestamps dropped, the
/// conventional `a/`/`b/` prefix removed.
fn header_path(rest: &str, prefix: &str) -> String {
    let p = rest.split('\t').next().unwrap_or(rest).trim();
    if p == DEV_NULL {
        return p.to_owned();
    }
    p.strip_prefix(prefix).unwrap_or(p).to_owned()
}

/// The new path of `diff --git a/x b/y` (paths with spaces are rare enough
/// in generated code to split on the last ` b/`).
fn git_header_path(line: &str) -> Option<String> {
    let rest = line.strip_prefix("diff --git ")?;
    let at = rest.rfind(" b/")?;
    Some(rest[at + 3..].trim().to_owned())
}

fn is_extended_header(line: &str) -> bool {
    [
        "index ",
        "new file mode",
        "deleted file mode",
        "similarity index",
        "dissimilarity index",
        "rename from",
        "rename to",
        "copy from",
        "copy to",
        "old mode",
        "new mode",
        "Binary files",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

fn is_body_line(line: &str) -> bool {
    matches!(line.chars().next(), Some(' ' | '+' | '-' | '\\')) && !line.starts_with("+++ ")
}

/// `@@ -a,b +c,d @@` → (a, b, c, d); counts default to 1 as in `diff -u`.
pub(crate) fn parse_hunk_header(line: &str) -> Option<(u32, u32, u32, u32)> {
    let rest = line.strip_prefix("@@")?.trim_start();
    let end = rest.find("@@")?;
    let mut parts = rest[..end].split_whitespace();
    let (a, b) = parse_range(parts.next()?.strip_prefix('-')?)?;
    let (c, d) = parse_range(parts.next()?.strip_prefix('+')?)?;
    Some((a, b, c, d))
}

fn parse_range(s: &str) -> Option<(u32, u32)> {
    match s.split_once(',') {
        Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
        None => Some((s.parse().ok()?, 1)),
    }
}

/// Parses the hunk whose header is at `at`; returns it, the index after it,
/// and whether input ran out (or turned to prose) before the counts were met.
fn parse_hunk(lines: &[&str], at: usize) -> (Hunk, usize, bool) {
    let header = lines[at].to_owned();
    let mut body = Vec::new();
    let mut j = at + 1;
    let mut cut_short = false;
    let numbers = parse_hunk_header(&header);
    if let Some((_, old_count, _, new_count)) = numbers {
        let (mut old_rem, mut new_rem) = (old_count, new_count);
        while old_rem > 0 || new_rem > 0 {
            let Some(line) = lines.get(j) else {
                cut_short = true;
                break;
            };
            match line.chars().next() {
                // A blank line is a context line whose space was trimmed.
                None | Some(' ') => {
                    old_rem = old_rem.saturating_sub(1);
                    new_rem = new_rem.saturating_sub(1);
                }
                Some('-') => old_rem = old_rem.saturating_sub(1),
                Some('+') => new_rem = new_rem.saturating_sub(1),
                Some('\\') => {}
                Some(_) => {
                    cut_short = true;
                    break;
                }
            }
            body.push((*line).to_owned());
            j += 1;
        }
        if lines.get(j).is_some_and(|l| l.starts_with('\\')) {
            body.push(lines[j].to_owned());
            j += 1;
        }
    } else {
        // No numbers: take body lines while they last; a blank line counts as
        // context only when the hunk carries on after it.
        while let Some(line) = lines.get(j) {
            let continues = lines.get(j + 1).is_some_and(|n| is_body_line(n));
            let body_line = is_body_line(line) && !starts_file(lines, j);
            if body_line || (line.is_empty() && continues) {
                body.push((*line).to_owned());
                j += 1;
            } else {
                break;
            }
        }
    }
    let (old_start, old_count, new_start, new_count) = numbers.unwrap_or_else(|| {
        let old = body
            .iter()
            .filter(|l| !l.starts_with('+') && !l.starts_with('\\'))
            .count();
        let new = body
            .iter()
            .filter(|l| !l.starts_with('-') && !l.starts_with('\\'))
            .count();
        (
            0,
            u32::try_from(old).unwrap_or(u32::MAX),
            0,
            u32::try_from(new).unwrap_or(u32::MAX),
        )
    });
    let hunk = Hunk {
        header,
        old_start,
        old_count,
        new_start,
        new_count,
        lines: body,
    };
    (hunk, j, cut_short)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<&str> {
        s.lines().collect()
    }

    #[test]
    fn hunk_headers_parse_with_and_without_counts() {
        assert_eq!(parse_hunk_header("@@ -1,3 +1,4 @@"), Some((1, 3, 1, 4)));
        assert_eq!(
            parse_hunk_header("@@ -10 +12,2 @@ fn main() {"),
            Some((10, 1, 12, 2))
        );
        assert_eq!(parse_hunk_header("@@ -0,0 +1 @@"), Some((0, 0, 1, 1)));
        assert_eq!(parse_hunk_header("@@ @@"), None);
        assert_eq!(parse_hunk_header("@@ -x,1 +1 @@"), None);
    }

    #[test]
    fn splits_a_multi_file_git_diff() {
        let text = "diff --git a/src/a.rs b/src/a.rs\nindex 1..2 100644\n--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1,2 +1,2 @@\n fn a() {}\n-fn b() {}\n+fn c() {}\ndiff --git a/src/b.rs b/src/b.rs\n--- a/src/b.rs\n+++ b/src/b.rs\n@@ -5 +5,2 @@\n x\n+y\n";
        let d = parse(&lines(text), None, false);
        assert_eq!(d.patches.len(), 2);
        assert_eq!(d.patches[0].path, "src/a.rs");
        assert_eq!(d.patches[0].hunks[0].lines.len(), 3);
        assert!(d.patches[0].raw.starts_with("diff --git"));
        assert!(d.patches[0].raw.contains("index 1..2"));
        assert_eq!(d.patches[1].path, "src/b.rs");
        assert_eq!(d.patches[1].hunks[0].new_start, 5);
        assert_eq!(d.patches[1].hunks[0].new_count, 2);
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn blank_lines_inside_counted_hunks_are_context() {
        let text = "--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n";
        let d = parse(&lines(text), None, true);
        assert_eq!(d.patches[0].hunks[0].lines, vec![" a", "", "-b", "+c"]);
        assert_eq!(d.consumed, 7);
    }

    #[test]
    fn bare_diffs_stop_at_prose() {
        let text = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\nThat is all.";
        let d = parse(&lines(text), None, true);
        assert_eq!(d.patches.len(), 1);
        assert_eq!(d.consumed, 5);
        assert!(!d.cut_short);
    }

    #[test]
    fn new_and_deleted_files() {
        let text = "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hi\n--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n";
        let d = parse(&lines(text), None, false);
        assert_eq!(d.patches.len(), 2);
        assert!(d.patches[0].new_file);
        assert_eq!(d.patches[0].path, "new.txt");
        assert!(d.patches[1].deleted_file);
        assert_eq!(d.patches[1].path, "old.txt");
    }

    #[test]
    fn headers_without_prefix_and_with_timestamps() {
        let text = "--- src/x.rs\t2024-01-01\n+++ src/x.rs\t2024-01-02\n@@ -1 +1 @@\n-a\n+b\n";
        let d = parse(&lines(text), None, false);
        assert_eq!(d.patches[0].path, "src/x.rs");
    }

    #[test]
    fn numberless_hunks_are_kept_with_a_warning() {
        let text = "--- a/x\n+++ b/x\n@@ @@\n a\n-b\n+c\n\nnot diff";
        let d = parse(&lines(text), None, true);
        let h = &d.patches[0].hunks[0];
        assert_eq!((h.old_start, h.old_count, h.new_count), (0, 2, 2));
        assert_eq!(d.warnings.len(), 1);
        assert_eq!(d.consumed, 6);
    }

    #[test]
    fn a_hunk_cut_off_at_the_end_is_reported() {
        let text = "--- a/x\n+++ b/x\n@@ -1,5 +1,5 @@\n a\n b";
        let d = parse(&lines(text), None, false);
        assert!(d.cut_short);
        assert_eq!(d.patches[0].hunks[0].lines.len(), 2);
    }

    #[test]
    fn default_path_names_headerless_hunks() {
        let text = "@@ -1 +1 @@\n-a\n+b";
        let d = parse(&lines(text), Some("src/lib.rs"), false);
        assert_eq!(d.patches[0].path, "src/lib.rs");
        let none = parse(&lines(text), None, false);
        assert!(none.patches.is_empty());
        assert_eq!(none.warnings.len(), 1);
    }

    #[test]
    fn no_newline_marker_is_kept() {
        let text = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n\\ No newline at end of file\n";
        let d = parse(&lines(text), None, true);
        assert_eq!(d.patches[0].hunks[0].lines.len(), 3);
        assert_eq!(d.consumed, 6);
    }

    #[test]
    fn detection_helpers() {
        assert!(looks_like_diff(&lines("--- a/x\n+++ b/x\n@@ -1 +1 @@")));
        assert!(!looks_like_diff(&lines("--- a/x\n+++ b/x")));
        assert!(!looks_like_diff(&lines("--- just a rule\ntext\n@@")));
        assert!(starts_file(&lines("diff --git a/x b/x"), 0));
    }
}
