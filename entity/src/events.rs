//! `SeaORM` entity for the `events` table (shaped like `sea-orm-cli generate entity` output).
//!
//! The append-only domain event log. `sequence` is the auto-increment primary
//! key and the global ordering; the DB rejects UPDATE/DELETE with triggers, so
//! only ever insert. `user_id` has no foreign key on purpose (events outlive rows).
//! `aggregate_type`: `User`/`Project`/`Task`/`AISession`/`Review`/`Budget`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub sequence: i64,
    #[sea_orm(unique)]
    pub id: Uuid,
    pub event_type: String,
    pub aggregate_id: Uuid,
    pub aggregate_type: String,
    pub user_id: Option<Uuid>,
    /// The project the event concerns, when there is one (routes it to the
    /// bus's per-project stream).
    pub project_id: Option<Uuid>,
    pub timestamp: DateTimeWithTimeZone,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
