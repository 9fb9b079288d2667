//! What reactions to events (issue 17) keep:
//! * `reaction_receipts`: which (reaction, event id) pairs were handled, so
//!   a redelivered event is acknowledged without running its handler again.
//! * `dead_letters`: events a reaction gave up on after its retries, one
//!   per (reaction, event), readable by the event's user.
//! * `notifications`: the inbox reaction's output, at most one per (user,
//!   event) — the unique index is what makes that reaction idempotent.
//!   Newest first by `(user_id, created_at, id)`, as lists are paged.
//!
//! No foreign key to `users`: these are written asynchronously from the
//! event log, and a row must not fail (and be dead-lettered) over a user
//! the event named.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReactionReceipts::Table)
                    .col(string_len(ReactionReceipts::Reaction, 40))
                    .col(uuid(ReactionReceipts::EventId))
                    .col(timestamp_with_time_zone(ReactionReceipts::ProcessedAt))
                    .primary_key(
                        Index::create()
                            .col(ReactionReceipts::Reaction)
                            .col(ReactionReceipts::EventId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeadLetters::Table)
                    .col(pk_uuid(DeadLetters::Id))
                    .col(string_len(DeadLetters::Reaction, 40))
                    .col(uuid(DeadLetters::EventId))
                    .col(big_integer(DeadLetters::Sequence))
                    .col(string_len(DeadLetters::EventType, 100))
                    .col(uuid_null(DeadLetters::UserId))
                    .col(text(DeadLetters::Error))
                    .col(integer(DeadLetters::Attempts))
                    .col(timestamp_with_time_zone(DeadLetters::FailedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_dead_letters_reaction_event")
                    .table(DeadLetters::Table)
                    .col(DeadLetters::Reaction)
                    .col(DeadLetters::EventId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_dead_letters_user")
                    .table(DeadLetters::Table)
                    .col(DeadLetters::UserId)
                    .col(DeadLetters::FailedAt)
                    .col(DeadLetters::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(pk_uuid(Notifications::Id))
                    .col(uuid(Notifications::UserId))
                    .col(uuid(Notifications::EventId))
                    .col(string_len(Notifications::Kind, 40))
                    .col(string_len(Notifications::Title, 200))
                    .col(text(Notifications::Body))
                    .col(string_len_null(Notifications::Link, 200))
                    .col(uuid_null(Notifications::SessionId))
                    .col(uuid_null(Notifications::ReviewId))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_user_event")
                    .table(Notifications::Table)
                    .col(Notifications::UserId)
                    .col(Notifications::EventId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_user_created")
                    .table(Notifications::Table)
                    .col(Notifications::UserId)
                    .col(Notifications::CreatedAt)
                    .col(Notifications::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Notifications::Table.into_iden(),
            DeadLetters::Table.into_iden(),
            ReactionReceipts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ReactionReceipts {
    Table,
    Reaction,
    EventId,
    ProcessedAt,
}

#[derive(DeriveIden)]
enum DeadLetters {
    Table,
    Id,
    Reaction,
    EventId,
    Sequence,
    EventType,
    UserId,
    Error,
    Attempts,
    FailedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    UserId,
    EventId,
    Kind,
    Title,
    Body,
    Link,
    SessionId,
    ReviewId,
    CreatedAt,
    ReadAt,
}
