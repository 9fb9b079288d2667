//! `/api/v1/projects`: list (paged), create, show, update, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use domain::pagination::PageRequest;
use domain::projects::{NewProject, Project, ProjectPatch, ProjectStatus};
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::extract::{ApiJson, ApiQuery, AuthUser, IdPath};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    name: Option<String>,
    description: Option<String>,
    status: Option<ProjectStatus>,
}

/// `?limit=&cursor=`. Both stay text here so that `PageRequest::parse`
/// answers every bad value with a 422 naming the parameter.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Serialize)]
pub struct ProjectList {
    projects: Vec<Project>,
    /// All the caller's projects, not just this page's.
    total: u64,
    /// The `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// One page of the caller's projects, most recently updated first.
pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ProjectList>, ApiError> {
    let request = PageRequest::parse(params.limit.as_deref(), params.cursor.as_deref())
        .map_err(ApiError::invalid)?;
    let projects = &state.services.projects;
    let page = projects.page(user, &request).await?;
    let total = projects.count(user).await?;
    Ok(Json(ProjectList {
        projects: page.items,
        total,
        next_cursor: page.next.map(|k| k.to_cursor()),
    }))
}

pub async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let project = state
        .services
        .projects
        .create(
            user,
            NewProject {
                name: body.name,
                description: body.description,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(project)))
}

pub async fn show(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
) -> Result<Json<Project>, ApiError> {
    Ok(Json(state.services.projects.get(user, id).await?))
}

pub async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<UpdateBody>,
) -> Result<Json<Project>, ApiError> {
    let patch = ProjectPatch {
        name: body.name,
        description: body.description,
        status: body.status,
    };
    Ok(Json(state.services.projects.update(user, id, patch).await?))
}

pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    state.services.projects.delete(user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
