//! The append-only event log (`events`): appending inside the caller's
//! transaction, and the outbox side the event bus relay reads — committed
//! events after a position, and the relay's durable cursor (`bus_cursors`).
//!
//! Every event is inserted by [`append`], so the rule that makes the outbox
//! sound lives in one place: **sequence order is commit order**. On
//! PostgreSQL `sequence` (a `bigserial`) is drawn at insert, not at commit,
//! so two transactions can commit out of order: T1 draws 5, T2 draws 6 and
//! commits, a relay reads "sequence > 4", publishes 6 and moves its cursor
//! past 5 — then T1 commits 5 and it is never published. [`append`]
//! therefore takes a transaction-scoped advisory lock just before drawing
//! sequence numbers. The lock is held until commit or rollback, and
//! PostgreSQL makes a commit visible before it releases the transaction's
//! locks, so whoever draws a higher number does so only after every lower
//! number is committed (or rolled back, which leaves a harmless gap): a
//! reader that sees sequence `n` sees everything below it. Appends are the
//! last statement before commit, so the lock is held for an insert and a
//! commit only. SQLite needs no lock: a write transaction holds the
//! database's single write lock from its first write until it commits.

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;

use chrono::Utc;
use domain::events::{AggregateType, DomainEvent, EventEnvelope, StoredEvent};
use entity::{ai_sessions, bus_cursors, events};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
    TransactionTrait,
};
use tokio::sync::watch;
use uuid::Uuid;

use super::batch::Batch;
use super::{from_db_time, to_db_time};

/// The advisory lock key that serialises event appends on PostgreSQL (any
/// fixed number no other code uses; this one spells "EXITONev").
const APPEND_LOCK_KEY: i64 = 0x4558_4954_4f4e_6576;

/// Appends `envelopes` in `txn`, the transaction that carries the state
/// change they describe. Call it last, right before committing (it takes
/// the append lock, see the module doc), and call [`notify_committed`]
/// after the commit so the relay publishes without waiting for its poll.
///
/// # Errors
/// When an insert fails (the caller's transaction then rolls back).
pub async fn append(txn: &DatabaseTransaction, envelopes: &[EventEnvelope]) -> Result<(), DbErr> {
    let projects = event_projects(txn, envelopes).await?;
    let mut batch = Batch::new(txn.get_database_backend());
    push_events(&mut batch, envelopes, projects)?;
    batch.run(txn).await.map(drop)
}

