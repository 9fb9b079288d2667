//! Benchmark of `context::choose` on a generated repository of 20,000
//! files (issue 18's target: ≤ 300 ms p50). Run with
//! `cargo bench -p repo-git --bench context`.
//!
//! The repository is written once with git2 directly (blobs, trees and
//! commits, no work tree), which takes seconds where the git CLI would take
//! minutes. It is timed twice: with loose objects, as just written, and
//! packed, as after a clone or `git gc` (the usual case on a server).

// A benchmark fails loudly on any error: unwrap is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use git2::{Oid, Repository, Signature};
use repo_git::context::{ContextRequest, choose, clear_cache};

const MODULES: usize = 40;
const SUBDIRS: usize = 25;
const FILES: usize = 20; // per subdirectory: 40 × 25 × 20 = 20,000 files
const RUNS: usize = 8;

/// A small deterministic generator (xorshift), so every run benches the
/// same repository without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SYLLABLES: &[&str] = &[
    "ac", "bo", "ci", "da", "el", "fu", "ga", "hi", "io", "ju", "ka", "lo", "me", "nu", "or", "pa",
    "qui", "ra", "so", "ti", "um", "ve", "wa", "xo", "ya", "ze",
];

fn vocabulary(rng: &mut Rng) -> Vec<String> {
    let mut words: Vec<String> = (0..3000)
        .map(|_| {
            let n = 2 + rng.below(3);
            (0..n)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
                .collect()
        })
        .collect();
    // The queries' terms, rare like real ones.
    for w in [
        "login",
        "session",
        "timeout",
        "upload",
        "retry",
        "chart",
        "dashboard",
    ] {
        words.push(w.to_owned());
    }
    words
}

fn source_file(rng: &mut Rng, vocabulary: &[String]) -> String {
    // 1–8 KiB, mostly small, like source files.
    let target = 1024 + rng.below(4096) + rng.below(4096) * usize::from(rng.below(4) == 0);
    let mut text = String::with_capacity(target + 128);
    let pick = |rng: &mut Rng| vocabulary[rng.below(vocabulary.len())].clone();
    while text.len() < target {
        let (a, b, c) = (pick(rng), pick(rng), pick(rng));
        let camel: String = b[..1].to_uppercase() + &b[1..];
        text.push_str(&format!(
            "pub fn {a}_{c}(value: {camel}) -> Result<{camel}, Error> {{\n    let {c} = {a}(value)?; // {b} {c}\n    Ok({c})\n}}\n\n"
        ));
    }
    text
}

fn generate(dir: &Path) -> Result<Oid, git2::Error> {
    let repo = Repository::init(dir)?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let vocabulary = vocabulary(&mut rng);
    let extensions = ["rs", "ts", "py", "go"];
    let mut root = repo.treebuilder(None)?;
    let mut some_paths = Vec::new();
    for m in 0..MODULES {
        let mut module = repo.treebuilder(None)?;
        for s in 0..SUBDIRS {
            let mut sub = repo.treebuilder(None)?;
            for f in 0..FILES {
                let name = format!(
                    "{}_{f}.{}",
                    vocabulary[rng.below(vocabulary.len())],
                    extensions[rng.below(extensions.len())]
                );
                let blob = repo.blob(source_file(&mut rng, &vocabulary).as_bytes())?;
                sub.insert(&name, blob, 0o100644)?;
                if f == 0 && s % 5 == 0 {
                    some_paths.push((m, s, name));
                }
            }
            module.insert(format!("part{s:02}"), sub.write()?, 0o040000)?;
        }
        root.insert(format!("mod{m:02}"), module.write()?, 0o040000)?;
    }
    // Dependencies that must never be read.
    let mut deps = repo.treebuilder(None)?;
    for i in 0..500 {
        let blob = repo.blob(source_file(&mut rng, &vocabulary).as_bytes())?;
        deps.insert(format!("dep{i}.js"), blob, 0o100644)?;
    }
    root.insert("node_modules", deps.write()?, 0o040000)?;
    root.insert("README.md", repo.blob(b"# Bench\n")?, 0o100644)?;

    let signature = Signature::now("bench", "bench@example.com")?;
    let tree = repo.find_tree(root.write()?)?;
    let mut head = repo.commit(Some("HEAD"), &signature, &signature, "import", &tree, &[])?;
    // Twenty small commits, for the recency walk.
    for (i, (m, s, name)) in some_paths.iter().take(20).enumerate() {
        let parent = repo.find_commit(head)?;
        let path = format!("mod{m:02}/part{s:02}/{name}");
        let blob =
            repo.blob(format!("// edit {i}\n{}", source_file(&mut rng, &vocabulary)).as_bytes())?;
        let mut index = git2::Index::new()?;
        index.read_tree(&parent.tree()?)?;
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            file_size: 0,
            id: blob,
            flags: 0,
            flags_extended: 0,
            path: path.into_bytes(),
        };
        index.add(&entry)?;
        let tree = repo.find_tree(index.write_tree_to(&repo)?)?;
        head = repo.commit(
            Some("HEAD"),
            &signature,
            &signature,
            "edit",
            &tree,
            &[&parent],
        )?;
    }
    Ok(head)
}

