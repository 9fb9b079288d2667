//! `/api/v1/api-keys`: list, create (the only answer that carries the
//! key), revoke. Managing keys takes a session cookie or a key, like every
//! other route: a key can create and revoke keys (there are no scopes
//! yet), so treat each as you would the password.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use domain::api_keys::ApiKey;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ApiError;
use super::extract::{ApiJson, AuthUser, IdPath};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
}

/// A key as listed: never its secret.
#[derive(Serialize)]
pub struct ApiKeyDto {
    id: Uuid,
    name: String,
    prefix: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyDto {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Serialize)]
pub struct ApiKeyList {
    api_keys: Vec<ApiKeyDto>,
    total: usize,
}

/// The answer to a creation: the one time `key` is ever sent.
#[derive(Serialize)]
pub struct CreatedKey {
    id: Uuid,
    name: String,
    prefix: String,
    key: String,
    created_at: DateTime<Utc>,
}

pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = state.services.api_keys.list(user).await?;
    Ok(Json(ApiKeyList {
        total: keys.len(),
        api_keys: keys.into_iter().map(ApiKeyDto::from).collect(),
    }))
}

pub async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (created, key) = state.services.api_keys.create(user, &body.name).await?;
    let body = CreatedKey {
        id: created.id,
        name: created.name,
        prefix: created.prefix,
        key,
        created_at: created.created_at,
    };
    // The key must not linger in caches on the way back.
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(body),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    state.services.api_keys.revoke(user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
