//! `context::choose` over a small real repository built with the git CLI.

// Fixture helpers outside `#[test]` fns fail loudly on any error too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use git2::{Oid, Repository};
use repo_git::context::{ContextError, ContextRequest, choose, clear_cache, terms_of};

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

fn write(dir: &Path, path: &str, content: &[u8]) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A guide too big for a small budget, with the relevant part in the middle.
fn big_guide() -> String {
    let mut text = String::new();
    for i in 0..400 {
        text.push_str(&format!(
            "Paragraph {i} about installing and configuring.\n"
        ));
    }
    text.push_str("To login, open the login page and type the password.\n");
    text.push_str("A failed login is retried three times.\n");
    for i in 400..800 {
        text.push_str(&format!("Paragraph {i} about backups and upgrades.\n"));
    }
    text
}

struct Fixture {
    dir: tempfile::TempDir,
    first: Oid,
    head: Oid,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    git(d, &["config", "user.name", "Test"]);
    git(d, &["config", "user.email", "test@example.com"]);
    git(d, &["config", "commit.gpgsign", "false"]);

    write(d, "README.md", b"# Shop\nA small shop.\n");
    write(d, ".gitignore", b"generated/\n*.log\n");
    write(
        d,
        "src/auth/session.rs",
        b"//! Sessions.\npub struct Session { pub expiry: u64 }\npub fn renew(session: &mut Session) {}\n",
    );
    write(
        d,
        "src/auth/login.rs",
        b"pub fn check(user: &str) -> bool { !user.is_empty() }\n",
    );
    write(
        d,
        "src/ui/dashboard.rs",
        b"use crate::store::SessionStore;\n// The dashboard keeps one session open.\npub fn draw() {}\n",
    );
    write(
        d,
        "src/util/helpers.rs",
        b"pub fn render_helper() {}\n// render\n",
    );
    write(
        d,
        "src/util/format.rs",
        b"pub fn render_format() {}\n// render\n",
    );
    write(
        d,
        "node_modules/login/index.js",
        b"module.exports = function login() { login(); login(); };\n",
    );
    write(
        d,
        "assets/login.png",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR login login",
    );
    write(d, "docs/login_guide.md", big_guide().as_bytes());
    for i in 0..30 {
        write(
            d,
            &format!("src/filler/deep/f{i:02}.rs"),
            format!("pub const F{i}: u32 = {i};\n").as_bytes(),
        );
    }
    git(d, &["add", "-A"]);
    // Force-added although ignored: a build artefact.
    write(
        d,
        "generated/login_gen.rs",
        b"// generated login code\nfn login() {}\n",
    );
    git(d, &["add", "-f", "generated/login_gen.rs"]);
    git(d, &["commit", "-q", "-m", "import"]);
    let first = rev_parse(d);

    write(
        d,
        "src/util/helpers.rs",
        b"pub fn render_helper() { /* faster */ }\n// render\n",
    );
    git(d, &["commit", "-q", "-am", "faster helper"]);
    let head = rev_parse(d);
    Fixture { dir, first, head }
}

fn rev_parse(dir: &Path) -> Oid {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .unwrap();
    Oid::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap()
}

fn request(text: &str, budget_bytes: usize) -> ContextRequest {
    ContextRequest::from_text(text, budget_bytes, 100)
}

fn paths(context: &repo_git::context::Context) -> Vec<&str> {
    context.files.iter().map(|f| f.path.as_str()).collect()
}

#[test]
fn the_file_named_like_the_task_ranks_first() {
    let f = fixture();
    let repo = Repository::open(f.dir.path()).unwrap();
    let context = choose(&repo, f.head, &request("Fix the session expiry", 100_000)).unwrap();
    let first = &context.files[0];
    assert_eq!(first.path, "src/auth/session.rs", "{:?}", paths(&context));
    assert!(first.whole);
    assert!(
        first.why.iter().any(|w| w == "file name matches 'session'"),
        "{:?}",
        first.why
    );
    // The dashboard only mentions a session: shown, but after.
    assert!(paths(&context).contains(&"src/ui/dashboard.rs"));
}

#[test]
fn an_identifier_in_the_content_is_found() {
    let f = fixture();
    let repo = Repository::open(f.dir.path()).unwrap();
    let context = choose(
        &repo,
        f.head,
        &request("SessionStore loses entries", 100_000),
    )
    .unwrap();
    let first = &context.files[0];
    assert_eq!(first.path, "src/ui/dashboard.rs");
    assert!(
        first.why.iter().any(|w| w == "contains SessionStore (1×)"),
        "{:?}",
        first.why
    );
}

#[test]
fn dependencies_binaries_and_ignored_files_are_never_shown() {
    let f = fixture();
    let repo = Repository::open(f.dir.path()).unwrap();
    let context = choose(&repo, f.head, &request("login", 1_000_000)).unwrap();
    let shown = paths(&context);
    assert!(shown.contains(&"src/auth/login.rs"), "{shown:?}");
    for never in [
        "node_modules/login/index.js",
        "assets/login.png",
        "generated/login_gen.rs",
    ] {
        assert!(!shown.contains(&never), "{never} shown: {shown:?}");
    }
    let mapped: Vec<&str> = context
        .map
        .entries
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert!(!mapped.iter().any(|p| p.starts_with("node_modules/")));
    assert!(!mapped.contains(&"generated/login_gen.rs"));
    // A binary is part of the repository's shape: mapped, not shown.
    assert!(mapped.contains(&"assets/login.png"));
}

