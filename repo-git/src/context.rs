//! What the band is shown of a commit: the repository's map and the files
//! most relevant to a task (issue 18, "Context for the band").
//!
//! Everything is read from the commit's tree, never the work tree: a
//! session records the base commit it works on, and what it was shown must
//! be exactly what is at that commit (provenance). Only tracked files are
//! there, so ignored files are absent by construction.
//!
//! What is left out:
//! - vendored and generated directories ([`EXCLUDED_DIRS`]: `node_modules/`,
//!   `target/`, `dist/`, `vendor/`…), from the map and the search;
//! - files a `.gitignore` *in the tree* ignores. They can only be there
//!   when force-added, which is mostly a build artefact committed for
//!   deployment; the spec asks for the search to honour `.gitignore`, and
//!   a file the project says to ignore is rarely what a task is about.
//!   Patterns of deeper `.gitignore` files take precedence, as in git;
//! - symlinks, submodules and paths that are not UTF-8;
//! - from the search only (the map still lists them): binary blobs (a NUL
//!   byte in the first 8000 bytes, git's own test) and text that is not
//!   UTF-8, files over [`MAX_FILE_BYTES`], lockfiles over
//!   [`MAX_LOCKFILE_BYTES`], and minified bundles and source maps.
//!
//! The ranking is lexical, deterministic and explainable: every point of a
//! file's score comes with a reason in [`ShownFile::why`].
//! - Path: a task word equal to a token of the file name weighs most
//!   ([`W_NAME`], [`W_NAME_IS_IDENTIFIER`] when the whole stem is one of
//!   the identifiers), then of a directory ([`W_DIR`]).
//! - Content: each term found, weighted by its rarity in the repository
//!   (idf, so "user" in every file counts little) and the logarithm of its
//!   count; identifiers weigh [`W_IDENTIFIER`] times a word.
//! - Recency: files changed in the last [`RECENT_COMMITS`] first-parent
//!   commits get up to [`W_RECENT`], fading with age.
//!
//! Ties are broken by path. The budget is filled greedily in rank order
//! with whole files; a file that does not fit is cut to its most relevant
//! window of whole lines (`whole: false`) — as much as is left for the
//! best file, half of what is left for the others, so that one big file
//! does not crowd out the smaller relevant ones after it.

mod cache;
mod language;
mod recent;
mod search;
mod terms;
mod window;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use git2::{ErrorCode, ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

pub use cache::{CACHE_MAX_BYTES, clear_cache};
use search::{Kind, Matcher};
pub use terms::terms_of;

use cache::CachedBlob;

/// Directories never read: dependencies and build output, huge and not the
/// project's own code.
pub const EXCLUDED_DIRS: &[&str] = &[
    ".cache",
    ".git",
    ".gradle",
    ".next",
    ".nuxt",
    ".svelte-kit",
    ".terraform",
    ".tox",
    ".venv",
    "__pycache__",
    "bower_components",
    "coverage",
    "dist",
    "jspm_packages",
    "node_modules",
    "target",
    "vendor",
    "venv",
];

/// Lockfiles: generated, long and almost never what a task is about.
const LOCKFILES: &[&str] = &[
    "Cargo.lock",
    "Gemfile.lock",
    "Pipfile.lock",
    "composer.lock",
    "go.sum",
    "package-lock.json",
    "pnpm-lock.yaml",
    "poetry.lock",
    "yarn.lock",
];

/// Larger files are neither searched nor shown: they are data or
/// generated, and would not fit a prompt anyway.
pub const MAX_FILE_BYTES: usize = 256 * 1024;
/// A lockfile this small may still be worth showing (a task about a
/// dependency); larger ones are skipped.
pub const MAX_LOCKFILE_BYTES: usize = 16 * 1024;
/// How many first-parent commits count as "recent".
pub const RECENT_COMMITS: usize = 20;
/// At most this many files are shown, however large the budget: beyond it
/// the list stops being a selection.
pub const MAX_SHOWN_FILES: usize = 200;
/// A window smaller than this is not worth showing.
const MIN_WINDOW_BYTES: usize = 512;
/// Git's own binary test looks at this many leading bytes.
const BINARY_SNIFF_BYTES: usize = 8000;

/// Score of a task word equal to a token of the file name.
pub const W_NAME: f32 = 6.0;
/// Score of a file whose stem is one of the identifiers (`LoginForm.tsx`,
/// `login_form.rs` for `LoginForm`).
pub const W_NAME_IS_IDENTIFIER: f32 = 10.0;
/// Score of a task word equal to a token of a directory on the path.
pub const W_DIR: f32 = 2.0;
/// An identifier found in the content weighs this many times a word.
pub const W_IDENTIFIER: f32 = 2.0;
/// Score of a change in the commit itself; older changes fade linearly.
pub const W_RECENT: f32 = 3.0;

/// What to choose the context for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextRequest {
    /// Words from the task's title, description and intent; matched
    /// case-insensitively.
    pub words: Vec<String>,
    /// Identifiers from the task's context (`LoginForm`, `session_store`);
    /// matched exactly.
    pub identifiers: Vec<String>,
    /// How many bytes of file text fit; the caller converts the session's
    /// token plan to bytes.
    pub budget_bytes: usize,
    /// At most this many entries in the map.
    pub map_cap: usize,
}

