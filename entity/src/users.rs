//! `SeaORM` entity for the `users` table (shaped like `sea-orm-cli generate entity` output).
//!
//! Accounts. `subscription_tier` is one of `free`/`pro`/`team` (CHECK in the DB);
//! `ai_preferences` is a JSON object.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub email: String,
    pub name: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub password_hash: String,
    pub subscription_tier: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub ai_preferences: Json,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::ai_sessions::Entity")]
    AiSessions,
    #[sea_orm(has_many = "super::api_keys::Entity")]
    ApiKeys,
    #[sea_orm(has_many = "super::human_intervention_points::Entity")]
    HumanInterventionPoints,
    #[sea_orm(has_many = "super::human_reviews::Entity")]
    HumanReviews,
    #[sea_orm(has_many = "super::projects::Entity")]
    Projects,
    #[sea_orm(has_many = "super::token_budgets::Entity")]
    TokenBudgets,
}

impl Related<super::ai_sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AiSessions.def()
    }
}

impl Related<super::api_keys::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApiKeys.def()
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

impl Related<super::token_budgets::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TokenBudgets.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
