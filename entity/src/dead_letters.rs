//! `SeaORM` entity for the `dead_letters` table (shaped like `sea-orm-cli generate entity` output).
//!
//! Events a reaction gave up on after its retries, one per (reaction, event).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "dead_letters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub reaction: String,
    pub event_id: Uuid,
    pub sequence: i64,
    pub event_type: String,
    pub user_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub error: String,
    pub attempts: i32,
    pub failed_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
