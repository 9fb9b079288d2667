//! `SeaORM` entity for the `reaction_receipts` table (shaped like `sea-orm-cli generate entity` output).
//!
//! Which reaction handled which event, so redeliveries are acknowledged
//! without handling them again.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "reaction_receipts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub reaction: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: Uuid,
    pub processed_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
