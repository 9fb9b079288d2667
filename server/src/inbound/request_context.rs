//! The request id, made available to code deep in the call (the event log
//! stamps it into each event's metadata) without threading it through the
//! domain: a tokio task-local set for the duration of each request.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs the rest of the request with its `x-request-id` in scope.
pub async fn scope(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match id {
        Some(id) => REQUEST_ID.scope(id, next.run(req)).await,
        None => next.run(req).await,
    }
}

/// The current request's id, when called while serving one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Spawns `future` as a background task that keeps the current request's
/// id, so the events it appends trace back to the request that started it.
pub fn spawn<F>(future: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    match current_request_id() {
        Some(id) => tokio::spawn(REQUEST_ID.scope(id, future)),
        None => tokio::spawn(future),
    };
}
