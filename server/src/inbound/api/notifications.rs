//! The notification inbox (issue 17): `GET /api/v1/notifications` (newest
//! first, `?unread=true` for the unread ones, paged), `POST
//! /api/v1/notifications/{id}/read`, `POST /api/v1/notifications/read-all`;
//! and what reactions gave up on, `GET /api/v1/reactions/dead-letters`.

use axum::Json;
use axum::extract::State;
use domain::events::DeadLetter;
use domain::notifications::Notification;
use domain::pagination::PageRequest;
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::extract::{ApiQuery, AuthUser, IdPath};
use crate::state::AppState;

/// `?limit=&cursor=&unread=`: a page of notifications (`limit` 1–200,
/// default 50), only unread ones when `unread=true`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
    #[serde(default)]
    unread: bool,
}

#[derive(Serialize)]
pub struct NotificationList {
    notifications: Vec<Notification>,
    /// All unread notifications, not only this page's (the bell's count).
    unread_count: u64,
    next_cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<NotificationList>, ApiError> {
    let request = PageRequest::parse(params.limit.as_deref(), params.cursor.as_deref())
        .map_err(ApiError::invalid)?;
    let inbox = &state.services.inbox;
    let page = inbox.page(user, params.unread, &request).await?;
    let unread_count = inbox.unread_count(user).await?;
    Ok(Json(NotificationList {
        notifications: page.items,
        unread_count,
        next_cursor: page.next.map(|k| k.to_cursor()),
    }))
}

pub async fn read(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
) -> Result<Json<Notification>, ApiError> {
    Ok(Json(state.services.inbox.mark_read(user, id).await?))
}

#[derive(Serialize)]
pub struct Marked {
    /// How many were unread and now are read.
    marked: u64,
}

pub async fn read_all(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Marked>, ApiError> {
    let marked = state.services.inbox.mark_all_read(user).await?;
    Ok(Json(Marked { marked }))
}

/// `?limit=&cursor=`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Serialize)]
pub struct DeadLetterList {
    dead_letters: Vec<DeadLetter>,
    next_cursor: Option<String>,
}

/// The caller's dead letters (those of events that were theirs), newest
/// first.
pub async fn dead_letters(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<DeadLetterList>, ApiError> {
    let request = PageRequest::parse(params.limit.as_deref(), params.cursor.as_deref())
        .map_err(ApiError::invalid)?;
    let page = state
        .services
        .reactions
        .dead_letters(user, &request)
        .await?;
    Ok(Json(DeadLetterList {
        dead_letters: page.items,
        next_cursor: page.next.map(|k| k.to_cursor()),
    }))
}