/// As [`append`], but the append (and PostgreSQL's append lock) go last
/// into `batch`, to run with the step's other statements; run the batch
/// right before committing. `projects` come from [`event_projects`].
///
/// # Errors
/// When an event cannot be serialised.
pub(crate) fn push_events(
    batch: &mut Batch,
    envelopes: &[EventEnvelope],
    projects: Vec<Option<Uuid>>,
) -> Result<(), DbErr> {
    if envelopes.is_empty() {
        return Ok(());
    }
    let metadata = metadata();
    let rows = envelopes
        .iter()
        .zip(projects)
        .map(|(envelope, project_id)| {
            let payload = serde_json::to_value(&envelope.event)
                .map_err(|e| DbErr::Custom(format!("serialising event: {e}")))?;
            Ok(events::ActiveModel {
                sequence: NotSet,
                id: Set(envelope.id),
                event_type: Set(envelope.event.type_name().to_owned()),
                aggregate_id: Set(envelope.aggregate_id),
                aggregate_type: Set(envelope.aggregate_type.as_str().to_owned()),
                user_id: Set(envelope.user_id),
                project_id: Set(project_id),
                timestamp: Set(to_db_time(envelope.timestamp)),
                payload: Set(payload),
                metadata: Set(metadata.clone()),
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    if batch.backend() == DbBackend::Postgres {
        batch.push_unchecked(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pg_advisory_xact_lock({APPEND_LOCK_KEY})"),
        ));
    }
    // One statement for the lot; rows keep their order, so sequence
    // numbers follow the order the events were given in.
    batch.push_insert(rows);
    Ok(())
}

/// Which project each AI session belongs to, as seen by this process. A
/// session never changes project, so entries never go stale; it saves the
/// lookup on every later commit of a run (the run's `AISessionStarted`
/// names the project and fills it). Bounded: cleared when it grows past
/// `SESSION_PROJECTS_MAX`, after which misses are looked up again.
static SESSION_PROJECTS: LazyLock<std::sync::Mutex<std::collections::HashMap<Uuid, Uuid>>> =
    LazyLock::new(Default::default);
const SESSION_PROJECTS_MAX: usize = 10_000;

fn remember_projects(pairs: impl IntoIterator<Item = (Uuid, Uuid)>) {
    if let Ok(mut map) = SESSION_PROJECTS.lock() {
        if map.len() > SESSION_PROJECTS_MAX {
            map.clear();
        }
        map.extend(pairs);
    }
}

fn known_project(session: Uuid) -> Option<Uuid> {
    SESSION_PROJECTS
        .lock()
        .ok()
        .and_then(|map| map.get(&session).copied())
}

/// The project of each envelope: named by its payload, or — for an AI
/// session's later events, whose payload only names the session — the
/// session's project (remembered, else looked up).
///
/// `conn` may be outside the transaction — sessions never change project —
/// and should be: on SQLite, a read before a transaction's first write
/// makes that write fail when another commit came in between.
///
/// # Errors
/// When the lookup fails.
pub(crate) async fn event_projects(
    conn: &impl ConnectionTrait,
    envelopes: &[EventEnvelope],
) -> Result<Vec<Option<Uuid>>, DbErr> {
    if envelopes.is_empty() {
        return Ok(Vec::new());
    }
    let session = |e: &EventEnvelope| {
        (e.aggregate_type == AggregateType::AiSession).then_some(e.aggregate_id)
    };
    remember_projects(
        envelopes
            .iter()
            .filter_map(|e| Some((session(e)?, e.event.project_id()?))),
    );
    let unknown: Vec<Uuid> = envelopes
        .iter()
        .filter(|e| e.event.project_id().is_none())
        .filter_map(session)
        .filter(|id| known_project(*id).is_none())
        .collect();
    if !unknown.is_empty() {
        let found: Vec<(Uuid, Uuid)> = ai_sessions::Entity::find()
            .select_only()
            .column(ai_sessions::Column::Id)
            .column(ai_sessions::Column::ProjectId)
            .filter(ai_sessions::Column::Id.is_in(unknown))
            .into_tuple()
            .all(conn)
            .await?;
        remember_projects(found);
    }
    Ok(envelopes
        .iter()
        .map(|e| {
            e.event
                .project_id()
                .or_else(|| session(e).and_then(known_project))
        })
        .collect())
}

/// Context recorded with every event: the request that caused it, so the
/// audit trail leads straight to the matching log lines.
fn metadata() -> serde_json::Value {
    let mut metadata = serde_json::Map::new();
    if let Some(ids) = crate::inbound::request_context::current() {
        if let Some(id) = ids.request_id {
            metadata.insert("request_id".into(), id.into());
        }
        if let Some(id) = ids.client_request_id {
            metadata.insert("client_request_id".into(), id.into());
        }
    }
    serde_json::Value::Object(metadata)
}

/// Bumped after every commit that appended events. Process-wide rather than
/// threaded through every repository: it is only a hint that wakes the
/// relays of this process early (each relay also polls, which covers other
/// processes and any committer that forgets to call [`notify_committed`]).
static COMMITTED: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::channel(0).0);

/// Tells this process's relays that events were committed.
pub fn notify_committed() {
    COMMITTED.send_modify(|n| *n = n.wrapping_add(1));
}

/// A receiver that changes whenever [`notify_committed`] is called.
pub fn committed_signal() -> watch::Receiver<u64> {
    COMMITTED.subscribe()
}

/// A state change to run inside [`apply_with_events`]'s transaction; it
/// answers how many rows it touched.
pub(crate) type Change<'c> = Pin<Box<dyn Future<Output = Result<u64, DbErr>> + Send + 'c>>;

/// Applies `change` and appends `envelopes` in one transaction: both or
/// neither. A change that touched no row (its target vanished, or belongs to
/// someone else) appends nothing and answers `Ok(false)`.
///
/// # Errors
/// When the change or an append fails; the transaction then rolls back.
pub(crate) async fn apply_with_events<F>(
    db: &DatabaseConnection,
    envelopes: &[EventEnvelope],
    change: F,
) -> Result<bool, DbErr>
where
    F: for<'c> FnOnce(&'c DatabaseTransaction) -> Change<'c>,
{
    let txn = db.begin().await?;
    if change(&txn).await? == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    append(&txn, envelopes).await?;
    txn.commit().await?;
    if !envelopes.is_empty() {
        notify_committed();
    }
    Ok(true)
}

/// One row of the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub sequence: i64,
    pub id: Uuid,
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: Uuid,
    pub user_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub payload: serde_json::Value,
    pub metadata: serde_json::Value,
}

/// The user's events in append order.
///
/// # Errors
/// On storage failure.
pub async fn read_events<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
) -> Result<Vec<EventRecord>, DbErr> {
    Ok(events::Entity::find()
        .filter(events::Column::UserId.eq(user_id))
        .order_by_asc(events::Column::Sequence)
        .all(conn)
        .await?
        .into_iter()
        .map(|m| EventRecord {
            sequence: m.sequence,
            id: m.id,
            event_type: m.event_type,
            aggregate_type: m.aggregate_type,
            aggregate_id: m.aggregate_id,
            user_id: m.user_id,
            project_id: m.project_id,
            payload: m.payload,
            metadata: m.metadata,
        })
        .collect())
}

