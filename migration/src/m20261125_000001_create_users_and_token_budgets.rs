//! Accounts and their AI token budgets: the `users` and `token_budgets` tables.
//!
//! Everything else hangs off `users`, so this migration runs first and is
//! rolled back last.

use sea_orm_migration::{prelude::*, schema::*};

/// Subscription tiers, shared by `users.subscription_tier` and
/// `token_budgets.tier` so both CHECKs stay identical.
const TIERS: [&str; 3] = ["free", "pro", "team"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(string_len_uniq(Users::Email, 255))
                    .col(string_len_null(Users::Name, 255))
                    .col(text(Users::PasswordHash))
                    .col(
                        string_len(Users::SubscriptionTier, 20)
                            .default("free")
                            .check(Expr::col(Users::SubscriptionTier).is_in(TIERS)),
                    )
                    .col(json_binary(Users::AiPreferences).default("{}"))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TokenBudgets::Table)
                    .col(pk_uuid(TokenBudgets::Id))
                    .col(uuid(TokenBudgets::UserId))
                    .col(
                        string_len(TokenBudgets::Tier, 20)
                            .check(Expr::col(TokenBudgets::Tier).is_in(TIERS)),
                    )
                    .col(big_integer(TokenBudgets::MonthlyLimit))
                    .col(big_integer(TokenBudgets::MaxSessionTokens))
                    .col(big_integer(TokenBudgets::UsedThisMonth).default(0))
                    .col(big_integer(TokenBudgets::ReservedTokens).default(0))
                    .col(timestamp_with_time_zone(TokenBudgets::ResetsAt))
                    .col(timestamp_with_time_zone(TokenBudgets::CreatedAt))
                    .col(timestamp_with_time_zone(TokenBudgets::UpdatedAt))
                    // Table-level so the reservation logic cannot drive any
                    // counter negative, whichever column it touches.
                    .check(
                        Expr::col(TokenBudgets::UsedThisMonth)
                            .gte(0)
                            .and(Expr::col(TokenBudgets::ReservedTokens).gte(0))
                            .and(Expr::col(TokenBudgets::MonthlyLimit).gte(0)),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_token_budgets_user")
                            .from(TokenBudgets::Table, TokenBudgets::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // One budget row per user and billing period; it also serves lookups
        // by user_id (leading column), so no separate user index is needed.
        manager
            .create_index(
                Index::create()
                    .name("uq_token_budgets_user_resets_at")
                    .table(TokenBudgets::Table)
                    .col(TokenBudgets::UserId)
                    .col(TokenBudgets::ResetsAt)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TokenBudgets::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Users {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    SubscriptionTier,
    AiPreferences,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum TokenBudgets {
    Table,
    Id,
    UserId,
    Tier,
    MonthlyLimit,
    MaxSessionTokens,
    UsedThisMonth,
    ReservedTokens,
    ResetsAt,
    CreatedAt,
    UpdatedAt,
}
