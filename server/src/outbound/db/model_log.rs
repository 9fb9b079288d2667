//! The model version log (spec §6.3): at start-up the effective lock is
//! compared with the last one recorded; a difference is recorded with who
//! and why, so every output's model can be traced to a deliberate change.

use chrono::{DateTime, Utc};
use domain::band::ModelLock;
use entity::model_version_log as log;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, QueryOrder, QuerySelect, Set};
use serde::Serialize;
use uuid::Uuid;

use super::to_db_time;

/// One recorded change, for the API.
#[derive(Debug, Clone, Serialize)]
pub struct ModelLogEntry {
    pub deployed_at: DateTime<Utc>,
    pub changes: Vec<String>,
    pub changed_by: String,
    pub reason: String,
    pub versions: ModelLock,
}

/// Records `lock` if it differs from the last recorded one, and answers the
/// changes (every locked version on the first run; empty when unchanged).
///
/// # Errors
/// On storage failure or an unreadable previous row.
pub async fn record_model_lock(
    db: &DatabaseConnection,
    lock: &ModelLock,
    changed_by: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    let previous = history(db, 1).await?.into_iter().next();
    let (changes, default_reason) = match &previous {
        Some(p) => (lock.changes_since(&p.versions), "configuration changed"),
        None => (
            lock.changes_since(&ModelLock {
                versions: Default::default(),
            }),
            "first start: initial lock",
        ),
    };
    if changes.is_empty() {
        return Ok(changes);
    }
    log::Entity::insert(log::ActiveModel {
        id: Set(Uuid::new_v4()),
        deployed_at: Set(to_db_time(now)),
        versions: Set(to_json(lock)?),
        changes: Set(to_json(&changes)?),
        changed_by: Set(changed_by.to_owned()),
        reason: Set(reason.unwrap_or(default_reason).to_owned()),
    })
    .exec(db)
    .await?;
    Ok(changes)
}

/// The most recent `limit` changes, newest first.
///
/// # Errors
/// On storage failure or an unreadable row.
pub async fn history(db: &DatabaseConnection, limit: u64) -> Result<Vec<ModelLogEntry>, DbErr> {
    log::Entity::find()
        .order_by_desc(log::Column::DeployedAt)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(|row| {
            let parse = |e: serde_json::Error| DbErr::Custom(format!("model_version_log row: {e}"));
            Ok(ModelLogEntry {
                deployed_at: super::from_db_time(row.deployed_at),
                changes: serde_json::from_value(row.changes).map_err(parse)?,
                changed_by: row.changed_by,
                reason: row.reason,
                versions: serde_json::from_value(row.versions).map_err(parse)?,
            })
        })
        .collect()
}

fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value, DbErr> {
    serde_json::to_value(value)
        .map_err(|e| DbErr::Custom(format!("serialising the model lock: {e}")))
}
