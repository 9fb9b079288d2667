//! What every handler can reach: the use cases and the database handle (for
//! health checks).

use domain::Services;
use sea_orm::DatabaseConnection;

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub db: DatabaseConnection,
}
