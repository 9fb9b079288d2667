//! What the event bus (spec §4.1) needs from the database:
//! * `events.project_id`: the project an event concerns, so the outbox relay
//!   can route it to the per-project stream without decoding payloads, and
//!   a live view can re-read one project's events in order (index on
//!   `(project_id, sequence)`). Nullable: user and budget events have none,
//!   and rows written before this migration keep NULL (they are history; no
//!   live view waits for them). Adding a column is not an UPDATE, so the
//!   append-only triggers do not object.
//! * `bus_cursors`: the outbox relay's durable position per bus — the
//!   highest `sequence` known to be published. It only moves forward, and
//!   only after the bus accepted everything up to it, so a crash re-publishes
//!   (harmless: publishing is idempotent) but never skips.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(ColumnDef::new(Events::ProjectId).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_project")
                    .table(Events::Table)
                    .col(Events::ProjectId)
                    .col(Events::Sequence)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BusCursors::Table)
                    .col(string_len(BusCursors::Name, 100).primary_key())
                    .col(big_integer(BusCursors::Position).default(0))
                    .col(timestamp_with_time_zone(BusCursors::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BusCursors::Table).to_owned())
            .await?;
        // SQLite refuses to drop a column that an index still uses.
        manager
            .drop_index(
                Index::drop()
                    .name("idx_events_project")
                    .table(Events::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .drop_column(Events::ProjectId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Sequence,
    ProjectId,
}

#[derive(DeriveIden)]
enum BusCursors {
    Table,
    Name,
    Position,
    UpdatedAt,
}
