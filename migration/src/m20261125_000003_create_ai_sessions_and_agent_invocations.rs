//! AI work sessions and the individual agent calls made inside them:
//! the `ai_sessions` and `agent_invocations` tables.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_users_and_token_budgets::Users;
use crate::m20261125_000002_create_projects_and_tasks::{Projects, Tasks};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AiSessions::Table)
                    .col(pk_uuid(AiSessions::Id))
                    .col(uuid(AiSessions::ProjectId))
                    .col(uuid_null(AiSessions::TaskId))
                    .col(uuid(AiSessions::UserId))
                    .col(string_len(AiSessions::Conductor, 20).default("chatgpt"))
                    .col(big_integer(AiSessions::TotalTokensUsed).default(0))
                    .col(string_len(AiSessions::Status, 30).default("pending").check(
                        Expr::col(AiSessions::Status).is_in([
                            "pending",
                            "executing",
                            "awaiting_review",
                            "completed",
                            "failed",
                        ]),
                    ))
                    .col(timestamp_with_time_zone(AiSessions::StartedAt))
                    .col(timestamp_with_time_zone_null(AiSessions::CompletedAt))
                    .col(json_binary(AiSessions::Metadata).default("{}"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ai_sessions_project")
                            .from(AiSessions::Table, AiSessions::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // A session outlives the task it was started for: the
                    // token accounting and audit trail stay.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ai_sessions_task")
                            .from(AiSessions::Table, AiSessions::TaskId)
                            .to(Tasks::Table, Tasks::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ai_sessions_user")
                            .from(AiSessions::Table, AiSessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ai_sessions_project")
                    .table(AiSessions::Table)
                    .col(AiSessions::ProjectId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ai_sessions_status")
                    .table(AiSessions::Table)
                    .col(AiSessions::Status)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AgentInvocations::Table)
                    .col(pk_uuid(AgentInvocations::Id))
                    .col(uuid(AgentInvocations::SessionId))
                    .col(
                        string_len(AgentInvocations::Agent, 20).check(
                            Expr::col(AgentInvocations::Agent)
                                .is_in(["claude", "gemini", "gpt", "local"]),
                        ),
                    )
                    .col(string_len(AgentInvocations::Role, 20).check(
                        Expr::col(AgentInvocations::Role).is_in([
                            "coder",
                            "reviewer",
                            "designer",
                            "pm",
                            "conductor",
                        ]),
                    ))
                    .col(text(AgentInvocations::Prompt))
                    .col(json_binary(AgentInvocations::Response))
                    .col(
                        double(AgentInvocations::Confidence).check(
                            Expr::col(AgentInvocations::Confidence)
                                .gte(0)
                                .and(Expr::col(AgentInvocations::Confidence).lte(1)),
                        ),
                    )
                    .col(big_integer(AgentInvocations::TokensUsed))
                    .col(big_integer(AgentInvocations::ExecutionTimeMs))
                    .col(timestamp_with_time_zone(AgentInvocations::InvokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_agent_invocations_session")
                            .from(AgentInvocations::Table, AgentInvocations::SessionId)
                            .to(AiSessions::Table, AiSessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_agent_invocations_session")
                    .table(AgentInvocations::Table)
                    .col(AgentInvocations::SessionId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AgentInvocations::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AiSessions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum AiSessions {
    Table,
    Id,
    ProjectId,
    TaskId,
    UserId,
    Conductor,
    TotalTokensUsed,
    Status,
    StartedAt,
    CompletedAt,
    Metadata,
}

#[derive(DeriveIden)]
pub enum AgentInvocations {
    Table,
    Id,
    SessionId,
    Agent,
    Role,
    Prompt,
    Response,
    Confidence,
    TokensUsed,
    ExecutionTimeMs,
    InvokedAt,
}
