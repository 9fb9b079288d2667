//! Unified diffs of one file, parsed strictly and applied the way
//! `git apply` applies them.
//!
//! The parser accepts what `git diff` and what a language model usually
//! write: optional `diff --git`/`index` lines, `--- a/x` and `+++ b/x` (the
//! `a/` and `b/` prefixes optional, `/dev/null` for a creation or a
//! deletion) and `@@ -l,s +l,s @@` hunks (a missing count means 1, as in
//! the unified format). The counts in a hunk header are trusted to find the
//! end of the hunk — a removed line may itself start with `---` — so a
//! header that disagrees with its body is refused with the hunk named,
//! rather than guessed at.
//!
//! Application copies `git apply`'s rules (apply.c, `apply_one_fragment`
//! and `find_pos`), so the tree we build is the tree `git apply --cached`
//! would build: hunks apply in order to the result of the previous ones;
//! context must match byte for byte; a hunk is looked for at its stated
//! line, then one line after, one before, two after… ; a hunk starting at
//! line 0 or 1 must match the start of the file and a hunk without trailing
//! context must match its end; no fuzz.

use super::ChangeError;

/// One line of a hunk body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HunkLine {
    /// b' ', b'-' or b'+'.
    pub kind: u8,
    /// The line's bytes with its newline, unless a `\ No newline at end of
    /// file` marker followed it.
    pub text: Vec<u8>,
}

/// One parsed hunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedHunk {
    pub header: String,
    pub old_start: usize,
    pub new_start: usize,
    pub lines: Vec<HunkLine>,
    /// Context lines before the first change, and after the last one.
    pub leading: usize,
    pub trailing: usize,
}

/// A parsed single-file patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilePatch {
    /// The file did not exist before (`--- /dev/null`).
    pub creates: bool,
    /// The file does not exist after (`+++ /dev/null`).
    pub deletes: bool,
    /// `new file mode 100755` in a git header.
    pub new_executable: bool,
    pub hunks: Vec<ParsedHunk>,
}

/// Splits `bytes` into lines, each keeping its `\n` (the last may lack it).
pub(crate) fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            lines.push(&bytes[start..=i]);
            start = i + 1;
        }
    }
    if start < bytes.len() {
        lines.push(&bytes[start..]);
    }
    lines
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The name on a `---`/`+++` line: `None` for /dev/null. A tab ends the
/// name (GNU diff puts a timestamp after it).
fn header_name(rest: &[u8]) -> Option<String> {
    let rest = strip_eol(rest);
    let name = match rest.iter().position(|b| *b == b'\t') {
        Some(tab) => &rest[..tab],
        None => rest,
    };
    let name = String::from_utf8_lossy(name).trim_end().to_string();
    if name == "/dev/null" {
        None
    } else {
        Some(name)
    }
}

/// Does the name in a header designate `path`? `prefix` is "a/" or "b/".
fn names(path: &str, name: &str, prefix: &str) -> bool {
    name == path || name.strip_prefix(prefix) == Some(path)
}

