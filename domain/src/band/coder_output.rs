//! Turning an agent's raw text into something the console can diff and the
//! human can apply: proposed files, per-file patches and the prose around
//! them, plus the agent's self-reported confidence and a reviewer's verdict.
//!
//! Models format code in many ways, so recognition is deliberately tolerant:
//! the file path may sit in the fence's info string (```` ```rust src/main.rs ````,
//! `title="…"`, `path=…`, `rust:src/main.rs`), on the line before the fence
//! (`File: src/main.rs`, `// src/main.rs`, `**src/main.rs**`, `### src/main.rs`,
//! "Update `src/lib.rs`:"), or in a comment on the block's first line.
//! Safety is not tolerant: a path that could escape the project (absolute,
//! `..`, a drive letter) is never proposed — that block stays prose and a
//! warning says why.

use serde::{Deserialize, Serialize};

use super::diff::{self, Patch};

/// One whole file the agent proposes to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedFile {
    /// Relative, normalised path (forward slashes, no `.` or `..`).
    pub path: String,
    /// The fence's language, lower-cased, when it gave one.
    pub language: Option<String>,
    pub content: String,
    /// The fence was never closed: the output was cut off inside this file,
    /// so applying it would write half a file.
    pub truncated: bool,
}

/// What a coder agent's answer contains.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CoderOutput {
    pub files: Vec<ProposedFile>,
    pub patches: Vec<Patch>,
    /// Everything that is not a file or a patch, including code blocks
    /// without a path and blocks refused for an unsafe path.
    pub prose: String,
    /// Things the human should know about how the answer was read.
    pub warnings: Vec<String>,
    /// A fence (or a diff hunk) was still open at the end of the text.
    pub truncated: bool,
    /// The agent's own confidence, clamped to `[0, 1]`.
    pub self_reported_confidence: Option<f64>,
}

/// Why a proposed path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafePath {
    #[error("the path is empty")]
    Empty,
    #[error("the path is absolute")]
    Absolute,
    #[error("the path leaves the project through `..`")]
    Traversal,
    #[error("the path contains control characters")]
    ControlCharacters,
}

/// Normalises a proposed path (backslashes to `/`, `./` and empty segments
/// dropped) and refuses any that could reach outside the project.
///
/// # Errors
/// [`UnsafePath`] for empty, absolute (`/x`, `~/x`, `C:\x`) and `..` paths.
pub fn normalise_path(raw: &str) -> Result<String, UnsafePath> {
    let s = raw.trim().replace('\\', "/");
    if s.chars().any(char::is_control) {
        return Err(UnsafePath::ControlCharacters);
    }
    let bytes = s.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if s.starts_with('/') || s.starts_with('~') || drive {
        return Err(UnsafePath::Absolute);
    }
    let mut parts = Vec::new();
    for part in s.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(UnsafePath::Traversal),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(UnsafePath::Empty);
    }
    Ok(parts.join("/"))
}

impl CoderOutput {
    /// Reads a coder agent's answer.
    pub fn parse(raw: &str) -> Self {
        let lines: Vec<&str> = raw.lines().collect();
        let mut p = Parser::default();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            if let Some(fence) = open_fence(line) {
                let mut j = i + 1;
                while j < lines.len() && !fence.closed_by(lines[j]) {
                    j += 1;
                }
                let closed = j < lines.len();
                let end = if closed { j + 1 } else { lines.len() };
                let content: Vec<&str> = lines[i + 1..j]
                    .iter()
                    .map(|l| strip_indent(l, fence.indent))
                    .collect();
                p.block(&fence, &content, closed, &lines[i..end]);
                i = end;
                continue;
            }
            if diff::starts_file(&lines, i) {
                let d = diff::parse(&lines[i..], None, true);
                if !d.patches.is_empty() {
                    p.truncated |= d.cut_short;
                    p.warnings.extend(d.warnings);
                    for patch in d.patches {
                        p.patch(patch);
                    }
                    p.mark_block();
                    i += d.consumed.max(1);
                    continue;
                }
            }
            p.prose.push(line.to_owned());
            i += 1;
        }
        let prose = p.prose.join("\n").trim().to_owned();
        let self_reported_confidence = parse_self_reported_confidence(&prose);
        Self {
            files: p.files,
            patches: p.patches,
            prose,
            warnings: p.warnings,
            truncated: p.truncated,
            self_reported_confidence,
        }
    }
}

