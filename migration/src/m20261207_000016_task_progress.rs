//! Task progress by reaction (issue 17): a run moves its task across the
//! board, but never over a human's later move.
//!
//! `tasks.human_moved_at` is when a human last moved the card; a run that
//! started before it leaves the card alone. `tasks.progressed_at` is the
//! time of the last run event that moved the card or set its AI fields, so
//! an older event handed over late (a retry, another instance) cannot undo
//! a newer one. SQLite adds one column per `ALTER TABLE`, hence two.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Tasks::HumanMovedAt, Tasks::ProgressedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tasks::Table)
                        .add_column(timestamp_with_time_zone_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Tasks::ProgressedAt, Tasks::HumanMovedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tasks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    HumanMovedAt,
    ProgressedAt,
}
