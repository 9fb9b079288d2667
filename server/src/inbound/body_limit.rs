//! The REST API's body limit for the server functions too. Leptos reads a
//! server function's body whole, past axum's `DefaultBodyLimit`, and a body
//! over its own 2 MB answered 500 with an internal message. Here a body
//! over the limit is refused with 413 in the API's error shape before any
//! server function sees it: by its `Content-Length` when it declares one,
//! else while it is read (bodies this small are buffered whole).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::api::ApiError;

fn too_large() -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "request body is too large",
    )
    .into_response()
}

/// Refuses bodies over `limit` bytes with 413.
pub async fn guard(State(limit): State<usize>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(_) => too_large(),
    }
}
