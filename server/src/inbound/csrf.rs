//! Cross-site request forgery protection for cookie-authenticated requests.
//! The session cookie is `SameSite=Lax` already; on top of that, any
//! state-changing request that a browser marks as coming from another origin
//! is refused. Requests without `Origin` (curl, API clients) pass: they carry
//! no ambient browser credentials an attacker could borrow.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::ApiError;

/// Origins allowed besides the request's own `Host`.
#[derive(Debug, Clone, Default)]
pub struct CsrfPolicy {
    pub extra_origins: Vec<String>,
}

pub async fn guard(State(policy): State<Arc<CsrfPolicy>>, req: Request, next: Next) -> Response {
    // A WebSocket handshake is a GET, but it opens a channel carrying the
    // user's data with their cookie: another origin may not open one.
    let websocket = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if (!websocket && matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS))
        || allowed(&policy, req.headers())
    {
        return next.run(req).await;
    }
    tracing::warn!(origin = ?req.headers().get(header::ORIGIN), "refused cross-origin request");
    ApiError::new(
        StatusCode::FORBIDDEN,
        "cross_origin",
        "cross-origin request refused",
    )
    .into_response()
}

fn allowed(policy: &CsrfPolicy, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // No Origin: trust the browser's own verdict when it gives one.
        return headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|site| site != "cross-site");
    };
    if policy
        .extra_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn same_origin_passes_cross_origin_does_not() {
        let p = CsrfPolicy::default();
        assert!(allowed(
            &p,
            &headers(&[
                ("host", "localhost:3000"),
                ("origin", "http://localhost:3000")
            ])
        ));
        assert!(!allowed(
            &p,
            &headers(&[
                ("host", "localhost:3000"),
                ("origin", "https://evil.example")
            ])
        ));
        assert!(!allowed(
            &p,
            &headers(&[("host", "localhost:3000"), ("origin", "null")])
        ));
    }

    #[test]
    fn no_origin_passes_unless_marked_cross_site() {
        let p = CsrfPolicy::default();
        assert!(allowed(&p, &headers(&[("host", "localhost:3000")])));
        assert!(!allowed(
            &p,
            &headers(&[("host", "localhost:3000"), ("sec-fetch-site", "cross-site")])
        ));
    }

    #[test]
    fn configured_public_origin_passes_behind_a_proxy() {
        let p = CsrfPolicy {
            extra_origins: vec!["https://exiton.example".into()],
        };
        assert!(allowed(
            &p,
            &headers(&[
                ("host", "10.0.0.5:3000"),
                ("origin", "https://exiton.example")
            ])
        ));
    }
}
