//! `GET /api/v1/budget`: this month's token budget (tier, limits, used,
//! reserved by running sessions, reset time).

use axum::Json;
use axum::extract::State;
use domain::budgets::TokenBudget;

use super::ApiError;
use super::extract::AuthUser;
use crate::state::AppState;

pub async fn show(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<TokenBudget>, ApiError> {
    Ok(Json(state.services.budgets.current(user).await?))
}
