//! A tower-sessions store in the application database, so sign-ins survive a
//! restart on SQLite and PostgreSQL alike. (The published sqlx stores pin a
//! different sqlx than sea-orm, and two SQLite links cannot coexist.)

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use entity::tower_sessions as rows;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set, SqlErr};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

use super::to_db_time;

/// Called with a session's id once it is deleted (sign-out).
pub type OnDelete = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Clone)]
pub struct SeaOrmSessionStore {
    db: DatabaseConnection,
    on_delete: Option<OnDelete>,
}

impl std::fmt::Debug for SeaOrmSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaOrmSessionStore").finish_non_exhaustive()
    }
}

impl SeaOrmSessionStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            on_delete: None,
        }
    }

    /// Tells `on_delete` of every session this store deletes, so what
    /// hangs on a session (live sockets) can end with it.
    #[must_use]
    pub fn on_delete(mut self, on_delete: OnDelete) -> Self {
        self.on_delete = Some(on_delete);
        self
    }
}

fn backend(e: DbErr) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn expiry(record: &Record) -> Result<chrono::DateTime<chrono::FixedOffset>, session_store::Error> {
    let secs = record.expiry_date.unix_timestamp();
    let t = DateTime::<Utc>::from_timestamp(secs, 0)
        .ok_or_else(|| session_store::Error::Encode(format!("expiry {secs} out of range")))?;
    Ok(to_db_time(t))
}

fn row(record: &Record) -> Result<rows::ActiveModel, session_store::Error> {
    let data =
        serde_json::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    Ok(rows::ActiveModel {
        id: Set(record.id.to_string()),
        data: Set(data),
        expiry_date: Set(expiry(record)?),
    })
}

#[async_trait]
impl SessionStore for SeaOrmSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh id collides with astronomically small probability; retry
        // rather than overwrite someone else's session.
        loop {
            match rows::Entity::insert(row(record)?).exec(&self.db).await {
                Ok(_) => return Ok(()),
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    record.id = Id::default();
                }
                Err(e) => return Err(backend(e)),
            }
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        rows::Entity::insert(row(record)?)
            .on_conflict(
                OnConflict::column(rows::Column::Id)
                    .update_columns([rows::Column::Data, rows::Column::ExpiryDate])
                    .to_owned(),
            )
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let now = to_db_time(Utc::now());
        let Some(found) = rows::Entity::find_by_id(session_id.to_string())
            .filter(rows::Column::ExpiryDate.gt(now))
            .one(&self.db)
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&found.data)
            .map(Some)
            .map_err(|e| session_store::Error::Decode(e.to_string()))
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        let id = session_id.to_string();
        rows::Entity::delete_by_id(id.clone())
            .exec(&self.db)
            .await
            .map_err(backend)?;
        if let Some(on_delete) = &self.on_delete {
            on_delete(&id);
        }
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for SeaOrmSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        rows::Entity::delete_many()
            .filter(rows::Column::ExpiryDate.lte(to_db_time(Utc::now())))
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(backend)
    }
}
