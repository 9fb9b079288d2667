//! The model version log (spec §6.3 `ModelVersionLog`): one row each time
//! the effective lock of model versions per provider and role changes, with
//! who changed it and why, so an output's provenance can be traced to the
//! configuration that produced it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ModelVersionLog::Table)
                    .col(pk_uuid(ModelVersionLog::Id))
                    .col(timestamp_with_time_zone(ModelVersionLog::DeployedAt))
                    .col(json_binary(ModelVersionLog::Versions))
                    .col(json_binary(ModelVersionLog::Changes))
                    .col(string_len(ModelVersionLog::ChangedBy, 255))
                    .col(text(ModelVersionLog::Reason))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_model_version_log_deployed_at")
                    .table(ModelVersionLog::Table)
                    .col(ModelVersionLog::DeployedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ModelVersionLog::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ModelVersionLog {
    Table,
    Id,
    DeployedAt,
    Versions,
    Changes,
    ChangedBy,
    Reason,
}
