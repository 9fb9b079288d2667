//! Linking rules over fakes: the roots, the kinds, the base branch, the
//! sealed credentials, and that unlinking touches no file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use uuid::Uuid;

use super::*;
use crate::BoxError;
use crate::events::EventEnvelope;
use crate::projects::{NewProject, ProjectService};
use crate::testing::Memory;

/// Repositories by path: their branches; symlinks by path.
#[derive(Default)]
struct FakeGit {
    repos: Mutex<HashMap<PathBuf, Vec<String>>>,
    links: HashMap<String, PathBuf>,
    clones: Mutex<Vec<(String, Option<Credentials>)>>,
}

#[async_trait]
impl GitHost for FakeGit {
    async fn canonical(&self, path: &str) -> Result<PathBuf, GitHostError> {
        if let Some(target) = self.links.get(path) {
            return Ok(target.clone());
        }
        let p = PathBuf::from(path);
        if self.repos.lock().unwrap().contains_key(&p) || path.starts_with("/srv/") {
            Ok(p)
        } else {
            Err(GitHostError::Missing)
        }
    }
    async fn open(&self, path: &Path) -> Result<Option<String>, GitHostError> {
        let repos = self.repos.lock().unwrap();
        let branches = repos.get(path).ok_or(GitHostError::NotARepository)?;
        Ok(branches.first().cloned())
    }
    async fn create(&self, path: &Path, branch: &str) -> Result<(), GitHostError> {
        self.repos
            .lock()
            .unwrap()
            .insert(path.to_owned(), vec![branch.to_owned()]);
        Ok(())
    }
    async fn clone_repo(
        &self,
        url: &str,
        credentials: Option<&Credentials>,
        dest: &Path,
        branch: Option<&str>,
    ) -> Result<Option<String>, GitHostError> {
        if url.contains("missing") {
            return Err(GitHostError::CloneFailed("repository not found".into()));
        }
        self.clones
            .lock()
            .unwrap()
            .push((url.to_owned(), credentials.cloned()));
        let branch = branch.unwrap_or("trunk").to_owned();
        self.repos
            .lock()
            .unwrap()
            .insert(dest.to_owned(), vec![branch.clone()]);
        Ok(Some(branch))
    }
    async fn branch_tip(&self, path: &Path, branch: &str) -> Result<Option<String>, GitHostError> {
        let repos = self.repos.lock().unwrap();
        let branches = repos.get(path).ok_or(GitHostError::NotARepository)?;
        Ok(branches.iter().any(|b| b == branch).then(|| "0".repeat(40)))
    }
    async fn context(
        &self,
        path: &Path,
        commit: &str,
        ask: &ContextAsk,
    ) -> Result<CodeContext, GitHostError> {
        self.open(path).await?;
        let content = "pub fn login() {}".to_owned();
        Ok(CodeContext {
            commit: commit.to_owned(),
            base_branch: String::new(),
            map: vec![MapEntry {
                path: "src/login.rs".into(),
                bytes: 17,
                language: Some("Rust".into()),
            }],
            total_files: 1,
            map_truncated: false,
            files: (ask.budget_bytes >= content.len())
                .then(|| ShownFile {
                    path: "src/login.rs".into(),
                    blob: "b".repeat(40),
                    bytes: 17,
                    content,
                    whole: true,
                    why: vec!["path matches 'login'".into()],
                })
                .into_iter()
                .collect(),
        })
    }

    async fn propose(
        &self,
        path: &Path,
        change: &ChangeRequest,
    ) -> Result<ProposedChange, GitHostError> {
        self.open(path).await?;
        if change.edits.is_empty() {
            return Err(GitHostError::Refused("nothing to change".into()));
        }
        Ok(ProposedChange {
            branch: format!("exiton/{}-{}", change.task_title, change.short_id),
            commit: "c".repeat(40),
            base_commit: change.base_commit.clone(),
            files: vec![],
        })
    }

    async fn status(&self, path: &Path, base_branch: &str) -> Result<RepoStatus, GitHostError> {
        self.open(path).await?;
        Ok(RepoStatus {
            checked_out: Some(base_branch.to_owned()),
            head: Some("0".repeat(40)),
            base_branch: base_branch.to_owned(),
            base_commit: Some("0".repeat(40)),
            bare: false,
            clean: true,
            dirty: vec![],
            dirty_count: 0,
            upstream: None,
            ahead: None,
            behind: None,
        })
    }
}

