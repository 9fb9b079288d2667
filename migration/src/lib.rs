//! EXITON's database schema as ordered sea-orm migrations, for SQLite and
//! PostgreSQL alike.
//!
//! Tables are built with the sea-query schema builder so one definition
//! serves both backends; raw SQL appears only where a backend needs a
//! feature the builder cannot express (full-text search, append-only
//! triggers). Migrations are grouped by bounded context and listed in
//! dependency order: later ones reference tables of earlier ones, and `down`
//! runs in reverse.

pub use sea_orm_migration;
use sea_orm_migration::prelude::*;

mod m20261125_000001_create_users_and_token_budgets;
mod m20261125_000002_create_projects_and_tasks;
mod m20261125_000003_create_ai_sessions_and_agent_invocations;
mod m20261125_000004_create_human_reviews_and_intervention_points;
mod m20261125_000005_create_events;
mod m20261125_000006_create_api_keys;
mod m20261125_000007_create_tower_sessions;
mod m20261125_000008_create_token_reservations;
mod m20261125_000009_create_model_version_log;
mod m20261125_000010_create_review_requests;
mod m20261125_000011_add_human_review_output_hash;
mod m20261125_000012_create_event_bus;
mod m20261207_000013_index_paged_lists;
mod m20261207_000014_session_cancelled;
mod m20261207_000015_reactions;
mod m20261207_000016_task_progress;
mod m20261207_000017_project_repositories;

/// Applies (or rolls back) every EXITON migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_users_and_token_budgets::Migration),
            Box::new(m20261125_000002_create_projects_and_tasks::Migration),
            Box::new(m20261125_000003_create_ai_sessions_and_agent_invocations::Migration),
            Box::new(m20261125_000004_create_human_reviews_and_intervention_points::Migration),
            Box::new(m20261125_000005_create_events::Migration),
            Box::new(m20261125_000006_create_api_keys::Migration),
            Box::new(m20261125_000007_create_tower_sessions::Migration),
            Box::new(m20261125_000008_create_token_reservations::Migration),
            Box::new(m20261125_000009_create_model_version_log::Migration),
            Box::new(m20261125_000010_create_review_requests::Migration),
            Box::new(m20261125_000011_add_human_review_output_hash::Migration),
            Box::new(m20261125_000012_create_event_bus::Migration),
            Box::new(m20261207_000013_index_paged_lists::Migration),
            Box::new(m20261207_000014_session_cancelled::Migration),
            Box::new(m20261207_000015_reactions::Migration),
            Box::new(m20261207_000016_task_progress::Migration),
            Box::new(m20261207_000017_project_repositories::Migration),
        ]
    }
}
