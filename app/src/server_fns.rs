//! Server functions: the UI's calls into the domain. Each is a few lines —
//! authenticate, call a use case, return domain types (which serialise).

use domain::accounts::User;
use domain::projects::{Project, ProjectStatus};
use domain::tasks::{Task, TaskStatus};
use leptos::prelude::*;
use uuid::Uuid;

use crate::error::AppError;

mod repository;
mod reviews;
pub use repository::*;
pub use reviews::*;

#[cfg(feature = "ssr")]
mod ctx {
    use domain::Services;
    use leptos::prelude::use_context;
    use tower_sessions::Session;
    use uuid::Uuid;

    use crate::error::AppError;

    pub fn services() -> Result<Services, AppError> {
        use_context::<Services>().ok_or_else(|| {
            tracing::error!("Services missing from Leptos context");
            AppError::Internal
        })
    }

    pub async fn session() -> Result<Session, AppError> {
        leptos_axum::extract::<Session>().await.map_err(|e| {
            tracing::error!(error = %e, "session layer missing");
            AppError::Internal
        })
    }

    pub async fn user_id() -> Result<Uuid, AppError> {
        crate::session::current_user_id(&session().await?)
            .await
            .ok_or_else(|| fail(AppError::Unauthenticated))
    }

    /// Converts a domain error and gives the response a matching status, so
    /// a refused input is a 4xx, not a logged 500. Plain HTML form posts keep
    /// leptos' redirect back to the page instead.
    pub fn fail(e: impl Into<AppError>) -> AppError {
        let e: AppError = e.into();
        let status = match &e {
            AppError::Unauthenticated => http::StatusCode::UNAUTHORIZED,
            AppError::NotFound(_) => http::StatusCode::NOT_FOUND,
            AppError::Invalid { .. } => http::StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict(_) => http::StatusCode::CONFLICT,
            AppError::TooManyAttempts(_) => http::StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal | AppError::Transport(_) => return e,
        };
        let form_post = use_context::<http::request::Parts>()
            .and_then(|p| {
                p.headers
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .map(|a| a.contains("text/html"))
            })
            .unwrap_or(false);
        if !form_post && let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
        }
        e
    }

    pub fn store_failed(e: tower_sessions::session::Error) -> AppError {
        tracing::error!(error = %e, "session store failed");
        AppError::Internal
    }

    /// The caller, for throttling.
    pub fn client() -> domain::accounts::ClientKey {
        use_context::<http::request::Parts>()
            .map_or_else(domain::accounts::ClientKey::unknown, |p| {
                crate::session::client_key(&p)
            })
    }
}

/// The signed-in user, or `None`.
#[server]
pub async fn current_user() -> Result<Option<User>, AppError> {
    let Some(id) = crate::session::current_user_id(&ctx::session().await?).await else {
        return Ok(None);
    };
    match ctx::services()?.accounts.get(id).await {
        Ok(user) => Ok(Some(user)),
        Err(domain::accounts::AccountError::NotFound) => Ok(None),
        Err(e) => Err(ctx::fail(e)),
    }
}

/// How many of the user's notifications are unread: the bell's count when
/// a page loads (live events add to it afterwards).
#[server]
pub async fn unread_notifications() -> Result<u64, AppError> {
    let user = ctx::user_id().await?;
    ctx::services()?
        .inbox
        .unread_count(user)
        .await
        .map_err(ctx::fail)
}

/// Marks all of the user's notifications read (opening the bell does).
#[server]
pub async fn read_all_notifications() -> Result<u64, AppError> {
    let user = ctx::user_id().await?;
    ctx::services()?
        .inbox
        .mark_all_read(user)
        .await
        .map_err(ctx::fail)
}

#[server]
pub async fn sign_up(email: String, password: String, name: String) -> Result<(), AppError> {
    let user = ctx::services()?
        .accounts
        .sign_up(
            domain::accounts::SignUp {
                email,
                password,
                name,
            },
            &ctx::client(),
        )
        .await
        .map_err(ctx::fail)?;
    crate::session::begin(&ctx::session().await?, user.id)
        .await
        .map_err(ctx::store_failed)?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server]
pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    let user = ctx::services()?
        .accounts
        .sign_in(&email, &password, &ctx::client())
        .await
        .map_err(ctx::fail)?;
    crate::session::begin(&ctx::session().await?, user.id)
        .await
        .map_err(ctx::store_failed)?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server]
