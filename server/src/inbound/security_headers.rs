//! Security headers on every response: a strict Content-Security-Policy
//! built on a per-request script nonce, and the headers that stop framing,
//! MIME sniffing and referrer leaks.
//!
//! The nonce is minted here, before the page renders, and handed to the
//! renderer through the request's extensions ([`app::session::CspNonce`]):
//! Leptos stamps it on every inline script it writes (the hydration
//! bootstrap, resolved resources), so those run and nothing injected does.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

pub use app::session::CspNonce;

/// What varies between deployments.
#[derive(Debug, Clone, Default)]
pub struct SecurityPolicy {
    /// Sent over HTTPS only (`EXITON_PUBLIC_URL` is `https://…`): adds HSTS.
    pub https: bool,
    /// `cargo leptos watch`'s reload socket (`ws://…:<port>`), allowed in
    /// `connect-src` during development only.
    pub reload_socket: Option<String>,
}

impl SecurityPolicy {
    /// The policy for a page whose inline scripts carry `nonce`.
    ///
    /// - `script-src`: the bundle (`'self'`) and the nonced inline scripts;
    ///   `'wasm-unsafe-eval'` lets the page compile its WebAssembly, nothing
    ///   else (no `eval`, no inline handlers).
    /// - `style-src 'self'`: the stylesheet only, no inline styles.
    /// - `connect-src 'self'`: server functions and the live socket (CSP 3
    ///   lets `'self'` cover `ws:`/`wss:` to the same host).
    /// - `frame-ancestors 'none'`: no page can be framed (clickjacking).
    pub fn csp(&self, nonce: &str) -> String {
        let reload = self
            .reload_socket
            .as_deref()
            .map(|s| format!(" {s}"))
            .unwrap_or_default();
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src 'self'; img-src 'self' data:; font-src 'self'; \
             connect-src 'self'{reload}; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'"
        )
    }
}

/// A fresh nonce: 128 random bits, hex (a valid CSP `base64-value`).
fn nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Adds the headers to every response; pages get the nonce their scripts carry.
pub async fn guard(
    State(policy): State<Arc<SecurityPolicy>>,
    mut req: Request,
    next: Next,
) -> Response {
    let nonce = nonce();
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&policy.csp(&nonce)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    let fixed = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if policy.https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_nonced_inline_scripts() {
        let csp = SecurityPolicy::default().csp("abc123");
        assert!(csp.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval';"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("connect-src 'self';"));
    }

    #[test]
    fn nonces_differ_and_are_long() {
        let (a, b) = (nonce(), nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn development_allows_the_reload_socket() {
        let policy = SecurityPolicy {
            https: false,
            reload_socket: Some("ws://127.0.0.1:3001".into()),
        };
        assert!(
            policy
                .csp("n")
                .contains("connect-src 'self' ws://127.0.0.1:3001;")
        );
    }
}
