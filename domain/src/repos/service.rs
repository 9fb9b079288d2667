//! Linking, reading and unlinking a project's repository.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::{
    ChangeRequest, CloneUrl, CodeContext, ContextAsk, Credentials, GitHost, GitHostError,
    LinkRequest, ProposedChange, PushPolicy, RepoError, RepoKind, RepoLink, RepoLinkStore,
    RepoStatus, SecretBox, StoredLink, inside_roots,
};
use crate::InvalidField;
use crate::events::{AggregateType, DomainEvent, EventEnvelope};
use crate::projects::{Project, ProjectError, ProjectRepository, ProjectStatus};
use crate::validation::text;

/// Where repositories may be, from the operator's configuration.
#[derive(Debug, Clone, Default)]
pub struct RepoSettings {
    /// Canonical directories inside which local repositories (and `file://`
    /// clones) may be linked; empty: none.
    pub roots: Vec<PathBuf>,
    /// Where clones and new repositories are made.
    pub home: PathBuf,
}

#[derive(Clone)]
pub struct RepositoryService {
    projects: Arc<dyn ProjectRepository>,
    links: Arc<dyn RepoLinkStore>,
    git: Arc<dyn GitHost>,
    secrets: Arc<dyn SecretBox>,
    settings: Arc<RepoSettings>,
}

impl RepositoryService {
    pub fn new(
        projects: Arc<dyn ProjectRepository>,
        links: Arc<dyn RepoLinkStore>,
        git: Arc<dyn GitHost>,
        secrets: Arc<dyn SecretBox>,
        settings: RepoSettings,
    ) -> Self {
        Self {
            projects,
            links,
            git,
            secrets,
            settings: Arc::new(settings),
        }
    }