#[derive(Debug, Default)]
struct Parser {
    files: Vec<ProposedFile>,
    patches: Vec<Patch>,
    prose: Vec<String>,
    warnings: Vec<String>,
    truncated: bool,
    /// Prose lines before this index belong before the previous block, so
    /// they cannot name the next one.
    block_boundary: usize,
}

impl Parser {
    fn block(&mut self, fence: &Fence, content: &[&str], closed: bool, verbatim: &[&str]) {
        let info = parse_info(&fence.info);
        let marker = self.marker();
        let is_diff = matches!(info.language.as_deref(), Some("diff" | "patch" | "udiff"))
            || diff::looks_like_diff(content);
        if !closed {
            self.truncated = true;
        }
        let named = info
            .path
            .clone()
            .or_else(|| marker.as_ref().map(|(p, _)| p.clone()));
        if is_diff {
            let d = diff::parse(content, named.as_deref(), false);
            if !d.patches.is_empty() {
                if !closed {
                    self.warnings
                        .push("the output ends inside a diff; it is incomplete".into());
                }
                self.warnings.extend(d.warnings);
                self.drop_marker(marker.as_ref());
                for patch in d.patches {
                    self.patch(patch);
                }
                self.mark_block();
                return;
            }
        }
        let path = named.or_else(|| content.first().and_then(|l| comment_path(l)));
        let Some(raw_path) = path else {
            self.verbatim(verbatim);
            return;
        };
        match normalise_path(&raw_path) {
            Ok(path) => {
                self.drop_marker(marker.as_ref());
                if !closed {
                    self.warnings.push(format!(
                        "the output ends inside {path}; the file is incomplete"
                    ));
                }
                let mut text = content.join("\n");
                if !text.is_empty() {
                    text.push('\n');
                }
                self.file(ProposedFile {
                    path,
                    language: info.language,
                    content: text,
                    truncated: !closed,
                });
                self.mark_block();
            }
            Err(why) => {
                self.warnings
                    .push(format!("refused a block for `{raw_path}`: {why}"));
                self.verbatim(verbatim);
            }
        }
    }

    fn file(&mut self, file: ProposedFile) {
        if let Some(at) = self.files.iter().position(|f| f.path == file.path) {
            self.warnings.push(format!(
                "{} was proposed more than once; the last version is kept",
                file.path
            ));
            self.files.remove(at);
        }
        self.files.push(file);
    }

    fn patch(&mut self, mut patch: Patch) {
        match normalise_path(&patch.path) {
            Ok(path) => {
                patch.path = path;
                self.patches.push(patch);
            }
            Err(why) => {
                self.warnings
                    .push(format!("refused a patch for `{}`: {why}", patch.path));
                self.prose.extend(patch.raw.lines().map(str::to_owned));
            }
        }
    }

    fn verbatim(&mut self, lines: &[&str]) {
        self.prose.extend(lines.iter().map(|l| (*l).to_owned()));
        self.mark_block();
    }

    fn mark_block(&mut self) {
        self.block_boundary = self.prose.len();
    }

    /// The path named by the last non-blank prose line since the previous
    /// block, with the index of that line when it was nothing but the name.
    fn marker(&self) -> Option<(String, Option<usize>)> {
        let (at, line) = self
            .prose
            .iter()
            .enumerate()
            .skip(self.block_boundary)
            .rev()
            .find(|(_, l)| !l.trim().is_empty())?;
        let (path, pure) = marker_path(line)?;
        Some((path, pure.then_some(at)))
    }

    /// A line that only named the file is now said by the file itself.
    fn drop_marker(&mut self, marker: Option<&(String, Option<usize>)>) {
        if let Some((_, Some(at))) = marker {
            self.prose.remove(*at);
        }
    }
}

