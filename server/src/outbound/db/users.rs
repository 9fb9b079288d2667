//! `UserRepository` over sea-orm: users, their first budget and the
//! `UserRegistered` event in one transaction.

use async_trait::async_trait;
use domain::accounts::{
    AccountError, AiPreferences, Email, NewUser, PasswordHash, SubscriptionTier, User,
    UserRepository,
};
use domain::events::EventEnvelope;
use entity::{token_budgets, users};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set, SqlErr};
use uuid::Uuid;

use super::events::apply_with_events;
use super::{CorruptColumn, boxed, from_db_time, to_db_time};

#[derive(Debug, Clone)]
pub struct SeaOrmUserRepository {
    db: DatabaseConnection,
}

impl SeaOrmUserRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn unexpected(e: DbErr) -> AccountError {
    AccountError::Unexpected(boxed(e))
}

fn to_domain(m: users::Model) -> Result<User, AccountError> {
    let tier = SubscriptionTier::parse(&m.subscription_tier).ok_or_else(|| {
        AccountError::Unexpected(boxed(CorruptColumn {
            column: "users.subscription_tier",
            value: m.subscription_tier.clone(),
        }))
    })?;
    // Preferences written by an older version may lack fields: defaults fill them.
    let ai_preferences: AiPreferences =
        serde_json::from_value(m.ai_preferences).unwrap_or_default();
    Ok(User {
        id: m.id,
        email: m.email,
        name: m.name,
        subscription_tier: tier,
        ai_preferences,
        created_at: from_db_time(m.created_at),
    })
}

#[async_trait]
impl UserRepository for SeaOrmUserRepository {
    async fn create(&self, new_user: &NewUser, event: &EventEnvelope) -> Result<(), AccountError> {
        let NewUser {
            user,
            password_hash,
            budget,
        } = new_user;
        let prefs = serde_json::to_value(&user.ai_preferences)
            .map_err(|e| AccountError::Unexpected(boxed(e)))?;
        let now = to_db_time(user.created_at);
        let user_row = users::ActiveModel {
            id: Set(user.id),
            email: Set(user.email.clone()),
            name: Set(user.name.clone()),
            password_hash: Set(password_hash.as_str().to_owned()),
            subscription_tier: Set(user.subscription_tier.as_str().to_owned()),
            ai_preferences: Set(prefs),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let budget_row = token_budgets::ActiveModel {
            id: Set(budget.id),
            user_id: Set(budget.user_id),
            tier: Set(budget.tier.as_str().to_owned()),
            monthly_limit: Set(budget.monthly_limit),
            max_session_tokens: Set(budget.max_session_tokens),
            used_this_month: Set(budget.used_this_month),
            reserved_tokens: Set(budget.reserved_tokens),
            resets_at: Set(to_db_time(budget.resets_at)),
            created_at: Set(now),
            updated_at: Set(now),
        };
        apply_with_events(&self.db, std::slice::from_ref(event), |txn| {
            Box::pin(async move {
                users::Entity::insert(user_row).exec(txn).await?;
                token_budgets::Entity::insert(budget_row).exec(txn).await?;
                Ok(1)
            })
        })
        .await
        .map(|_| ())
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => AccountError::EmailTaken,
            _ => unexpected(e),
        })
    }

    async fn find_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<(User, PasswordHash)>, AccountError> {
        let Some(m) = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(unexpected)?
        else {
            return Ok(None);
        };
        let hash = PasswordHash::new(m.password_hash.clone());
        Ok(Some((to_domain(m)?, hash)))
    }

    async fn find(&self, id: Uuid) -> Result<Option<User>, AccountError> {
        users::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(unexpected)?
            .map(to_domain)
            .transpose()
    }

    async fn update_preferences(
        &self,
        id: Uuid,
        preferences: &AiPreferences,
        event: &EventEnvelope,
    ) -> Result<(), AccountError> {
        let prefs =
            serde_json::to_value(preferences).map_err(|e| AccountError::Unexpected(boxed(e)))?;
        let now = to_db_time(event.timestamp);
        let applied = apply_with_events(&self.db, std::slice::from_ref(event), |txn| {
            Box::pin(async move {
                let result = users::Entity::update_many()
                    .col_expr(users::Column::AiPreferences, Expr::value(prefs))
                    .col_expr(users::Column::UpdatedAt, Expr::value(now))
                    .filter(users::Column::Id.eq(id))
                    .exec(txn)
                    .await?;
                Ok(result.rows_affected)
            })
        })
        .await
        .map_err(unexpected)?;
        if applied {
            Ok(())
        } else {
            Err(AccountError::NotFound)
        }
    }
}
