//! Shared helpers of the integration tests: scratch repositories, the
//! `git` CLI as an oracle (isolated from the machine's configuration), a
//! seeded generator of file sets and their mutations.

// Test helpers: a failed set-up step should fail the test at once.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use git2::{Oid, Repository, Signature};

pub type Files = BTreeMap<String, Vec<u8>>;

/// A repository in a temporary directory.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub repo: Repository,
}

impl Scratch {
    pub fn new(bare: bool) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["init", "-q", "-b", "main"];
        if bare {
            args.push("--bare");
        }
        args.push(".");
        git_ok(dir.path(), &args);
        git_ok(dir.path(), &["config", "user.name", "Test"]);
        git_ok(dir.path(), &["config", "user.email", "test@example.com"]);
        let repo = Repository::open(dir.path()).unwrap();
        Scratch { dir, repo }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> Output {
        git(self.path(), args)
    }

    pub fn git_ok(&self, args: &[&str]) -> String {
        git_ok(self.path(), args)
    }
}

/// A `git` command with the machine's and the user's configuration shut
/// out, so only the test decides how git behaves.
pub fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("LC_ALL", "C");
    cmd
}

pub fn git(dir: &Path, args: &[&str]) -> Output {
    git_command(dir, args).output().unwrap()
}

pub fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = git(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn who() -> Signature<'static> {
    Signature::new(
        "Test",
        "test@example.com",
        &git2::Time::new(1_700_000_000, 0),
    )
    .unwrap()
}

/// Writes `files` as a tree (nested directories from '/' in the names).
pub fn write_tree(repo: &Repository, files: &Files) -> Oid {
    fn level(repo: &Repository, files: &[(&str, &Vec<u8>)]) -> Oid {
        let mut builder = repo.treebuilder(None).unwrap();
        let mut dirs: BTreeMap<&str, Vec<(&str, &Vec<u8>)>> = BTreeMap::new();
        for (path, content) in files {
            match path.split_once('/') {
                Some((dir, rest)) => dirs.entry(dir).or_default().push((rest, content)),
                None => {
                    let blob = repo.blob(content).unwrap();
                    builder.insert(path, blob, 0o100644).unwrap();
                }
            }
        }
        for (dir, entries) in dirs {
            let tree = level(repo, &entries);
            builder.insert(dir, tree, 0o040000).unwrap();
        }
        builder.write().unwrap()
    }
    let list: Vec<(&str, &Vec<u8>)> = files.iter().map(|(k, v)| (k.as_str(), v)).collect();
    level(repo, &list)
}

/// A commit of `files` on `parents`.
pub fn commit_files(repo: &Repository, parents: &[Oid], files: &Files, message: &str) -> Oid {
    let tree = repo.find_tree(write_tree(repo, files)).unwrap();
    let parents: Vec<git2::Commit> = parents
        .iter()
        .map(|p| repo.find_commit(*p).unwrap())
        .collect();
    let refs: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(None, &who(), &who(), message, &tree, &refs)
        .unwrap()
}

/// The files of a commit's (or tree's) tree.
pub fn read_files(repo: &Repository, oid: Oid) -> Files {
    let tree = repo.find_object(oid, None).unwrap().peel_to_tree().unwrap();
    let mut files = Files::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            let blob = repo.find_blob(entry.id()).unwrap();
            files.insert(
                format!("{dir}{}", entry.name().unwrap()),
                blob.content().to_vec(),
            );
        }
        git2::TreeWalkResult::Ok
    })
    .unwrap();
    files
}

/// xorshift64*: small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const WORDS: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "let", "x", "=", "return", "fn", "{", "}", "if", "else",
    "value", "count", "+", "1;", "(a,", "b)", "// note",
];

pub fn random_line(rng: &mut Rng) -> Vec<u8> {
    let n = 1 + rng.below(5);
    let mut line: Vec<String> = (0..n)
        .map(|_| WORDS[rng.below(WORDS.len())].to_string())
        .collect();
    // A number makes most lines unique, as in real code; some are left
    // bare so that repeated lines test where a hunk lands.
    if rng.chance(80) {
        line.push(format!("{}", rng.below(100_000)));
    }
    let mut text = line.join(" ").into_bytes();
    text.push(b'\n');
    text
}

