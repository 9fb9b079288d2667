//! The request id, made available to code deep in the call (the event log
//! stamps it into each event's metadata) without threading it through the
//! domain: a tokio task-local set for the duration of each request.
//!
//! The id is always the server's own ([`own_ids`] moves whatever
//! `x-request-id` a client sent aside before a fresh one is minted): a
//! client-chosen id could collide with another request's, or forge lines
//! into the logs. What the client sent is kept beside it, as
//! `x-client-request-id`, cut to [`CLIENT_ID_MAX`] printable characters.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The server's id of a request (minted per request, echoed in responses).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The id the client sent, if any, kept for correlation only.
pub const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-client-request-id");
/// Longest client id kept; longer ones are cut.
pub const CLIENT_ID_MAX: usize = 64;

/// Both ids of the request being served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestIds {
    pub request_id: Option<String>,
    pub client_request_id: Option<String>,
}

tokio::task_local! {
    static IDS: RequestIds;
}

/// Runs first: moves a client's `x-request-id` to `x-client-request-id`
/// (printable ASCII only, at most [`CLIENT_ID_MAX`] characters; anything
/// else is dropped), so the id layer after it always mints our own.
pub async fn own_ids(mut req: Request, next: Next) -> Response {
    let headers = req.headers_mut();
    headers.remove(&CLIENT_REQUEST_ID);
    if let Some(sent) = headers.remove(&REQUEST_ID)
        && let Some(kept) = client_id(&sent)
    {
        headers.insert(CLIENT_REQUEST_ID, kept);
    }
    next.run(req).await
}

fn client_id(sent: &HeaderValue) -> Option<HeaderValue> {
    let text: String = sent
        .to_str()
        .ok()?
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(CLIENT_ID_MAX)
        .collect();
    if text.is_empty() {
        return None;
    }
    HeaderValue::from_str(&text).ok()
}

/// Runs the rest of the request with its ids in scope.
pub async fn scope(req: Request, next: Next) -> Response {
    let ids = RequestIds {
        request_id: header(&req, &REQUEST_ID),
        client_request_id: header(&req, &CLIENT_REQUEST_ID),
    };
    IDS.scope(ids, next.run(req)).await
}

fn header(req: &Request, name: &HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The current request's ids, when called while serving one.
pub fn current() -> Option<RequestIds> {
    IDS.try_with(Clone::clone).ok()
}

/// The current request's (server-minted) id, when called while serving one.
pub fn current_request_id() -> Option<String> {
    current().and_then(|ids| ids.request_id)
}

/// `future` with `ids` as its request's ids, wherever it is polled.
pub async fn scoped<F: std::future::Future>(ids: RequestIds, future: F) -> F::Output {
    IDS.scope(ids, future).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_cut_and_cleaned() {
        let long = HeaderValue::from_str(&"a".repeat(500)).unwrap_or(HeaderValue::from_static(""));
        assert_eq!(client_id(&long).map(|v| v.len()), Some(CLIENT_ID_MAX));
        let spaced = HeaderValue::from_static("abc def\t1");
        assert_eq!(
            client_id(&spaced).as_ref().and_then(|v| v.to_str().ok()),
            Some("abcdef1")
        );
        assert_eq!(client_id(&HeaderValue::from_static("   ")), None);
    }
}
