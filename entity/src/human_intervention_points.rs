//! `SeaORM` entity for the `human_intervention_points` table (shaped like `sea-orm-cli generate entity` output).
//!
//! Points where a human overrode or steered an AI suggestion. `tags` is a JSON
//! array of strings (not `TEXT[]`, so SQLite works).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "human_intervention_points")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub task_id: Option<Uuid>,
    pub intervention_type: String,
    pub ai_agent: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub ai_suggestion: Json,
    #[sea_orm(column_type = "Double")]
    pub ai_confidence: f64,
    #[sea_orm(column_type = "Text", nullable)]
    pub ai_reasoning: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub human_decision: Json,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub modifications: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub context: Option<Json>,
    pub timestamp: DateTimeWithTimeZone,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub tags: Option<Json>,
    pub category: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::ai_sessions::Entity",
        from = "Column::SessionId",
        to = "super::ai_sessions::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    AiSessions,
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

impl Related<super::ai_sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AiSessions.def()
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