impl ContextRequest {
    /// A request whose terms are those of `text` (see [`terms_of`]).
    pub fn from_text(text: &str, budget_bytes: usize, map_cap: usize) -> Self {
        let (words, identifiers) = terms_of(text);
        Self {
            words,
            identifiers,
            budget_bytes,
            map_cap,
        }
    }
}

/// What the band is shown of a commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// The commit, as full hex.
    pub commit: String,
    pub map: RepoMap,
    /// Best first.
    pub files: Vec<ShownFile>,
}

/// The repository at a glance: some paths, and what it is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoMap {
    /// At most `map_cap` files, by path: the chosen files' directories
    /// first, then the shallowest paths.
    pub entries: Vec<MapEntry>,
    /// All files the map covers, listed or not.
    pub total_files: usize,
    /// Whether some files are not listed.
    pub truncated: bool,
    /// Files and bytes per language over all covered files, most bytes
    /// first.
    pub languages: Vec<LanguageTotal>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    pub path: String,
    pub bytes: u64,
    pub language: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageTotal {
    pub language: &'static str,
    pub files: usize,
    pub bytes: u64,
}

/// A file shown to the band, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownFile {
    pub path: String,
    /// The blob's id, as full hex: what exactly was shown.
    pub blob: String,
    /// The whole file's size; `content` may be shorter.
    pub bytes: u64,
    /// The text shown: the whole file, or a window of whole lines.
    pub content: String,
    /// False if the file was cut to fit.
    pub whole: bool,
    /// For a cut file, the 1-based inclusive lines shown.
    pub lines: Option<(usize, usize)>,
    pub score: f32,
    /// The reasons behind the score, e.g. "path matches 'login'",
    /// "contains LoginForm (3×)", "changed recently (2 commits back)".
    pub why: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("commit {commit} is not in the repository")]
    CommitNotFound { commit: String },
    #[error("reading the repository: {0}")]
    Git(#[from] git2::Error),
    #[error("a search thread panicked")]
    SearchPanicked,
    #[error("compiling the search terms: {0}")]
    Terms(#[from] aho_corasick::BuildError),
}

/// A file at the commit that the map covers.
struct TreeFile {
    path: String,
    oid: Oid,
    bytes: u64,
    /// The blob, if the cache had it when the tree was read.
    cached: Option<CachedBlob>,
}

/// A file that scored, before the budget is filled.
struct Ranked {
    file: usize,
    score: f32,
    why: Vec<String>,
}

/// Chooses what the band is shown of `commit` for `request`: the map and,
/// within `request.budget_bytes`, the most relevant files.
pub fn choose(
    repo: &Repository,
    commit: Oid,
    request: &ContextRequest,
) -> Result<Context, ContextError> {
    let commit_object = repo.find_commit(commit).map_err(|e| {
        if e.code() == ErrorCode::NotFound {
            ContextError::CommitNotFound {
                commit: commit.to_string(),
            }
        } else {
            ContextError::Git(e)
        }
    })?;
    let tree = commit_object.tree()?;
    let files = tree_files(repo, &tree)?;
    let matcher = Matcher::new(&request.words, &request.identifiers)?;
    let cached_recent = cache::lock().recent(commit);
    let recent = match cached_recent {
        Some(recent) => recent,
        None => {
            let recent = Arc::new(recent::recently_changed(
                repo,
                &commit_object,
                RECENT_COMMITS,
            )?);
            cache::lock().put_recent(commit, Arc::clone(&recent));
            recent
        }
    };
    let ranked = rank(repo, &files, &matcher, &recent)?;
    let shown = fill(repo, &files, &matcher, ranked, request.budget_bytes)?;
    let map = map_of(&files, &shown, request.map_cap);
    Ok(Context {
        commit: commit.to_string(),
        map,
        files: shown,
    })
}

/// The files of `tree` the map covers, by path, with their sizes.
fn tree_files(repo: &Repository, tree: &git2::Tree<'_>) -> Result<Vec<TreeFile>, ContextError> {
    let mut blobs: Vec<(String, Oid)> = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |root, entry| {
        let Ok(name) = entry.name() else {
            return TreeWalkResult::Skip;
        };
        match entry.kind() {
            Some(ObjectType::Tree) if EXCLUDED_DIRS.contains(&name) => TreeWalkResult::Skip,
            // 0o120000 is a symlink: its blob is the link's target.
            Some(ObjectType::Blob) if entry.filemode() != 0o120000 => {
                blobs.push((format!("{root}{name}"), entry.id()));
                TreeWalkResult::Ok
            }
            _ => TreeWalkResult::Ok,
        }
    })?;

    let ignores = gitignores(repo, &blobs)?;
    let odb = repo.odb()?;
    let mut files = Vec::with_capacity(blobs.len());
    let mut cache = cache::lock();
    for (path, oid) in blobs {
        if is_ignored(&ignores, &path) {
            continue;
        }
        let cached = cache.blob(oid);
        let bytes = match &cached {
            Some(blob) => blob.bytes,
            // The header alone: a large blob's size without inflating it.
            None => odb.read_header(oid)?.0 as u64,
        };
        files.push(TreeFile {
            path,
            oid,
            bytes,
            cached,
        });
    }
    drop(cache);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The `.gitignore` files of the tree, as (directory prefix with a
/// trailing `/` or empty for the root, matcher), deepest first.
fn gitignores(
    repo: &Repository,
    blobs: &[(String, Oid)],
) -> Result<Vec<(String, Gitignore)>, ContextError> {
    let mut ignores = Vec::new();
    for (path, oid) in blobs {
        let Some(dir) = path.strip_suffix(".gitignore") else {
            continue;
        };
        if !(dir.is_empty() || dir.ends_with('/')) {
            continue;
        }
        let blob = repo.find_blob(*oid)?;
        let Ok(text) = std::str::from_utf8(blob.content()) else {
            continue;
        };
        // Rooted at "." and matched against paths relative to `dir`, so
        // the matcher never sees a path outside its root.
        let mut builder = GitignoreBuilder::new(".");
        for line in text.lines() {
            // A pattern git would not understand is skipped, as git does.
            let _ = builder.add_line(None, line);
        }
        if let Ok(gitignore) = builder.build() {
            ignores.push((dir.to_owned(), gitignore));
        }
    }
    ignores.sort_by(|a, b| {
        let depth = |d: &str| d.matches('/').count();
        depth(&b.0).cmp(&depth(&a.0)).then_with(|| a.0.cmp(&b.0))
    });
    Ok(ignores)
}

fn is_ignored(ignores: &[(String, Gitignore)], path: &str) -> bool {
    for (dir, gitignore) in ignores {
        let Some(relative) = path.strip_prefix(dir.as_str()) else {
            continue;
        };
        match gitignore.matched_path_or_any_parents(Path::new(relative), false) {
            Match::None => {}
            Match::Ignore(_) => return true,
            Match::Whitelist(_) => return false,
        }
    }
    false
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether a file may be searched and shown, judged by its name and size.
fn searchable(file: &TreeFile) -> bool {
    let name = file_name(&file.path);
    if file.bytes > MAX_FILE_BYTES as u64 {
        return false;
    }
    if LOCKFILES.contains(&name) && file.bytes > MAX_LOCKFILE_BYTES as u64 {
        return false;
    }
    !(name.ends_with(".min.js") || name.ends_with(".min.css") || name.ends_with(".map"))
}

/// The blob's text, if it is text: no NUL byte near the start, and UTF-8.
fn text_of(content: &[u8]) -> Option<&str> {
    let sniff = content.get(..BINARY_SNIFF_BYTES).unwrap_or(content);
    if sniff.contains(&0) {
        return None;
    }
    std::str::from_utf8(content).ok()
}

/// The blob of `file` as `choose` needs it: from the cache, or read (and
/// then returned in `fresh` for the cache).
fn blob_of(
    repo: &Repository,
    file: &TreeFile,
    fresh: &mut Vec<(Oid, CachedBlob)>,
) -> Result<CachedBlob, ContextError> {
    if let Some(blob) = &file.cached {
        return Ok(blob.clone());
    }
    let blob = repo.find_blob(file.oid)?;
    let read = CachedBlob {
        bytes: blob.size() as u64,
        text: text_of(blob.content()).map(Arc::from),
    };
    fresh.push((file.oid, read.clone()));
    Ok(read)
}

/// Path score and reasons.
fn path_score(path: &str, matcher: &Matcher) -> (f32, Vec<String>) {
    let mut score = 0.0;
    let mut why = Vec::new();
    let name = file_name(path);
    let stem = name.split_once('.').map_or(name, |(stem, _)| stem);
    let name_tokens = terms::tokens_of(name);
    let dir_tokens: Vec<String> = path
        .strip_suffix(name)
        .unwrap_or("")
        .split('/')
        .flat_map(terms::tokens_of)
        .collect();
    let squashed_stem = terms::squashed(stem);
    for term in matcher.terms() {
        match term.kind {
            Kind::Identifier => {
                if !squashed_stem.is_empty() && terms::squashed(&term.text) == squashed_stem {
                    score += W_NAME_IS_IDENTIFIER;
                    why.push(format!("file name matches {}", term.text));
                }
            }
            Kind::Word => {
                if name_tokens
                    .iter()
                    .any(|t| terms::token_matches(t, &term.text))
                {
                    score += W_NAME;
                    why.push(format!("file name matches '{}'", term.text));
                } else if dir_tokens
                    .iter()
                    .any(|t| terms::token_matches(t, &term.text))
                {
                    score += W_DIR;
                    why.push(format!("path matches '{}'", term.text));
                }
            }
        }
    }
    (score, why)
}

/// Above this many files the content search runs on several threads.
const PARALLEL_FROM_FILES: usize = 2_000;
/// At most this many search threads (each opens the repository anew:
/// `git2::Repository` cannot be shared between threads).
const MAX_THREADS: usize = 4;

/// What a scan of some files found: the files with any signal (index,
/// path score, reasons, term counts), each term's document frequency and
/// how many files were searched.
#[derive(Default)]
struct Scan {
    scored: Vec<(usize, f32, Vec<String>, Vec<u32>)>,
    document_frequency: Vec<u32>,
    searched: u32,
    /// Blobs read (not found in the cache), to be cached.
    fresh: Vec<(Oid, CachedBlob)>,
}

/// Scans `files`, whose indices start at `first`.
fn scan(
    repo: &Repository,
    files: &[TreeFile],
    first: usize,
    matcher: &Matcher,
    recent: &HashMap<String, usize>,
) -> Result<Scan, ContextError> {
    let n_terms = matcher.terms().len();
    let mut found = Scan {
        document_frequency: vec![0; n_terms],
        ..Scan::default()
    };
    for (index, file) in (first..).zip(files) {
        if !searchable(file) {
            continue;
        }
        let (path_points, path_why) = path_score(&file.path, matcher);
        let counts = if n_terms == 0 {
            Vec::new()
        } else {
            let blob = blob_of(repo, file, &mut found.fresh)?;
            let Some(text) = blob.text else {
                continue;
            };
            found.searched += 1;
            matcher.counts(text.as_bytes())
        };
        for (df, &count) in found.document_frequency.iter_mut().zip(&counts) {
            *df += u32::from(count > 0);
        }
        let has_signal =
            path_points > 0.0 || counts.iter().any(|&c| c > 0) || recent.contains_key(&file.path);
        if has_signal {
            found.scored.push((index, path_points, path_why, counts));
        }
    }
    Ok(found)
}

/// Scans all files, on several threads when there are many: inflating
/// every blob is most of the time `choose` takes, and it parallelises.
fn scan_all(
    repo: &Repository,
    files: &[TreeFile],
    matcher: &Matcher,
    recent: &HashMap<String, usize>,
) -> Result<Scan, ContextError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_THREADS);
    if threads < 2 || files.len() < PARALLEL_FROM_FILES || matcher.terms().is_empty() {
        return scan(repo, files, 0, matcher, recent);
    }
    let chunk = files.len().div_ceil(threads);
    // The other threads' handles are opened here, so that a repository
    // that cannot be reopened by path (an in-memory one, say) is simply
    // searched on this thread.
    let mut others = Vec::with_capacity(threads - 1);
    for _ in 1..threads {
        match Repository::open(repo.path()) {
            Ok(own) => others.push(own),
            Err(_) => return scan(repo, files, 0, matcher, recent),
        }
    }
    let mut chunks = files.chunks(chunk).enumerate();
    let parts: Vec<Result<Scan, ContextError>> = std::thread::scope(|scope| {
        let first = chunks.next();
        let handles: Vec<_> = chunks
            .zip(others)
            .map(|((i, part), own)| {
                scope.spawn(move || scan(&own, part, i * chunk, matcher, recent))
            })
            .collect();
        let mut parts = vec![first.map_or_else(
            || Ok(Scan::default()),
            |(_, part)| scan(repo, part, 0, matcher, recent),
        )];
        parts.extend(
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err(ContextError::SearchPanicked))),
        );
        parts
    });
    let mut all = Scan {
        document_frequency: vec![0; matcher.terms().len()],
        ..Scan::default()
    };
    // Chunks are in file order, so the merged list is too.
    for part in parts {
        let part = part?;
        all.scored.extend(part.scored);
        for (total, df) in all
            .document_frequency
            .iter_mut()
            .zip(part.document_frequency)
        {
            *total += df;
        }
        all.searched += part.searched;
        all.fresh.extend(part.fresh);
    }
    Ok(all)
}

