//! `human_reviews.output_hash`: the SHA-256 of the outputs a decision was
//! taken on, so every decision names exactly what the human saw (issue 4's
//! exactly-once review workflow). A decision's row shares its review
//! request's id, so the primary key alone refuses a second decision.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(HumanReviews::Table)
                    .add_column(string_len_null(HumanReviews::OutputHash, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(HumanReviews::Table)
                    .drop_column(HumanReviews::OutputHash)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum HumanReviews {
    Table,
    OutputHash,
}
