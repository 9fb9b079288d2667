//! `SeaORM` entity for the `tasks` table (shaped like `sea-orm-cli generate entity` output).
//!
//! Tasks of a project. `status`: `todo`/`in_progress`/`review`/`done`; `created_by`:
//! `human`/`ai`. Full-text search over title/description lives outside the
//! entity (GIN index on PostgreSQL, `tasks_fts` FTS5 table on SQLite).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    pub status: String,
    pub assigned_ai_agent: Option<String>,
    pub ai_generated: bool,
    #[sea_orm(column_type = "Double", nullable)]
    pub confidence_score: Option<f64>,
    pub human_review_required: bool,
    pub created_by: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    /// When a human last moved the card (a run never moves it back over that).
    pub human_moved_at: Option<DateTimeWithTimeZone>,
    /// The time of the last run event that moved the card or set its AI fields.
    pub progressed_at: Option<DateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::ai_sessions::Entity")]
    AiSessions,
    #[sea_orm(has_many = "super::human_intervention_points::Entity")]
    HumanInterventionPoints,
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Projects,
}

impl Related<super::ai_sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AiSessions.def()
    }
}

impl Related<super::human_intervention_points::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::HumanInterventionPoints.def()
    }
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Projects.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
