//! `/api/v1/projects/{id}/repository`: link (PUT), show (GET), unlink
//! (DELETE) the project's git repository. Credentials are never answered.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::repos::{LinkRequest, RepoLink, RepoStatus};
use serde::Serialize;

use super::ApiError;
use super::extract::{ApiJson, AuthUser, IdPath};
use crate::state::AppState;

/// The link and where the repository stands.
#[derive(Serialize)]
pub struct Shown {
    repository: RepoLink,
    status: RepoStatus,
}

pub async fn put(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<LinkRequest>,
) -> Result<Json<Shown>, ApiError> {
    let (repository, status) = state.services.repos.link(user, id, body).await?;
    Ok(Json(Shown { repository, status }))
}

pub async fn show(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
) -> Result<Json<Shown>, ApiError> {
    let (repository, status) = state.services.repos.get(user, id).await?;
    Ok(Json(Shown { repository, status }))
}

pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    state.services.repos.unlink(user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
