//! `GET /api/v1/ws?after=<event id>`: one authenticated WebSocket per
//! client (session cookie, or `Authorization: Bearer <API key>`), carrying
//! the user's events — session status changes, agents' results, review
//! requests and decisions, board changes — and agents' token deltas.
//!
//! Server → client text frames, JSON:
//! - `{"type":"event","id":<sequence>,"event_type":…,"project_id":…,"event":<envelope>}`
//!   — in `id` order; `id` is the event's place in the log;
//! - `{"type":"ready","last_event_id":<n>}` — once the events the client
//!   missed (those after `after`) have been sent: from here on it is live;
//! - `{"type":"delta","session_id":…,"role":…,"text":…}` — a piece of an
//!   agent's streaming output (`"restart":"<why>"` instead of `text`: drop
//!   what that role streamed so far, a failed attempt is being retried);
//! - `{"type":"deltas_dropped"}` — the client was too slow for the stream;
//!   the agent's whole output still arrives with its `AgentInvoked` event.
//!
//! A socket lives no longer than what it was opened with: it closes with
//! code 4001 ("signed out") as soon as its session ends (at once on this
//! instance, within [`RECHECK_EVERY`] on another or when the session
//! expires), and with 4003 ("API key revoked") as soon as its key is
//! revoked (the revocation's event reaches every instance). A user may hold
//! [`MAX_SOCKETS_PER_USER`] sockets per instance; past that the upgrade
//! answers 429.
//!
//! A client that reconnects with the last `id` it saw gets everything after
//! it, once each: the backlog comes from the table up to the log's end as
//! it was when the socket opened, the live tail (subscribed before that
//! read) skips whatever the backlog already sent.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::Response;
use domain::events::{DomainEvent, StoredEvent};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::{Delta, LiveHub, MAX_SOCKETS_PER_USER, WatchGuard};
use crate::inbound::api::{ApiError, ApiQuery, Authenticated, Credential};
use crate::outbound::db::{OutboxError, SeaOrmSessionStore, last_sequence, user_events_between};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsQuery {
    /// The last event id the client saw; absent: start from now.
    #[serde(default)]
    after: Option<i64>,
}

/// Keeps idle connections (and the proxies between) alive.
const PING_EVERY: Duration = Duration::from_secs(25);

/// How often an open socket checks that its session or key still holds
/// (what no event announces: a sign-out on another instance, an expiry).
pub const RECHECK_EVERY: Duration = Duration::from_secs(30);

/// Close code: the socket's session ended (signed out or expired).
pub const CLOSE_SIGNED_OUT: u16 = 4001;
/// Close code: the socket's API key was revoked.
pub const CLOSE_KEY_REVOKED: u16 = 4003;

pub async fn socket(
    State(state): State<AppState>,
    Authenticated { user, credential }: Authenticated,
    ApiQuery(query): ApiQuery<WsQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if query.after.is_some_and(|a| a < 0) {
        return Err(ApiError::invalid(domain::InvalidField::new(
            "after",
            "must be an event id (0 or more)",
        )));
    }
    let watching = state.live.try_watch(user).ok_or_else(|| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_sockets",
            format!("at most {MAX_SOCKETS_PER_USER} live sockets per user; close one first"),
        )
    })?;
    let owner = Owner {
        user,
        credential,
        state: state.clone(),
    };
    Ok(upgrade.on_upgrade(move |socket| async move {
        if let Err(e) = serve(socket, owner, watching, query.after).await {
            tracing::debug!(user = %user, error = %e, "live socket closed");
        }
    }))
}

/// Whose socket it is, and what they proved it with.
struct Owner {
    user: Uuid,
    credential: Credential,
    state: AppState,
}

impl Owner {
    /// The close frame to send when the credential no longer holds.
    async fn revoked(&self) -> Result<Option<CloseFrame>, SocketError> {
        match &self.credential {
            Credential::Session(id) => {
                let Ok(id) = id.parse() else {
                    return Ok(Some(signed_out()));
                };
                let store = SeaOrmSessionStore::new(self.state.db.clone());
                let live = tower_sessions::SessionStore::load(&store, &id)
                    .await
                    .map_err(|e| SocketError::Session(e.to_string()))?;
                Ok(live.is_none().then(signed_out))
            }
            Credential::ApiKey(key) => {
                let owner = self
                    .state
                    .services
                    .api_keys
                    .authenticate(key)
                    .await
                    .map_err(|e| SocketError::Session(e.to_string()))?;
                Ok((owner != Some(self.user)).then(|| CloseFrame {
                    code: CLOSE_KEY_REVOKED,
                    reason: Utf8Bytes::from_static("API key revoked"),
                }))
            }
        }
    }

    fn is_session(&self, ended: &str) -> bool {
        matches!(&self.credential, Credential::Session(id) if id == ended)
    }
}

