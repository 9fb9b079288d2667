//! The public API against real repositories: refusals of unsafe edits,
//! modes, the reviewable diff and format-patch, task branches, landing
//! (compare-and-swap, backups, work trees) and crash recovery.

// Helpers outside #[test] functions unwrap too: a failed set-up step
// should fail the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;

use common::{Files, Scratch, commit_files, read_files, who};
use git2::Oid;
use repo_git::change::{
    self, ChangeError, Edit, FileChange, FileStatus, LandError, Limits, LineKind, MergeOutcome,
    PathProblem, WorktreeUpdate,
};

fn files(list: &[(&str, &str)]) -> Files {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

fn write(path: &str, content: &str) -> Edit {
    Edit::Write {
        path: path.into(),
        content: content.as_bytes().to_vec(),
    }
}

fn build(s: &Scratch, base: Oid, edits: &[Edit]) -> Result<change::Built, ChangeError> {
    change::build_tree(&s.repo, base, edits, &Limits::default())
}

/// A repository with a symlink, a submodule entry and an executable, made
/// by git itself.
fn special_repo() -> (Scratch, Oid) {
    let s = Scratch::new(false);
    fs::create_dir_all(s.path().join("dir")).unwrap();
    fs::write(s.path().join("dir/file.txt"), "one\ntwo\nthree\n").unwrap();
    fs::write(s.path().join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::write(s.path().join("bin.dat"), b"a\0b").unwrap();
    std::os::unix::fs::symlink("dir", s.path().join("link")).unwrap();
    s.git_ok(&["add", "."]);
    s.git_ok(&["update-index", "--chmod=+x", "run.sh"]);
    // A submodule (gitlink) entry without a real submodule behind it.
    s.git_ok(&[
        "update-index",
        "--add",
        "--cacheinfo",
        "160000,1111111111111111111111111111111111111111,sub",
    ]);
    s.git_ok(&["commit", "-q", "-m", "base"]);
    let head = s.repo.head().unwrap().target().unwrap();
    (s, head)
}

/// Recognises the error a refusal case expects.
type Expect = fn(&ChangeError) -> bool;

#[test]
fn refuses_unsafe_paths() {
    let (s, base) = special_repo();
    let cases: Vec<(Edit, Expect)> = vec![
        (write("../x", "a\n"), |e| matches!(e, ChangeError::InvalidPath { problem: PathProblem::ParentComponent, .. })),
        (write("dir/../../x", "a\n"), |e| matches!(e, ChangeError::InvalidPath { problem: PathProblem::ParentComponent, .. })),
        (write("/etc/passwd", "a\n"), |e| matches!(e, ChangeError::InvalidPath { problem: PathProblem::Absolute, .. })),
        (write("", "a\n"), |e| matches!(e, ChangeError::InvalidPath { problem: PathProblem::Empty, .. })),
        (write("dir\\x", "a\n"), |e| matches!(e, ChangeError::InvalidPath { problem: PathProblem::Backslash, .. })),
        (write("a\0b", "a\n"), |e| matches!(e, ChangeError::InvalidPath { problem: PathProblem::Nul, .. })),
        (write(".git/hooks/pre-commit", "a\n"), |e| matches!(e, ChangeError::InvalidPath { problem: PathProblem::GitDir, .. })),
        (write("dir/.GiT/config", "a\n"), |e| matches!(e, ChangeError::InvalidPath { problem: PathProblem::GitDir, .. })),
        (Edit::Delete { path: ".git/HEAD".into() }, |e| matches!(e, ChangeError::InvalidPath { problem: PathProblem::GitDir, .. })),
        (write("link/file.txt", "a\n"), |e| matches!(e, ChangeError::Symlink { through, .. } if through == "link")),
        (write("link", "a\n"), |e| matches!(e, ChangeError::Symlink { .. })),
        (Edit::Delete { path: "link".into() }, |e| matches!(e, ChangeError::Symlink { .. })),
        (write("sub/x.txt", "a\n"), |e| matches!(e, ChangeError::Submodule { through, .. } if through == "sub")),
        (write("sub", "a\n"), |e| matches!(e, ChangeError::Submodule { .. })),
        (write("run.sh/x", "a\n"), |e| matches!(e, ChangeError::NotADirectory { .. })),
        (write("dir", "a\n"), |e| matches!(e, ChangeError::IsADirectory { .. })),
        (write("new.bin", "a\0b"), |e| matches!(e, ChangeError::Binary { .. })),
        (
            Edit::Patch { path: "bin.dat".into(), diff: "--- a/bin.dat\n+++ b/bin.dat\n@@ -1 +1 @@\n-a\n+b\n".into() },
            |e| matches!(e, ChangeError::Binary { .. }),
        ),
        (Edit::Delete { path: "nope.txt".into() }, |e| matches!(e, ChangeError::NotFound { .. })),
        (
            Edit::Patch { path: "nope.txt".into(), diff: "--- a/nope.txt\n+++ b/nope.txt\n@@ -1 +1 @@\n-a\n+b\n".into() },
            |e| matches!(e, ChangeError::NotFound { .. }),
        ),
        (
            Edit::Patch {
                path: "dir/file.txt".into(),
                diff: "--- a/dir/file.txt\n+++ b/dir/file.txt\n@@ -1,3 +1,3 @@\n one\n-TWO\n+2\n three\n".into(),
            },
            |e| matches!(e, ChangeError::HunkFailed { path, hunk: 1, .. } if path == "dir/file.txt"),
        ),
        (
            Edit::Patch { path: "dir/file.txt".into(), diff: "--- /dev/null\n+++ b/dir/file.txt\n@@ -0,0 +1 @@\n+x\n".into() },
            |e| matches!(e, ChangeError::AlreadyExists { .. }),
        ),
    ];
    for (edit, expected) in cases {
        // A good edit first: a refusal must fail the whole build, never
        // drop the bad edit and keep the rest.
        let edits = vec![write("ok.txt", "fine\n"), edit.clone()];
        match build(&s, base, &edits) {
            Err(e) => assert!(expected(&e), "{edit:?}: unexpected {e:?}"),
            Ok(built) => panic!("{edit:?} accepted: {built:?}"),
        }
    }
}

#[test]
fn refuses_huge_files() {
    let (s, base) = special_repo();
    let limits = Limits {
        max_file_bytes: 100,
    };
    let big = "x\n".repeat(60);
    match change::build_tree(&s.repo, base, &[write("big.txt", &big)], &limits) {
        Err(ChangeError::TooLarge {
            size: 120,
            limit: 100,
            path,
        }) => assert_eq!(path, "big.txt"),
        other => panic!("{other:?}"),
    }
    let default_big = vec![b'a'; 1024 * 1024 + 1];
    let edit = Edit::Write {
        path: "big.txt".into(),
        content: default_big,
    };
    assert!(matches!(
        build(&s, base, &[edit]),
        Err(ChangeError::TooLarge { .. })
    ));
}

#[test]
fn keeps_modes_and_reports_stats() {
    let (s, base) = special_repo();
    let edits = vec![
        write("run.sh", "#!/bin/sh\necho bye\n"),
        Edit::Patch {
            path: "dir/file.txt".into(),
            diff:
                "--- dir/file.txt\n+++ dir/file.txt\n@@ -1,3 +1,4 @@\n one\n-two\n+2\n+2b\n three\n"
                    .into(),
        },
        write("new/deep/file.rs", "fn main() {}\n"),
        Edit::Delete {
            path: "bin.dat".into(),
        },
    ];
    let status_before = s.git_ok(&["status", "--porcelain"]);
    let built = build(&s, base, &edits).unwrap();
    let tree = s.repo.find_tree(built.tree).unwrap();
    let mode = |p: &str| tree.get_path(std::path::Path::new(p)).unwrap().filemode();
    assert_eq!(mode("run.sh"), 0o100755);
    assert_eq!(mode("dir/file.txt"), 0o100644);
    assert_eq!(mode("new/deep/file.rs"), 0o100644);
    assert_eq!(mode("link"), 0o120000);
    assert_eq!(mode("sub"), 0o160000);
    assert!(tree.get_path(std::path::Path::new("bin.dat")).is_err());
    let stat = |p: &str| built.files.iter().find(|f| f.path == p).unwrap().clone();
    assert_eq!(
        (
            stat("dir/file.txt").additions,
            stat("dir/file.txt").deletions
        ),
        (2, 1)
    );
    assert_eq!(stat("new/deep/file.rs").change, FileChange::Added);
    assert_eq!(stat("bin.dat").change, FileChange::Deleted);
    assert_eq!(stat("run.sh").change, FileChange::Modified);
    assert_eq!(built.files.len(), 4);
    // The work tree was never touched.
    assert_eq!(s.git_ok(&["status", "--porcelain"]), status_before);
    // Nothing to do: the base tree itself.
    let same = build(&s, base, &[write("run.sh", "#!/bin/sh\necho hi\n")]).unwrap();
    assert_eq!(same.tree, s.repo.find_commit(base).unwrap().tree_id());
    assert!(same.files.is_empty());
}

#[test]
fn edits_see_earlier_edits() {
    let s = Scratch::new(true);
    let base = commit_files(
        &s.repo,
        &[],
        &files(&[("a", "file\n"), ("d/x", "x\n")]),
        "base",
    );
    // A file replaced by a directory, then a patch of a written file.
    let edits = vec![
        Edit::Delete { path: "a".into() },
        write("a/b", "one\ntwo\n"),
        Edit::Patch {
            path: "a/b".into(),
            diff: "--- a/a/b\n+++ b/a/b\n@@ -1,2 +1,2 @@\n one\n-two\n+2\n".into(),
        },
    ];
    let built = build(&s, base, &edits).unwrap();
    assert_eq!(
        read_files(&s.repo, built.tree),
        files(&[("a/b", "one\n2\n"), ("d/x", "x\n")])
    );
    // "a" is now a directory: writing it as a file is refused.
    let mut more = edits.clone();
    more.push(write("a", "file again\n"));
    assert!(matches!(
        build(&s, base, &more),
        Err(ChangeError::IsADirectory { .. })
    ));
    // Written then deleted: as if never written.
    let gone = vec![
        write("tmp.txt", "t\n"),
        Edit::Delete {
            path: "tmp.txt".into(),
        },
    ];
    assert_eq!(
        build(&s, base, &gone).unwrap().tree,
        s.repo.find_commit(base).unwrap().tree_id()
    );
    // Deleting the last file of a directory removes the directory.
    let built = build(&s, base, &[Edit::Delete { path: "d/x".into() }]).unwrap();
    assert_eq!(read_files(&s.repo, built.tree), files(&[("a", "file\n")]));
    let out = s.git_ok(&["ls-tree", "-r", "-t", &built.tree.to_string()]);
    assert!(!out.contains("\td\n"), "{out}");
}

#[test]
fn diff_and_format_patch() {
    let s = Scratch::new(false);
    let base_files = files(&[
        ("a.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"),
        ("gone.txt", "bye\n"),
        ("old_name.txt", &"same line\n".repeat(20)),
    ]);
    let base = commit_files(&s.repo, &[], &base_files, "base");
    s.repo
        .reference("refs/heads/main", base, true, "test")
        .unwrap();
    let mut next = base_files.clone();
    next.insert(
        "a.txt".into(),
        b"1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\n11".to_vec(),
    );
    next.remove("gone.txt");
    let moved = next.remove("old_name.txt").unwrap();
    next.insert("new_name.txt".into(), moved);
    next.insert("added.txt".into(), b"hello\n".to_vec());
    let commit = commit_files(
        &s.repo,
        &[base],
        &next,
        "Change things\n\nBecause.\n\nExiton-Session: 42\n",
    );

    let d = change::diff(&s.repo, base, commit, 3).unwrap();
    let by = |status: FileStatus| d.files.iter().find(|f| f.status == status).unwrap();
    let added = by(FileStatus::Added);
    assert_eq!(
        (added.old_path.as_deref(), added.new_path.as_deref()),
        (None, Some("added.txt"))
    );
    assert_eq!(
        by(FileStatus::Deleted).old_path.as_deref(),
        Some("gone.txt")
    );
    let renamed = by(FileStatus::Renamed);
    assert_eq!(
        (renamed.old_path.as_deref(), renamed.new_path.as_deref()),
        (Some("old_name.txt"), Some("new_name.txt"))
    );
    let a = by(FileStatus::Modified);
    assert_eq!((a.additions, a.deletions), (2, 1), "{a:#?}");
    assert_eq!(a.hunks.len(), 2, "{a:#?}");
    let first = &a.hunks[0];
    assert_eq!(
        (
            first.old_start,
            first.old_lines,
            first.new_start,
            first.new_lines
        ),
        (1, 6, 1, 6)
    );
    let removed = first
        .lines
        .iter()
        .find(|l| l.kind == LineKind::Removed)
        .unwrap();
    assert_eq!(
        (removed.text.as_str(), removed.old_line, removed.new_line),
        ("3", Some(3), None)
    );
    let last = a.hunks[1].lines.last().unwrap();
    assert_eq!(
        (last.kind, last.text.as_str(), last.no_newline_at_eof),
        (LineKind::Added, "11", true)
    );
    // With trees instead of commits, and less context.
    let trees = change::diff(
        &s.repo,
        s.repo.find_commit(base).unwrap().tree_id(),
        commit,
        0,
    )
    .unwrap();
    assert_eq!(trees.files.len(), 4);

    let mail = change::format_patch(&s.repo, commit).unwrap();
    if std::env::var("SHOW_MAIL").is_ok() {
        eprintln!("{mail}");
    }
    assert!(
        mail.starts_with(&format!("From {commit} Mon Sep 17 00:00:00 2001\n")),
        "{mail}"
    );
    assert!(mail.contains("\nFrom: Test <test@example.com>\n"), "{mail}");
    assert!(mail.contains("\nDate: "), "{mail}");
    assert!(
        mail.contains("\nSubject: [PATCH] Change things\n"),
        "{mail}"
    );
    assert!(
        mail.contains("\n---\n") && mail.contains("files changed"),
        "{mail}"
    );
    assert!(mail.contains("\ndiff --git a/a.txt b/a.txt\n"), "{mail}");
    assert!(mail.contains("\n-- \n"), "{mail}");
    // git accepts it: apply --check on the base, then am on a checkout.
    fs::write(s.path().join("change.patch"), &mail).unwrap();
    s.git_ok(&["checkout", "-q", "-f", "main"]);
    s.git_ok(&["apply", "--check", "change.patch"]);
    s.git_ok(&["am", "-q", "change.patch"]);
    let am_tip = s.repo.refname_to_id("refs/heads/main").unwrap();
    assert_eq!(
        s.repo.find_commit(am_tip).unwrap().tree_id(),
        s.repo.find_commit(commit).unwrap().tree_id()
    );
    let am_message = s.git_ok(&["log", "-1", "--format=%B"]);
    assert!(am_message.contains("Exiton-Session: 42"), "{am_message}");
}

#[test]
fn merge_reports_conflict_text() {
    let s = Scratch::new(true);
    let base = commit_files(
        &s.repo,
        &[],
        &files(&[("f.txt", "a\nb\nc\n"), ("g.txt", "g\n")]),
        "base",
    );
    let ours = commit_files(
        &s.repo,
        &[base],
        &files(&[("f.txt", "a\nOURS\nc\n"), ("g.txt", "g\n")]),
        "ours",
    );
    let theirs = commit_files(
        &s.repo,
        &[base],
        &files(&[("f.txt", "a\nTHEIRS\nc\n")]),
        "theirs",
    );
    match change::merge(&s.repo, base, ours, theirs).unwrap() {
        MergeOutcome::Conflicted { paths } => {
            assert_eq!(paths.len(), 1);
            assert_eq!(paths[0].path, "f.txt");
            let text = paths[0].text.as_deref().unwrap();
            assert!(
                text.contains("<<<<<<< ours\nOURS\n=======\nTHEIRS\n>>>>>>> theirs\n"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Renamed by us, edited by both: one conflict, where the file went,
    // with its text.
    let long: String = (0..30).map(|i| format!("line {i}\n")).collect();
    let base = commit_files(&s.repo, &[], &files(&[("old.txt", &long)]), "base");
    let ours_text = long.replace("line 5\n", "ours 5\n");
    let ours = commit_files(&s.repo, &[base], &files(&[("new.txt", &ours_text)]), "ours");
    let theirs_text = long.replace("line 5\n", "theirs 5\n");
    let theirs = commit_files(
        &s.repo,
        &[base],
        &files(&[("old.txt", &theirs_text)]),
        "theirs",
    );
    match change::merge(&s.repo, base, ours, theirs).unwrap() {
        MergeOutcome::Conflicted { paths } => {
            assert_eq!(paths.len(), 1, "{paths:?}");
            assert_eq!(paths[0].path, "new.txt");
            let text = paths[0].text.as_deref().unwrap();
            assert!(
                text.contains("<<<<<<< ours\nours 5\n=======\ntheirs 5\n>>>>>>> theirs\n"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Disjoint changes merge cleanly.
    let base = commit_files(
        &s.repo,
        &[],
        &files(&[("f.txt", "a\nb\nc\n"), ("g.txt", "g\n")]),
        "base",
    );
    let ours = commit_files(
        &s.repo,
        &[base],
        &files(&[("f.txt", "a\nOURS\nc\n"), ("g.txt", "g\n")]),
        "ours",
    );
    let theirs = commit_files(
        &s.repo,
        &[base],
        &files(&[("f.txt", "a\nb\nc\n")]),
        "theirs",
    );
    match change::merge(&s.repo, base, ours, theirs).unwrap() {
        MergeOutcome::Clean { tree } => {
            assert_eq!(
                read_files(&s.repo, tree),
                files(&[("f.txt", "a\nOURS\nc\n")])
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn task_branches() {
    let s = Scratch::new(true);
    let base = commit_files(&s.repo, &[], &files(&[("f.txt", "a\n")]), "base");
    let tree = change::build_tree(&s.repo, base, &[write("f.txt", "b\n")], &Limits::default())
        .unwrap()
        .tree;
    let name = change::task_branch_name("Make f say b", "1a2b3c");
    assert_eq!(name, "exiton/make-f-say-b-1a2b3c");
    let first = change::commit_on_branch(&s.repo, &name, base, tree, "f says b", &who()).unwrap();
    assert_eq!(
        s.repo.refname_to_id(&format!("refs/heads/{name}")).unwrap(),
        first
    );
    let backups = || {
        s.repo
            .references_glob(&format!("refs/exiton/backup/{name}/*"))
            .unwrap()
            .count()
    };
    assert_eq!(backups(), 0, "a new branch has nothing to back up");
    // A revision of the proposal replaces the tip: the old tip is backed up.
    let tree2 = change::build_tree(&s.repo, base, &[write("f.txt", "c\n")], &Limits::default())
        .unwrap()
        .tree;
    let second = change::commit_on_branch(&s.repo, &name, base, tree2, "f says c", &who()).unwrap();
    assert_eq!(
        s.repo.refname_to_id(&format!("refs/heads/{name}")).unwrap(),
        second
    );
    assert_eq!(backups(), 1);
    let backup = s
        .repo
        .references_glob(&format!("refs/exiton/backup/{name}/*"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(backup.target(), Some(first));
    // A follow-up commit on top needs no backup.
    let tree3 = change::build_tree(
        &s.repo,
        second,
        &[write("g.txt", "g\n")],
        &Limits::default(),
    )
    .unwrap()
    .tree;
    change::commit_on_branch(&s.repo, &name, second, tree3, "and g", &who()).unwrap();
    assert_eq!(backups(), 1);
    assert!(matches!(
        change::commit_on_branch(&s.repo, "bad..name", base, tree, "x", &who()),
        Err(ChangeError::InvalidBranchName { .. })
    ));
}

/// A work tree on `main` with one commit, and a change of it (a tree).
fn checked_out() -> (Scratch, Oid, Oid) {
    let s = Scratch::new(false);
    fs::write(s.path().join("a.txt"), "a\n").unwrap();
    fs::write(s.path().join("keep.txt"), "keep\n").unwrap();
    fs::write(s.path().join("old.txt"), "old\n").unwrap();
    s.git_ok(&["add", "."]);
    s.git_ok(&["commit", "-q", "-m", "base"]);
    let base = s.repo.refname_to_id("refs/heads/main").unwrap();
    let tree = change::build_tree(
        &s.repo,
        base,
        &[
            write("a.txt", "A\n"),
            write("new/b.txt", "b\n"),
            Edit::Delete {
                path: "old.txt".into(),
            },
        ],
        &Limits::default(),
    )
    .unwrap()
    .tree;
    (s, base, tree)
}

fn backups_of(s: &Scratch, branch: &str) -> Vec<Oid> {
    s.repo
        .references_glob(&format!("refs/exiton/backup/{branch}/*"))
        .unwrap()
        .map(|r| r.unwrap().target().unwrap())
        .collect()
}

#[test]
fn land_updates_a_clean_checked_out_work_tree() {
    let (s, base, tree) = checked_out();
    fs::write(s.path().join("untracked-elsewhere.txt"), "mine\n").unwrap();
    let landed = change::land(
        &s.repo,
        "main",
        base,
        tree,
        "Land it\n\nExiton-Session: s1\n",
        &who(),
    )
    .unwrap();
    assert_eq!(landed.worktree, WorktreeUpdate::Updated);
    assert_eq!(
        s.repo.refname_to_id("refs/heads/main").unwrap(),
        landed.commit
    );
    let commit = s.repo.find_commit(landed.commit).unwrap();
    assert_eq!(commit.parent_ids().collect::<Vec<_>>(), vec![base]);
    assert_eq!(commit.tree_id(), tree);
    assert_eq!(backups_of(&s, "main"), vec![base]);
    assert_eq!(
        s.repo.find_reference(&landed.backup_ref).unwrap().target(),
        Some(base)
    );
    assert_eq!(fs::read_to_string(s.path().join("a.txt")).unwrap(), "A\n");
    assert_eq!(
        fs::read_to_string(s.path().join("new/b.txt")).unwrap(),
        "b\n"
    );
    assert!(
        !s.path().join("old.txt").exists(),
        "the deleted file is gone"
    );
    assert_eq!(
        fs::read_to_string(s.path().join("untracked-elsewhere.txt")).unwrap(),
        "mine\n"
    );
    assert_eq!(
        s.git_ok(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    assert_eq!(
        s.git_ok(&["status", "--porcelain"]),
        "?? untracked-elsewhere.txt\n"
    );
    assert_eq!(
        change::find_landed(&s.repo, "main", "Exiton-Session: s1", 10).unwrap(),
        Some(landed.commit)
    );
    assert_eq!(
        change::find_landed(&s.repo, "main", "Exiton-Session: s2", 10).unwrap(),
        None
    );
}

#[test]
fn land_refuses_a_dirty_checked_out_work_tree() {
    for dirt in ["modified", "staged", "untracked-colliding"] {
        let (s, base, tree) = checked_out();
        match dirt {
            "modified" => fs::write(s.path().join("keep.txt"), "my work\n").unwrap(),
            "staged" => {
                fs::write(s.path().join("keep.txt"), "my work\n").unwrap();
                s.git_ok(&["add", "keep.txt"]);
            }
            _ => {
                fs::create_dir_all(s.path().join("new")).unwrap();
                fs::write(s.path().join("new/b.txt"), "my work\n").unwrap();
            }
        }
        match change::land(&s.repo, "main", base, tree, "Land it", &who()) {
            Err(LandError::WorktreeDirty { paths }) => {
                assert_eq!(paths.len(), 1, "{dirt}: {paths:?}")
            }
            other => panic!("{dirt}: {other:?}"),
        }
        assert_eq!(
            s.repo.refname_to_id("refs/heads/main").unwrap(),
            base,
            "{dirt}: ref moved"
        );
        assert!(backups_of(&s, "main").is_empty(), "{dirt}");
        let mine = if dirt == "untracked-colliding" {
            "new/b.txt"
        } else {
            "keep.txt"
        };
        assert_eq!(
            fs::read_to_string(s.path().join(mine)).unwrap(),
            "my work\n",
            "{dirt}"
        );
        assert_eq!(
            fs::read_to_string(s.path().join("a.txt")).unwrap(),
            "a\n",
            "{dirt}"
        );
    }
}

#[test]
fn land_when_not_checked_out_moves_only_the_ref() {
    let (s, base, tree) = checked_out();
    s.git_ok(&["checkout", "-q", "-b", "other"]);
    fs::write(s.path().join("keep.txt"), "my work on other\n").unwrap();
    let landed = change::land(&s.repo, "main", base, tree, "Land it", &who()).unwrap();
    assert_eq!(landed.worktree, WorktreeUpdate::NotCheckedOut);
    assert_eq!(
        s.repo.refname_to_id("refs/heads/main").unwrap(),
        landed.commit
    );
    assert_eq!(fs::read_to_string(s.path().join("a.txt")).unwrap(), "a\n");
    assert_eq!(
        fs::read_to_string(s.path().join("keep.txt")).unwrap(),
        "my work on other\n"
    );
    assert!(!s.path().join("new").exists());
}

#[test]
fn land_in_a_linked_work_tree_is_seen() {
    let (s, base, tree) = checked_out();
    s.git_ok(&["checkout", "-q", "-b", "other"]);
    let linked = tempfile::tempdir().unwrap();
    let linked_path = linked.path().join("wt");
    s.git_ok(&[
        "worktree",
        "add",
        "-q",
        linked_path.to_str().unwrap(),
        "main",
    ]);
    fs::write(linked_path.join("keep.txt"), "linked work\n").unwrap();
    assert!(matches!(
        change::land(&s.repo, "main", base, tree, "Land it", &who()),
        Err(LandError::WorktreeDirty { .. })
    ));
    assert_eq!(s.repo.refname_to_id("refs/heads/main").unwrap(), base);
    fs::write(linked_path.join("keep.txt"), "keep\n").unwrap();
    let landed = change::land(&s.repo, "main", base, tree, "Land it", &who()).unwrap();
    assert_eq!(landed.worktree, WorktreeUpdate::Updated);
    assert_eq!(
        fs::read_to_string(linked_path.join("a.txt")).unwrap(),
        "A\n"
    );
    assert_eq!(common::git_ok(&linked_path, &["status", "--porcelain"]), "");
}

#[test]
fn land_is_compare_and_swap() {
    let (s, base, tree) = checked_out();
    // Someone else commits on main after the human approved.
    fs::write(s.path().join("keep.txt"), "theirs\n").unwrap();
    s.git_ok(&["commit", "-q", "-am", "meanwhile"]);
    let moved = s.repo.refname_to_id("refs/heads/main").unwrap();
    match change::land(&s.repo, "main", base, tree, "Land it", &who()) {
        Err(LandError::BaseMoved { actual }) => assert_eq!(actual, moved),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.repo.refname_to_id("refs/heads/main").unwrap(), moved);
    assert!(backups_of(&s, "main").is_empty());
    assert_eq!(fs::read_to_string(s.path().join("a.txt")).unwrap(), "a\n");
    assert_eq!(s.git_ok(&["status", "--porcelain"]), "");
}

#[test]
fn land_in_a_bare_repository() {
    let s = Scratch::new(true);
    let base = commit_files(&s.repo, &[], &files(&[("f.txt", "a\n")]), "base");
    s.repo
        .reference("refs/heads/main", base, true, "test")
        .unwrap();
    let tree = change::build_tree(&s.repo, base, &[write("f.txt", "b\n")], &Limits::default())
        .unwrap()
        .tree;
    let landed = change::land(&s.repo, "main", base, tree, "Land", &who()).unwrap();
    assert_eq!(landed.worktree, WorktreeUpdate::Bare);
    assert_eq!(
        s.repo.refname_to_id("refs/heads/main").unwrap(),
        landed.commit
    );
    assert!(matches!(
        change::land(&s.repo, "nope", base, tree, "Land", &who()),
        Err(LandError::Change(ChangeError::NoSuchBranch { .. }))
    ));
}

#[test]
fn prune_only_merged_task_branches() {
    let s = Scratch::new(true);
    let base = commit_files(
        &s.repo,
        &[],
        &files(&[("f.txt", "a\n"), ("g.txt", "g\n")]),
        "base",
    );
    s.repo
        .reference("refs/heads/main", base, true, "test")
        .unwrap();
    let tree = change::build_tree(&s.repo, base, &[write("f.txt", "b\n")], &Limits::default())
        .unwrap()
        .tree;
    change::commit_on_branch(&s.repo, "exiton/t-1", base, tree, "task", &who()).unwrap();
    // Not landed yet: kept.
    assert!(!change::prune_task_branch(&s.repo, "exiton/t-1", "main").unwrap());
    assert!(s.repo.refname_to_id("refs/heads/exiton/t-1").is_ok());
    // Main moves on elsewhere, then the task lands as a squash commit
    // (merged onto the moved base): the branch is not an ancestor of main,
    // but nothing in it is missing, so it goes — with a backup.
    let other = change::build_tree(&s.repo, base, &[write("g.txt", "G\n")], &Limits::default())
        .unwrap()
        .tree;
    let moved = change::land(&s.repo, "main", base, other, "other", &who())
        .unwrap()
        .commit;
    let task_tip = s.repo.refname_to_id("refs/heads/exiton/t-1").unwrap();
    let merged = match change::merge(&s.repo, base, moved, task_tip).unwrap() {
        MergeOutcome::Clean { tree } => tree,
        other => panic!("{other:?}"),
    };
    assert!(!change::prune_task_branch(&s.repo, "exiton/t-1", "main").unwrap());
    change::land(&s.repo, "main", moved, merged, "task", &who()).unwrap();
    assert!(change::prune_task_branch(&s.repo, "exiton/t-1", "main").unwrap());
    assert!(s.repo.refname_to_id("refs/heads/exiton/t-1").is_err());
    assert_eq!(backups_of(&s, "exiton/t-1"), vec![task_tip]);
}
