//! Real git as the oracle: over seeded random histories, our in-memory
//! merge must give `git merge-tree --write-tree`'s tree and conflicted
//! paths, and our patch application `git apply --cached`'s tree.

// Helpers outside #[test] functions unwrap too: a failed set-up step
// should fail the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{Files, Mutations, Rng, Scratch, commit_files, git_command, mutate, random_files};
use git2::Oid;
use repo_git::change::{self, Edit, Limits, MergeOutcome};

/// Seeds per oracle test; `ORACLE_SEEDS` raises it for a longer soak.
fn seeds() -> u64 {
    std::env::var("ORACLE_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

/// `git merge-tree --write-tree`: the tree, and the conflicted paths.
fn git_merge_tree(s: &Scratch, ours: Oid, theirs: Oid) -> (Oid, BTreeSet<String>) {
    let out = git_command(
        s.path(),
        &[
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            &ours.to_string(),
            &theirs.to_string(),
        ],
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    let tree = Oid::from_str(lines.next().unwrap()).unwrap();
    let conflicted: BTreeSet<String> = lines
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    match out.status.code() {
        Some(0) => assert!(conflicted.is_empty()),
        Some(1) => assert!(!conflicted.is_empty(), "conflict without paths: {text}"),
        other => panic!(
            "git merge-tree failed ({other:?}): {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
    (tree, conflicted)
}

/// The commits (base, ours, theirs) of seed `seed` of the merge oracle.
fn merge_case(s: &Scratch, seed: u64) -> (Oid, Oid, Oid) {
    let mut rng = Rng::new(seed);
    let base = random_files(&mut rng);
    let what = Mutations {
        renames: true,
        deletions: true,
    };
    let mut ours = mutate(&mut rng, &base, "ours", what);
    let theirs: Files = mutate(&mut rng, &base, "theirs", what);
    // Half the seeds: the same file touched on both sides, often
    // conflicting.
    if seed.is_multiple_of(2) {
        let name = base.keys().nth(rng.below(base.len())).unwrap().clone();
        if let (Some(_), Some(t)) = (ours.get(&name), theirs.get(&name)) {
            let mut edited = t.clone();
            edited.splice(0..0, b"ours was here\n".iter().copied());
            ours.insert(name, edited);
        }
    }
    let base_c = commit_files(&s.repo, &[], &base, "base");
    let ours_c = commit_files(&s.repo, &[base_c], &ours, "ours");
    let theirs_c = commit_files(&s.repo, &[base_c], &theirs, "theirs");
    (base_c, ours_c, theirs_c)
}

#[test]
fn merge_matches_git_merge_tree() {
    let s = Scratch::new(true);
    let (mut clean, mut conflicted) = (0, 0);
    for seed in 0..seeds() {
        let (base_c, ours_c, theirs_c) = merge_case(&s, seed);
        let (git_tree, git_conflicts) = git_merge_tree(&s, ours_c, theirs_c);
        match change::merge(&s.repo, base_c, ours_c, theirs_c).unwrap() {
            MergeOutcome::Clean { tree } => {
                assert!(
                    git_conflicts.is_empty(),
                    "seed {seed}: git conflicts {git_conflicts:?}, we merged clean"
                );
                assert_eq!(tree, git_tree, "seed {seed}: merged trees differ");
                clean += 1;
            }
            MergeOutcome::Conflicted { paths } => {
                let ours_paths: BTreeSet<String> = paths.iter().map(|c| c.path.clone()).collect();
                assert_eq!(
                    ours_paths, git_conflicts,
                    "seed {seed}: conflicted paths differ"
                );
                for c in &paths {
                    if let Some(text) = &c.text {
                        assert!(
                            text.contains("<<<<<<< ours") && text.contains(">>>>>>> theirs"),
                            "{text}"
                        );
                    }
                }
                conflicted += 1;
            }
        }
    }
    eprintln!("merge oracle: {clean} clean, {conflicted} conflicted");
    assert!(
        clean >= 10 && conflicted >= 10,
        "{clean} clean, {conflicted} conflicted: the generator lost its mix"
    );
}

/// Splits `git diff` output into (path, one-file patch).
fn split_diff(diff: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for chunk in diff.split_inclusive('\n') {
        if let Some(rest) = chunk.strip_prefix("diff --git a/") {
            let path = rest.trim_end().split(" b/").next().unwrap().to_string();
            out.push((path, String::new()));
        }
        out.last_mut().unwrap().1.push_str(chunk);
    }
    out
}

/// `git apply --cached` of `patch` onto commit `base` in a scratch index:
/// the resulting tree, or None if git refuses.
fn git_apply(s: &Scratch, base: Oid, patch: &str) -> Option<Oid> {
    let index = s.path().join("scratch-index");
    let _ = std::fs::remove_file(&index);
    let patch_file = s.path().join("scratch.patch");
    std::fs::write(&patch_file, patch).unwrap();
    let run = |args: &[&str]| {
        git_command(s.path(), args)
            .env("GIT_INDEX_FILE", &index)
            .output()
            .unwrap()
    };
    assert!(run(&["read-tree", &base.to_string()]).status.success());
    if !run(&["apply", "--cached", patch_file.to_str().unwrap()])
        .status
        .success()
    {
        return None;
    }
    let out = run(&["write-tree"]);
    assert!(out.status.success());
    Some(Oid::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap())
}

fn edits_of(diff: &str) -> Vec<Edit> {
    split_diff(diff)
        .into_iter()
        .map(|(path, diff)| Edit::Patch { path, diff })
        .collect()
}

#[test]
fn patches_apply_like_git_apply() {
    let s = Scratch::new(true);
    let (mut same_base, mut drifted_ok, mut drifted_fail) = (0, 0, 0);
    for seed in 0..seeds() {
        let mut rng = Rng::new(1000 + seed);
        let base = random_files(&mut rng);
        let what = Mutations {
            renames: false,
            deletions: true,
        };
        let target = mutate(&mut rng, &base, "t", what);
        let base_c = commit_files(&s.repo, &[], &base, "base");
        let target_c = commit_files(&s.repo, &[base_c], &target, "target");
        let context = ["-U3", "-U1", "-U5"][rng.below(3)];
        let diff = s.git_ok(&[
            "diff",
            "--no-renames",
            context,
            &base_c.to_string(),
            &target_c.to_string(),
        ]);
        let edits = edits_of(&diff);
        assert!(!edits.is_empty());

        // (1) onto the commit it was made from: both must succeed, alike.
        let built = change::build_tree(&s.repo, base_c, &edits, &Limits::default())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{diff}"));
        let git_tree = git_apply(&s, base_c, &diff)
            .unwrap_or_else(|| panic!("seed {seed}: git refused its own diff"));
        assert_eq!(built.tree, git_tree, "seed {seed}: trees differ\n{diff}");
        same_base += 1;

        // (2) onto a base that drifted (lines added or changed elsewhere):
        // offsets and failures must be git's.
        let mut drifted = base.clone();
        for (name, content) in drifted.iter_mut() {
            if rng.chance(50) && target.get(name) != Some(content) {
                *content = common::mutate_content(&mut rng, content);
            }
        }
        let drifted_c = commit_files(&s.repo, &[], &drifted, "drifted");
        let ours = change::build_tree(&s.repo, drifted_c, &edits, &Limits::default());
        let theirs = git_apply(&s, drifted_c, &diff);
        match (ours, theirs) {
            (Ok(built), Some(tree)) => {
                assert_eq!(
                    built.tree, tree,
                    "seed {seed}: drifted trees differ\n{diff}"
                );
                drifted_ok += 1;
            }
            (Err(_), None) => drifted_fail += 1,
            (ours, theirs) => panic!("seed {seed}: we gave {ours:?}, git gave {theirs:?}\n{diff}"),
        }
    }
    eprintln!(
        "apply oracle: {same_base} same base, drifted {drifted_ok} applied, {drifted_fail} refused"
    );
}

/// Hand-made merges where a file becomes a directory or the reverse,
/// which the random generator never makes.
#[test]
fn file_directory_swaps_match_git() {
    let s = Scratch::new(true);
    let f = |list: &[(&str, &str)]| -> Files {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    };
    let base = f(&[
        ("x", "x\n"),
        ("d/a", "a\n"),
        ("d/b", "b\n"),
        ("other", "o\n"),
    ]);
    let cases: Vec<(Files, Files)> = vec![
        // Theirs turns x into a directory; ours edits elsewhere.
        (
            f(&[
                ("x", "x\n"),
                ("d/a", "a\n"),
                ("d/b", "b\n"),
                ("other", "O\n"),
            ]),
            f(&[
                ("x/y", "y\n"),
                ("d/a", "a\n"),
                ("d/b", "b\n"),
                ("other", "o\n"),
            ]),
        ),
        // Theirs turns d into a file; ours edits elsewhere.
        (
            f(&[
                ("x", "X\n"),
                ("d/a", "a\n"),
                ("d/b", "b\n"),
                ("other", "o\n"),
            ]),
            f(&[("x", "x\n"), ("d", "now a file\n"), ("other", "o\n")]),
        ),
        // Ours edits x, theirs turns it into a directory: a conflict.
        (
            f(&[
                ("x", "X\n"),
                ("d/a", "a\n"),
                ("d/b", "b\n"),
                ("other", "o\n"),
            ]),
            f(&[
                ("x/y", "y\n"),
                ("d/a", "a\n"),
                ("d/b", "b\n"),
                ("other", "o\n"),
            ]),
        ),
        // Both sides add below a new directory and edit the same file.
        (
            f(&[
                ("x", "x\n"),
                ("d/a", "a\n"),
                ("d/b", "b\n"),
                ("other", "o\n"),
                ("n/1", "1\n"),
            ]),
            f(&[
                ("x", "x\n"),
                ("d/a", "a2\n"),
                ("d/b", "b\n"),
                ("other", "o\n"),
                ("n/2", "2\n"),
            ]),
        ),
    ];
    for (i, (ours, theirs)) in cases.iter().enumerate() {
        let base_c = commit_files(&s.repo, &[], &base, "base");
        let ours_c = commit_files(&s.repo, &[base_c], ours, "ours");
        let theirs_c = commit_files(&s.repo, &[base_c], theirs, "theirs");
        for (a, b) in [(ours_c, theirs_c), (theirs_c, ours_c)] {
            let (git_tree, git_conflicts) = git_merge_tree(&s, a, b);
            match change::merge(&s.repo, base_c, a, b).unwrap() {
                MergeOutcome::Clean { tree } => {
                    assert!(
                        git_conflicts.is_empty(),
                        "case {i}: git conflicts {git_conflicts:?}"
                    );
                    assert_eq!(tree, git_tree, "case {i}");
                }
                MergeOutcome::Conflicted { paths } => {
                    let ours_paths: BTreeSet<String> =
                        paths.iter().map(|c| c.path.clone()).collect();
                    // git moves a file in the way of a directory aside, to
                    // "<path>~<commit>"; the conflict is still at <path>.
                    let git_conflicts: BTreeSet<String> = git_conflicts
                        .iter()
                        .map(|p| match p.rsplit_once('~') {
                            Some((path, id)) if id.len() == 40 => path.to_string(),
                            _ => p.clone(),
                        })
                        .collect();
                    assert_eq!(ours_paths, git_conflicts, "case {i}");
                }
            }
        }
    }
}
