//! `/api/v1/projects`: list, create, show, update, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use domain::projects::{NewProject, Project, ProjectPatch, ProjectStatus};
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::extract::{ApiJson, AuthUser, IdPath};
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

#[derive(Serialize)]
pub struct ProjectList {
    projects: Vec<Project>,
    total: usize,
}

pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<ProjectList>, ApiError> {
    let projects = state.services.projects.list(user).await?;
    Ok(Json(ProjectList {
        total: projects.len(),
        projects,
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