#[derive(Debug)]
struct Fence {
    ch: char,
    len: usize,
    indent: usize,
    info: String,
}

impl Fence {
    fn closed_by(&self, line: &str) -> bool {
        let t = line.trim();
        t.len() >= self.len && t.chars().all(|c| c == self.ch)
    }
}

fn open_fence(line: &str) -> Option<Fence> {
    let t = line.trim_start();
    let ch = t.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let len = t.chars().take_while(|&c| c == ch).count();
    if len < 3 {
        return None;
    }
    let info = t[len..].trim();
    // CommonMark: a backtick fence's info string has no backticks (that is
    // inline code such as ```` ```x``` ````).
    if ch == '`' && info.contains('`') {
        return None;
    }
    Some(Fence {
        ch,
        len,
        indent: line.len() - t.len(),
        info: info.to_owned(),
    })
}

fn strip_indent(line: &str, indent: usize) -> &str {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    &line[spaces.min(indent)..]
}

#[derive(Debug, Default)]
struct Info {
    language: Option<String>,
    path: Option<String>,
}

fn parse_info(info: &str) -> Info {
    let mut out = Info::default();
    for (n, token) in info.split_whitespace().enumerate() {
        if let Some((key, value)) = token.split_once('=') {
            let key = key.to_ascii_lowercase();
            if matches!(
                key.as_str(),
                "title" | "path" | "file" | "filename" | "name"
            ) {
                out.path = Some(value.trim_matches(|c| c == '"' || c == '\'').to_owned());
            }
        } else if let Some((lang, path)) = token.split_once(':').filter(|(lang, path)| {
            // `rust:src/main.rs`; a drive letter (`C:`) is a path, not a language.
            n == 0
                && lang.len() > 1
                && lang.chars().all(char::is_alphanumeric)
                && looks_like_path(path)
        }) {
            out.language = Some(lang.to_ascii_lowercase());
            out.path = Some(path.to_owned());
        } else if n == 0 && !looks_like_path(token) {
            out.language = Some(token.to_ascii_lowercase());
        } else if out.path.is_none() && looks_like_path(token) {
            out.path = Some(token.to_owned());
        }
    }
    out
}

/// File names without an extension that are still clearly files.
const DOTLESS: &[&str] = &[
    "Makefile",
    "Dockerfile",
    "Justfile",
    "Procfile",
    "Gemfile",
    "Rakefile",
    "LICENSE",
    "Containerfile",
];

/// Whether a single token reads as a file path rather than a word.
fn looks_like_path(s: &str) -> bool {
    if s.is_empty() || s.chars().any(char::is_whitespace) || s.contains("://") {
        return false;
    }
    if s.contains('/') || s.contains('\\') {
        return s.chars().any(|c| c.is_alphanumeric());
    }
    if DOTLESS.contains(&s) {
        return true;
    }
    // `main.rs`, `.env`: something after the last dot with a letter in it;
    // this rules out `1.2.3`, `e.g.` and `...`.
    s.rsplit_once('.')
        .is_some_and(|(_, ext)| !ext.is_empty() && ext.chars().any(|c| c.is_alphabetic()))
}

/// Markdown and comment decoration around a file name.
fn undecorate(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '`' | '"' | '\'' | ':'))
}

fn strip_label(s: &str) -> &str {
    let lower = s.to_ascii_lowercase();
    for label in ["filename:", "file:", "path:"] {
        if lower.starts_with(label) {
            return undecorate(&s[label.len()..]);
        }
    }
    s
}

/// The path a prose line names, and whether the line was only that name
/// (`File: x`, `**x**`, `### x`, `// x`) rather than a sentence ending in a
/// quoted path (``Update `x`:``).
fn marker_path(line: &str) -> Option<(String, bool)> {
    let t = line.trim().trim_start_matches('#').trim_start();
    let t = t
        .strip_prefix("//")
        .or_else(|| t.strip_prefix("- "))
        .or_else(|| t.strip_prefix("* "))
        .unwrap_or(t);
    let unbolded = t.replace("**", "");
    let candidate = strip_label(undecorate(&unbolded));
    if looks_like_path(candidate) {
        return Some((candidate.to_owned(), true));
    }
    if line.trim_end().ends_with(':') {
        let spans: Vec<&str> = line
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| looks_like_path(s))
            .collect();
        if let [only] = spans.as_slice() {
            return Some(((*only).to_owned(), false));
        }
    }
    None
}

