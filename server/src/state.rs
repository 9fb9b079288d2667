//! What every handler can reach: the use cases, the database handle (for
//! health checks) and the live hub (for WebSockets).

use std::sync::Arc;

use domain::Services;
use sea_orm::DatabaseConnection;

use crate::inbound::live::LiveHub;

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub db: DatabaseConnection,
    pub live: Arc<LiveHub>,
}
