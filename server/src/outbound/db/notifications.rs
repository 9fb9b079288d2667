//! The notification inbox over sea-orm: one row per (user, event), pages
//! newest first on `(created_at, id)`, always scoped to the user.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::notifications::{
    Notification, NotificationError, NotificationKind, NotificationRepository,
};
use domain::pagination::{Page, PageKey, PageRequest};
use entity::notifications;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, Order, PaginatorTrait, QueryFilter, Set,
    TryInsertResult,
};
use uuid::Uuid;

use super::{CorruptColumn, Keyset, boxed, from_db_time, to_db_time};

#[derive(Debug, Clone)]
pub struct SeaOrmNotificationRepository {
    db: DatabaseConnection,
}

impl SeaOrmNotificationRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn unexpected(e: DbErr) -> NotificationError {
    NotificationError::Unexpected(boxed(e))
}

fn to_domain(m: notifications::Model) -> Result<Notification, NotificationError> {
    let kind = NotificationKind::parse(&m.kind).ok_or_else(|| {
        NotificationError::Unexpected(boxed(CorruptColumn {
            column: "notifications.kind",
            value: m.kind.clone(),
        }))
    })?;
    Ok(Notification {
        id: m.id,
        user_id: m.user_id,
        event_id: m.event_id,
        kind,
        title: m.title,
        body: m.body,
        link: m.link,
        session_id: m.session_id,
        review_id: m.review_id,
        created_at: from_db_time(m.created_at),
        read_at: m.read_at.map(from_db_time),
    })
}

#[async_trait]
impl NotificationRepository for SeaOrmNotificationRepository {
    async fn add(&self, n: &Notification) -> Result<bool, NotificationError> {
        let row = notifications::ActiveModel {
            id: Set(n.id),
            user_id: Set(n.user_id),
            event_id: Set(n.event_id),
            kind: Set(n.kind.as_str().to_owned()),
            title: Set(n.title.clone()),
            body: Set(n.body.clone()),
            link: Set(n.link.clone()),
            session_id: Set(n.session_id),
            review_id: Set(n.review_id),
            created_at: Set(to_db_time(n.created_at)),
            read_at: Set(n.read_at.map(to_db_time)),
        };
        // The unique (user, event) index turns a second delivery of the same
        // event into a no-op, even when two consumers race on it.
        let result = notifications::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    notifications::Column::UserId,
                    notifications::Column::EventId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .do_nothing()
            .exec(&self.db)
            .await
            .map_err(unexpected)?;
        Ok(matches!(result, TryInsertResult::Inserted(_)))
    }

    async fn page(
        &self,
        user_id: Uuid,
        unread_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Notification>, NotificationError> {
        let mut select =
            notifications::Entity::find().filter(notifications::Column::UserId.eq(user_id));
        if unread_only {
            select = select.filter(notifications::Column::ReadAt.is_null());
        }
        let rows = Keyset {
            at: (notifications::Column::CreatedAt, Order::Desc),
            id: (notifications::Column::Id, Order::Desc),
        }
        .page(select, page)
        .all(&self.db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(to_domain)
        .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(rows, page, |n| {
            PageKey::new(n.created_at, n.id)
        }))
    }

    async fn mark_read(
        &self,
        user_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Notification, NotificationError> {
        // Only an unread one is touched, so a second mark keeps the first time.
        notifications::Entity::update_many()
            .col_expr(notifications::Column::ReadAt, Expr::value(to_db_time(at)))
            .filter(notifications::Column::Id.eq(id))
            .filter(notifications::Column::UserId.eq(user_id))
            .filter(notifications::Column::ReadAt.is_null())
            .exec(&self.db)
            .await
            .map_err(unexpected)?;
        let row = notifications::Entity::find_by_id(id)
            .filter(notifications::Column::UserId.eq(user_id))
            .one(&self.db)
            .await
            .map_err(unexpected)?
            .ok_or(NotificationError::NotFound)?;
        to_domain(row)
    }

    async fn mark_all_read(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<u64, NotificationError> {
        let result = notifications::Entity::update_many()
            .col_expr(notifications::Column::ReadAt, Expr::value(to_db_time(at)))
            .filter(notifications::Column::UserId.eq(user_id))
            .filter(notifications::Column::ReadAt.is_null())
            .exec(&self.db)
            .await
            .map_err(unexpected)?;
        Ok(result.rows_affected)
    }

    async fn unread_count(&self, user_id: Uuid) -> Result<u64, NotificationError> {
        notifications::Entity::find()
            .filter(notifications::Column::UserId.eq(user_id))
            .filter(notifications::Column::ReadAt.is_null())
            .count(&self.db)
            .await
            .map_err(unexpected)
    }
}