/// Scores every searchable text file; returns those with a positive score,
/// best first, ties by path.
fn rank(
    repo: &Repository,
    files: &[TreeFile],
    matcher: &Matcher,
    recent: &HashMap<String, usize>,
) -> Result<Vec<Ranked>, ContextError> {
    let Scan {
        scored,
        document_frequency,
        searched,
        fresh,
    } = scan_all(repo, files, matcher, recent)?;
    if !fresh.is_empty() {
        let mut cache = cache::lock();
        for (oid, blob) in fresh {
            cache.put_blob(oid, blob);
        }
    }
    let idf: Vec<f32> = document_frequency
        .iter()
        .map(|&df| (1.0 + searched as f32 / df.max(1) as f32).ln())
        .collect();
    let mut ranked = Vec::with_capacity(scored.len());
    for (index, mut score, mut why, counts) in scored {
        let Some(file) = files.get(index) else {
            continue;
        };
        for ((term, &count), &idf) in matcher.terms().iter().zip(&counts).zip(&idf) {
            if count == 0 {
                continue;
            }
            let weight = match term.kind {
                Kind::Identifier => W_IDENTIFIER,
                Kind::Word => 1.0,
            };
            score += weight * idf * (1.0 + (count as f32).ln());
            why.push(match term.kind {
                Kind::Identifier => format!("contains {} ({count}×)", term.text),
                Kind::Word => format!("mentions '{}' ({count}×)", term.text),
            });
        }
        if let Some(&back) = recent.get(&file.path) {
            score += W_RECENT * (1.0 - back as f32 / RECENT_COMMITS as f32);
            why.push(match back {
                0 => "changed recently (in this commit)".to_owned(),
                1 => "changed recently (1 commit back)".to_owned(),
                n => format!("changed recently ({n} commits back)"),
            });
        }
        if score > 0.0 {
            ranked.push(Ranked {
                file: index,
                score,
                why,
            });
        }
    }
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| files[a.file].path.cmp(&files[b.file].path))
    });
    Ok(ranked)
}