pub fn random_file(rng: &mut Rng) -> Vec<u8> {
    let lines = 3 + rng.below(40);
    let mut content: Vec<u8> = (0..lines).flat_map(|_| random_line(rng)).collect();
    if rng.chance(10) {
        content.pop();
    }
    content
}

/// A base file set: a few directories (some nested), at least two files
/// in each.
pub fn random_files(rng: &mut Rng) -> Files {
    let dirs = ["src", "src/util", "docs", "tests/unit", "lib/a/b"];
    let mut files = Files::new();
    for dir in dirs {
        for i in 0..(2 + rng.below(3)) {
            files.insert(format!("{dir}/f{i}.txt"), random_file(rng));
        }
    }
    files.insert("README".into(), random_file(rng));
    files
}

fn lines_of(content: &[u8]) -> Vec<Vec<u8>> {
    content
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// Edits some lines of a file: replaces, inserts and deletes short runs.
pub fn mutate_content(rng: &mut Rng, content: &[u8]) -> Vec<u8> {
    let mut lines = lines_of(content);
    // A missing newline at the end must survive or be fixed on purpose.
    let missing_newline = lines.last().is_some_and(|l| !l.ends_with(b"\n"));
    for _ in 0..(1 + rng.below(3)) {
        let at = rng.below(lines.len() + 1);
        match rng.below(3) {
            0 if at < lines.len() => lines[at] = random_line(rng),
            1 if at < lines.len() && lines.len() > 2 => {
                let n = 1 + rng.below(3).min(lines.len() - at - 1);
                lines.drain(at..at + n);
            }
            _ => {
                for _ in 0..(1 + rng.below(3)) {
                    lines.insert(at.min(lines.len()), random_line(rng));
                }
            }
        }
    }
    let mut out = lines.concat();
    if missing_newline && out.ends_with(b"\n") && rng.chance(50) {
        out.pop();
    } else if !out.ends_with(b"\n") && !out.is_empty() {
        out.push(b'\n');
    }
    if out.is_empty() {
        out = random_line(rng);
    }
    out
}

/// What a side of a generated history may do.
#[derive(Clone, Copy)]
pub struct Mutations {
    pub renames: bool,
    pub deletions: bool,
}

/// One side's change of `base`: some files edited, maybe one added, one
/// deleted and one renamed (within its directory, so no directory ever
/// moves — libgit2 has no directory-rename detection, git's ort has).
pub fn mutate(rng: &mut Rng, base: &Files, tag: &str, what: Mutations) -> Files {
    let mut files = base.clone();
    let names: Vec<String> = files.keys().cloned().collect();
    let mut edited = std::collections::BTreeSet::new();
    for _ in 0..(1 + rng.below(4)) {
        let name = &names[rng.below(names.len())];
        if let Some(content) = files.get(name).cloned() {
            files.insert(name.clone(), mutate_content(rng, &content));
            edited.insert(name.clone());
        }
    }
    if rng.chance(40) {
        let name = &names[rng.below(names.len())];
        let dir = name
            .rsplit_once('/')
            .map(|(d, _)| format!("{d}/"))
            .unwrap_or_default();
        files.insert(
            format!("{dir}new_{tag}_{}.txt", rng.below(1000)),
            random_file(rng),
        );
    }
    if what.deletions && rng.chance(30) {
        let name = &names[rng.below(names.len())];
        files.remove(name);
    }
    // Renamed files stay clearly similar (unedited but for one line of twenty
    // or more): near the 50% threshold, git's and libgit2's similarity
    // scores differ, and that is libgit2's heuristic, not our code.
    if what.renames && rng.chance(30) {
        let name = names[rng.below(names.len())].clone();
        if edited.contains(&name) {
            return files;
        }
        if let Some(content) = files.remove(&name) {
            let (dir, _) = name.rsplit_once('/').unwrap_or(("", ""));
            let new = if dir.is_empty() {
                format!("moved_{tag}.txt")
            } else {
                format!("{dir}/moved_{tag}.txt")
            };
            let content = if rng.chance(50) || lines_of(&content).len() < 20 {
                content
            } else {
                // A small edit keeps it well above the 50% similarity
                // git and libgit2 both use.
                let mut lines = lines_of(&content);
                if let Some(first) = lines.first_mut() {
                    *first = random_line(rng);
                }
                lines.concat()
            };
            files.insert(new, content);
        }
    }
    files
}
