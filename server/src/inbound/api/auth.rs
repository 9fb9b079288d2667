//! `/api/v1/auth/*`: sign up, sign in, sign out, who am I.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use domain::accounts::{SignUp, User};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::ApiError;
use super::extract::{ApiJson, AuthUser, ClientAddr};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignUpBody {
    email: String,
    password: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
}

/// The user as the API shows it (spec §2.2 field names).
#[derive(Serialize)]
pub struct UserDto {
    id: uuid::Uuid,
    email: String,
    name: Option<String>,
    subscription_tier: domain::accounts::SubscriptionTier,
    ai_preferences: domain::accounts::AiPreferences,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            subscription_tier: u.subscription_tier,
            ai_preferences: u.ai_preferences,
            created_at: u.created_at,
        }
    }
}

fn session_error(e: tower_sessions::session::Error) -> ApiError {
    ApiError::internal(&e)
}

pub async fn signup(
    State(state): State<AppState>,
    session: Session,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<SignUpBody>,
) -> Result<impl IntoResponse, ApiError> {
    let user = state
        .services
        .accounts
        .sign_up(
            SignUp {
                email: body.email,
                password: body.password,
                name: body.name,
            },
            &client,
        )
        .await?;
    app::session::begin(&session, user.id)
        .await
        .map_err(session_error)?;
    Ok((StatusCode::CREATED, Json(UserDto::from(user))))
}

pub async fn login(
    State(state): State<AppState>,
    session: Session,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Json<UserDto>, ApiError> {
    let user = state
        .services
        .accounts
        .sign_in(&body.email, &body.password, &client)
        .await?;
    app::session::begin(&session, user.id)
        .await
        .map_err(session_error)?;
    Ok(Json(user.into()))
}

pub async fn logout(session: Session) -> Result<StatusCode, ApiError> {
    app::session::end(&session).await.map_err(session_error)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(
    State(state): State<AppState>,
    AuthUser(user_id): AuthUser,
) -> Result<Json<UserDto>, ApiError> {
    Ok(Json(state.services.accounts.get(user_id).await?.into()))
}
