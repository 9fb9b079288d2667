//! `/api/v1/ai/*`: the band's console — each configured provider's circuit
//! state, last error, time until retry and rate limits, a manual breaker
//! reset, and the locked model versions with their change history.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::band::{Binding, ModelLock, ProviderKind, ProviderStatus, binding};
use serde::Serialize;

use super::ApiError;
use super::extract::AuthUser;
use crate::outbound::db::{ModelLogEntry, model_history};
use crate::state::AppState;

#[derive(Serialize)]
pub struct Providers {
    providers: Vec<ProviderStatus>,
    available: Vec<ProviderKind>,
    /// Which provider plays each role for the caller, and why.
    bindings: Vec<Binding>,
}

pub async fn providers(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Providers>, ApiError> {
    let band = &state.services.band;
    let user = state.services.accounts.get(user).await?;
    let catalog = band.catalog();
    Ok(Json(Providers {
        providers: band.status(),
        bindings: binding::bindings(&user.ai_preferences, &catalog),
        available: catalog.available,
    }))
}

pub async fn reset(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.services.band.reset(&name) {
        return Err(ApiError::not_found("provider"));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct Models {
    current: ModelLock,
    history: Vec<ModelLogEntry>,
}

pub async fn models(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
) -> Result<Json<Models>, ApiError> {
    let history = model_history(&state.db, 50)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(Models {
        current: state.services.band.lock().clone(),
        history,
    }))
}
