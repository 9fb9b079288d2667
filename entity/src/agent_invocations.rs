//! `SeaORM` entity for the `agent_invocations` table (shaped like `sea-orm-cli generate entity` output).
//!
//! A single call to an AI agent within a session. `agent`: `claude`/`gemini`/
//! `gpt`/`local`; `role`: `coder`/`reviewer`/`designer`/`pm`/`conductor`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_invocations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub session_id: Uuid,
    pub agent: String,
    pub role: String,
    #[sea_orm(column_type = "Text")]
    pub prompt: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub response: Json,
    #[sea_orm(column_type = "Double")]
    pub confidence: f64,
    pub tokens_used: i64,
    pub execution_time_ms: i64,
    pub invoked_at: DateTimeWithTimeZone,
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
    #[sea_orm(has_many = "super::human_reviews::Entity")]
    HumanReviews,
}

impl Related<super::ai_sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AiSessions.def()
    }
}

impl Related<super::human_reviews::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::HumanReviews.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
