//! REST API v1: the JSON contract later clients use. Handlers stay a few
//! lines: authenticate → service → DTO.

mod ai;
mod api_keys;
mod auth;
mod budget;
mod error;
mod extract;
mod health;
mod notifications;
mod projects;
mod repositories;
mod reviews;
mod sessions;
mod tasks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};

pub use error::ApiError;
pub use extract::{ApiQuery, AuthUser, Authenticated, Credential};

use crate::state::AppState;

/// `/api/health` and everything under `/api/v1`.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let v1 = Router::new()
        .route("/auth/signup", post(auth::signup))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/api-keys/{id}", delete(api_keys::revoke))
        .route("/projects", get(projects::list).post(projects::create))
        .route(
            "/projects/{id}",
            get(projects::show)
                .patch(projects::update)
                .delete(projects::delete),
        )
        .route(
            "/projects/{id}/repository",
            get(repositories::show)
                .put(repositories::put)
                .delete(repositories::delete),
        )
        .route("/projects/{id}/tasks", get(tasks::list).post(tasks::create))
        .route("/projects/{id}/ai-sessions", get(sessions::for_project))
        .route("/tasks/{id}/ai-sessions", get(sessions::for_task))
        .route(
            "/tasks/{id}",
            get(tasks::show).patch(tasks::update).delete(tasks::delete),
        )
        .route("/tasks/{id}/execute-ai", post(sessions::execute))
        .route("/ai/session/{id}", get(sessions::show))
        .route("/ai/session/{id}/cancel", post(sessions::cancel))
        .route("/ai/session/{id}/retry", post(sessions::retry))
        .route("/ai/runs", get(sessions::live))
        .route("/ai/session/{id}/approve", post(reviews::approve_session))
        .route("/ai/session/{id}/reject", post(reviews::reject_session))
        .route("/reviews/pending", get(reviews::pending))
        .route("/reviews/{id}", get(reviews::show))
        .route("/reviews/{id}/approve", post(reviews::approve))
        .route("/reviews/{id}/reject", post(reviews::reject))
        .route("/interventions", get(reviews::interventions))
        .route("/ws", get(crate::inbound::live::ws::socket))
        .route("/ai/providers", get(ai::providers))
        .route("/ai/providers/{name}/reset", post(ai::reset))
        .route("/ai/models", get(ai::models))
        .route("/budget", get(budget::show))
        .route("/notifications", get(notifications::list))
        .route("/notifications/read-all", post(notifications::read_all))
        .route("/notifications/{id}/read", post(notifications::read))
        .route("/reactions/dead-letters", get(notifications::dead_letters))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this endpoint",
            )
        });
    Router::new()
        .route("/api/health", get(health::health))
        .nest("/api/v1", v1)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}