fn signed_out() -> CloseFrame {
    CloseFrame {
        code: CLOSE_SIGNED_OUT,
        reason: Utf8Bytes::from_static("signed out"),
    }
}

#[derive(Debug, thiserror::Error)]
enum SocketError {
    #[error("the client went away")]
    Gone(#[from] axum::Error),
    #[error("reading the event log")]
    Log(#[from] OutboxError),
    #[error("reading the event log")]
    Db(#[from] sea_orm::DbErr),
    #[error("encoding a frame")]
    Json(#[from] serde_json::Error),
    #[error("checking the socket's credential: {0}")]
    Session(String),
}

async fn serve(
    mut socket: WebSocket,
    owner: Owner,
    _watching: WatchGuard,
    after: Option<i64>,
) -> Result<(), SocketError> {
    let hub: Arc<LiveHub> = owner.state.live.clone();
    let user = owner.user;
    let mut ended = hub.ended_sessions();
    // Subscribe first: whatever commits after the backlog's read arrives here.
    let (mut events, mut deltas) = hub.subscribe();
    // Signed out between the handshake and here: nothing is sent.
    if let Some(frame) = owner.revoked().await? {
        return close(&mut socket, frame).await;
    }
    let end = last_sequence(hub.db()).await?;
    let mut seen = after.unwrap_or(end);
    backlog(&mut socket, &hub, user, &mut seen, end).await?;
    seen = seen.max(end);
    send(&mut socket, json!({"type": "ready", "last_event_id": seen})).await?;

    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut recheck = tokio::time::interval(RECHECK_EVERY);
    recheck.tick().await;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    if event.sequence > seen {
                        if event.envelope.user_id == Some(user) {
                            send_event(&mut socket, &event).await?;
                            let revocation = matches!(event.envelope.event, DomainEvent::ApiKeyRevoked { .. });
                            if revocation && let Some(frame) = owner.revoked().await? {
                                return close(&mut socket, frame).await;
                            }
                        }
                        seen = event.sequence;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // Too slow for the live tail: the table has it all.
                    let end = last_sequence(hub.db()).await?;
                    backlog(&mut socket, &hub, user, &mut seen, end).await?;
                    seen = seen.max(end);
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            delta = deltas.recv() => match delta {
                Ok(delta) if delta.user_id == user => send_delta(&mut socket, &delta).await?,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => send(&mut socket, json!({"type": "deltas_dropped"})).await?,
                Err(RecvError::Closed) => return Ok(()),
            },
            incoming = socket.recv() => match incoming {
                // Clients have nothing to say yet; pings are answered by axum.
                Some(Ok(Message::Close(_))) | None => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
            },
            session = ended.recv() => match session {
                Ok(id) if owner.is_session(&id) => return close(&mut socket, signed_out()).await,
                Ok(_) => {}
                // Missed some: the store has the answer.
                Err(RecvError::Lagged(_)) => {
                    if let Some(frame) = owner.revoked().await? {
                        return close(&mut socket, frame).await;
                    }
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            _ = recheck.tick() => {
                if let Some(frame) = owner.revoked().await? {
                    return close(&mut socket, frame).await;
                }
            }
            _ = ping.tick() => socket.send(Message::Ping(Default::default())).await?,
        }
    }
}

/// Says why and closes.
async fn close(socket: &mut WebSocket, frame: CloseFrame) -> Result<(), SocketError> {
    socket.send(Message::Close(Some(frame))).await?;
    Ok(())
}

/// Sends `user`'s events after `seen` up to `end`, from the table.
async fn backlog(
    socket: &mut WebSocket,
    hub: &LiveHub,
    user: Uuid,
    seen: &mut i64,
    end: i64,
) -> Result<(), SocketError> {
    loop {
        let batch = user_events_between(hub.db(), user, *seen, end, 500).await?;
        let Some(last) = batch.last().map(|e| e.sequence) else {
            return Ok(());
        };
        for event in &batch {
            send_event(socket, event).await?;
        }
        *seen = last;
    }
}

async fn send_event(socket: &mut WebSocket, event: &StoredEvent) -> Result<(), SocketError> {
    send(
        socket,
        json!({
            "type": "event",
            "id": event.sequence,
            "event_type": event.envelope.event.type_name(),
            "project_id": event.project_id,
            "event": event.envelope,
        }),
    )
    .await
}

async fn send_delta(socket: &mut WebSocket, delta: &Delta) -> Result<(), SocketError> {
    let mut frame = serde_json::to_value(delta)?;
    frame["type"] = "delta".into();
    send(socket, frame).await
}

async fn send(socket: &mut WebSocket, frame: serde_json::Value) -> Result<(), SocketError> {
    let text = serde_json::to_string(&frame)?;
    socket.send(Message::Text(Utf8Bytes::from(text))).await?;
    Ok(())
}
