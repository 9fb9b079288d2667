//! Opening, creating and cloning a repository; its status.
//!
//! Paths given here are already checked by the caller (canonical, inside
//! the operator's allowed roots): this module only speaks to libgit2.

use std::path::Path;

use git2::{BranchType, Repository, RepositoryInitOptions, StatusOptions};

/// What can go wrong opening, creating, cloning or reading a repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{0} is not a git repository")]
    NotARepository(String),
    #[error("{0} exists and is not empty")]
    NotEmpty(String),
    #[error("there is no branch named {0}")]
    NoSuchBranch(String),
    #[error("{0} is not a valid branch name")]
    InvalidBranch(String),
    /// The clone failed; the message is libgit2's, which never holds the
    /// credentials (they are handed over by callback, not in the URL).
    #[error("the clone failed: {0}")]
    Clone(String),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Credentials for a clone or a push over https (user name and password or
/// token). Over ssh the user's agent is asked instead.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Opens the repository whose work tree (or bare directory) is `path`
/// itself — never one found by searching upwards, which would reach
/// outside the directory the caller checked.
///
/// # Errors
/// `NotARepository`, or what libgit2 reports.
pub fn open(path: &Path) -> Result<Repository, RepoError> {
    let flags = git2::RepositoryOpenFlags::NO_SEARCH;
    Repository::open_ext(path, flags, std::iter::empty::<&std::ffi::OsStr>()).map_err(|e| {
        if e.code() == git2::ErrorCode::NotFound {
            RepoError::NotARepository(path.display().to_string())
        } else {
            RepoError::Git(e)
        }
    })
}

/// Creates a repository at `path` (a missing or empty directory) with
/// `branch` checked out and one empty first commit, so that the band always
/// has a commit to start from.
///
/// # Errors
/// `NotEmpty`, `InvalidBranch`, or what libgit2 or the file system report.
pub fn init(path: &Path, branch: &str) -> Result<Repository, RepoError> {
    valid_branch(branch)?;
    if path.exists() && std::fs::read_dir(path)?.next().is_some() {
        return Err(RepoError::NotEmpty(path.display().to_string()));
    }
    let mut options = RepositoryInitOptions::new();
    options.initial_head(branch).no_reinit(true).mkpath(true);
    let repo = Repository::init_opts(path, &options)?;
    {
        let tree = repo.treebuilder(None)?.write()?;
        let tree = repo.find_tree(tree)?;
        let who = git2::Signature::now("EXITON", "exiton@localhost")?;
        repo.commit(Some("HEAD"), &who, &who, "Start the repository", &tree, &[])?;
    }
    Ok(repo)
}

/// Clones `url` (https, ssh or file) into `dest`, a missing or empty
/// directory, checking out `branch` or the remote's default.
///
/// # Errors
/// `NotEmpty`, `Clone` with libgit2's reason, or a file-system error.
pub fn clone(
    url: &str,
    credentials: Option<&Credentials>,
    dest: &Path,
    branch: Option<&str>,
) -> Result<Repository, RepoError> {
    if let Some(b) = branch {
        valid_branch(b)?;
    }
    if dest.exists() && std::fs::read_dir(dest)?.next().is_some() {
        return Err(RepoError::NotEmpty(dest.display().to_string()));
    }
    let mut fetch = git2::FetchOptions::new();
    fetch.remote_callbacks(callbacks(credentials));
    let mut builder = git2::build::RepoBuilder::new();
    builder.fetch_options(fetch);
    if let Some(b) = branch {
        builder.branch(b);
    }
    builder
        .clone(url, dest)
        .map_err(|e| RepoError::Clone(e.message().to_owned()))
}

/// Callbacks that answer a server's request for credentials: the given
/// user name and secret over https, the ssh agent over ssh — each offered
/// once, so a wrong secret fails instead of looping.
pub fn callbacks(credentials: Option<&Credentials>) -> git2::RemoteCallbacks<'static> {
    let credentials = credentials.cloned();
    let mut tried = false;
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.credentials(move |_url, username, allowed| {
        if tried {
            return Err(git2::Error::from_str("the credentials were refused"));
        }
        tried = true;
        if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT)
            && let Some(c) = &credentials
        {
            return git2::Cred::userpass_plaintext(&c.username, &c.secret);
        }
        if allowed.contains(git2::CredentialType::SSH_KEY) {
            return git2::Cred::ssh_key_from_agent(username.unwrap_or("git"));
        }
        git2::Cred::default()
    });
    callbacks
}

