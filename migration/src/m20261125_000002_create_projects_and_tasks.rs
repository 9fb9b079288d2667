//! Projects, their tasks, and full-text search over task titles/descriptions.
//!
//! Full-text search is backend specific, so it is the one place in this
//! migration that uses raw SQL:
//! * PostgreSQL: a GIN expression index on `to_tsvector('english', ...)`;
//!   queries must repeat the exact same expression to hit the index.
//! * SQLite: an FTS5 external-content table `tasks_fts` keyed by `tasks.rowid`
//!   and kept in sync by triggers (the recipe from the FTS5 docs). Query with
//!   `tasks JOIN tasks_fts ON tasks.rowid = tasks_fts.rowid WHERE tasks_fts MATCH ?`.
//!   `tasks` keeps a UUID primary key, so its rowid is implicit; VACUUM may
//!   renumber such rowids, after which the index must be rebuilt with
//!   `INSERT INTO tasks_fts(tasks_fts) VALUES('rebuild')`.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

use crate::m20261125_000001_create_users_and_token_budgets::Users;

/// PostgreSQL: expression index; the expression is the search contract.
const PG_CREATE_SEARCH_INDEX: &str = "CREATE INDEX idx_tasks_search ON tasks \
     USING gin(to_tsvector('english', title || ' ' || COALESCE(description, '')))";
const PG_DROP_SEARCH_INDEX: &str = "DROP INDEX IF EXISTS idx_tasks_search";

/// SQLite: FTS5 table plus the three sync triggers. External content means
/// the text is stored once (in `tasks`); the triggers feed the index, and the
/// 'delete' command needs the *old* values to remove the right tokens.
const SQLITE_UP: [&str; 4] = [
    "CREATE VIRTUAL TABLE tasks_fts USING fts5(\
         title, description, \
         content='tasks', content_rowid='rowid', \
         tokenize='unicode61 remove_diacritics 2', prefix='2 3')",
    "CREATE TRIGGER tasks_fts_after_insert AFTER INSERT ON tasks BEGIN \
         INSERT INTO tasks_fts(rowid, title, description) \
         VALUES (new.rowid, new.title, new.description); \
     END",
    "CREATE TRIGGER tasks_fts_after_delete AFTER DELETE ON tasks BEGIN \
         INSERT INTO tasks_fts(tasks_fts, rowid, title, description) \
         VALUES ('delete', old.rowid, old.title, old.description); \
     END",
    // Restricted to the indexed columns so frequent status/metadata updates
    // do not rewrite the full-text index.
    "CREATE TRIGGER tasks_fts_after_update AFTER UPDATE OF title, description ON tasks BEGIN \
         INSERT INTO tasks_fts(tasks_fts, rowid, title, description) \
         VALUES ('delete', old.rowid, old.title, old.description); \
         INSERT INTO tasks_fts(rowid, title, description) \
         VALUES (new.rowid, new.title, new.description); \
     END",
];
const SQLITE_DOWN: [&str; 4] = [
    "DROP TRIGGER IF EXISTS tasks_fts_after_update",
    "DROP TRIGGER IF EXISTS tasks_fts_after_delete",
    "DROP TRIGGER IF EXISTS tasks_fts_after_insert",
    "DROP TABLE IF EXISTS tasks_fts",
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Projects::Table)
                    .col(pk_uuid(Projects::Id))
                    .col(uuid(Projects::OwnerId))
                    .col(string_len(Projects::Name, 255))
                    .col(text_null(Projects::Description))
                    .col(string_len(Projects::Status, 20).default("active").check(
                        Expr::col(Projects::Status).is_in([
                            "active",
                            "paused",
                            "completed",
                            "archived",
                        ]),
                    ))
                    .col(json_binary(Projects::Metadata).default("{}"))
                    .col(timestamp_with_time_zone(Projects::CreatedAt))
                    .col(timestamp_with_time_zone(Projects::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_projects_owner")
                            .from(Projects::Table, Projects::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
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
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(pk_uuid(Tasks::Id))
                    .col(uuid(Tasks::ProjectId))
                    .col(string_len(Tasks::Title, 500))
                    .col(text_null(Tasks::Description))
                    .col(string_len(Tasks::Status, 20).default("todo").check(
                        Expr::col(Tasks::Status).is_in(["todo", "in_progress", "review", "done"]),
                    ))
                    .col(string_len_null(Tasks::AssignedAiAgent, 20))
                    .col(boolean(Tasks::AiGenerated).default(false))
                    .col(
                        double_null(Tasks::ConfidenceScore).check(
                            Expr::col(Tasks::ConfidenceScore).is_null().or(Expr::col(
                                Tasks::ConfidenceScore,
                            )
                            .gte(0)
                            .and(Expr::col(Tasks::ConfidenceScore).lte(1))),
                        ),
                    )
                    .col(boolean(Tasks::HumanReviewRequired).default(false))
                    .col(
                        string_len(Tasks::CreatedBy, 10)
                            .check(Expr::col(Tasks::CreatedBy).is_in(["human", "ai"])),
                    )
                    .col(json_binary(Tasks::Metadata).default("{}"))
                    .col(timestamp_with_time_zone(Tasks::CreatedAt))
                    .col(timestamp_with_time_zone(Tasks::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tasks_project")
                            .from(Tasks::Table, Tasks::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
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
            .create_index(
                Index::create()
                    .name("idx_tasks_status")
                    .table(Tasks::Table)
                    .col(Tasks::Status)
                    .to_owned(),
            )
            .await?;

        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(PG_CREATE_SEARCH_INDEX).await?;
            }
            DbBackend::Sqlite => {
                for sql in SQLITE_UP {
                    db.execute_unprepared(sql).await?;
                }
            }
            // Not a supported target; tasks still work, just without search.
            DbBackend::MySql => {}
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(PG_DROP_SEARCH_INDEX).await?;
            }
            DbBackend::Sqlite => {
                // Triggers reference tasks_fts; drop them before the tables.
                for sql in SQLITE_DOWN {
                    db.execute_unprepared(sql).await?;
                }
            }
            DbBackend::MySql => {}
        }
        manager
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Projects::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Projects {
    Table,
    Id,
    OwnerId,
    Name,
    Description,
    Status,
    Metadata,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Tasks {
    Table,
    Id,
    ProjectId,
    Title,
    Description,
    Status,
    AssignedAiAgent,
    AiGenerated,
    ConfidenceScore,
    HumanReviewRequired,
    CreatedBy,
    Metadata,
    CreatedAt,
    UpdatedAt,
}