pub async fn sign_out() -> Result<(), AppError> {
    crate::session::end(&ctx::session().await?)
        .await
        .map_err(ctx::store_failed)?;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server]
pub async fn list_projects() -> Result<Vec<Project>, AppError> {
    ctx::services()?
        .projects
        .list(ctx::user_id().await?)
        .await
        .map_err(ctx::fail)
}

#[server]
pub async fn get_project(id: Uuid) -> Result<Project, AppError> {
    ctx::services()?
        .projects
        .get(ctx::user_id().await?, id)
        .await
        .map_err(ctx::fail)
}

#[server]
pub async fn create_project(
    name: String,
    description: Option<String>,
) -> Result<Project, AppError> {
    let input = domain::projects::NewProject { name, description };
    ctx::services()?
        .projects
        .create(ctx::user_id().await?, input)
        .await
        .map_err(ctx::fail)
}

#[server]
pub async fn update_project(
    id: Uuid,
    name: Option<String>,
    description: Option<String>,
    status: Option<ProjectStatus>,
) -> Result<Project, AppError> {
    let patch = domain::projects::ProjectPatch {
        name,
        description,
        status,
    };
    ctx::services()?
        .projects
        .update(ctx::user_id().await?, id, patch)
        .await
        .map_err(ctx::fail)
}

/// A task as the board shows it. Only what a card renders: the list is
/// sent twice on a page load (as HTML and as the hydration data), so every
/// field here costs its size 200 times over on a full board.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BoardTask {
    pub id: Uuid,
    pub title: String,
    /// Left out of the JSON when empty (many tasks have none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub status: TaskStatus,
    /// The band's marks, set by the task-progress reaction; each left out
    /// of the JSON while unset (most cards never had a run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_review: bool,
}

impl From<Task> for BoardTask {
    fn from(t: Task) -> Self {
        Self {
            id: t.id,
            title: t.title,
            description: t.description,
            status: t.status,
            agent: t.assigned_ai_agent,
            confidence: t.confidence_score,
            needs_review: t.human_review_required,
        }
    }
}

#[server]
pub async fn list_tasks(project_id: Uuid, q: Option<String>) -> Result<Vec<BoardTask>, AppError> {
    let query = domain::tasks::TaskQuery {
        search: q.as_deref().and_then(domain::tasks::SearchTerms::parse),
        status: None,
    };
    let tasks = ctx::services()?
        .tasks
        .list(ctx::user_id().await?, project_id, &query)
        .await
        .map_err(ctx::fail)?;
    Ok(tasks.into_iter().map(BoardTask::from).collect())
}

/// One band session as a task's card lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskSession {
    pub id: Uuid,
    pub status: domain::sessions::SessionStatus,
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// The task's latest band sessions (up to five), newest first.
#[server]
pub async fn task_sessions(task_id: Uuid) -> Result<Vec<TaskSession>, AppError> {
    use domain::pagination::PageRequest;
    use domain::sessions::SessionScope;
    let user = ctx::user_id().await?;
    let first = PageRequest::new(5, None).map_err(ctx::fail)?;
    let page = ctx::services()?
        .history
        .page(user, SessionScope::Task(task_id), None, &first)
        .await
        .map_err(ctx::fail)?;
    Ok(page
        .items
        .into_iter()
        .map(|s| TaskSession {
            id: s.id,
            status: s.status,
            started_at: s.started_at,
        })
        .collect())
}

#[server]
pub async fn create_task(
    project_id: Uuid,
    title: String,
    description: Option<String>,
) -> Result<Task, AppError> {
    let input = domain::tasks::NewTask {
        title,
        description,
        status: None,
    };
    ctx::services()?
        .tasks
        .create(ctx::user_id().await?, project_id, input)
        .await
        .map_err(ctx::fail)
}

#[server]
pub async fn update_task(
    id: Uuid,
    title: Option<String>,
    description: Option<String>,
    status: Option<TaskStatus>,
) -> Result<Task, AppError> {
    let patch = domain::tasks::TaskPatch {
        title,
        description,
        status,
    };
    ctx::services()?
        .tasks
        .update(ctx::user_id().await?, id, patch)
        .await
        .map_err(ctx::fail)
}

#[server]
pub async fn delete_task(id: Uuid) -> Result<(), AppError> {
    ctx::services()?
        .tasks
        .delete(ctx::user_id().await?, id)
        .await
        .map_err(ctx::fail)
}