/// Where a repository stands, for the project's settings and the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The branch checked out, if any (`None`: detached or bare).
    pub checked_out: Option<String>,
    /// The commit `HEAD` points at (`None`: no commit yet).
    pub head: Option<String>,
    pub base_branch: String,
    /// The base branch's tip (`None`: the branch does not exist).
    pub base_commit: Option<String>,
    pub bare: bool,
    /// Changed, staged or untracked files in the work tree (ignored files
    /// are not counted), up to [`DIRTY_LIST_CAP`] of them by path.
    pub dirty: Vec<String>,
    pub dirty_count: usize,
    /// The base branch's upstream (`origin/main`), if it has one.
    pub upstream: Option<String>,
    /// Commits on the base branch not on its upstream, and the reverse.
    pub ahead: Option<usize>,
    pub behind: Option<usize>,
}

/// How many dirty paths a status names.
pub const DIRTY_LIST_CAP: usize = 50;

/// Reads where `repo` stands against `base_branch`.
///
/// # Errors
/// What libgit2 reports.
pub fn status(repo: &Repository, base_branch: &str) -> Result<Status, RepoError> {
    let head = repo.head().ok();
    let checked_out = head
        .as_ref()
        .filter(|h| h.is_branch())
        .and_then(|h| h.shorthand().ok().map(str::to_owned))
        .or_else(|| unborn_branch(repo));
    let head_commit = head
        .as_ref()
        .and_then(|h| h.target())
        .map(|o| o.to_string());
    let base = repo.find_branch(base_branch, BranchType::Local).ok();
    let base_commit = base
        .as_ref()
        .and_then(|b| b.get().target())
        .map(|o| o.to_string());
    let (mut dirty, mut dirty_count) = (Vec::new(), 0);
    if !repo.is_bare() {
        let mut options = StatusOptions::new();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false);
        for entry in repo.statuses(Some(&mut options))?.iter() {
            dirty_count += 1;
            if dirty.len() < DIRTY_LIST_CAP
                && let Ok(path) = entry.path()
            {
                dirty.push(path.to_owned());
            }
        }
    }
    let (mut upstream, mut ahead, mut behind) = (None, None, None);
    if let Some(branch) = &base
        && let Ok(up) = branch.upstream()
    {
        upstream = up.name().ok().flatten().map(str::to_owned);
        if let (Some(local), Some(remote)) = (branch.get().target(), up.get().target()) {
            let (a, b) = repo.graph_ahead_behind(local, remote)?;
            (ahead, behind) = (Some(a), Some(b));
        }
    }
    Ok(Status {
        checked_out,
        head: head_commit,
        base_branch: base_branch.to_owned(),
        base_commit,
        bare: repo.is_bare(),
        dirty,
        dirty_count,
        upstream,
        ahead,
        behind,
    })
}

/// The branch checked out: `HEAD`'s branch, also when it has no commit yet.
pub fn current_branch(repo: &Repository) -> Option<String> {
    match repo.head() {
        Ok(h) if h.is_branch() => h.shorthand().ok().map(str::to_owned),
        Ok(_) => None,
        Err(_) => unborn_branch(repo),
    }
}

/// The commit local branch `name` points at; `None` when there is no such
/// branch (or it has no commit yet).
pub fn branch_tip(repo: &Repository, name: &str) -> Option<git2::Oid> {
    repo.find_branch(name, BranchType::Local)
        .ok()?
        .get()
        .target()
}

/// `HEAD`'s branch when it has no commit yet (`git init` before the first
/// commit).
fn unborn_branch(repo: &Repository) -> Option<String> {
    let head = repo.find_reference("HEAD").ok()?;
    let target = head.symbolic_target().ok().flatten()?;
    target.strip_prefix("refs/heads/").map(str::to_owned)
}

