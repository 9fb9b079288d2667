//! Storage for the HTTP session store (tower-sessions): the `tower_sessions`
//! table.
//!
//! `data` is the store's opaque serialized record, hence a binary column
//! (`bytea` on PostgreSQL, `blob` on SQLite). `expiry_date` is indexed because
//! the store's cleanup task deletes by `expiry_date < now`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TowerSessions::Table)
                    .col(string_len(TowerSessions::Id, 128).primary_key())
                    .col(blob(TowerSessions::Data))
                    .col(timestamp_with_time_zone(TowerSessions::ExpiryDate))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tower_sessions_expiry")
                    .table(TowerSessions::Table)
                    .col(TowerSessions::ExpiryDate)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TowerSessions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum TowerSessions {
    Table,
    Id,
    Data,
    ExpiryDate,
}
