//! The append-only domain event log: the `events` table.
//!
//! `sequence` is the global, gap-tolerant ordering key that readers page by,
//! so it must be a real auto-increment on both backends:
//! * SQLite: `integer NOT NULL PRIMARY KEY AUTOINCREMENT` (sea-query emits
//!   `integer` for an auto-increment big integer, which makes it the rowid
//!   alias; AUTOINCREMENT forbids reusing the sequence of deleted rows).
//! * PostgreSQL: `bigserial NOT NULL PRIMARY KEY`.
//!
//! Immutability is enforced in the database with triggers (raw SQL, per
//! backend), not only in the repository code. `user_id` deliberately has no
//! foreign key: events outlive the rows they describe, and deleting a user
//! must not have to touch (i.e. delete from) this table.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

/// `CREATE OR REPLACE` so re-running `up` after `fresh` (which drops tables
/// but not functions) still works.
const PG_UP: [&str; 2] = [
    "CREATE OR REPLACE FUNCTION events_reject_mutation() RETURNS trigger \
     LANGUAGE plpgsql AS $$ \
     BEGIN \
         RAISE EXCEPTION 'events are append-only (% rejected)', TG_OP; \
     END; \
     $$",
    "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events \
     FOR EACH ROW EXECUTE FUNCTION events_reject_mutation()",
];
const PG_DOWN: [&str; 2] = [
    "DROP TRIGGER IF EXISTS events_append_only ON events",
    "DROP FUNCTION IF EXISTS events_reject_mutation()",
];

const SQLITE_UP: [&str; 2] = [
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN \
         SELECT RAISE(ABORT, 'events are append-only'); \
     END",
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN \
         SELECT RAISE(ABORT, 'events are append-only'); \
     END",
];
const SQLITE_DOWN: [&str; 2] = [
    "DROP TRIGGER IF EXISTS events_no_delete",
    "DROP TRIGGER IF EXISTS events_no_update",
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(
                        ColumnDef::new(Events::Sequence)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(uuid_uniq(Events::Id))
                    .col(string_len(Events::EventType, 100))
                    .col(uuid(Events::AggregateId))
                    .col(string_len(Events::AggregateType, 30).check(
                        Expr::col(Events::AggregateType).is_in([
                            "User",
                            "Project",
                            "Task",
                            "AISession",
                            "Review",
                            "Budget",
                        ]),
                    ))
                    .col(uuid_null(Events::UserId))
                    .col(timestamp_with_time_zone(Events::Timestamp))
                    .col(json_binary(Events::Payload))
                    .col(json_binary(Events::Metadata).default("{}"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_aggregate")
                    .table(Events::Table)
                    .col(Events::AggregateType)
                    .col(Events::AggregateId)
                    .to_owned(),
            )
            .await?;
        // (user_id, sequence) so a per-user feed is an index range scan in
        // sequence order.
        manager
            .create_index(
                Index::create()
                    .name("idx_events_user")
                    .table(Events::Table)
                    .col(Events::UserId)
                    .col(Events::Sequence)
                    .to_owned(),
            )
            .await?;

        let statements: &[&str] = match manager.get_database_backend() {
            DbBackend::Postgres => &PG_UP,
            DbBackend::Sqlite => &SQLITE_UP,
            DbBackend::MySql => &[],
        };
        let db = manager.get_connection();
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Triggers first, table, then (PostgreSQL) the function, which cannot
        // be dropped while a trigger still uses it. Dropping the table would
        // remove the triggers anyway; being explicit mirrors `up`.
        let (before, after): (&[&str], &[&str]) = match manager.get_database_backend() {
            DbBackend::Postgres => (&PG_DOWN[..1], &PG_DOWN[1..]),
            DbBackend::Sqlite => (&SQLITE_DOWN, &[]),
            DbBackend::MySql => (&[], &[]),
        };
        for sql in before {
            db.execute_unprepared(sql).await?;
        }
        manager
            .drop_table(Table::drop().table(Events::Table).to_owned())
            .await?;
        for sql in after {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Sequence,
    Id,
    EventType,
    AggregateId,
    AggregateType,
    UserId,
    Timestamp,
    Payload,
    Metadata,
}
