//! Extractors that answer in the API's error shape: JSON bodies, path ids,
//! the signed-in user and the caller's address.

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tower_sessions::Session;
use uuid::Uuid;

use super::ApiError;

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

/// The signed-in user's id, from the session cookie; 401 otherwise.
pub struct AuthUser(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::unauthenticated())?;
        app::session::current_user_id(&session)
            .await
            .map(Self)
            .ok_or_else(ApiError::unauthenticated)
    }
}

/// The caller's address, for sign-in throttling.
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(app::session::client_addr(parts)))
    }
}