/// A first content line that is a comment holding only a path:
/// `// src/main.rs`, `# app.py`, `-- q.sql`, `<!-- index.html -->`.
fn comment_path(line: &str) -> Option<String> {
    let t = line.trim();
    let body = ["//", "#", "--", "<!--", "/*"]
        .iter()
        .find_map(|p| t.strip_prefix(p))?;
    let body = body.trim_end_matches("-->").trim_end_matches("*/");
    let candidate = strip_label(undecorate(body));
    looks_like_path(candidate).then(|| candidate.to_owned())
}

/// Strips list, heading, quote and emphasis decoration from the start of a
/// line, so `**Confidence:** 0.8` and `## Verdict` read like plain labels.
fn plain(line: &str) -> String {
    let t = line.trim_start_matches(|c: char| {
        c.is_whitespace() || matches!(c, '#' | '*' | '-' | '>' | '_' | '`')
    });
    t.replace("**", "").replace('`', "")
}

/// Reads a number the way agents state confidence: `0.8`, `80%`, `8/10`,
/// or a bare percentage (`85`; values of 10 and more are read as percent,
/// smaller ones over 1 are clamped). Words `high`/`medium`/`low` map to
/// 0.8/0.6/0.3.
fn confidence_value(s: &str) -> Option<f64> {
    let s = s.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '*'));
    let lower = s.to_ascii_lowercase();
    for (word, value) in [
        ("high", 0.8),
        ("medium", 0.6),
        ("moderate", 0.6),
        ("low", 0.3),
    ] {
        if lower.starts_with(word) {
            return Some(value);
        }
    }
    let digits: String = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let digits = digits.trim_end_matches('.');
    let value: f64 = digits.parse().ok()?;
    let rest = s[digits.len()..].trim_start();
    let scaled = if rest.starts_with('%') {
        value / 100.0
    } else if let Some(den) = rest.strip_prefix('/') {
        let den: String = den
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let den: f64 = den.parse().ok()?;
        if den <= 0.0 {
            return None;
        }
        value / den
    } else if value >= 10.0 {
        value / 100.0
    } else {
        value
    };
    scaled.is_finite().then(|| scaled.clamp(0.0, 1.0))
}

/// The value after `"key"` in JSON-ish text (`"key": 0.9`, `"key": "x"`),
/// as the raw text following the colon.
fn json_value_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let lower = line.to_ascii_lowercase();
    let at = lower.find(&format!("\"{key}\""))?;
    let rest = line[at + key.len() + 2..].trim_start();
    Some(rest.strip_prefix(':')?.trim_start())
}

/// The agent's own confidence: `Confidence: 0.8`, `**Confidence:** 80%`,
/// a `## Confidence` heading followed by the number, or JSON
/// `"confidence": 0.9`. The last statement wins (models restate it at the
/// end). Clamped to `[0, 1]`.
pub fn parse_self_reported_confidence(text: &str) -> Option<f64> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some(v) = json_value_after(line, "confidence").and_then(confidence_value) {
            found = Some(v);
            continue;
        }
        let p = plain(line);
        let lower = p.to_ascii_lowercase();
        let Some(rest) = lower.strip_prefix("confidence") else {
            continue;
        };
        let rest = rest.trim_start();
        let rest = ["score", "level"]
            .iter()
            .find_map(|w| rest.strip_prefix(w))
            .unwrap_or(rest);
        let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '='));
        let value = if rest.is_empty() {
            lines[i + 1..]
                .iter()
                .find(|l| !l.trim().is_empty())
                .and_then(|l| confidence_value(&plain(l)))
        } else {
            confidence_value(rest)
        };
        if value.is_some() {
            found = value;
        }
    }
    found
}

