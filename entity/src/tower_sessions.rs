//! `SeaORM` entity for the `tower_sessions` table (shaped like `sea-orm-cli generate entity` output).
//!
//! HTTP sessions persisted for tower-sessions. `data` is the store's opaque
//! serialized record.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "tower_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(column_type = "Blob")]
    pub data: Vec<u8>,
    pub expiry_date: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
