//! `/api/v1/projects/{id}/tasks` and `/api/v1/tasks/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use domain::pagination::PageRequest;
use domain::tasks::{NewTask, SearchTerms, Task, TaskPatch, TaskQuery, TaskStatus};
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::extract::{ApiJson, ApiQuery, AuthUser, IdPath};
use crate::state::AppState;

/// `?q=&status=&limit=&cursor=`. All text here, so that each bad value is
/// a 422 naming its parameter (`TaskStatus::parse`, `PageRequest::parse`)
/// rather than a generic deserialisation error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    q: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    status: Option<TaskStatus>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    title: Option<String>,
    description: Option<String>,
    status: Option<TaskStatus>,
}

#[derive(Serialize)]
pub struct TaskList {
    tasks: Vec<Task>,
    /// The project's tasks matching `q` and `status`, on all pages.
    total: u64,
    /// The `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// One page of the project's tasks matching the filter, oldest first.
pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(project): IdPath,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<TaskList>, ApiError> {
    let request = PageRequest::parse(params.limit.as_deref(), params.cursor.as_deref())
        .map_err(ApiError::invalid)?;
    let status = match params.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(TaskStatus::parse(s).map_err(ApiError::invalid)?),
        None => None,
    };
    let query = TaskQuery {
        search: params.q.as_deref().and_then(SearchTerms::parse),
        status,
    };
    let tasks = &state.services.tasks;
    let page = tasks.page(user, project, &query, &request).await?;
    let total = tasks.count(user, project, &query).await?;
    Ok(Json(TaskList {
        tasks: page.items,
        total,
        next_cursor: page.next.map(|k| k.to_cursor()),
    }))
}

pub async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(project): IdPath,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let input = NewTask {
        title: body.title,
        description: body.description,
        status: body.status,
    };
    let task = state.services.tasks.create(user, project, input).await?;
    Ok((StatusCode::CREATED, Json(task)))
}

pub async fn show(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(state.services.tasks.get(user, id).await?))
}

pub async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<UpdateBody>,
) -> Result<Json<Task>, ApiError> {
    let patch = TaskPatch {
        title: body.title,
        description: body.description,
        status: body.status,
    };
    Ok(Json(state.services.tasks.update(user, id, patch).await?))
}

pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    state.services.tasks.delete(user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
