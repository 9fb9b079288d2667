//! Extractors that answer in the API's error shape: JSON bodies, query
//! strings, path ids, the signed-in user (API key or session cookie) and the
//! caller's address.

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use serde::de::DeserializeOwned;
use tower_sessions::Session;
use uuid::Uuid;

use super::ApiError;
use crate::state::AppState;

/// `Json<T>` whose rejections become `ApiError`s (400 malformed, 415 not
/// JSON, 413 too large, 422 wrong shape naming the field).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(v)| Self(v))
            .map_err(ApiError::from)
    }
}

/// `Query<T>` whose rejections become `ApiError`s: a 422 naming the
/// parameter (unknown ones too, with `#[serde(deny_unknown_fields)]` on `T`).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(ApiError::from)
    }
}

/// A `{id}` path segment that must be a UUID. A malformed id cannot name
/// anything the caller owns, so it answers 404 like any unknown id.
pub struct IdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "not found"))?;
        Uuid::parse_str(&raw)
            .map(Self)
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "not found"))
    }
}

/// The caller's user id. With an `Authorization` header, it must be
/// `Bearer <API key>` naming an active key: anything else is a 401, never a
/// fall-back to the cookie, so a client with a wrong or revoked key finds
/// out instead of quietly acting as whoever's browser it runs in. Without
/// the header, the session cookie; 401 otherwise.
pub struct AuthUser(pub Uuid);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Authenticated::from_request_parts(parts, state)
            .await
            .map(|a| Self(a.user))
    }
}

/// What a caller proved who they are with: long-lived connections (the
/// live socket) check it again while they stay open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The session cookie's session (its store id).
    Session(String),
    /// The API key presented as `Bearer`.
    ApiKey(String),
}

/// [`AuthUser`] with the credential it was proven by.
pub struct Authenticated {
    pub user: Uuid,
    pub credential: Credential,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let key = bearer(value).ok_or_else(invalid_key)?;
            let user = state
                .services
                .api_keys
                .authenticate(key)
                .await?
                .ok_or_else(invalid_key)?;
            return Ok(Self {
                user,
                credential: Credential::ApiKey(key.to_owned()),
            });
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::unauthenticated())?;
        let user = app::session::current_user_id(&session)
            .await
            .ok_or_else(ApiError::unauthenticated)?;
        let id = session.id().ok_or_else(ApiError::unauthenticated)?;
        Ok(Self {
            user,
            credential: Credential::Session(id.to_string()),
        })
    }
}

/// The token of `Bearer <token>` (the scheme is case-insensitive).
fn bearer(value: &HeaderValue) -> Option<&str> {
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn invalid_key() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "invalid or revoked API key",
    )
}

/// The caller, for throttling (see [`app::session::client_key`]).
pub struct ClientAddr(pub domain::accounts::ClientKey);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(app::session::client_key(parts)))
    }
}

/// Checks an id a body repeats (the spec's `task_id`, `review_id`) against
/// the one the request is about: absent is fine, anything else must be
/// that id (a 422 naming `field` otherwise).
///
/// # Errors
/// `invalid_field` on `field` when `named` is not `expected`.
pub fn same_id(field: &str, named: Option<&str>, expected: Uuid) -> Result<(), ApiError> {
    match named {
        Some(named) if Uuid::parse_str(named).ok() != Some(expected) => {
            Err(ApiError::invalid(domain::InvalidField::new(
                field,
                format!("{field} must be the id this request is about ({expected})"),
            )))
        }
        _ => Ok(()),
    }
}
