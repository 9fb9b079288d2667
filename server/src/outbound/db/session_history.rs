//! A project's or task's sessions for lists: newest first, keyset pages
//! on `(started_at, id)` descending, scoped to the owner.

use async_trait::async_trait;
use domain::pagination::{Page, PageKey, PageRequest};
use domain::sessions::{AiSession, SessionError, SessionHistory, SessionScope, SessionStatus};
use entity::ai_sessions as sessions;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, Order, QueryFilter};
use uuid::Uuid;

use super::Keyset;
use super::ai_sessions::{session_to_domain, unexpected};

/// Reads sessions for lists.
#[derive(Debug, Clone)]
pub struct SeaOrmSessionHistory {
    db: DatabaseConnection,
}

impl SeaOrmSessionHistory {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl SessionHistory for SeaOrmSessionHistory {
    async fn page(
        &self,
        owner_id: Uuid,
        scope: SessionScope,
        status: Option<SessionStatus>,
        page: &PageRequest,
    ) -> Result<Page<AiSession>, SessionError> {
        let mut select = sessions::Entity::find().filter(sessions::Column::UserId.eq(owner_id));
        select = match scope {
            SessionScope::Project(id) => select.filter(sessions::Column::ProjectId.eq(id)),
            SessionScope::Task(id) => select.filter(sessions::Column::TaskId.eq(id)),
        };
        if let Some(status) = status {
            select = select.filter(sessions::Column::Status.eq(status.as_str()));
        }
        let rows = Keyset {
            // Newest first.
            at: (sessions::Column::StartedAt, Order::Desc),
            id: (sessions::Column::Id, Order::Desc),
        }
        .page(select, page)
        .all(&self.db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(session_to_domain)
        .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(rows, page, |s| {
            PageKey::new(s.started_at, s.id)
        }))
    }
}
