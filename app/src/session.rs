//! The signed-in user in the session, shared by the server functions and the
//! REST API so both surfaces agree on who is signed in.

use tower_sessions::Session;
use tower_sessions::session::Error;
use uuid::Uuid;

const USER_ID: &str = "user_id";

/// The signed-in user's id, if any. A corrupt or unreadable session counts
/// as signed out.
pub async fn current_user_id(session: &Session) -> Option<Uuid> {
    session.get::<Uuid>(USER_ID).await.ok().flatten()
}

/// Starts a signed-in session. The id is rotated first so a session id
/// planted before sign-in is worthless afterwards (session fixation).
///
/// # Errors
/// When the session store fails.
pub async fn begin(session: &Session, user_id: Uuid) -> Result<(), Error> {
    session.cycle_id().await?;
    session.insert(USER_ID, user_id).await
}

/// Ends the session and deletes it from the store.
///
/// # Errors
/// When the session store fails.
pub async fn end(session: &Session) -> Result<(), Error> {
    session.flush().await
}

/// The caller's address as the server resolved it (the peer, or the
/// client a trusted proxy names): set on every request by the server's
/// client-address layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

/// The caller's address, for throttling: what the server resolved, else the
/// peer's address, else "unknown" (router tests run without either).
/// Used by the REST API and the server functions alike.
pub fn client_ip(parts: &http::request::Parts) -> Option<std::net::IpAddr> {
    parts.extensions.get::<ClientIp>().map(|c| c.0).or_else(|| {
        parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip())
    })
}

/// The caller as the throttles count it: its address (an IPv6 client by
/// its /64), or one shared "unknown" budget when the address is not known.
pub fn client_key(parts: &http::request::Parts) -> domain::accounts::ClientKey {
    client_ip(parts).map_or_else(
        domain::accounts::ClientKey::unknown,
        domain::accounts::ClientKey::from_ip,
    )
}

/// This response's Content-Security-Policy nonce, minted by the server's
/// security-headers layer before the page renders; the renderer stamps it
/// on the inline scripts it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CspNonce(pub String);