/// Why committed events could not be read for the bus.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("reading the event log")]
    Db(#[from] DbErr),
    /// A row this build cannot decode: written by a newer version (during a
    /// rolling upgrade) or damaged. Not skipped — see the relay.
    #[error("event {sequence} cannot be decoded")]
    Corrupt {
        sequence: i64,
        #[source]
        source: serde_json::Error,
    },
}

/// Up to `limit` committed events after `after`, in sequence order.
///
/// # Errors
/// `Db` on storage failure, `Corrupt` for a row that does not decode.
pub async fn committed_after<C: ConnectionTrait>(
    conn: &C,
    after: i64,
    limit: u64,
) -> Result<Vec<StoredEvent>, OutboxError> {
    events::Entity::find()
        .filter(events::Column::Sequence.gt(after))
        .order_by_asc(events::Column::Sequence)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(stored_event)
        .collect()
}

/// Up to `limit` of `user_id`'s committed events after `after` and up to
/// `upto`, in sequence order: what a reconnecting live client missed.
///
/// # Errors
/// `Db` on storage failure, `Corrupt` for a row that does not decode.
pub async fn user_events_between<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    after: i64,
    upto: i64,
    limit: u64,
) -> Result<Vec<StoredEvent>, OutboxError> {
    events::Entity::find()
        .filter(events::Column::UserId.eq(user_id))
        .filter(events::Column::Sequence.gt(after))
        .filter(events::Column::Sequence.lte(upto))
        .order_by_asc(events::Column::Sequence)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(stored_event)
        .collect()
}

/// The highest sequence in the log (0 when empty).
///
/// # Errors
/// On storage failure.
pub async fn last_sequence<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    let max: Option<Option<i64>> = events::Entity::find()
        .select_only()
        .column_as(events::Column::Sequence.max(), "max")
        .into_tuple()
        .one(conn)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

fn stored_event(m: events::Model) -> Result<StoredEvent, OutboxError> {
    let sequence = m.sequence;
    let corrupt = |source| OutboxError::Corrupt { sequence, source };
    let aggregate_type: AggregateType =
        serde_json::from_value(serde_json::Value::String(m.aggregate_type)).map_err(corrupt)?;
    let event: DomainEvent = serde_json::from_value(m.payload).map_err(corrupt)?;
    Ok(StoredEvent {
        sequence,
        project_id: m.project_id,
        request_id: m
            .metadata
            .get("request_id")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        envelope: EventEnvelope {
            id: m.id,
            aggregate_id: m.aggregate_id,
            aggregate_type,
            user_id: m.user_id,
            timestamp: from_db_time(m.timestamp),
            event,
        },
    })
}

/// The relay cursor `name`'s position: every event up to it is published.
/// A cursor seen for the first time starts at 0, so a new bus receives the
/// whole log (bounded by its own retention).
///
/// # Errors
/// On storage failure.
pub async fn cursor_position<C: ConnectionTrait>(conn: &C, name: &str) -> Result<i64, DbErr> {
    if let Some(row) = bus_cursors::Entity::find_by_id(name.to_owned())
        .one(conn)
        .await?
    {
        return Ok(row.position);
    }
    // Two relays may start at once: whoever inserts second does nothing.
    bus_cursors::Entity::insert(bus_cursors::ActiveModel {
        name: Set(name.to_owned()),
        position: Set(0),
        updated_at: Set(to_db_time(Utc::now())),
    })
    .on_conflict(
        OnConflict::column(bus_cursors::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .do_nothing()
    .exec(conn)
    .await?;
    Ok(bus_cursors::Entity::find_by_id(name.to_owned())
        .one(conn)
        .await?
        .map_or(0, |row| row.position))
}

/// Moves cursor `name` forward to `to`; never backwards, so a relay that
/// lagged behind another cannot undo its progress.
///
/// # Errors
/// On storage failure.
pub async fn advance_cursor<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    to: i64,
) -> Result<(), DbErr> {
    bus_cursors::Entity::update_many()
        .col_expr(bus_cursors::Column::Position, Expr::value(to))
        .col_expr(
            bus_cursors::Column::UpdatedAt,
            Expr::value(to_db_time(Utc::now())),
        )
        .filter(bus_cursors::Column::Name.eq(name))
        .filter(bus_cursors::Column::Position.lt(to))
        .exec(conn)
        .await?;
    Ok(())
}
