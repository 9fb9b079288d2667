//! `SeaORM` entity for the `model_version_log` table (shaped like `sea-orm-cli generate entity` output).
//!
//! Each change of the locked model versions: when, what, by whom and why.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "model_version_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub deployed_at: DateTimeWithTimeZone,
    #[sea_orm(column_type = "JsonBinary")]
    pub versions: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub changes: Json,
    pub changed_by: String,
    pub reason: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
