//! `ApiKeyRepository` over sea-orm: keys with their events, the per-user
//! limit checked under a lock, and throttled last-use writes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::api_keys::{ApiKey, ApiKeyError, ApiKeyRepository, KeyHash, NewApiKey};
use domain::events::EventEnvelope;
use entity::{api_keys, users};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};
use uuid::Uuid;

use super::events::{append, apply_with_events, notify_committed};
use super::{boxed, from_db_time, to_db_time};

#[derive(Debug, Clone)]
pub struct SeaOrmApiKeyRepository {
    db: DatabaseConnection,
}

impl SeaOrmApiKeyRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn unexpected(e: DbErr) -> ApiKeyError {
    ApiKeyError::Unexpected(boxed(e))
}

fn to_domain(m: api_keys::Model) -> ApiKey {
    ApiKey {
        id: m.id,
        user_id: m.user_id,
        name: m.name,
        prefix: m.prefix,
        created_at: from_db_time(m.created_at),
        last_used_at: m.last_used_at.map(from_db_time),
        revoked_at: m.revoked_at.map(from_db_time),
    }
}

#[async_trait]
impl ApiKeyRepository for SeaOrmApiKeyRepository {
    async fn insert(
        &self,
        new_key: &NewApiKey,
        max_active: usize,
        event: &EventEnvelope,
    ) -> Result<(), ApiKeyError> {
        let NewApiKey { key, hash } = new_key;
        let txn = self.db.begin().await.map_err(unexpected)?;
        // A write on the user's row before counting takes PostgreSQL's row
        // lock (and SQLite's write lock), so concurrent creations for one
        // user queue here and cannot both see room for one more key.
        users::Entity::update_many()
            .col_expr(
                users::Column::UpdatedAt,
                Expr::col(users::Column::UpdatedAt).into(),
            )
            .filter(users::Column::Id.eq(key.user_id))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        let active = api_keys::Entity::find()
            .filter(api_keys::Column::UserId.eq(key.user_id))
            .filter(api_keys::Column::RevokedAt.is_null())
            .count(&txn)
            .await
            .map_err(unexpected)?;
        if usize::try_from(active).unwrap_or(usize::MAX) >= max_active {
            txn.rollback().await.map_err(unexpected)?;
            return Err(ApiKeyError::TooManyKeys { max: max_active });
        }
        api_keys::Entity::insert(api_keys::ActiveModel {
            id: Set(key.id),
            user_id: Set(key.user_id),
            name: Set(key.name.clone()),
            prefix: Set(key.prefix.clone()),
            key_hash: Set(hash.as_str().to_owned()),
            created_at: Set(to_db_time(key.created_at)),
            last_used_at: Set(key.last_used_at.map(to_db_time)),
            revoked_at: Set(key.revoked_at.map(to_db_time)),
        })
        .exec(&txn)
        .await
        .map_err(unexpected)?;
        append(&txn, std::slice::from_ref(event))
            .await
            .map_err(unexpected)?;
        txn.commit().await.map_err(unexpected)?;
        // Wake the outbox relay: the event is committed.
        notify_committed();
        Ok(())
    }

    async fn list(&self, user_id: Uuid) -> Result<Vec<ApiKey>, ApiKeyError> {
        Ok(api_keys::Entity::find()
            .filter(api_keys::Column::UserId.eq(user_id))
            .order_by_desc(api_keys::Column::CreatedAt)
            .order_by_desc(api_keys::Column::Id)
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(to_domain)
            .collect())
    }

    async fn find(&self, user_id: Uuid, id: Uuid) -> Result<Option<ApiKey>, ApiKeyError> {
        Ok(api_keys::Entity::find_by_id(id)
            .filter(api_keys::Column::UserId.eq(user_id))
            .one(&self.db)
            .await
            .map_err(unexpected)?
            .map(to_domain))
    }

    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKey>, ApiKeyError> {
        Ok(api_keys::Entity::find()
            .filter(api_keys::Column::KeyHash.eq(hash.as_str()))
            .one(&self.db)
            .await
            .map_err(unexpected)?
            .map(to_domain))
    }

    async fn revoke(
        &self,
        user_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
        event: &EventEnvelope,
    ) -> Result<bool, ApiKeyError> {
        let at = to_db_time(at);
        apply_with_events(&self.db, std::slice::from_ref(event), |txn| {
            Box::pin(async move {
                let result = api_keys::Entity::update_many()
                    .col_expr(api_keys::Column::RevokedAt, Expr::value(Some(at)))
                    .filter(api_keys::Column::Id.eq(id))
                    .filter(api_keys::Column::UserId.eq(user_id))
                    .filter(api_keys::Column::RevokedAt.is_null())
                    .exec(txn)
                    .await?;
                Ok(result.rows_affected)
            })
        })
        .await
        .map_err(unexpected)
    }

    async fn touch(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        unless_since: DateTime<Utc>,
    ) -> Result<(), ApiKeyError> {
        api_keys::Entity::update_many()
            .col_expr(
                api_keys::Column::LastUsedAt,
                Expr::value(Some(to_db_time(at))),
            )
            .filter(api_keys::Column::Id.eq(id))
            .filter(api_keys::Column::RevokedAt.is_null())
            .filter(
                Condition::any()
                    .add(api_keys::Column::LastUsedAt.is_null())
                    .add(api_keys::Column::LastUsedAt.lt(to_db_time(unless_since))),
            )
            .exec(&self.db)
            .await
            .map_err(unexpected)?;
        Ok(())
    }
}