/// The settings page's data: the user's AI preferences, which provider each
/// role resolves to and why, and what this server has configured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AiSettings {
    pub preferences: domain::accounts::AiPreferences,
    pub bindings: Vec<domain::band::Binding>,
    pub available: Vec<domain::band::ProviderKind>,
}

#[server]
pub async fn get_ai_settings() -> Result<AiSettings, AppError> {
    let services = ctx::services()?;
    let user = services
        .accounts
        .get(ctx::user_id().await?)
        .await
        .map_err(ctx::fail)?;
    let catalog = services.band.catalog();
    Ok(AiSettings {
        bindings: domain::band::binding::bindings(&user.ai_preferences, &catalog),
        available: catalog.available,
        preferences: user.ai_preferences,
    })
}

/// Saves the AI preferences. Providers arrive as their names (`""` = let
/// EXITON choose), as a plain form posts them.
#[server]
pub async fn save_ai_settings(
    coder: String,
    reviewer: String,
    designer: String,
    conductor: String,
    tone: String,
    confidence_threshold: String,
) -> Result<(), AppError> {
    use domain::band::ProviderKind;
    let provider = |field: &str, value: &str| -> Result<Option<ProviderKind>, AppError> {
        match value {
            "" => Ok(None),
            v => ProviderKind::parse(v).map(Some).ok_or_else(|| {
                ctx::fail(domain::InvalidField::new(
                    field,
                    "must be claude, gpt, gemini or local",
                ))
            }),
        }
    };
    let threshold: f64 = confidence_threshold.trim().parse().map_err(|_| {
        ctx::fail(domain::InvalidField::new(
            "confidence_threshold",
            "must be a number between 0 and 1",
        ))
    })?;
    let preferences = domain::accounts::AiPreferences {
        default_coder: provider("coder", &coder)?,
        default_reviewer: provider("reviewer", &reviewer)?,
        default_designer: provider("designer", &designer)?,
        default_conductor: provider("conductor", &conductor)?,
        tone: domain::accounts::Tone::parse(&tone).ok_or_else(|| {
            ctx::fail(domain::InvalidField::new(
                "tone",
                "must be formal, casual or bebop",
            ))
        })?,
        confidence_threshold: threshold,
    };
    ctx::services()?
        .accounts
        .update_preferences(ctx::user_id().await?, preferences)
        .await
        .map_err(ctx::fail)?;
    Ok(())
}

/// Every configured provider's health, for the console panel.
#[server]
pub async fn provider_status() -> Result<Vec<domain::band::ProviderStatus>, AppError> {
    ctx::user_id().await?;
    Ok(ctx::services()?.band.status())
}

/// Closes a provider's circuit by hand.
#[server]
pub async fn reset_provider(name: String) -> Result<(), AppError> {
    ctx::user_id().await?;
    if !ctx::services()?.band.reset(&name) {
        return Err(ctx::fail(AppError::NotFound("provider".into())));
    }
    Ok(())
}

/// The user's token budget for this month.
#[server]
pub async fn my_budget() -> Result<domain::budgets::TokenBudget, AppError> {
    ctx::services()?
        .budgets
        .current(ctx::user_id().await?)
        .await
        .map_err(ctx::fail)
}

/// A freshly created API key and its plaintext: the one time the UI sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CreatedApiKey {
    pub key: domain::api_keys::ApiKey,
    pub secret: String,
}

/// The user's API keys, newest first, revoked ones included.
#[server]
pub async fn list_api_keys() -> Result<Vec<domain::api_keys::ApiKey>, AppError> {
    ctx::services()?
        .api_keys
        .list(ctx::user_id().await?)
        .await
        .map_err(ctx::fail)
}

/// Creates an API key; the answer carries its plaintext, never shown again.
#[server]
pub async fn create_api_key(name: String) -> Result<CreatedApiKey, AppError> {
    let (key, secret) = ctx::services()?
        .api_keys
        .create(ctx::user_id().await?, &name)
        .await
        .map_err(ctx::fail)?;
    // The key must not linger in caches on the way back.
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.insert_header(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
    }
    Ok(CreatedApiKey { key, secret })
}

/// Revokes one of the user's API keys (revoking twice is fine).
#[server]
pub async fn revoke_api_key(id: Uuid) -> Result<(), AppError> {
    ctx::services()?
        .api_keys
        .revoke(ctx::user_id().await?, id)
        .await
        .map_err(ctx::fail)?;
    Ok(())
}

