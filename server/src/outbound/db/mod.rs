//! sea-orm adapters for the domain's repositories, the session store, and
//! the connection set-up shared by SQLite and PostgreSQL.

mod ai_sessions;
mod api_keys;
mod batch;
mod budgets;
mod connect;
mod events;
mod model_log;
mod notifications;
mod projects;
mod reaction_log;
mod repositories;
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
pub use notifications::SeaOrmNotificationRepository;
pub use projects::SeaOrmProjectRepository;
pub use reaction_log::SeaOrmReactionLog;
pub use repositories::SeaOrmRepoLinkStore;
pub use reviews::SeaOrmReviewStore;
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

/// The order of a keyset-paged list: a timestamp, then the id to break
/// ties, each ascending or descending.
pub(crate) struct Keyset<C> {
    pub at: (C, sea_orm::Order),
    pub id: (C, sea_orm::Order),
}

impl<C: sea_orm::ColumnTrait> Keyset<C> {
    /// `select` ordered by the keyset, limited to one page plus one row (to
    /// know whether another page follows), and resumed after the page's
    /// cursor if it has one. The timestamp is bound exactly as rows are
    /// written, so SQLite's text comparison agrees with its ORDER BY.
    pub fn page<E>(
        self,
        mut select: sea_orm::Select<E>,
        page: &domain::pagination::PageRequest,
    ) -> sea_orm::Select<E>
    where
        E: sea_orm::EntityTrait<Column = C>,
    {
        use sea_orm::{Condition, Order, QueryFilter, QueryOrder, QuerySelect};
        let past = |column: C, order: &Order, value: sea_orm::Value| match order {
            Order::Desc => column.lt(value),
            _ => column.gt(value),
        };
        if let Some(after) = page.after() {
            let at = to_db_time(after.at);
            select = select.filter(
                Condition::any()
                    .add(past(self.at.0, &self.at.1, at.into()))
                    .add(Condition::all().add(self.at.0.eq(at)).add(past(
                        self.id.0,
                        &self.id.1,
                        after.id.into(),
                    ))),
            );
        }
        select
            .order_by(self.at.0, self.at.1)
            .order_by(self.id.0, self.id.1)
            .limit(page.fetch())
    }
}
