//! `/api/health`: is the process up and does the database answer?

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use sea_orm::ConnectionTrait as _;

use crate::outbound::db;
use crate::state::AppState;

pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let backend = match state.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "postgres",
        sea_orm::DbBackend::Sqlite => "sqlite",
        sea_orm::DbBackend::MySql => "mysql",
    };
    match db::health(&state.db).await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": {"status": "ok", "backend": backend}})),
        ),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({"status": "degraded", "database": {"status": "unavailable", "backend": backend}}),
                ),
            )
        }
    }
}
