//! `TaskRepository` over sea-orm, with full-text search through each
//! backend's own engine: FTS5 on SQLite, `to_tsvector` (GIN-indexed) on
//! PostgreSQL. Both match every term as a word prefix, so the board's search
//! box behaves the same on either.

use async_trait::async_trait;
use domain::events::EventEnvelope;
use domain::pagination::{Page, PageKey, PageRequest};
use domain::tasks::{
    CreatedBy, SearchTerms, Task, TaskError, TaskQuery, TaskRepository, TaskStatus,
};
use entity::{projects, tasks};
use sea_orm::ConnectionTrait as _;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Unchanged, ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Order,
    PaginatorTrait, QueryFilter, QueryOrder, Select, Set, SqlErr,
};
use uuid::Uuid;

use super::events::apply_with_events;
use super::{CorruptColumn, Keyset, boxed, from_db_time, to_db_time};

#[derive(Debug, Clone)]
pub struct SeaOrmTaskRepository {
    db: DatabaseConnection,
}

impl SeaOrmTaskRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn unexpected(e: DbErr) -> TaskError {
    TaskError::Unexpected(boxed(e))
}

fn corrupt(column: &'static str, value: &str) -> TaskError {
    TaskError::Unexpected(boxed(CorruptColumn {
        column,
        value: value.to_owned(),
    }))
}

