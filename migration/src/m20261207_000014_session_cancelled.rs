//! A session can be cancelled (issue 17): `ai_sessions.status` gains
//! `cancelled`.
//!
//! The status is guarded by a column CHECK. PostgreSQL replaces the named
//! constraint. SQLite cannot alter a CHECK; widening one (allowing more,
//! never less) changes no stored row, so this follows the procedure the
//! SQLite documentation gives for such edits ("ALTER TABLE", section 7):
//! edit the table's definition in `sqlite_schema` and bump the schema
//! version, in one transaction on one connection — no table rebuild, which
//! would fire the cascades of every table that references sessions.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

const BEFORE: &str = "'awaiting_review', 'completed', 'failed')";
const AFTER: &str = "'awaiting_review', 'completed', 'failed', 'cancelled')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_statuses(manager, BEFORE, AFTER).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A cancelled session reads as failed in the older schema.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE ai_sessions SET status = 'failed' WHERE status = 'cancelled'",
            )
            .await?;
        set_statuses(manager, AFTER, BEFORE).await
    }
}

/// Rewrites the status CHECK's list from `from` to `to`.
async fn set_statuses(manager: &SchemaManager<'_>, from: &str, to: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match manager.get_database_backend() {
        DbBackend::Postgres => {
            let list = to.trim_end_matches(')');
            db.execute_unprepared(&format!(
                "ALTER TABLE ai_sessions DROP CONSTRAINT ai_sessions_status_check, \
                 ADD CONSTRAINT ai_sessions_status_check \
                 CHECK (status IN ('pending', 'executing', {list}))"
            ))
            .await?;
            Ok(())
        }
        DbBackend::Sqlite => {
            let txn = db.begin().await?;
            let version = txn
                .query_one(Statement::from_string(
                    DbBackend::Sqlite,
                    "PRAGMA schema_version",
                ))
                .await?
                .ok_or_else(|| DbErr::Migration("no schema_version".into()))?
                .try_get_by_index::<i64>(0)?;
            txn.execute_unprepared("PRAGMA writable_schema = ON")
                .await?;
            let edited = txn
                .execute(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "UPDATE sqlite_master SET sql = replace(sql, ?, ?) \
                     WHERE type = 'table' AND name = 'ai_sessions' AND instr(sql, ?) > 0",
                    [from.into(), to.into(), from.into()],
                ))
                .await?
                .rows_affected();
            txn.execute_unprepared(&format!("PRAGMA schema_version = {}", version + 1))
                .await?;
            txn.execute_unprepared("PRAGMA writable_schema = OFF")
                .await?;
            if edited != 1 {
                txn.rollback().await?;
                return Err(DbErr::Migration(
                    "ai_sessions' status CHECK is not the one this migration expects".into(),
                ));
            }
            txn.commit().await
        }
        DbBackend::MySql => Err(DbErr::Migration("MySQL is not supported".into())),
    }
}
