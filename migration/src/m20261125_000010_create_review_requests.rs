//! `review_requests`: the human gate's queue (spec §5.3). One row each time
//! a session stops for a human — at the gate, or for final approval of a
//! synthesised answer — created `pending_review` in the same transaction as
//! the session's move to `awaiting_review`, with the reasons and when it
//! expires. `human_reviews` keeps the decisions themselves.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_users_and_token_budgets::Users;
use crate::m20261125_000003_create_ai_sessions_and_agent_invocations::AiSessions;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReviewRequests::Table)
                    .col(pk_uuid(ReviewRequests::Id))
                    .col(uuid(ReviewRequests::SessionId))
                    .col(uuid(ReviewRequests::UserId))
                    .col(
                        string_len(ReviewRequests::Kind, 20).check(
                            Expr::col(ReviewRequests::Kind).is_in(["gate", "final_approval"]),
                        ),
                    )
                    .col(string_len(ReviewRequests::Status, 20).check(
                        Expr::col(ReviewRequests::Status).is_in([
                            "pending_review",
                            "under_review",
                            "approved",
                            "rejected",
                            "modified",
                            "expired",
                        ]),
                    ))
                    .col(json_binary(ReviewRequests::Reasons))
                    .col(
                        double(ReviewRequests::AverageConfidence).check(
                            Expr::col(ReviewRequests::AverageConfidence)
                                .gte(0)
                                .and(Expr::col(ReviewRequests::AverageConfidence).lte(1)),
                        ),
                    )
                    .col(timestamp_with_time_zone(ReviewRequests::CreatedAt))
                    .col(timestamp_with_time_zone(ReviewRequests::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ReviewRequests::DecidedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_review_requests_session")
                            .from(ReviewRequests::Table, ReviewRequests::SessionId)
                            .to(AiSessions::Table, AiSessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_review_requests_user")
                            .from(ReviewRequests::Table, ReviewRequests::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The pending list is read per user and status; expiry scans by time.
        manager
            .create_index(
                Index::create()
                    .name("idx_review_requests_user_status")
                    .table(ReviewRequests::Table)
                    .col(ReviewRequests::UserId)
                    .col(ReviewRequests::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_review_requests_session")
                    .table(ReviewRequests::Table)
                    .col(ReviewRequests::SessionId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReviewRequests::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ReviewRequests {
    Table,
    Id,
    SessionId,
    UserId,
    Kind,
    Status,
    Reasons,
    AverageConfidence,
    CreatedAt,
    ExpiresAt,
    DecidedAt,
}