/// Fills `budget` with the ranked files: whole where they fit, else a
/// window (see the module doc).
fn fill(
    repo: &Repository,
    files: &[TreeFile],
    matcher: &Matcher,
    ranked: Vec<Ranked>,
    budget: usize,
) -> Result<Vec<ShownFile>, ContextError> {
    let mut shown: Vec<ShownFile> = Vec::new();
    let mut remaining = budget;
    for candidate in ranked {
        if shown.len() >= MAX_SHOWN_FILES || remaining == 0 {
            break;
        }
        let Some(file) = files.get(candidate.file) else {
            continue;
        };
        let fits = file.bytes <= remaining as u64;
        let window_limit = if shown.is_empty() {
            remaining
        } else {
            remaining / 2
        };
        if !fits && window_limit < MIN_WINDOW_BYTES {
            continue;
        }
        // Not cached again: with terms, `rank` has just cached it.
        let blob = blob_of(repo, file, &mut Vec::new())?;
        let Some(text) = blob.text.as_deref() else {
            continue;
        };
        let (content, whole, lines) = if fits {
            (text.to_owned(), true, None)
        } else {
            let mut offsets = Vec::new();
            matcher.for_each_hit(text.as_bytes(), |_, start| offsets.push(start));
            let Some(cut) = window::best_window(text, &offsets, window_limit) else {
                continue;
            };
            let Some(content) = text.get(cut.bytes) else {
                continue;
            };
            (content.to_owned(), false, Some(cut.lines))
        };
        remaining -= content.len();
        shown.push(ShownFile {
            path: file.path.clone(),
            blob: file.oid.to_string(),
            bytes: file.bytes,
            content,
            whole,
            lines,
            score: candidate.score,
            why: candidate.why,
        });
    }
    Ok(shown)
}

