//! CLI entry point for the schema migrations (`up`, `down`, `fresh`, `status`, ...).
//!
//! Reads `DATABASE_URL` like any sea-orm-migration CLI; the server applies the
//! same `Migrator` on startup, so this binary is for operators and local work.

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli(migration::Migrator).await;
}
