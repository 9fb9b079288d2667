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

/// The caller's address, for sign-in throttling ("unknown" when the server
/// runs without connect info, as in router tests). Used by the REST API and
/// the server functions alike.
pub fn client_addr(parts: &http::request::Parts) -> String {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string())
}
