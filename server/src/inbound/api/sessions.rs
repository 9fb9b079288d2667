//! `POST /api/v1/tasks/{id}/execute-ai` starts the band on a task (202:
//! the run continues in the background), `GET /api/v1/ai/session/{id}`
//! answers the session with its invocations and review requests, and
//! `GET /api/v1/projects/{id}/ai-sessions` and
//! `GET /api/v1/tasks/{id}/ai-sessions` list sessions, newest first.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::pagination::PageRequest;
use domain::sessions::{
    AgentInvocation, AiSession, Intent, IntentAction, Lineup, ReviewRequest, SessionScope,
    SessionStatus,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ApiError;
use super::extract::{ApiJson, ApiQuery, AuthUser, IdPath, same_id};
use crate::state::AppState;

/// The spec's `ExecuteAIRequest` (§8.2).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteBody {
    /// Optional; when sent it must name the task in the path.
    #[serde(default)]
    task_id: Option<String>,
    intent: IntentBody,
    /// Providers per role for this session only (`claude`, `gpt`,
    /// `gemini`, `local`); unknown names are refused.
    #[serde(default)]
    agents: Option<Lineup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentBody {
    action: IntentAction,
    #[serde(default)]
    context: String,
    #[serde(default)]
    constraints: Vec<String>,
}

#[derive(Serialize)]
pub struct Accepted {
    session_id: Uuid,
    status: SessionStatus,
    estimated_completion_seconds: u64,
    /// Where to follow the session. Until live streaming lands this is the
    /// session resource itself, to poll.
    stream_url: String,
}

#[derive(Serialize)]
pub struct SessionView {
    session: AiSession,
    invocations: Vec<AgentInvocation>,
    reviews: Vec<ReviewRequest>,
}

pub async fn execute(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(task): IdPath,
    ApiJson(body): ApiJson<ExecuteBody>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    same_id("task_id", body.task_id.as_deref(), task)?;
    let intent = Intent::new(
        body.intent.action,
        &body.intent.context,
        &body.intent.constraints,
    )
    .map_err(ApiError::invalid)?;
    let started = state
        .services
        .conductor
        .start_with(user, task, intent, body.agents.unwrap_or_default())
        .await?;
    let session_id = started.session.id;
    let status = started.session.status;
    let estimated_completion_seconds = started.estimated_completion_seconds;
    state.services.runner.launch(started.job);
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            session_id,
            status,
            estimated_completion_seconds,
            stream_url: format!("/api/v1/ai/session/{session_id}"),
        }),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
) -> Result<Json<SessionView>, ApiError> {
    let (session, invocations, reviews) = state.services.conductor.session(user, id).await?;
    Ok(Json(SessionView {
        session,
        invocations,
        reviews,
    }))
}

/// `?limit=&cursor=&status=`: a page of sessions (`limit` 1–200, default
/// 50), optionally of one status.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
    status: Option<SessionStatus>,
}

#[derive(Serialize)]
pub struct SessionList {
    sessions: Vec<AiSession>,
    /// The `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

async fn list(
    state: &AppState,
    user: Uuid,
    scope: SessionScope,
    params: ListParams,
) -> Result<Json<SessionList>, ApiError> {
    let request = PageRequest::parse(params.limit.as_deref(), params.cursor.as_deref())
        .map_err(ApiError::invalid)?;
    let page = state
        .services
        .history
        .page(user, scope, params.status, &request)
        .await?;
    Ok(Json(SessionList {
        sessions: page.items,
        next_cursor: page.next.map(|k| k.to_cursor()),
    }))
}

/// `GET /api/v1/projects/{id}/ai-sessions` (spec §6.2).
pub async fn for_project(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<SessionList>, ApiError> {
    list(&state, user, SessionScope::Project(id), params).await
}

/// `GET /api/v1/tasks/{id}/ai-sessions`.
pub async fn for_task(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<SessionList>, ApiError> {
    list(&state, user, SessionScope::Task(id), params).await
}

#[derive(Serialize)]
pub struct Cancelled {
    session_id: Uuid,
    status: SessionStatus,
}

/// `POST /api/v1/ai/session/{id}/cancel`: stops a playing session (its
/// calls dropped, what they used settled, the rest released). Cancelling a
/// cancelled session answers the same; a session at the gate or ended is a
/// 409 saying so.
pub async fn cancel(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
) -> Result<Json<Cancelled>, ApiError> {
    let status = state
        .services
        .conductor
        .cancel(user, id, state.services.runner.as_ref())
        .await?;
    Ok(Json(Cancelled {
        session_id: id,
        status,
    }))
}

#[derive(Serialize)]
pub struct Retried {
    session_id: Uuid,
    retry_of: Uuid,
    status: SessionStatus,
    estimated_completion_seconds: u64,
    stream_url: String,
}

/// `POST /api/v1/ai/session/{id}/retry`: runs a failed, cancelled or
/// rejected session again as a new session (202 with its id), the human's
/// rejection reasons, comments and edits going to the band as feedback.
pub async fn retry(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
) -> Result<(StatusCode, Json<Retried>), ApiError> {
    let started = state.services.conductor.retry(user, id).await?;
    let session_id = started.session.id;
    let body = Retried {
        session_id,
        retry_of: id,
        status: started.session.status,
        estimated_completion_seconds: started.estimated_completion_seconds,
        stream_url: format!("/api/v1/ai/session/{session_id}"),
    };
    state.services.runner.launch(started.job);
    Ok((StatusCode::ACCEPTED, Json(body)))
}

#[derive(Serialize)]
pub struct LiveRuns {
    runs: Vec<domain::sessions::LiveRun>,
}

/// `GET /api/v1/ai/runs`: the user's runs in progress on this instance —
/// each agent's state, elapsed time and tokens so far.
pub async fn live(State(state): State<AppState>, AuthUser(user): AuthUser) -> Json<LiveRuns> {
    Json(LiveRuns {
        runs: state.services.runner.live(Some(user)),
    })
}
