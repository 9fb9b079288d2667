//! `SeaORM` entity for the `review_requests` table (shaped like `sea-orm-cli generate entity` output).
//!
//! The human gate's queue: one row per stop for a human decision.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "review_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub status: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub reasons: Json,
    #[sea_orm(column_type = "Double")]
    pub average_confidence: f64,
    pub created_at: DateTimeWithTimeZone,
    pub expires_at: DateTimeWithTimeZone,
    pub decided_at: Option<DateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