/// Writes every object into one pack and removes the loose ones.
fn pack(repo: &Repository, head: Oid) -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = repo.packbuilder()?;
    let mut walk = repo.revwalk()?;
    walk.push(head)?;
    builder.insert_walk(&mut walk)?;
    let objects = repo.path().join("objects");
    builder.write(&objects.join("pack"), 0o644)?;
    for entry in std::fs::read_dir(&objects)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.len() == 2
            && name
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_hexdigit())
        {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(label: &str, times: &mut [Duration]) {
    times.sort();
    println!(
        "{label}: {} runs: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        times.len(),
        percentile(times, 0.5).as_secs_f64() * 1e3,
        percentile(times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

/// Times `choose` cold (cache emptied before each call: a new base commit
/// in a repository not seen before) and warm (the same base commit asked
/// again, or a commit sharing most blobs with one seen before — the usual
/// case within a session).
fn bench(label: &str, repo: &Repository, head: Oid) {
    let queries = [
        "Fix the login timeout: SessionStore drops the session after retry",
        "Upload of big files fails; add retry_policy to the upload client",
        "Render the dashboard chart with the new data",
        "Error value result",
    ];
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for query in queries {
        let request = ContextRequest::from_text(query, 48 * 1024, 300);
        for _ in 0..RUNS {
            clear_cache();
            let start = Instant::now();
            let context = choose(repo, head, &request).unwrap();
            cold.push(start.elapsed());
            assert_eq!(context.map.total_files, MODULES * SUBDIRS * FILES + 1);
        }
        for _ in 0..RUNS {
            let start = Instant::now();
            let context = choose(repo, head, &request).unwrap();
            warm.push(start.elapsed());
            assert_eq!(context.map.total_files, MODULES * SUBDIRS * FILES + 1);
        }
        let context = choose(repo, head, &request).unwrap();
        let shown: usize = context.files.iter().map(|f| f.content.len()).sum();
        println!(
            "  {label}: {:?} → {} files, {} bytes; first: {}",
            query,
            context.files.len(),
            shown,
            context.files.first().map_or("-", |f| f.path.as_str())
        );
    }
    let files = MODULES * SUBDIRS * FILES + 1;
    report(&format!("{label}, cold, {files} files"), &mut cold);
    report(&format!("{label}, warm, {files} files"), &mut warm);
}

fn main() {
    // libgit2 re-hashes every object it reads (SHA-1 with collision
    // detection) unless told not to; a server may turn that off for
    // speed, so the bench can measure both.
    if std::env::var_os("EXITON_BENCH_NO_HASH_CHECK").is_some() {
        git2::opts::strict_hash_verification(false);
        println!("strict hash verification off");
    }
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let head = generate(dir.path()).unwrap();
    let repo = Repository::open(dir.path()).unwrap();
    println!("generated in {:.1} s", start.elapsed().as_secs_f64());
    bench("loose", &repo, head);
    drop(repo);
    pack(&Repository::open(dir.path()).unwrap(), head).unwrap();
    let repo = Repository::open(dir.path()).unwrap();
    bench("packed", &repo, head);
}
