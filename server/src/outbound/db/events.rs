//! Appending domain events inside the caller's transaction, and reading them
//! back (for tests and, later, the event bus outbox).

use std::future::Future;
use std::pin::Pin;

use domain::events::EventEnvelope;
use entity::events;
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use uuid::Uuid;

use super::to_db_time;

/// Appends `envelopes` using `conn`, which must be the transaction that
/// carries the state change they describe.
///
/// # Errors
/// When an insert fails (the caller's transaction then rolls back).
pub(crate) async fn append<C: ConnectionTrait>(
    conn: &C,
    envelopes: &[EventEnvelope],
) -> Result<(), DbErr> {
    if envelopes.is_empty() {
        return Ok(());
    }
    let metadata = metadata();
    let rows = envelopes
        .iter()
        .map(|envelope| {
            let payload = serde_json::to_value(&envelope.event)
                .map_err(|e| DbErr::Custom(format!("serialising event: {e}")))?;
            Ok(events::ActiveModel {
                sequence: NotSet,
                id: Set(envelope.id),
                event_type: Set(envelope.event.type_name().to_owned()),
                aggregate_id: Set(envelope.aggregate_id),
                aggregate_type: Set(envelope.aggregate_type.as_str().to_owned()),
                user_id: Set(envelope.user_id),
                timestamp: Set(to_db_time(envelope.timestamp)),
                payload: Set(payload),
                metadata: Set(metadata.clone()),
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    // One statement for the lot; rows keep their order, so sequence
    // numbers follow the order the events were given in.
    events::Entity::insert_many(rows).exec(conn).await?;
    Ok(())
}

/// Context recorded with every event: the request that caused it, so the
/// audit trail leads straight to the matching log lines.
fn metadata() -> serde_json::Value {
    match crate::inbound::request_context::current_request_id() {
        Some(id) => serde_json::json!({ "request_id": id }),
        None => serde_json::json!({}),
    }
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
            payload: m.payload,
            metadata: m.metadata,
        })
        .collect())
}
