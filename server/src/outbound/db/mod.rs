//! sea-orm adapters for the domain's repositories, the session store, and
//! the connection set-up shared by SQLite and PostgreSQL.

mod ai_sessions;
mod api_keys;
mod batch;
mod budgets;
mod connect;
mod events;
mod model_log;
mod projects;
mod reviews;
mod session_history;
mod sessions;
mod tasks;
mod users;
mod writer;

pub use ai_sessions::SeaOrmSessionRepository;
pub use api_keys::SeaOrmApiKeyRepository;
pub use budgets::SeaOrmBudgetLedger;
pub use connect::{Backend, connect, health};
pub use events::{
    EventRecord, OutboxError, advance_cursor, append, committed_after, committed_signal,
    cursor_position, last_sequence, notify_committed, read_events, user_events_between,
};
pub use model_log::{ModelLogEntry, history as model_history, record_model_lock};
pub use projects::SeaOrmProjectRepository;
pub use session_history::SeaOrmSessionHistory;
pub use sessions::SeaOrmSessionStore;
pub use tasks::SeaOrmTaskRepository;
pub use users::SeaOrmUserRepository;

use chrono::{DateTime, FixedOffset, Utc};

/// Entities store `TIMESTAMPTZ`; the domain speaks UTC.
pub(crate) fn to_db_time(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.fixed_offset()
}

pub(crate) fn from_db_time(t: DateTime<FixedOffset>) -> DateTime<Utc> {
    t.with_timezone(&Utc)
}

/// Wraps a technology error as the opaque source of an `Unexpected` variant.
pub(crate) fn boxed(e: impl std::error::Error + Send + Sync + 'static) -> domain::BoxError {
    Box::new(e)
}

/// A stored enum column held a value the domain does not know: the row was
/// written by something other than this code.
#[derive(Debug, thiserror::Error)]
#[error("corrupt {column} value {value:?}")]
pub(crate) struct CorruptColumn {
    pub column: &'static str,
    pub value: String,
}
