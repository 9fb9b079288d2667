//! `ProjectRepository` over sea-orm. Every write and its events share one
//! transaction; every read is scoped to the owner.

use async_trait::async_trait;
use domain::events::EventEnvelope;
use domain::pagination::{Page, PageKey, PageRequest};
use domain::projects::{Project, ProjectError, ProjectRepository, ProjectStatus};
use entity::projects;
use sea_orm::{
    ActiveValue::Unchanged, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, Order,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::events::apply_with_events;
use super::{CorruptColumn, Keyset, boxed, from_db_time, to_db_time};

#[derive(Debug, Clone)]
pub struct SeaOrmProjectRepository {
    db: DatabaseConnection,
}

impl SeaOrmProjectRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn unexpected(e: DbErr) -> ProjectError {
    ProjectError::Unexpected(boxed(e))
}

fn to_domain(m: projects::Model) -> Result<Project, ProjectError> {
    let status = ProjectStatus::parse(&m.status).map_err(|_| {
        ProjectError::Unexpected(boxed(CorruptColumn {
            column: "projects.status",
            value: m.status.clone(),
        }))
    })?;
    Ok(Project {
        id: m.id,
        owner_id: m.owner_id,
        name: m.name,
        description: m.description.unwrap_or_default(),
        status,
        created_at: from_db_time(m.created_at),
        updated_at: from_db_time(m.updated_at),
    })
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

#[async_trait]
impl ProjectRepository for SeaOrmProjectRepository {
    async fn insert(&self, project: &Project, event: &EventEnvelope) -> Result<(), ProjectError> {
        let row = projects::ActiveModel {
            id: Set(project.id),
            owner_id: Set(project.owner_id),
            name: Set(project.name.clone()),
            description: Set(non_empty(&project.description)),
            status: Set(project.status.as_str().to_owned()),
            metadata: Set(serde_json::json!({})),
            created_at: Set(to_db_time(project.created_at)),
            updated_at: Set(to_db_time(project.updated_at)),
        };
        apply_with_events(&self.db, std::slice::from_ref(event), |txn| {
            Box::pin(async move { projects::Entity::insert(row).exec(txn).await.map(|_| 1) })
        })
        .await
        .map_err(unexpected)
        .map(|_| ())
    }

    async fn update(
        &self,
        project: &Project,
        events: &[EventEnvelope],
    ) -> Result<(), ProjectError> {
        let changes = projects::ActiveModel {
            id: Unchanged(project.id),
            name: Set(project.name.clone()),
            description: Set(non_empty(&project.description)),
            status: Set(project.status.as_str().to_owned()),
            updated_at: Set(to_db_time(project.updated_at)),
            ..Default::default()
        };
        let (id, owner) = (project.id, project.owner_id);
        let applied = apply_with_events(&self.db, events, |txn| {
            Box::pin(async move {
                let result = projects::Entity::update_many()
                    .set(changes)
                    .filter(projects::Column::Id.eq(id))
                    .filter(projects::Column::OwnerId.eq(owner))
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
            Err(ProjectError::NotFound)
        }
    }

    async fn delete(
        &self,
        owner_id: Uuid,
        id: Uuid,
        event: &EventEnvelope,
    ) -> Result<(), ProjectError> {
        let applied = apply_with_events(&self.db, std::slice::from_ref(event), |txn| {
            Box::pin(async move {
                let result = projects::Entity::delete_many()
                    .filter(projects::Column::Id.eq(id))
                    .filter(projects::Column::OwnerId.eq(owner_id))
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
            Err(ProjectError::NotFound)
        }
    }

    async fn find(&self, owner_id: Uuid, id: Uuid) -> Result<Option<Project>, ProjectError> {
        projects::Entity::find_by_id(id)
            .filter(projects::Column::OwnerId.eq(owner_id))
            .one(&self.db)
            .await
            .map_err(unexpected)?
            .map(to_domain)
            .transpose()
    }

    async fn list(&self, owner_id: Uuid) -> Result<Vec<Project>, ProjectError> {
        projects::Entity::find()
            .filter(projects::Column::OwnerId.eq(owner_id))
            .order_by_desc(projects::Column::UpdatedAt)
            .order_by_asc(projects::Column::Id)
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn page(
        &self,
        owner_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<Project>, ProjectError> {
        let rows = Keyset {
            // `list`'s order: the most recently updated first.
            at: (projects::Column::UpdatedAt, Order::Desc),
            id: (projects::Column::Id, Order::Asc),
        }
        .page(
            projects::Entity::find().filter(projects::Column::OwnerId.eq(owner_id)),
            page,
        )
        .all(&self.db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(to_domain)
        .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(rows, page, |p| {
            PageKey::new(p.updated_at, p.id)
        }))
    }

    async fn count(&self, owner_id: Uuid) -> Result<u64, ProjectError> {
        projects::Entity::find()
            .filter(projects::Column::OwnerId.eq(owner_id))
            .count(&self.db)
            .await
            .map_err(unexpected)
    }
}
