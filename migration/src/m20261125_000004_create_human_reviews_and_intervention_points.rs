//! Human oversight of AI work: `human_reviews` (a verdict on a session or on
//! one agent response) and `human_intervention_points` (every point where a
//! human overrode or steered an AI suggestion, kept for learning/analytics).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_users_and_token_budgets::Users;
use crate::m20261125_000002_create_projects_and_tasks::Tasks;
use crate::m20261125_000003_create_ai_sessions_and_agent_invocations::{
    AgentInvocations, AiSessions,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(HumanReviews::Table)
                    .col(pk_uuid(HumanReviews::Id))
                    .col(uuid(HumanReviews::SessionId))
                    .col(uuid(HumanReviews::ReviewerId))
                    .col(uuid_null(HumanReviews::AiResponseId))
                    .col(
                        string_len(HumanReviews::Decision, 20).check(
                            Expr::col(HumanReviews::Decision)
                                .is_in(["approved", "rejected", "modified"]),
                        ),
                    )
                    .col(text_null(HumanReviews::Reason))
                    .col(json_binary_null(HumanReviews::Modifications))
                    .col(timestamp_with_time_zone(HumanReviews::ReviewedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_human_reviews_session")
                            .from(HumanReviews::Table, HumanReviews::SessionId)
                            .to(AiSessions::Table, AiSessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // CASCADE (not the default NO ACTION) so deleting a user
                    // account never gets blocked by reviews they wrote on
                    // someone else's session.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_human_reviews_reviewer")
                            .from(HumanReviews::Table, HumanReviews::ReviewerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // The review (a human decision) is worth more than the
                    // pointer to the response it judged.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_human_reviews_ai_response")
                            .from(HumanReviews::Table, HumanReviews::AiResponseId)
                            .to(AgentInvocations::Table, AgentInvocations::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_human_reviews_session")
                    .table(HumanReviews::Table)
                    .col(HumanReviews::SessionId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(HumanInterventionPoints::Table)
                    .col(pk_uuid(HumanInterventionPoints::Id))
                    .col(uuid(HumanInterventionPoints::SessionId))
                    .col(uuid(HumanInterventionPoints::UserId))
                    .col(uuid_null(HumanInterventionPoints::TaskId))
                    .col(string_len(HumanInterventionPoints::InterventionType, 50))
                    .col(string_len(HumanInterventionPoints::AiAgent, 20))
                    .col(json_binary(HumanInterventionPoints::AiSuggestion))
                    .col(double(HumanInterventionPoints::AiConfidence))
                    .col(text_null(HumanInterventionPoints::AiReasoning))
                    .col(json_binary(HumanInterventionPoints::HumanDecision))
                    .col(text(HumanInterventionPoints::Reason))
                    .col(json_binary_null(HumanInterventionPoints::Modifications))
                    .col(json_binary_null(HumanInterventionPoints::Context))
                    .col(timestamp_with_time_zone(HumanInterventionPoints::Timestamp))
                    // A JSON array of strings rather than TEXT[], which SQLite lacks.
                    .col(json_binary_null(HumanInterventionPoints::Tags))
                    .col(string_len_null(HumanInterventionPoints::Category, 100))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_hip_session")
                            .from(
                                HumanInterventionPoints::Table,
                                HumanInterventionPoints::SessionId,
                            )
                            .to(AiSessions::Table, AiSessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_hip_user")
                            .from(
                                HumanInterventionPoints::Table,
                                HumanInterventionPoints::UserId,
                            )
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_hip_task")
                            .from(
                                HumanInterventionPoints::Table,
                                HumanInterventionPoints::TaskId,
                            )
                            .to(Tasks::Table, Tasks::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_hip_user")
                    .table(HumanInterventionPoints::Table)
                    .col(HumanInterventionPoints::UserId)
                    .to_owned(),
            )
            .await?;
        // DESC because the common read is "latest interventions first".
        manager
            .create_index(
                Index::create()
                    .name("idx_hip_timestamp")
                    .table(HumanInterventionPoints::Table)
                    .col((HumanInterventionPoints::Timestamp, IndexOrder::Desc))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(HumanInterventionPoints::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(HumanReviews::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum HumanReviews {
    Table,
    Id,
    SessionId,
    ReviewerId,
    AiResponseId,
    Decision,
    Reason,
    Modifications,
    ReviewedAt,
}

#[derive(DeriveIden)]
enum HumanInterventionPoints {
    Table,
    Id,
    SessionId,
    UserId,
    TaskId,
    InterventionType,
    AiAgent,
    AiSuggestion,
    AiConfidence,
    AiReasoning,
    HumanDecision,
    Reason,
    Modifications,
    Context,
    Timestamp,
    Tags,
    Category,
}