/// The map: capped entries and per-language totals.
fn map_of(files: &[TreeFile], shown: &[ShownFile], cap: usize) -> RepoMap {
    let parent = |path: &str| path.rsplit_once('/').map_or("", |(dir, _)| dir).to_owned();
    let shown_dirs: BTreeSet<String> = shown.iter().map(|f| parent(&f.path)).collect();
    let mut order: Vec<&TreeFile> = files.iter().collect();
    if files.len() > cap {
        order.sort_by_cached_key(|f| {
            (
                !shown_dirs.contains(&parent(&f.path)),
                f.path.matches('/').count(),
                f.path.clone(),
            )
        });
        order.truncate(cap);
        order.sort_by(|a, b| a.path.cmp(&b.path));
    }
    let entries = order
        .into_iter()
        .map(|f| MapEntry {
            path: f.path.clone(),
            bytes: f.bytes,
            language: language::language_of(&f.path),
        })
        .collect();

    let mut totals: BTreeMap<&'static str, (usize, u64)> = BTreeMap::new();
    for file in files {
        if let Some(language) = language::language_of(&file.path) {
            let total = totals.entry(language).or_default();
            total.0 += 1;
            total.1 += file.bytes;
        }
    }
    let mut languages: Vec<LanguageTotal> = totals
        .into_iter()
        .map(|(language, (files, bytes))| LanguageTotal {
            language,
            files,
            bytes,
        })
        .collect();
    languages.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then_with(|| b.files.cmp(&a.files))
            .then_with(|| a.language.cmp(b.language))
    });

    RepoMap {
        entries,
        total_files: files.len(),
        truncated: files.len() > cap,
        languages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(words: &[&str], identifiers: &[&str]) -> Matcher {
        let words: Vec<String> = words.iter().map(|s| (*s).to_owned()).collect();
        let identifiers: Vec<String> = identifiers.iter().map(|s| (*s).to_owned()).collect();
        Matcher::new(&words, &identifiers).unwrap()
    }

    #[test]
    fn file_name_outweighs_directory() {
        let m = matcher(&["login"], &[]);
        let (name, why) = path_score("src/auth/login.rs", &m);
        assert_eq!(name, W_NAME);
        assert_eq!(why, ["file name matches 'login'"]);
        let (dir, why) = path_score("src/login/mod.rs", &m);
        assert_eq!(dir, W_DIR);
        assert_eq!(why, ["path matches 'login'"]);
        assert_eq!(path_score("src/blogin.rs", &m).0, 0.0);
    }

    #[test]
    fn identifier_as_file_name_weighs_most() {
        let m = matcher(&[], &["LoginForm"]);
        assert_eq!(path_score("web/login_form.tsx", &m).0, W_NAME_IS_IDENTIFIER);
        assert_eq!(
            path_score("web/LoginForm.test.tsx", &m).0,
            W_NAME_IS_IDENTIFIER
        );
        assert_eq!(path_score("web/form.tsx", &m).0, 0.0);
    }

    #[test]
    fn gitignore_patterns_apply_below_their_directory() {
        let build = |lines: &[&str]| {
            let mut b = GitignoreBuilder::new(".");
            for l in lines {
                b.add_line(None, l).unwrap();
            }
            b.build().unwrap()
        };
        let ignores = vec![
            ("web/".to_owned(), build(&["!keep.js", "*.js"])),
            (String::new(), build(&["*.js", "/out/"])),
        ];
        assert!(is_ignored(&ignores, "app.js"));
        assert!(is_ignored(&ignores, "out/a.txt"));
        assert!(!is_ignored(&ignores, "web/out/a.txt"));
        assert!(is_ignored(&ignores, "web/a.js"));
        assert!(!is_ignored(&ignores, "src/main.rs"));
    }

    #[test]
    fn binary_and_invalid_text_are_not_text() {
        assert_eq!(text_of(b"fn main() {}\n"), Some("fn main() {}\n"));
        assert_eq!(text_of(b"PNG\0\x01"), None);
        assert_eq!(text_of(b"caf\xe9"), None);
    }

    #[test]
    fn lockfiles_and_bundles_are_not_searched() {
        let file = |path: &str, bytes: u64| TreeFile {
            path: path.to_owned(),
            oid: Oid::ZERO_SHA1,
            bytes,
            cached: None,
        };
        assert!(searchable(&file("Cargo.lock", 1000)));
        assert!(!searchable(&file("Cargo.lock", 100_000)));
        assert!(!searchable(&file("web/app.min.js", 10)));
        assert!(!searchable(&file(
            "data/big.csv",
            MAX_FILE_BYTES as u64 + 1
        )));
        assert!(searchable(&file("src/lib.rs", 10)));
    }
}