    /// Links a repository to the project, replacing any earlier link (the
    /// earlier repository's files stay where they are).
    ///
    /// # Errors
    /// `InvalidField` naming the field, `PathNotAllowed`, `CloneFailed`,
    /// `ProjectNotFound`, `ProjectArchived` or `Unexpected`.
    pub async fn link(
        &self,
        owner_id: Uuid,
        project_id: Uuid,
        request: LinkRequest,
    ) -> Result<(RepoLink, RepoStatus), RepoError> {
        let project = self.writable_project(owner_id, project_id).await?;
        let kind = match request.kind.as_deref() {
            None => {
                return Err(InvalidField::new("kind", "is required: local, clone or new").into());
            }
            Some(k) => RepoKind::parse(k)
                .ok_or_else(|| InvalidField::new("kind", "must be one of local, clone, new"))?,
        };
        let push = match request.push.as_deref() {
            None => PushPolicy::None,
            Some(p) => PushPolicy::parse(p)
                .ok_or_else(|| InvalidField::new("push", "must be one of none, base, branch"))?,
        };
        if push != PushPolicy::None && kind != RepoKind::Clone {
            return Err(InvalidField::new("push", "only a cloned repository pushes").into());
        }
        let base_branch = request
            .base_branch
            .as_deref()
            .map(|b| text("base_branch", b, 200, false, true))
            .transpose()?;
        if kind != RepoKind::Local && request.path.is_some() {
            return Err(InvalidField::new("path", "is only for a local repository").into());
        }
        if kind != RepoKind::Clone && request.url.is_some() {
            return Err(InvalidField::new("url", "is only for a clone").into());
        }

        let (path, url, credentials, checked_out) = match kind {
            RepoKind::Local => {
                let raw = request
                    .path
                    .as_deref()
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| {
                        InvalidField::new("path", "is required for a local repository")
                    })?;
                let path = self.allowed(raw, "path").await?;
                let branch = self.git.open(&path).await.map_err(|e| at("path", e))?;
                (path, None, None, branch)
            }
            RepoKind::New => {
                let path = self.fresh_home(project_id);
                let branch = base_branch.clone().unwrap_or_else(|| "main".to_owned());
                self.git
                    .create(&path, &branch)
                    .await
                    .map_err(|e| at("base_branch", e))?;
                (path, None, None, Some(branch))
            }
            RepoKind::Clone => {
                let url = CloneUrl::parse(request.url.as_deref().unwrap_or_default())?;
                if let Some(file) = &url.file_path {
                    self.allowed(file, "url").await?;
                }
                let path = self.fresh_home(project_id);
                let branch = self
                    .git
                    .clone_repo(
                        &url.url,
                        url.credentials.as_ref(),
                        &path,
                        base_branch.as_deref(),
                    )
                    .await
                    .map_err(|e| at("url", e))?;
                (path, Some(url.url), url.credentials, branch)
            }
        };
        // The data directory may be configured relative; links are absolute.
        let path = self
            .git
            .canonical(&path.display().to_string())
            .await
            .map_err(|e| at("path", e))?;
        let base_branch = base_branch
            .or(checked_out)
            .unwrap_or_else(|| "main".to_owned());
        if self
            .git
            .branch_tip(&path, &base_branch)
            .await
            .map_err(|e| at("path", e))?
            .is_none()
        {
            return Err(InvalidField::new(
                "base_branch",
                format!("{base_branch} is not a branch of this repository (commit to it first)"),
            )
            .into());
        }
        let sealed_credentials = credentials
            .as_ref()
            .map(|c| {
                self.secrets
                    .seal(&c.to_bytes())
                    .map_err(RepoError::Unexpected)
            })
            .transpose()?;
        let now = Utc::now();
        let created_at = match self.links.find(project_id).await? {
            Some(old) if old.link.path == path.display().to_string() => old.link.created_at,
            _ => now,
        };
        let link = RepoLink {
            project_id,
            kind,
            path: path.display().to_string(),
            url,
            has_credentials: sealed_credentials.is_some(),
            base_branch,
            push,
            created_at,
            updated_at: now,
        };
        let event = EventEnvelope::new(
            AggregateType::Project,
            project.id,
            owner_id,
            now,
            DomainEvent::RepositoryLinked {
                project_id,
                kind,
                base_branch: link.base_branch.clone(),
                push,
            },
        );
        self.links
            .save(
                &StoredLink {
                    link: link.clone(),
                    sealed_credentials,
                },
                &event,
            )
            .await?;
        let status = self.status_of(&link).await?;
        Ok((link, status))
    }

    /// The project's repository and where it stands.
    ///
    /// # Errors
    /// `NotLinked`, `ProjectNotFound` or `Unexpected`.
    pub async fn get(
        &self,
        owner_id: Uuid,
        project_id: Uuid,
    ) -> Result<(RepoLink, RepoStatus), RepoError> {
        self.project(owner_id, project_id).await?;
        let stored = self
            .links
            .find(project_id)
            .await?
            .ok_or(RepoError::NotLinked)?;
        let status = self.status_of(&stored.link).await?;
        Ok((stored.link, status))
    }

    /// What to show the band of the project's repository, at the base
    /// branch's tip; `None` when the project has no repository.
    ///
    /// # Errors
    /// `BaseBranchGone`, `ProjectNotFound` or `Unexpected`.
    pub async fn context(
        &self,
        owner_id: Uuid,
        project_id: Uuid,
        ask: &ContextAsk,
    ) -> Result<Option<CodeContext>, RepoError> {
        self.project(owner_id, project_id).await?;
        let Some(stored) = self.links.find(project_id).await? else {
            return Ok(None);
        };
        let link = stored.link;
        // Only the base branch's tip: the work tree's status (a walk of
        // every file) is not this session's business.
        let commit = self
            .git
            .branch_tip(Path::new(&link.path), &link.base_branch)
            .await
            .map_err(|e| at("path", e))?
            .ok_or_else(|| RepoError::BaseBranchGone(link.base_branch.clone()))?;
        let mut context = self
            .git
            .context(Path::new(&link.path), &commit, ask)
            .await
            .map_err(|e| at("path", e))?;
        context.base_branch = link.base_branch;
        Ok(Some(context))
    }

    /// Builds the coder's proposal into a commit on its task branch in the
    /// project's repository.
    ///
    /// # Errors
    /// `NotLinked`, `ProposalRefused` with the reason, `ProjectNotFound`
    /// or `Unexpected`.
    pub async fn propose(
        &self,
        owner_id: Uuid,
        project_id: Uuid,
        change: &ChangeRequest,
    ) -> Result<ProposedChange, RepoError> {
        self.project(owner_id, project_id).await?;
        let stored = self
            .links
            .find(project_id)
            .await?
            .ok_or(RepoError::NotLinked)?;
        self.git
            .propose(Path::new(&stored.link.path), change)
            .await
            .map_err(|e| match e {
                GitHostError::Refused(why) => RepoError::ProposalRefused(why),
                other => at("path", other),
            })
    }

    /// The credentials stored for the project's clone, if any.
    ///
    /// # Errors
    /// `NotLinked`, `ProjectNotFound`, or `Unexpected` when they cannot be
    /// opened (another key).
    pub async fn credentials(
        &self,
        owner_id: Uuid,
        project_id: Uuid,
    ) -> Result<Option<Credentials>, RepoError> {
        self.project(owner_id, project_id).await?;
        let stored = self
            .links
            .find(project_id)
            .await?
            .ok_or(RepoError::NotLinked)?;
        stored
            .sealed_credentials
            .map(|sealed| {
                let plain = self.secrets.open(&sealed).map_err(RepoError::Unexpected)?;
                Credentials::from_bytes(&plain).ok_or_else(|| {
                    RepoError::Unexpected("stored credentials are not readable".into())
                })
            })
            .transpose()
    }

    /// Unlinks the project's repository. Its files are never touched.
    ///
    /// # Errors
    /// `NotLinked`, `ProjectNotFound`, `ProjectArchived` or `Unexpected`.
    pub async fn unlink(&self, owner_id: Uuid, project_id: Uuid) -> Result<(), RepoError> {
        self.writable_project(owner_id, project_id).await?;
        let event = EventEnvelope::new(
            AggregateType::Project,
            project_id,
            owner_id,
            Utc::now(),
            DomainEvent::RepositoryUnlinked { project_id },
        );
        if self.links.delete(project_id, &event).await? {
            Ok(())
        } else {
            Err(RepoError::NotLinked)
        }
    }

    async fn status_of(&self, link: &RepoLink) -> Result<RepoStatus, RepoError> {
        self.git
            .status(Path::new(&link.path), &link.base_branch)
            .await
            .map_err(|e| at("path", e))
    }

    /// `raw` resolved (symlinks and all), if it lies inside an allowed root.
    async fn allowed(&self, raw: &str, field: &'static str) -> Result<PathBuf, RepoError> {
        if self.settings.roots.is_empty() {
            return Err(RepoError::PathNotAllowed {
                field,
                message: "this server links no local paths: its operator lists the allowed \
                          directories in EXITON_REPO_ROOTS"
                    .to_owned(),
            });
        }
        if !Path::new(raw).is_absolute() {
            return Err(InvalidField::new(field, "must be an absolute path").into());
        }
        let path = self.git.canonical(raw).await.map_err(|e| at(field, e))?;
        if inside_roots(&path, &self.settings.roots) {
            Ok(path)
        } else {
            Err(RepoError::PathNotAllowed {
                field,
                message: format!(
                    "{} is outside the directories this server allows (EXITON_REPO_ROOTS)",
                    path.display()
                ),
            })
        }
    }

    /// A directory of its own for a new repository or a clone: a new one
    /// each time, so linking again never lands on an earlier one's files.
    fn fresh_home(&self, project_id: Uuid) -> PathBuf {
        let short = Uuid::new_v4().simple().to_string();
        self.settings
            .home
            .join(format!("{project_id}-{}", &short[..8]))
    }

    async fn project(&self, owner_id: Uuid, project_id: Uuid) -> Result<Project, RepoError> {
        match self.projects.find(owner_id, project_id).await {
            Ok(Some(p)) => Ok(p),
            Ok(None) | Err(ProjectError::NotFound) => Err(RepoError::ProjectNotFound),
            Err(ProjectError::InvalidField(f)) => Err(RepoError::InvalidField(f)),
            Err(ProjectError::Unexpected(e)) => Err(RepoError::Unexpected(e)),
        }
    }

    async fn writable_project(
        &self,
        owner_id: Uuid,
        project_id: Uuid,
    ) -> Result<Project, RepoError> {
        let project = self.project(owner_id, project_id).await?;
        if project.status == ProjectStatus::Archived {
            return Err(RepoError::ProjectArchived);
        }
        Ok(project)
    }
}

/// A git host's answer about `field`'s value, as the user should read it.
fn at(field: &'static str, e: GitHostError) -> RepoError {
    match e {
        GitHostError::Missing => InvalidField::new(field, "does not exist").into(),
        GitHostError::NotARepository => {
            InvalidField::new(field, "is not a git repository (its top directory)").into()
        }
        GitHostError::NotEmpty => InvalidField::new(field, "exists and is not empty").into(),
        GitHostError::InvalidBranch => {
            InvalidField::new("base_branch", "is not a valid branch name").into()
        }
        GitHostError::CloneFailed(why) => RepoError::CloneFailed(why),
        GitHostError::Refused(why) => RepoError::ProposalRefused(why),
        GitHostError::Unexpected(e) => RepoError::Unexpected(e),
    }
}
