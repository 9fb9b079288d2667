//! `SeaORM` entity for the `human_reviews` table (shaped like `sea-orm-cli generate entity` output).
//!
//! A human verdict on a session or on one agent response. `decision`:
//! `approved`/`rejected`/`modified`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "human_reviews")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub session_id: Uuid,
    pub reviewer_id: Uuid,
    pub ai_response_id: Option<Uuid>,
    pub decision: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub modifications: Option<Json>,
    pub reviewed_at: DateTimeWithTimeZone,
    /// SHA-256 (hex) of the outputs the decision was taken on.
    pub output_hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::agent_invocations::Entity",
        from = "Column::AiResponseId",
        to = "super::agent_invocations::Column::Id",
        on_update = "NoAction",
        on_delete = "SetNull"
    )]
    AgentInvocations,
    #[sea_orm(
        belongs_to = "super::ai_sessions::Entity",
        from = "Column::SessionId",
        to = "super::ai_sessions::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    AiSessions,
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::ReviewerId",
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

impl Related<super::ai_sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AiSessions.def()
    }
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