#[server]
pub async fn get_task(id: Uuid) -> Result<Task, AppError> {
    ctx::services()?
        .tasks
        .get(ctx::user_id().await?, id)
        .await
        .map_err(ctx::fail)
}

/// Starts the band on a task and opens its session page. The run goes on
/// in the background; the form's fields arrive as a plain form posts them
/// (constraints one per line).
#[server]
pub async fn run_band(
    task_id: Uuid,
    action: String,
    context: String,
    constraints: String,
) -> Result<Uuid, AppError> {
    use domain::sessions::{Intent, IntentAction};
    let action = IntentAction::parse(&action).ok_or_else(|| {
        ctx::fail(domain::InvalidField::new(
            "action",
            "must be generate_code, review_code, design_ui or write_tests",
        ))
    })?;
    let constraints: Vec<String> = constraints
        .lines()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let intent = Intent::new(action, &context, &constraints).map_err(ctx::fail)?;
    let services = ctx::services()?;
    let started = services
        .conductor
        .start(ctx::user_id().await?, task_id, intent)
        .await
        .map_err(ctx::fail)?;
    let id = started.session.id;
    services.runner.launch(started.job);
    leptos_axum::redirect(&format!("/sessions/{id}"));
    Ok(id)
}

/// Everything the session page shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SessionDetail {
    pub session: domain::sessions::AiSession,
    pub task_title: Option<String>,
    pub invocations: Vec<domain::sessions::AgentInvocation>,
    pub reviews: Vec<domain::sessions::ReviewRequest>,
    pub budget: domain::budgets::TokenBudget,
}

#[server]
pub async fn get_session(id: Uuid) -> Result<SessionDetail, AppError> {
    let services = ctx::services()?;
    let user = ctx::user_id().await?;
    let (session, invocations, reviews) = services
        .conductor
        .session(user, id)
        .await
        .map_err(ctx::fail)?;
    let task_title = match session.task_id {
        Some(task) => services.tasks.get(user, task).await.ok().map(|t| t.title),
        None => None,
    };
    let budget = services.budgets.current(user).await.map_err(ctx::fail)?;
    Ok(SessionDetail {
        session,
        task_title,
        invocations,
        reviews,
        budget,
    })
}

/// Stops the band on a session: its calls are cut, what they used is
/// settled and the session becomes cancelled. The page follows its events.
#[server]
pub async fn cancel_session(id: Uuid) -> Result<(), AppError> {
    let services = ctx::services()?;
    services
        .conductor
        .cancel(ctx::user_id().await?, id, services.runner.as_ref())
        .await
        .map_err(ctx::fail)?;
    Ok(())
}

/// Runs a failed, cancelled or rejected session again, the human's
/// reasons going to the band, and opens the new session's page.
#[server]
pub async fn retry_session(id: Uuid) -> Result<Uuid, AppError> {
    let services = ctx::services()?;
    let started = services
        .conductor
        .retry(ctx::user_id().await?, id)
        .await
        .map_err(ctx::fail)?;
    let new_id = started.session.id;
    services.runner.launch(started.job);
    leptos_axum::redirect(&format!("/sessions/{new_id}"));
    Ok(new_id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::BoardTask;
    use domain::tasks::TaskStatus;
    use uuid::Uuid;

    #[test]
    fn a_board_task_without_description_leaves_it_out_and_reads_back_the_same() {
        let mut task = BoardTask {
            id: Uuid::new_v4(),
            title: "Tune the drums".into(),
            description: String::new(),
            status: TaskStatus::Todo,
            agent: None,
            confidence: None,
            needs_review: false,
        };
        let json = serde_json::to_string(&task).unwrap();
        assert!(!json.contains("description"), "{json}");
        assert!(
            !json.contains("agent") && !json.contains("review"),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<BoardTask>(&json).unwrap(), task);

        task.description = "Low tom buzzes".into();
        let json = serde_json::to_string(&task).unwrap();
        assert!(
            json.contains("\"description\":\"Low tom buzzes\""),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<BoardTask>(&json).unwrap(), task);

        task.agent = Some("claude".into());
        task.confidence = Some(0.62);
        task.needs_review = true;
        let json = serde_json::to_string(&task).unwrap();
        assert_eq!(serde_json::from_str::<BoardTask>(&json).unwrap(), task);
    }
}