/// Reverses the bytes: enough to show nothing is stored in the clear.
struct Reversed;

impl SecretBox for Reversed {
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, BoxError> {
        Ok(plain.iter().rev().copied().collect())
    }
    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, BoxError> {
        Ok(sealed.iter().rev().copied().collect())
    }
}

#[derive(Default)]
struct Links(Mutex<HashMap<Uuid, StoredLink>>, Mutex<Vec<&'static str>>);

#[async_trait]
impl RepoLinkStore for Links {
    async fn find(&self, project_id: Uuid) -> Result<Option<StoredLink>, RepoError> {
        Ok(self.0.lock().unwrap().get(&project_id).cloned())
    }
    async fn save(&self, link: &StoredLink, event: &EventEnvelope) -> Result<(), RepoError> {
        self.0
            .lock()
            .unwrap()
            .insert(link.link.project_id, link.clone());
        self.1.lock().unwrap().push(event.event.type_name());
        Ok(())
    }
    async fn delete(&self, project_id: Uuid, event: &EventEnvelope) -> Result<bool, RepoError> {
        let had = self.0.lock().unwrap().remove(&project_id).is_some();
        if had {
            self.1.lock().unwrap().push(event.event.type_name());
        }
        Ok(had)
    }
}

struct Rig {
    repos: RepositoryService,
    git: Arc<FakeGit>,
    links: Arc<Links>,
    owner: Uuid,
    project: Uuid,
}

async fn rig(roots: &[&str]) -> Rig {
    let memory = Arc::new(Memory::default());
    let owner = Uuid::new_v4();
    let project = ProjectService::new(memory.clone())
        .create(
            owner,
            NewProject {
                name: "Blue Bebop".into(),
                description: None,
            },
        )
        .await
        .unwrap();
    let mut git = FakeGit::default();
    git.repos
        .lock()
        .unwrap()
        .insert("/srv/repos/app".into(), vec!["main".into(), "dev".into()]);
    git.repos
        .lock()
        .unwrap()
        .insert("/etc/secret".into(), vec!["main".into()]);
    git.links
        .insert("/srv/repos/escape".into(), PathBuf::from("/etc/secret"));
    let git = Arc::new(git);
    let links = Arc::new(Links::default());
    let repos = RepositoryService::new(
        memory,
        links.clone(),
        git.clone(),
        Arc::new(Reversed),
        RepoSettings {
            roots: roots.iter().map(PathBuf::from).collect(),
            home: PathBuf::from("/data/repos"),
        },
    );
    Rig {
        repos,
        git,
        links,
        owner,
        project: project.id,
    }
}

fn local(path: &str) -> LinkRequest {
    LinkRequest {
        kind: Some("local".into()),
        path: Some(path.into()),
        ..LinkRequest::default()
    }
}

fn field(err: RepoError) -> String {
    match err {
        RepoError::InvalidField(f) => f.field,
        other => panic!("not a field error: {other:?}"),
    }
}

#[tokio::test]
async fn a_local_repository_inside_a_root_links_with_its_current_branch() {
    let rig = rig(&["/srv/repos"]).await;
    let (link, status) = rig
        .repos
        .link(rig.owner, rig.project, local("/srv/repos/app"))
        .await
        .unwrap();
    assert_eq!(link.kind, RepoKind::Local);
    assert_eq!(link.base_branch, "main");
    assert_eq!(link.path, "/srv/repos/app");
    assert!(status.clean);
    let (again, _) = rig.repos.get(rig.owner, rig.project).await.unwrap();
    assert_eq!(again, link);
    // Another user sees no project.
    assert!(matches!(
        rig.repos.get(Uuid::new_v4(), rig.project).await,
        Err(RepoError::ProjectNotFound)
    ));
    // A base branch of the user's choice, if it exists.
    let (dev, _) = rig
        .repos
        .link(
            rig.owner,
            rig.project,
            LinkRequest {
                base_branch: Some("dev".into()),
                ..local("/srv/repos/app")
            },
        )
        .await
        .unwrap();
    assert_eq!(dev.base_branch, "dev");
    assert_eq!(dev.created_at, link.created_at, "the same repository");
    let err = rig
        .repos
        .link(
            rig.owner,
            rig.project,
            LinkRequest {
                base_branch: Some("nope".into()),
                ..local("/srv/repos/app")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(field(err), "base_branch");
}

#[tokio::test]
async fn paths_outside_the_roots_are_refused_symlinks_resolved_first() {
    let none = rig(&[]).await;
    assert!(matches!(
        none.repos
            .link(none.owner, none.project, local("/srv/repos/app"))
            .await,
        Err(RepoError::PathNotAllowed { field: "path", .. })
    ));
    let rig = rig(&["/srv/repos"]).await;
    for outside in ["/etc/secret", "/srv/repos/escape"] {
        let err = rig
            .repos
            .link(rig.owner, rig.project, local(outside))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RepoError::PathNotAllowed { field: "path", .. }),
            "{outside}: {err:?}"
        );
    }
    assert_eq!(
        field(
            rig.repos
                .link(rig.owner, rig.project, local("repos/app"))
                .await
                .unwrap_err()
        ),
        "path"
    );
    assert_eq!(
        field(
            rig.repos
                .link(rig.owner, rig.project, local("/srv/repos/not-a-repo"))
                .await
                .unwrap_err()
        ),
        "path"
    );
    // A file URL reads a server path: the same roots.
    let err = rig
        .repos
        .link(
            rig.owner,
            rig.project,
            LinkRequest {
                kind: Some("clone".into()),
                url: Some("file:///etc/secret".into()),
                ..LinkRequest::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, RepoError::PathNotAllowed { field: "url", .. }),
        "{err:?}"
    );
    assert!(rig.links.0.lock().unwrap().is_empty(), "nothing linked");
}

#[tokio::test]
async fn a_clone_keeps_its_credentials_sealed_and_out_of_the_url() {
    let rig = rig(&[]).await;
    let (link, _) = rig
        .repos
        .link(
            rig.owner,
            rig.project,
            LinkRequest {
                kind: Some("clone".into()),
                url: Some("https://ada:s3cret@example.com/team/app.git".into()),
                push: Some("branch".into()),
                ..LinkRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        link.url.as_deref(),
        Some("https://example.com/team/app.git")
    );
    assert!(link.has_credentials);
    assert_eq!(link.base_branch, "trunk", "the remote's default");
    assert_eq!(link.push, PushPolicy::Branch);
    assert!(link.path.starts_with("/data/repos/"));
    let (url, creds) = rig.git.clones.lock().unwrap()[0].clone();
    assert_eq!(url, "https://example.com/team/app.git");
    assert_eq!(creds.unwrap().secret, "s3cret");
    let stored = rig.links.0.lock().unwrap()[&rig.project].clone();
    let sealed = stored.sealed_credentials.unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("s3cret"));
    let opened = rig.repos.credentials(rig.owner, rig.project).await.unwrap();
    assert_eq!(opened.unwrap().username, "ada");
    assert!(!format!("{link:?}").contains("s3cret"));

    let err = rig
        .repos
        .link(
            rig.owner,
            rig.project,
            LinkRequest {
                kind: Some("clone".into()),
                url: Some("https://example.com/missing.git".into()),
                ..LinkRequest::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::CloneFailed(_)), "{err:?}");
}

#[tokio::test]
async fn a_new_repository_and_unlinking_which_touches_no_file() {
    let rig = rig(&[]).await;
    let (link, _) = rig
        .repos
        .link(
            rig.owner,
            rig.project,
            LinkRequest {
                kind: Some("new".into()),
                ..LinkRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(link.base_branch, "main");
    let repos_before = rig.git.repos.lock().unwrap().len();
    rig.repos.unlink(rig.owner, rig.project).await.unwrap();
    assert_eq!(rig.git.repos.lock().unwrap().len(), repos_before);
    assert!(matches!(
        rig.repos.unlink(rig.owner, rig.project).await,
        Err(RepoError::NotLinked)
    ));
    assert!(matches!(
        rig.repos.get(rig.owner, rig.project).await,
        Err(RepoError::NotLinked)
    ));
    assert_eq!(
        *rig.links.1.lock().unwrap(),
        ["RepositoryLinked", "RepositoryUnlinked"]
    );
}

#[tokio::test]
async fn bad_requests_name_their_field() {
    let rig = rig(&["/srv/repos"]).await;
    let cases = [
        (LinkRequest::default(), "kind"),
        (
            LinkRequest {
                kind: Some("svn".into()),
                ..LinkRequest::default()
            },
            "kind",
        ),
        (
            LinkRequest {
                kind: Some("local".into()),
                ..LinkRequest::default()
            },
            "path",
        ),
        (
            LinkRequest {
                push: Some("base".into()),
                ..local("/srv/repos/app")
            },
            "push",
        ),
        (
            LinkRequest {
                push: Some("always".into()),
                ..local("/srv/repos/app")
            },
            "push",
        ),
        (
            LinkRequest {
                kind: Some("new".into()),
                path: Some("/srv/repos/app".into()),
                ..LinkRequest::default()
            },
            "path",
        ),
        (
            LinkRequest {
                kind: Some("clone".into()),
                url: Some("http://example.com/app.git".into()),
                ..LinkRequest::default()
            },
            "url",
        ),
    ];
    for (request, expected) in cases {
        let err = rig
            .repos
            .link(rig.owner, rig.project, request)
            .await
            .unwrap_err();
        assert_eq!(field(err), expected);
    }
}

#[tokio::test]
async fn the_context_is_taken_at_the_base_branch_tip_and_none_without_a_link() {
    let rig = rig(&["/srv/repos"]).await;
    let ask = ContextAsk {
        text: "Login form".into(),
        budget_bytes: 4096,
        map_cap: 100,
    };
    assert!(
        rig.repos
            .context(rig.owner, rig.project, &ask)
            .await
            .unwrap()
            .is_none()
    );
    rig.repos
        .link(rig.owner, rig.project, local("/srv/repos/app"))
        .await
        .unwrap();
    let context = rig
        .repos
        .context(rig.owner, rig.project, &ask)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(context.base_branch, "main");
    assert_eq!(context.commit, "0".repeat(40));
    let shown = context.provenance();
    assert_eq!(shown.files.len(), 1);
    assert_eq!(shown.files[0].path, "src/login.rs");
    assert!(matches!(
        rig.repos.context(Uuid::new_v4(), rig.project, &ask).await,
        Err(RepoError::ProjectNotFound)
    ));
}

#[tokio::test]
async fn a_proposal_goes_to_the_linked_repository_or_says_why_not() {
    let rig = rig(&["/srv/repos"]).await;
    let change = ChangeRequest {
        base_commit: "0".repeat(40),
        task_title: "login".into(),
        short_id: "1234abcd".into(),
        message: "Login form".into(),
        edits: vec![ProposedEdit::Write {
            path: "src/login.rs".into(),
            content: "pub fn login() {}\n".into(),
        }],
    };
    assert!(matches!(
        rig.repos.propose(rig.owner, rig.project, &change).await,
        Err(RepoError::NotLinked)
    ));
    rig.repos
        .link(rig.owner, rig.project, local("/srv/repos/app"))
        .await
        .unwrap();
    let made = rig
        .repos
        .propose(rig.owner, rig.project, &change)
        .await
        .unwrap();
    assert_eq!(made.branch, "exiton/login-1234abcd");
    let empty = ChangeRequest {
        edits: vec![],
        ..change
    };
    assert!(matches!(
        rig.repos.propose(rig.owner, rig.project, &empty).await,
        Err(RepoError::ProposalRefused(_))
    ));
}

#[test]
fn a_coder_answer_becomes_edits_but_never_a_cut_off_file() {
    let output = crate::band::CoderOutput::parse(
        "```rust src/a.rs\nfn a() {}\n```\n```diff\n--- a/src/b.rs\n+++ b/src/b.rs\n@@ -1 +1 @@\n-old\n+new\n```\n```rust src/c.rs\nfn c(",
    );
    let edits = ProposedEdit::from_coder(&output);
    let paths: Vec<&str> = edits
        .iter()
        .map(|e| match e {
            ProposedEdit::Write { path, .. }
            | ProposedEdit::Patch { path, .. }
            | ProposedEdit::Delete { path } => path.as_str(),
        })
        .collect();
    assert_eq!(paths, ["src/a.rs", "src/b.rs"]);
}
