//! `SeaORM` entity for the `token_reservations` table (shaped like `sea-orm-cli generate entity` output).
//!
//! Tokens held from a budget period for one AI session until they are settled
//! (charged as real usage) or released.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "token_reservations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub budget_id: Uuid,
    pub user_id: Uuid,
    pub session_id: Option<Uuid>,
    pub reserved: i64,
    pub settled: i64,
    pub status: String,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub closed_at: Option<DateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::token_budgets::Entity",
        from = "Column::BudgetId",
        to = "super::token_budgets::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    TokenBudgets,
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Users,
}

impl Related<super::token_budgets::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TokenBudgets.def()
    }
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
