//! `SeaORM` entity for the `ai_sessions` table (shaped like `sea-orm-cli generate entity` output).
//!
//! One orchestrated AI work session. `status`: `pending`/`executing`/
//! `awaiting_review`/`completed`/`failed`/`cancelled`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "ai_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub task_id: Option<Uuid>,
    pub user_id: Uuid,
    pub conductor: String,
    pub total_tokens_used: i64,
    pub status: String,
    pub started_at: DateTimeWithTimeZone,
    pub completed_at: Option<DateTimeWithTimeZone>,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::agent_invocations::Entity")]
    AgentInvocations,
    #[sea_orm(has_many = "super::human_intervention_points::Entity")]
    HumanInterventionPoints,
    #[sea_orm(has_many = "super::human_reviews::Entity")]
    HumanReviews,
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Projects,
    #[sea_orm(
        belongs_to = "super::tasks::Entity",
        from = "Column::TaskId",
        to = "super::tasks::Column::Id",
        on_update = "NoAction",
        on_delete = "SetNull"
    )]
    Tasks,
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Users,
}

impl Related<super::agent_invocations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AgentInvocations.def()
    }
}

impl Related<super::human_intervention_points::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::HumanInterventionPoints.def()
    }
}

impl Related<super::human_reviews::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::HumanReviews.def()
    }
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Projects.def()
    }
}

impl Related<super::tasks::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tasks.def()
    }
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