#[test]
fn the_budget_is_honoured() {
    let f = fixture();
    let repo = Repository::open(f.dir.path()).unwrap();
    for budget in [0, 10, 100, 600, 1_000, 5_000, 50_000] {
        let context = choose(
            &repo,
            f.head,
            &request("login session render guide", budget),
        )
        .unwrap();
        let used: usize = context.files.iter().map(|f| f.content.len()).sum();
        assert!(used <= budget, "{used} > {budget}");
    }
}

#[test]
fn a_big_relevant_file_is_cut_to_its_relevant_window() {
    let f = fixture();
    let repo = Repository::open(f.dir.path()).unwrap();
    let context = choose(&repo, f.head, &request("login guide", 2_048)).unwrap();
    let first = &context.files[0];
    assert_eq!(first.path, "docs/login_guide.md");
    assert!(!first.whole);
    assert!(first.content.len() <= 2_048);
    assert!(first.bytes > 2_048);
    assert!(
        first.content.contains("To login, open the login page"),
        "{}",
        first.content
    );
    let (from, to) = first.lines.unwrap();
    assert!(from <= 401 && to >= 402, "{from}..{to}");
}

#[test]
fn the_map_is_capped() {
    let f = fixture();
    let repo = Repository::open(f.dir.path()).unwrap();
    let mut req = request("session", 100_000);
    req.map_cap = 5;
    let context = choose(&repo, f.head, &req).unwrap();
    let map = &context.map;
    assert_eq!(map.entries.len(), 5);
    assert!(map.truncated);
    // 9 files + 30 fillers; node_modules and the ignored file left out.
    assert_eq!(map.total_files, 39);
    let mapped: Vec<&str> = map.entries.iter().map(|e| e.path.as_str()).collect();
    let mut sorted = mapped.clone();
    sorted.sort_unstable();
    assert_eq!(mapped, sorted);
    // The chosen file's directory first, then the shallowest paths.
    assert!(mapped.contains(&"src/auth/session.rs"), "{mapped:?}");
    assert!(!mapped.iter().any(|p| p.starts_with("src/filler/")));
    let rust = map.languages.iter().find(|l| l.language == "Rust").unwrap();
    assert_eq!(rust.files, 35);

    req.map_cap = 1_000;
    let context = choose(&repo, f.head, &req).unwrap();
    assert!(!context.map.truncated);
    assert_eq!(context.map.entries.len(), 39);
}

#[test]
fn recently_changed_files_get_a_boost() {
    let f = fixture();
    let repo = Repository::open(f.dir.path()).unwrap();
    let context = choose(&repo, f.head, &request("render", 100_000)).unwrap();
    let shown = paths(&context);
    // Same lexical score; format.rs would win on path order without it.
    assert_eq!(
        shown[..2],
        ["src/util/helpers.rs", "src/util/format.rs"],
        "{shown:?}"
    );
    assert!(
        context.files[0]
            .why
            .contains(&"changed recently (in this commit)".to_owned())
    );

    // At the first commit (a root commit: no recency), path order decides.
    let context = choose(&repo, f.first, &request("render", 100_000)).unwrap();
    assert_eq!(
        paths(&context)[..2],
        ["src/util/format.rs", "src/util/helpers.rs"]
    );

    // A recent change alone is enough to be shown.
    let context = choose(&repo, f.head, &request("zebra", 100_000)).unwrap();
    assert_eq!(paths(&context), ["src/util/helpers.rs"]);
}

#[test]
fn the_result_is_deterministic() {
    let f = fixture();
    let repo = Repository::open(f.dir.path()).unwrap();
    let req = request("login session render guide SessionStore", 3_000);
    let a = choose(&repo, f.head, &req).unwrap();
    clear_cache();
    let b = choose(&repo, f.head, &req).unwrap();
    let c = choose(&repo, f.head, &req).unwrap();
    assert_eq!(a, b);
    assert_eq!(b, c);
}

#[test]
fn files_are_read_at_the_commit_not_the_work_tree() {
    let f = fixture();
    let repo = Repository::open(f.dir.path()).unwrap();
    write(
        f.dir.path(),
        "src/auth/session.rs",
        b"// edited in the work tree\n",
    );
    write(
        f.dir.path(),
        "src/auth/untracked_session.rs",
        b"// session\n",
    );
    let context = choose(&repo, f.head, &request("session", 100_000)).unwrap();
    assert_eq!(context.commit, f.head.to_string());
    let session = context
        .files
        .iter()
        .find(|f| f.path == "src/auth/session.rs")
        .unwrap();
    assert!(session.content.starts_with("//! Sessions."));
    let in_tree = repo
        .find_commit(f.head)
        .unwrap()
        .tree()
        .unwrap()
        .get_path(Path::new("src/auth/session.rs"))
        .unwrap()
        .id();
    assert_eq!(session.blob, in_tree.to_string());
    assert!(!paths(&context).contains(&"src/auth/untracked_session.rs"));

    // The older commit shows the older helper.
    let context = choose(&repo, f.first, &request("render helper", 100_000)).unwrap();
    let helper = context
        .files
        .iter()
        .find(|f| f.path == "src/util/helpers.rs")
        .unwrap();
    assert!(!helper.content.contains("faster"));
}

#[test]
fn an_unknown_commit_is_an_error() {
    let f = fixture();
    let repo = Repository::open(f.dir.path()).unwrap();
    let missing = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
    let error = choose(&repo, missing, &request("x", 10)).unwrap_err();
    assert!(
        matches!(error, ContextError::CommitNotFound { .. }),
        "{error}"
    );
}

#[test]
fn terms_feed_the_request() {
    let (words, identifiers) = terms_of("Make LoginForm reject empty passwords");
    assert_eq!(words, ["reject", "empty", "passwords"]);
    assert_eq!(identifiers, ["LoginForm"]);
}
