//! Indexes for the paged lists (issue 16): `GET /projects` walks a user's
//! projects by `(updated_at DESC, id)` and `GET /projects/{id}/tasks` a
//! project's tasks by `(created_at, id)`. With these, each page is a range
//! read on the index instead of a sort of every row the owner or project
//! has. They replace the single-column indexes they start with.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_projects_owner_updated")
                    .table(Projects::Table)
                    .col(Projects::OwnerId)
                    .col(Projects::UpdatedAt)
                    .col(Projects::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_project_created")
                    .table(Tasks::Table)
                    .col(Tasks::ProjectId)
                    .col(Tasks::CreatedAt)
                    .col(Tasks::Id)
                    .to_owned(),
            )
            .await?;
        // Their leading column serves every lookup the old ones did.
        manager
            .drop_index(
                Index::drop()
                    .name("idx_projects_owner")
                    .table(Projects::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_tasks_project")
                    .table(Tasks::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_projects_owner")
                    .table(Projects::Table)
                    .col(Projects::OwnerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_project")
                    .table(Tasks::Table)
                    .col(Tasks::ProjectId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_projects_owner_updated")
                    .table(Projects::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_tasks_project_created")
                    .table(Tasks::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    OwnerId,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    ProjectId,
    CreatedAt,
}
