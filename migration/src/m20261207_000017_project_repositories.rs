//! A project's git repository (issue 18): one row per linked project.
//! `path` is the repository's canonical directory on the server; `url` a
//! clone's origin without credentials; `credentials` the clone's user name
//! and secret sealed with the server's key (hex), never readable without
//! it. Deleting the project deletes the link, never the repository's files.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProjectRepositories::Table)
                    .col(uuid(ProjectRepositories::ProjectId).primary_key())
                    .col(string_len(ProjectRepositories::Kind, 10).check(
                        Expr::col(ProjectRepositories::Kind).is_in(["local", "clone", "new"]),
                    ))
                    .col(text(ProjectRepositories::Path))
                    .col(text_null(ProjectRepositories::Url))
                    .col(text_null(ProjectRepositories::Credentials))
                    .col(string_len(ProjectRepositories::BaseBranch, 200))
                    .col(string_len(ProjectRepositories::Push, 10).check(
                        Expr::col(ProjectRepositories::Push).is_in(["none", "base", "branch"]),
                    ))
                    .col(timestamp_with_time_zone(ProjectRepositories::CreatedAt))
                    .col(timestamp_with_time_zone(ProjectRepositories::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_project_repositories_project")
                            .from(ProjectRepositories::Table, ProjectRepositories::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ProjectRepositories::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ProjectRepositories {
    Table,
    ProjectId,
    Kind,
    Path,
    Url,
    Credentials,
    BaseBranch,
    Push,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
}