/// # Errors
/// `InvalidBranch` unless `name` is a valid branch name.
pub fn valid_branch(name: &str) -> Result<(), RepoError> {
    if git2::Branch::name_is_valid(name).unwrap_or(false) {
        Ok(())
    } else {
        Err(RepoError::InvalidBranch(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::process::Command;

    use super::*;

    /// A scratch directory removed on drop.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!(
                "repo-git-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The git CLI, isolated from the machine's configuration.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Ada")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_NAME", "Ada")
            .env("GIT_COMMITTER_EMAIL", "ada@example.com")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn a_new_repository_has_its_branch_and_a_first_commit_git_agrees() {
        let s = Scratch::new();
        let dir = s.0.join("new");
        let repo = init(&dir, "trunk").unwrap();
        let st = status(&repo, "trunk").unwrap();
        assert_eq!(st.checked_out.as_deref(), Some("trunk"));
        assert_eq!(st.base_commit, st.head);
        assert_eq!(st.dirty_count, 0);
        assert_eq!(
            git(&dir, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
            "trunk"
        );
        assert_eq!(
            git(&dir, &["rev-parse", "HEAD"]).trim(),
            st.head.unwrap().as_str()
        );
        assert_eq!(git(&dir, &["status", "--porcelain"]), "");
        // Not over someone's files.
        std::fs::write(s.0.join("keep.txt"), "mine").unwrap();
        assert!(matches!(init(&s.0, "main"), Err(RepoError::NotEmpty(_))));
        assert_eq!(
            std::fs::read_to_string(s.0.join("keep.txt")).unwrap(),
            "mine"
        );
        assert!(matches!(
            init(&s.0.join("other"), "bad..name"),
            Err(RepoError::InvalidBranch(_))
        ));
    }

    #[test]
    fn status_counts_what_git_status_lists_and_ahead_behind_like_rev_list() {
        let s = Scratch::new();
        let origin = s.0.join("origin");
        std::fs::create_dir_all(&origin).unwrap();
        git(&origin, &["init", "-q", "-b", "main"]);
        std::fs::write(origin.join("a.txt"), "a\n").unwrap();
        git(&origin, &["add", "."]);
        git(&origin, &["commit", "-q", "-m", "one"]);

        let work = s.0.join("work");
        let url = format!("file://{}", origin.display());
        let repo = clone(&url, None, &work, None).unwrap();
        assert_eq!(current_branch(&repo).as_deref(), Some("main"));
        // One commit here, two there.
        std::fs::write(work.join("b.txt"), "b\n").unwrap();
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "local"]);
        for n in ["c", "d"] {
            std::fs::write(origin.join(format!("{n}.txt")), n).unwrap();
            git(&origin, &["add", "."]);
            git(&origin, &["commit", "-q", "-m", n]);
        }
        git(&work, &["fetch", "-q"]);
        // A modified file, a staged one, an untracked one, an ignored one.
        std::fs::write(work.join(".gitignore"), "*.log\n").unwrap();
        std::fs::write(work.join("a.txt"), "changed\n").unwrap();
        std::fs::write(work.join("x.log"), "ignored\n").unwrap();

        let st = status(&repo, "main").unwrap();
        let porcelain = git(&work, &["status", "--porcelain", "-uall"]);
        assert_eq!(st.dirty_count, porcelain.lines().count(), "{porcelain}");
        assert!(!st.dirty.iter().any(|p| p.ends_with(".log")));
        let counts = git(
            &work,
            &["rev-list", "--left-right", "--count", "main...origin/main"],
        );
        let mut it = counts.split_whitespace();
        assert_eq!(st.ahead, it.next().map(|n| n.parse().unwrap()));
        assert_eq!(st.behind, it.next().map(|n| n.parse().unwrap()));
        assert_eq!((st.ahead, st.behind), (Some(1), Some(2)));
        assert_eq!(st.upstream.as_deref(), Some("origin/main"));
        assert!(branch_tip(&repo, "nope").is_none());
        assert_eq!(
            branch_tip(&repo, "main").map(|o| o.to_string()),
            Some(git(&work, &["rev-parse", "main"]).trim().to_owned())
        );
    }

    #[test]
    fn open_never_searches_upwards() {
        let s = Scratch::new();
        git(&s.0, &["init", "-q", "-b", "main"]);
        let inner = s.0.join("inner");
        std::fs::create_dir_all(&inner).unwrap();
        assert!(matches!(open(&inner), Err(RepoError::NotARepository(_))));
        assert!(open(&s.0).is_ok());
        // Unborn: the branch is still known.
        assert_eq!(
            current_branch(&open(&s.0).unwrap()).as_deref(),
            Some("main")
        );
    }

    #[test]
    fn a_clone_of_a_missing_url_says_why() {
        let s = Scratch::new();
        let err = clone(
            &format!("file://{}/nothing-here", s.0.display()),
            None,
            &s.0.join("dest"),
            None,
        )
        .err()
        .unwrap();
        assert!(matches!(err, RepoError::Clone(_)), "{err:?}");
        let secret = Credentials {
            username: "ada".into(),
            secret: "hunter2".into(),
        };
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
