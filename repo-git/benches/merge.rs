//! In-memory merge and land on a large repository.
//!
//! A bare repository of 20,000 files (20 × 20 directories of 50 files); a
//! task changes a few files; meanwhile the base branch moved (other
//! files). Measured: building the task's tree from edits, the in-memory
//! three-way merge onto the moved base, and landing the merged tree (one
//! commit, backup ref, compare-and-swap of the branch). The target is
//! merge + land p50 ≤ 100 ms. Run with `cargo bench -p repo-git --bench
//! merge`; prints p50/p99 per step.

// A benchmark is a test harness: a failed step should stop it at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use git2::{Oid, Repository, Signature};
use repo_git::change::{self, Edit, Limits, MergeOutcome};

const DIRS: usize = 20;
const SUBDIRS: usize = 20;
const FILES: usize = 50;
const ITERATIONS: usize = 200;

fn content(d: usize, s: usize, f: usize, version: &str) -> Vec<u8> {
    let mut text = String::new();
    for line in 0..30 {
        text.push_str(&format!("d{d} s{s} f{f} line {line} {version}\n"));
    }
    text.into_bytes()
}

fn path(d: usize, s: usize, f: usize) -> String {
    format!("dir{d:02}/sub{s:02}/file{f:02}.txt")
}

/// The 20,000-file tree, built level by level.
fn big_tree(repo: &Repository) -> Oid {
    let mut root = repo.treebuilder(None).unwrap();
    for d in 0..DIRS {
        let mut dir = repo.treebuilder(None).unwrap();
        for s in 0..SUBDIRS {
            let mut sub = repo.treebuilder(None).unwrap();
            for f in 0..FILES {
                let blob = repo.blob(&content(d, s, f, "v1")).unwrap();
                sub.insert(format!("file{f:02}.txt"), blob, 0o100644)
                    .unwrap();
            }
            dir.insert(format!("sub{s:02}"), sub.write().unwrap(), 0o040000)
                .unwrap();
        }
        root.insert(format!("dir{d:02}"), dir.write().unwrap(), 0o040000)
            .unwrap();
    }
    root.write().unwrap()
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn report(name: &str, samples: &mut [Duration]) {
    let p50 = percentile(samples, 0.50);
    let p99 = percentile(samples, 0.99);
    println!(
        "{name:<28} p50 {:>8.2} ms   p99 {:>8.2} ms   (n = {})",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        samples.len()
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init_bare(dir.path()).unwrap();
    let who = Signature::new(
        "Bench",
        "bench@example.com",
        &git2::Time::new(1_700_000_000, 0),
    )
    .unwrap();

    let started = Instant::now();
    let tree = repo.find_tree(big_tree(&repo)).unwrap();
    let base = repo.commit(None, &who, &who, "base", &tree, &[]).unwrap();
    println!(
        "set-up: {} files written in {:.1} s",
        DIRS * SUBDIRS * FILES,
        started.elapsed().as_secs_f64()
    );

    // The task: a patch, two rewrites and a new file.
    let patched = path(3, 4, 5);
    let old = String::from_utf8(content(3, 4, 5, "v1")).unwrap();
    let old_line = old.lines().nth(10).unwrap();
    let diff = format!(
        "--- a/{patched}\n+++ b/{patched}\n@@ -10,3 +10,3 @@\n {}\n-{}\n+changed by the task\n {}\n",
        old.lines().nth(9).unwrap(),
        old_line,
        old.lines().nth(11).unwrap()
    );
    let task_edits = vec![
        Edit::Patch {
            path: patched,
            diff,
        },
        Edit::Write {
            path: path(7, 1, 2),
            content: content(7, 1, 2, "task"),
        },
        Edit::Write {
            path: path(19, 19, 49),
            content: content(19, 19, 49, "task"),
        },
        Edit::Write {
            path: "dir05/sub05/new_by_task.txt".into(),
            content: b"new\n".to_vec(),
        },
    ];
    // The base moved meanwhile, on other files.
    let moved_tree = change::build_tree(
        &repo,
        base,
        &[
            Edit::Write {
                path: path(0, 0, 0),
                content: content(0, 0, 0, "moved"),
            },
            Edit::Write {
                path: path(7, 1, 3),
                content: content(7, 1, 3, "moved"),
            },
            Edit::Delete {
                path: path(12, 12, 12),
            },
        ],
        &Limits::default(),
    )
    .unwrap()
    .tree;
    let moved = repo
        .commit(
            None,
            &who,
            &who,
            "moved",
            &repo.find_tree(moved_tree).unwrap(),
            &[&repo.find_commit(base).unwrap()],
        )
        .unwrap();

    let (mut build, mut merge, mut land, mut merge_land, mut review) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..ITERATIONS {
        repo.reference("refs/heads/main", moved, true, "bench reset")
            .unwrap();

        let t = Instant::now();
        let built = change::build_tree(&repo, base, &task_edits, &Limits::default()).unwrap();
        build.push(t.elapsed());
        let task = change::commit_on_branch(
            &repo,
            "exiton/bench-task",
            base,
            built.tree,
            &format!("task {i}"),
            &who,
        )
        .unwrap();

        let t = Instant::now();
        let d = change::diff(&repo, base, task, 3).unwrap();
        review.push(t.elapsed());
        assert_eq!(d.files.len(), 4);

        let t0 = Instant::now();
        let merged = match change::merge(&repo, base, moved, task).unwrap() {
            MergeOutcome::Clean { tree } => tree,
            MergeOutcome::Conflicted { paths } => panic!("unexpected conflict: {paths:?}"),
        };
        let t1 = Instant::now();
        let landed = change::land(
            &repo,
            "main",
            moved,
            merged,
            "Land the task\n\nExiton-Session: bench\n",
            &who,
        )
        .unwrap();
        let t2 = Instant::now();
        assert_eq!(
            repo.refname_to_id("refs/heads/main").unwrap(),
            landed.commit
        );
        merge.push(t1 - t0);
        land.push(t2 - t1);
        merge_land.push(t2 - t0);
    }
    // The base moved on a file the task changed too (other lines): the
    // general path, libgit2's merge of the touched paths only.
    let overlap_tree = change::build_tree(
        &repo,
        base,
        &[Edit::Write {
            path: path(3, 4, 5),
            content: old.replace("line 25 v1", "line 25 moved").into_bytes(),
        }],
        &Limits::default(),
    )
    .unwrap()
    .tree;
    let base_commit = repo.find_commit(base).unwrap();
    let overlap_tree = repo.find_tree(overlap_tree).unwrap();
    let overlap = repo
        .commit(None, &who, &who, "moved", &overlap_tree, &[&base_commit])
        .unwrap();
    let task = repo.refname_to_id("refs/heads/exiton/bench-task").unwrap();
    let mut overlapping = Vec::new();
    for _ in 0..ITERATIONS {
        let t = Instant::now();
        match change::merge(&repo, base, overlap, task).unwrap() {
            MergeOutcome::Clean { .. } => {}
            MergeOutcome::Conflicted { paths } => panic!("unexpected conflict: {paths:?}"),
        }
        overlapping.push(t.elapsed());
    }

    println!(
        "repository: {} files in {DIRS}x{SUBDIRS} directories, bare; {ITERATIONS} iterations",
        DIRS * SUBDIRS * FILES
    );
    report("build_tree (4 edits)", &mut build);
    report("diff (review, 4 files)", &mut review);
    report("merge (in memory)", &mut merge);
    report("land (commit + backup + CAS)", &mut land);
    report("merge + land", &mut merge_land);
    report("merge, same file both sides", &mut overlapping);
    let p50 = percentile(&mut merge_land, 0.5);
    assert!(
        p50 <= Duration::from_millis(100),
        "merge + land p50 {p50:?} is over 100 ms"
    );
}
