//! A project's repository, for its settings page: read, link, unlink.

use domain::repos::{RepoLink, RepoStatus};
use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::error::AppError;

/// The project's repository and where it stands.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RepositoryView {
    pub repository: RepoLink,
    pub status: RepoStatus,
}

/// The project's repository; `None` when none is linked.
#[server]
pub async fn get_repository(project_id: Uuid) -> Result<Option<RepositoryView>, AppError> {
    let user = ctx::user_id().await?;
    match ctx::services()?.repos.get(user, project_id).await {
        Ok((repository, status)) => Ok(Some(RepositoryView { repository, status })),
        Err(domain::repos::RepoError::NotLinked) => Ok(None),
        Err(e) => Err(ctx::fail(e)),
    }
}

/// Links a repository (the form's fields; empty ones are left out).
#[server]
pub async fn link_repository(
    project_id: Uuid,
    kind: String,
    path: Option<String>,
    url: Option<String>,
    base_branch: Option<String>,
    push: Option<String>,
) -> Result<RepositoryView, AppError> {
    let given = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let request = domain::repos::LinkRequest {
        kind: Some(kind),
        path: given(path),
        url: given(url),
        base_branch: given(base_branch),
        push: given(push),
    };
    let user = ctx::user_id().await?;
    let (repository, status) = ctx::services()?
        .repos
        .link(user, project_id, request)
        .await
        .map_err(ctx::fail)?;
    Ok(RepositoryView { repository, status })
}

/// Unlinks the project's repository; its files stay where they are.
#[server]
pub async fn unlink_repository(project_id: Uuid) -> Result<(), AppError> {
    let user = ctx::user_id().await?;
    ctx::services()?
        .repos
        .unlink(user, project_id)
        .await
        .map_err(ctx::fail)
}