/// A reviewer agent's decision on the coder's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewVerdict {
    Approve,
    RequestChanges,
    Reject,
}

impl ReviewVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::RequestChanges => "request_changes",
            Self::Reject => "reject",
        }
    }

    /// Reads a verdict word: `approve(d)`, `lgtm`, `accept(ed)`,
    /// `request changes`/`request_changes`/`changes requested`/`needs
    /// changes`, `reject(ed)`; case-insensitive.
    pub fn from_word(s: &str) -> Option<Self> {
        let s = s
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_ascii_lowercase()
            .replace(['_', '-'], " ");
        let starts = |ws: &[&str]| ws.iter().any(|w| s.starts_with(w));
        if starts(&["approve", "lgtm", "accept"]) {
            Some(Self::Approve)
        } else if starts(&[
            "request change",
            "changes requested",
            "needs changes",
            "revise",
            "changes",
        ]) {
            Some(Self::RequestChanges)
        } else if starts(&["reject"]) {
            Some(Self::Reject)
        } else {
            None
        }
    }
}

/// What a reviewer agent concluded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub verdict: ReviewVerdict,
    /// The bulleted `Issues:` list (or JSON `"issues": [...]`).
    pub issues: Vec<String>,
    pub self_reported_confidence: Option<f64>,
}

impl Review {
    /// Reads a reviewer's answer; `None` when it states no verdict.
    pub fn parse(text: &str) -> Option<Self> {
        let lines: Vec<&str> = text.lines().collect();
        let mut verdict = None;
        for (i, line) in lines.iter().enumerate() {
            if let Some(v) = json_value_after(line, "verdict") {
                if let Some(v) = ReviewVerdict::from_word(v) {
                    verdict = Some(v);
                }
                continue;
            }
            let p = plain(line);
            let lower = p.to_ascii_lowercase();
            let Some(rest) = ["verdict", "decision"]
                .iter()
                .find_map(|w| lower.strip_prefix(w))
            else {
                continue;
            };
            let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ':');
            let found = if rest.is_empty() {
                lines[i + 1..]
                    .iter()
                    .find(|l| !l.trim().is_empty())
                    .and_then(|l| ReviewVerdict::from_word(&plain(l)))
            } else {
                ReviewVerdict::from_word(rest)
            };
            if found.is_some() {
                verdict = found;
            }
        }
        Some(Self {
            verdict: verdict?,
            issues: issues(&lines),
            self_reported_confidence: parse_self_reported_confidence(text),
        })
    }
}

/// The text of a bullet line (`- x`, `* x`, `+ x`, `1. x`, `2) x`).
fn bullet(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if let Some(rest) = ["- ", "* ", "+ "].iter().find_map(|b| t.strip_prefix(b)) {
        return Some(rest.trim());
    }
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let rest = &t[digits..];
    rest.strip_prefix(". ")
        .or_else(|| rest.strip_prefix(") "))
        .map(str::trim)
}

fn issues(lines: &[&str]) -> Vec<String> {
    for (i, line) in lines.iter().enumerate() {
        if let Some(rest) = json_value_after(line, "issues") {
            return json_strings(rest);
        }
        let p = plain(line);
        let lower = p.trim().to_ascii_lowercase();
        if lower != "issues" && lower != "issues:" {
            continue;
        }
        let mut out = Vec::new();
        for l in &lines[i + 1..] {
            if l.trim().is_empty() {
                continue;
            }
            match bullet(l) {
                Some(text) if !text.is_empty() => out.push(text.to_owned()),
                Some(_) => {}
                None => break,
            }
        }
        return out;
    }
    Vec::new()
}

/// The strings of a one-line JSON array such as `["a", "b \"c\""]`.
fn json_strings(s: &str) -> Vec<String> {
    let Some(body) = s.trim_start().strip_prefix('[') else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            ']' => break,
            '"' => {
                let mut item = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('n') => item.push('\n'),
                            Some('t') => item.push('\t'),
                            Some(other) => item.push(other),
                            None => break,
                        },
                        other => item.push(other),
                    }
                }
                out.push(item);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
#[path = "coder_output_tests.rs"]
mod tests;