/// `@@ -a[,b] +c[,d] @@…` → (a, b, c, d).
fn parse_hunk_header(line: &[u8]) -> Option<(usize, usize, usize, usize)> {
    let text = std::str::from_utf8(strip_eol(line)).ok()?;
    let rest = text.strip_prefix("@@ -")?;
    let end = rest.find(" @@")?;
    let (old, new) = rest[..end].split_once(" +")?;
    let range = |r: &str| -> Option<(usize, usize)> {
        match r.split_once(',') {
            Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (a, b) = range(old)?;
    let (c, d) = range(new)?;
    Some((a, b, c, d))
}

/// A `\ No newline at end of file` marker: the line before it has no
/// newline.
fn drop_newline(body: &mut [HunkLine]) {
    if let Some(last) = body.last_mut()
        && last.text.last() == Some(&b'\n')
    {
        last.text.pop();
    }
}

/// Parses `diff` as a patch of the single file `path`.
pub(crate) fn parse(path: &str, diff: &str) -> Result<FilePatch, ChangeError> {
    let lines = split_lines(diff.as_bytes());
    let malformed = |line: usize, reason: &str| ChangeError::MalformedPatch {
        path: path.to_string(),
        line: line + 1,
        reason: reason.to_string(),
    };
    let mut patch = FilePatch {
        creates: false,
        deletes: false,
        new_executable: false,
        hunks: Vec::new(),
    };
    let mut i = 0;
    let mut git_header = false;
    let mut git_new = false;
    let mut git_deleted = false;

    // Header: anything before `---` is skipped as `git apply` does (prose,
    // `index` lines), except what we cannot honour and must not ignore.
    loop {
        let Some(line) = lines.get(i) else {
            // A git header with no hunks at all: creating or deleting an
            // empty file.
            if git_new || git_deleted {
                patch.creates = git_new;
                patch.deletes = git_deleted;
                return Ok(patch);
            }
            return Err(malformed(i, "no '--- a/<path>' line: not a unified diff"));
        };
        let text = strip_eol(line);
        if text.starts_with(b"--- ") {
            break;
        }
        if text.starts_with(b"diff --git ") {
            if git_header {
                return Err(malformed(
                    i,
                    "more than one file in the patch; give one edit per file",
                ));
            }
            git_header = true;
        } else if text.starts_with(b"new file mode ") {
            git_new = true;
            patch.new_executable = text.ends_with(b"755");
        } else if text.starts_with(b"deleted file mode ") {
            git_deleted = true;
        } else if text.starts_with(b"rename ") || text.starts_with(b"copy ") {
            return Err(malformed(
                i,
                "renames and copies are not supported; use Delete and Write",
            ));
        } else if text.starts_with(b"old mode ") || text.starts_with(b"new mode ") {
            return Err(malformed(i, "mode changes are not supported"));
        } else if text.starts_with(b"Binary files ") || text.starts_with(b"GIT binary patch") {
            return Err(ChangeError::Binary {
                path: path.to_string(),
            });
        } else if text.starts_with(b"@@ ") {
            return Err(malformed(
                i,
                "hunk before the '--- a/<path>' and '+++ b/<path>' lines",
            ));
        }
        i += 1;
    }
    let old = header_name(&lines[i][4..]);
    i += 1;
    let new = match lines.get(i) {
        Some(line) if line.starts_with(b"+++ ") => header_name(&line[4..]),
        _ => return Err(malformed(i, "expected '+++ b/<path>' after '--- a/<path>'")),
    };
    match (&old, &new) {
        (None, None) => return Err(malformed(i, "both sides are /dev/null")),
        (Some(o), Some(n)) if !(names(path, o, "a/") && names(path, n, "b/")) => {
            return Err(malformed(
                i,
                &format!(
                    "the patch is for {o:?} -> {n:?}, not {path:?} (renames are not supported)"
                ),
            ));
        }
        (Some(name), None) if !names(path, name, "a/") => {
            return Err(malformed(
                i,
                &format!("the patch deletes {name:?}, not {path:?}"),
            ));
        }
        (None, Some(name)) if !names(path, name, "b/") => {
            return Err(malformed(
                i,
                &format!("the patch creates {name:?}, not {path:?}"),
            ));
        }
        _ => {}
    }
    patch.creates = old.is_none();
    patch.deletes = new.is_none();
    i += 1;

    while i < lines.len() {
        let line = lines[i];
        if !line.starts_with(b"@@ ") {
            // Blank lines after the last hunk are harmless; anything else
            // is text we would otherwise silently drop.
            if lines[i..]
                .iter()
                .all(|l| l.iter().all(u8::is_ascii_whitespace))
            {
                break;
            }
            if line.starts_with(b"diff ") || line.starts_with(b"--- ") {
                return Err(malformed(
                    i,
                    "more than one file in the patch; give one edit per file",
                ));
            }
            return Err(malformed(
                i,
                &format!(
                    "expected a hunk header '@@ -l,s +l,s @@' (hunk {})",
                    patch.hunks.len() + 1
                ),
            ));
        }
        let n = patch.hunks.len() + 1;
        let header = String::from_utf8_lossy(strip_eol(line)).to_string();
        let (old_start, mut old_left, new_start, mut new_left) = parse_hunk_header(line)
            .ok_or_else(|| malformed(i, &format!("hunk {n}: bad header {header:?}")))?;
        i += 1;
        let mut body: Vec<HunkLine> = Vec::new();
        while old_left > 0 || new_left > 0 {
            let Some(line) = lines.get(i) else {
                return Err(malformed(
                    i,
                    &format!(
                        "hunk {n} ({header}) ends early: {old_left} old and {new_left} new lines missing"
                    ),
                ));
            };
            let (kind, text) = match line.first() {
                // An empty line is an empty context line (newer GNU diff,
                // and models that strip trailing spaces).
                Some(b'\n') => (b' ', b"\n".to_vec()),
                Some(b' ') => (b' ', line[1..].to_vec()),
                Some(b'-') => (b'-', line[1..].to_vec()),
                Some(b'+') => (b'+', line[1..].to_vec()),
                Some(b'\\') => {
                    drop_newline(&mut body);
                    i += 1;
                    continue;
                }
                _ => {
                    return Err(malformed(
                        i,
                        &format!(
                            "hunk {n} ({header}): line is not ' ', '-' or '+' while {old_left} old and {new_left} new lines remain (do the header counts match the body?)"
                        ),
                    ));
                }
            };
            let (old_use, new_use) = match kind {
                b' ' => (1, 1),
                b'-' => (1, 0),
                _ => (0, 1),
            };
            if old_left < old_use || new_left < new_use {
                return Err(malformed(
                    i,
                    &format!("hunk {n} ({header}) has more lines than its header counts"),
                ));
            }
            old_left -= old_use;
            new_left -= new_use;
            body.push(HunkLine { kind, text });
            i += 1;
        }
        if lines.get(i).is_some_and(|line| line.starts_with(b"\\")) {
            drop_newline(&mut body);
            i += 1;
        }
        if body.iter().all(|l| l.kind == b' ') {
            return Err(malformed(
                i,
                &format!("hunk {n} ({header}) changes nothing"),
            ));
        }
        let leading = body.iter().take_while(|l| l.kind == b' ').count();
        let trailing = body.iter().rev().take_while(|l| l.kind == b' ').count();
        patch.hunks.push(ParsedHunk {
            header,
            old_start,
            new_start,
            lines: body,
            leading,
            trailing,
        });
    }
    if patch.hunks.is_empty() && !(git_new || git_deleted) {
        return Err(malformed(i, "the patch has no hunks"));
    }
    Ok(patch)
}

/// Where `pre` matches in `image`, searched as git's `find_pos` does.
fn find_pos(
    image: &[Vec<u8>],
    pre: &[&[u8]],
    line: usize,
    begin: bool,
    end: bool,
) -> Option<usize> {
    let fits = |at: usize| -> bool {
        if at + pre.len() > image.len() {
            return false;
        }
        if begin && at != 0 {
            return false;
        }
        if end && at + pre.len() != image.len() {
            return false;
        }
        pre.iter()
            .zip(&image[at..])
            .all(|(p, l)| *p == l.as_slice())
    };
    // With a required end, only one position can match: start there.
    let mut line = if begin {
        0
    } else if end {
        image.len().checked_sub(pre.len()).unwrap_or(image.len())
    } else {
        line
    };
    line = line.min(image.len());
    if fits(line) {
        return Some(line);
    }
    let (mut back, mut fwd) = (line, line);
    let mut i = 0usize;
    loop {
        if back == 0 && fwd == image.len() {
            return None;
        }
        let current = if i % 2 == 1 {
            if back == 0 {
                i += 1;
                continue;
            }
            back -= 1;
            back
        } else {
            if fwd == image.len() {
                i += 1;
                continue;
            }
            fwd += 1;
            fwd
        };
        if fits(current) {
            return Some(current);
        }
        i += 1;
    }
}

/// Applies `patch` to `old` (empty for a creation); `path` names errors.
pub(crate) fn apply(path: &str, patch: &FilePatch, old: &[u8]) -> Result<Vec<u8>, ChangeError> {
    let mut image: Vec<Vec<u8>> = split_lines(old).into_iter().map(<[u8]>::to_vec).collect();
    for (n, hunk) in patch.hunks.iter().enumerate() {
        let pre: Vec<&[u8]> = hunk
            .lines
            .iter()
            .filter(|l| l.kind != b'+')
            .map(|l| l.text.as_slice())
            .collect();
        let post: Vec<Vec<u8>> = hunk
            .lines
            .iter()
            .filter(|l| l.kind != b'-')
            .map(|l| l.text.clone())
            .collect();
        let begin = hunk.old_start <= 1;
        let end = hunk.trailing == 0;
        let pos = hunk.new_start.saturating_sub(1);
        let Some(at) = find_pos(&image, &pre, pos, begin, end) else {
            return Err(ChangeError::HunkFailed {
                path: path.to_string(),
                hunk: n + 1,
                header: hunk.header.clone(),
            });
        };
        image.splice(at..at + pre.len(), post);
    }
    Ok(image.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(diff: &str, old: &str) -> Result<String, ChangeError> {
        let patch = parse("f.txt", diff)?;
        apply("f.txt", &patch, old.as_bytes()).map(|v| String::from_utf8_lossy(&v).to_string())
    }

    #[test]
    fn applies_simple_hunk_without_prefixes() {
        let diff = "--- f.txt\n+++ f.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n";
        assert_eq!(run(diff, "a\nb\nc\n").unwrap(), "a\nB\nc\n");
    }

    #[test]
    fn applies_at_an_offset() {
        let diff = "--- a/f.txt\n+++ b/f.txt\n@@ -2,3 +2,3 @@\n b\n-c\n+C\n d\n";
        assert_eq!(
            run(diff, "x\ny\na\nb\nc\nd\ne\n").unwrap(),
            "x\ny\na\nb\nC\nd\ne\n"
        );
    }

    #[test]
    fn missing_counts_mean_one() {
        let diff = "--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-a\n+A\n";
        assert_eq!(run(diff, "a\n").unwrap(), "A\n");
    }

    #[test]
    fn no_newline_markers() {
        let diff =
            "--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n";
        assert_eq!(run(diff, "a\nb").unwrap(), "a\nb\n");
    }

    #[test]
    fn counts_disagreeing_with_body_are_refused() {
        let diff = "--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n";
        assert!(matches!(
            run(diff, "a\nb\nc\n"),
            Err(ChangeError::MalformedPatch { .. })
        ));
    }

    #[test]
    fn failing_hunk_is_named() {
        let diff = "--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n@@ -5,2 +5,2 @@\n x\n-zz\n+y\n";
        match run(diff, "a\nb\nc\nd\nx\ny\n") {
            Err(ChangeError::HunkFailed { hunk, .. }) => assert_eq!(hunk, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_files_name_is_refused() {
        let diff = "--- a/g.txt\n+++ b/g.txt\n@@ -1 +1 @@\n-a\n+A\n";
        assert!(matches!(
            run(diff, "a\n"),
            Err(ChangeError::MalformedPatch { .. })
        ));
    }

    #[test]
    fn two_files_are_refused() {
        let diff = "--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-a\n+A\n--- a/g.txt\n+++ b/g.txt\n@@ -1 +1 @@\n-a\n+A\n";
        assert!(matches!(
            run(diff, "a\n"),
            Err(ChangeError::MalformedPatch { .. })
        ));
    }
}
