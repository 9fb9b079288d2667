//! Token reservations: the ledger behind "reserve the whole task, settle
//! each call, release the rest" (spec §4.3).
//!
//! A reservation holds part of a budget period's `reserved_tokens` for one
//! AI session. `settled` counts real usage charged against it; once closed,
//! whatever it still held has been returned to the budget. Keeping the
//! reservation as a row (not just a counter) makes settlement idempotent and
//! lets the ledger be audited: for each open period, the sum of open
//! reservations' unsettled remainders equals `token_budgets.reserved_tokens`.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_users_and_token_budgets::{TokenBudgets, Users};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TokenReservations::Table)
                    .col(pk_uuid(TokenReservations::Id))
                    .col(uuid(TokenReservations::BudgetId))
                    .col(uuid(TokenReservations::UserId))
                    .col(uuid_null(TokenReservations::SessionId))
                    .col(big_integer(TokenReservations::Reserved))
                    .col(big_integer(TokenReservations::Settled).default(0))
                    .col(
                        string_len(TokenReservations::Status, 10)
                            .default("open")
                            .check(Expr::col(TokenReservations::Status).is_in(["open", "closed"])),
                    )
                    .col(timestamp_with_time_zone(TokenReservations::CreatedAt))
                    .col(timestamp_with_time_zone(TokenReservations::UpdatedAt))
                    .col(timestamp_with_time_zone_null(TokenReservations::ClosedAt))
                    .check(
                        Expr::col(TokenReservations::Reserved)
                            .gt(0)
                            .and(Expr::col(TokenReservations::Settled).gte(0)),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_token_reservations_budget")
                            .from(TokenReservations::Table, TokenReservations::BudgetId)
                            .to(TokenBudgets::Table, TokenBudgets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_token_reservations_user")
                            .from(TokenReservations::Table, TokenReservations::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_token_reservations_budget_status")
                    .table(TokenReservations::Table)
                    .col(TokenReservations::BudgetId)
                    .col(TokenReservations::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TokenReservations::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum TokenReservations {
    Table,
    Id,
    BudgetId,
    UserId,
    SessionId,
    Reserved,
    Settled,
    Status,
    CreatedAt,
    UpdatedAt,
    ClosedAt,
}