fn to_domain(m: tasks::Model) -> Result<Task, TaskError> {
    let status = TaskStatus::parse(&m.status).map_err(|_| corrupt("tasks.status", &m.status))?;
    let created_by = CreatedBy::parse(&m.created_by)
        .ok_or_else(|| corrupt("tasks.created_by", &m.created_by))?;
    Ok(Task {
        id: m.id,
        project_id: m.project_id,
        title: m.title,
        description: m.description.unwrap_or_default(),
        status,
        assigned_ai_agent: m.assigned_ai_agent,
        ai_generated: m.ai_generated,
        confidence_score: m.confidence_score,
        human_review_required: m.human_review_required,
        created_by,
        created_at: from_db_time(m.created_at),
        updated_at: from_db_time(m.updated_at),
        human_moved_at: m.human_moved_at.map(from_db_time),
        progressed_at: m.progressed_at.map(from_db_time),
    })
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// The backend-specific full-text condition. Terms are alphanumeric only
/// (see `SearchTerms`), and are passed as a bound value, never spliced.
fn search_condition(backend: DbBackend, terms: &SearchTerms) -> sea_orm::sea_query::SimpleExpr {
    match backend {
        DbBackend::Postgres => {
            let query = terms
                .terms()
                .iter()
                .map(|t| format!("{t}:*"))
                .collect::<Vec<_>>()
                .join(" & ");
            Expr::cust_with_values(
                "to_tsvector('english', \"tasks\".\"title\" || ' ' || COALESCE(\"tasks\".\"description\", '')) @@ to_tsquery('english', $1)",
                [query],
            )
        }
        _ => {
            let query = terms
                .terms()
                .iter()
                .map(|t| format!("\"{t}\"*"))
                .collect::<Vec<_>>()
                .join(" ");
            Expr::cust_with_values(
                "\"tasks\".\"rowid\" IN (SELECT rowid FROM tasks_fts WHERE tasks_fts MATCH ?)",
                [query],
            )
        }
    }
}

impl SeaOrmTaskRepository {
    /// The project's tasks matching `query`: what `list`, `page` and
    /// `count` share, so a page and the total always agree on the filter.
    fn matching(&self, project_id: Uuid, query: &TaskQuery) -> Select<tasks::Entity> {
        let mut select = tasks::Entity::find().filter(tasks::Column::ProjectId.eq(project_id));
        if let Some(status) = query.status {
            select = select.filter(tasks::Column::Status.eq(status.as_str()));
        }
        if let Some(terms) = &query.search {
            select = select.filter(search_condition(self.db.get_database_backend(), terms));
        }
        select
    }
}

#[async_trait]
impl TaskRepository for SeaOrmTaskRepository {
    async fn insert(&self, task: &Task, event: &EventEnvelope) -> Result<(), TaskError> {
        let row = tasks::ActiveModel {
            id: Set(task.id),
            project_id: Set(task.project_id),
            title: Set(task.title.clone()),
            description: Set(non_empty(&task.description)),
            status: Set(task.status.as_str().to_owned()),
            assigned_ai_agent: Set(task.assigned_ai_agent.clone()),
            ai_generated: Set(task.ai_generated),
            confidence_score: Set(task.confidence_score),
            human_review_required: Set(task.human_review_required),
            created_by: Set(task.created_by.as_str().to_owned()),
            metadata: Set(serde_json::json!({})),
            created_at: Set(to_db_time(task.created_at)),
            updated_at: Set(to_db_time(task.updated_at)),
            human_moved_at: Set(task.human_moved_at.map(to_db_time)),
            progressed_at: Set(task.progressed_at.map(to_db_time)),
        };
        apply_with_events(&self.db, std::slice::from_ref(event), |txn| {
            Box::pin(async move { tasks::Entity::insert(row).exec(txn).await.map(|_| 1) })
        })
        .await
        .map(|_| ())
        .map_err(|e| match e.sql_err() {
            // The project was deleted between the ownership check and the insert.
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => TaskError::ProjectNotFound,
            _ => unexpected(e),
        })
    }

    async fn update(&self, task: &Task, events: &[EventEnvelope]) -> Result<(), TaskError> {
        let changes = tasks::ActiveModel {
            id: Unchanged(task.id),
            title: Set(task.title.clone()),
            description: Set(non_empty(&task.description)),
            status: Set(task.status.as_str().to_owned()),
            updated_at: Set(to_db_time(task.updated_at)),
            human_moved_at: Set(task.human_moved_at.map(to_db_time)),
            ..Default::default()
        };
        let id = task.id;
        let applied = apply_with_events(&self.db, events, |txn| {
            Box::pin(async move {
                let result = tasks::Entity::update_many()
                    .set(changes)
                    .filter(tasks::Column::Id.eq(id))
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
            Err(TaskError::NotFound)
        }
    }

    async fn update_if_unchanged(
        &self,
        before: &Task,
        after: &Task,
        events: &[EventEnvelope],
    ) -> Result<bool, TaskError> {
        let changes = tasks::ActiveModel {
            id: Unchanged(after.id),
            status: Set(after.status.as_str().to_owned()),
            assigned_ai_agent: Set(after.assigned_ai_agent.clone()),
            ai_generated: Set(after.ai_generated),
            confidence_score: Set(after.confidence_score),
            human_review_required: Set(after.human_review_required),
            progressed_at: Set(after.progressed_at.map(to_db_time)),
            updated_at: Set(to_db_time(after.updated_at)),
            ..Default::default()
        };
        // `before` was read from this table, so its `updated_at` is the
        // stored value exactly: equal unless someone wrote since.
        let (id, seen) = (before.id, to_db_time(before.updated_at));
        apply_with_events(&self.db, events, |txn| {
            Box::pin(async move {
                let result = tasks::Entity::update_many()
                    .set(changes)
                    .filter(tasks::Column::Id.eq(id))
                    .filter(tasks::Column::UpdatedAt.eq(seen))
                    .exec(txn)
                    .await?;
                Ok(result.rows_affected)
            })
        })
        .await
        .map_err(unexpected)
    }

    async fn delete(&self, task: &Task, event: &EventEnvelope) -> Result<(), TaskError> {
        let id = task.id;
        let applied = apply_with_events(&self.db, std::slice::from_ref(event), |txn| {
            Box::pin(async move {
                Ok(tasks::Entity::delete_by_id(id)
                    .exec(txn)
                    .await?
                    .rows_affected)
            })
        })
        .await
        .map_err(unexpected)?;
        if applied {
            Ok(())
        } else {
            Err(TaskError::NotFound)
        }
    }

    async fn find(&self, owner_id: Uuid, id: Uuid) -> Result<Option<Task>, TaskError> {
        let Some(task) = tasks::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(unexpected)?
        else {
            return Ok(None);
        };
        let owned = projects::Entity::find_by_id(task.project_id)
            .filter(projects::Column::OwnerId.eq(owner_id))
            .one(&self.db)
            .await
            .map_err(unexpected)?
            .is_some();
        if owned {
            to_domain(task).map(Some)
        } else {
            Ok(None)
        }
    }

    async fn list(&self, project_id: Uuid, query: &TaskQuery) -> Result<Vec<Task>, TaskError> {
        self.matching(project_id, query)
            .order_by_asc(tasks::Column::CreatedAt)
            .order_by_asc(tasks::Column::Id)
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn page(
        &self,
        project_id: Uuid,
        query: &TaskQuery,
        page: &PageRequest,
    ) -> Result<Page<Task>, TaskError> {
        let rows = Keyset {
            // `list`'s order: oldest first.
            at: (tasks::Column::CreatedAt, Order::Asc),
            id: (tasks::Column::Id, Order::Asc),
        }
        .page(self.matching(project_id, query), page)
        .all(&self.db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(to_domain)
        .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(rows, page, |t| {
            PageKey::new(t.created_at, t.id)
        }))
    }

    async fn count(&self, project_id: Uuid, query: &TaskQuery) -> Result<u64, TaskError> {
        self.matching(project_id, query)
            .count(&self.db)
            .await
            .map_err(unexpected)
    }
}
