//! The API's one error shape, `{"error":{"code","message","field"?}}`, and
//! the mapping from domain errors to HTTP statuses. 5xx details are logged
//! with the request's span (which carries the request id), never sent.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::InvalidField;
use domain::accounts::AccountError;
use domain::api_keys::ApiKeyError;
use domain::budgets::BudgetError;
use domain::events::ReactionError;
use domain::notifications::NotificationError;
use domain::projects::ProjectError;
use domain::repos::RepoError;
use domain::reviews::ReviewError;
use domain::sessions::{ConductorError, HistoryError};
use domain::tasks::TaskError;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn invalid(field: InvalidField) -> Self {
        Self {
            field: Some(field.field.clone()),
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                field.to_string(),
            )
        }
    }

    /// Logs the cause and answers a bare 500.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %DisplayChain(cause), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side",
        )
    }
}

/// Prints an error with all its sources, for logs.
struct DisplayChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::InvalidField(f) => Self::invalid(f),
            AccountError::EmailTaken => Self {
                field: Some("email".into()),
                ..Self::new(StatusCode::CONFLICT, "email_taken", e.to_string())
            },
            AccountError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                e.to_string(),
            ),
            AccountError::TooManyAttempts { retry_after_secs } => Self {
                retry_after: Some(retry_after_secs),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    e.to_string(),
                )
            },
            AccountError::Busy { retry_after_secs } => Self {
                retry_after: Some(retry_after_secs),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "busy", e.to_string())
            },
            // A session whose user is gone is as good as no session.
            AccountError::NotFound => Self::unauthenticated(),
            AccountError::Unexpected(cause) => Self::internal(cause.as_ref()),
        }
    }
}

impl From<ApiKeyError> for ApiError {
    fn from(e: ApiKeyError) -> Self {
        match e {
            ApiKeyError::InvalidField(f) => Self::invalid(f),
            ApiKeyError::NotFound => Self::not_found("API key"),
            ApiKeyError::TooManyKeys { .. } => {
                Self::new(StatusCode::CONFLICT, "too_many_api_keys", e.to_string())
            }
            ApiKeyError::Unexpected(cause) => Self::internal(cause.as_ref()),
        }
    }
}

impl From<BudgetError> for ApiError {
    fn from(e: BudgetError) -> Self {
        match e {
            BudgetError::InvalidField(f) => Self::invalid(f),
            BudgetError::NoBudget | BudgetError::ReservationNotFound => {
                Self::not_found("token budget")
            }
            BudgetError::Unexpected(cause) => Self::internal(cause.as_ref()),
            BudgetError::SessionLimitExceeded { .. }
            | BudgetError::MonthlyLimitExceeded { .. }
            | BudgetError::ReservationClosed => {
                Self::new(StatusCode::CONFLICT, "budget", e.to_string())
            }
        }
    }
}

impl From<ProjectError> for ApiError {
    fn from(e: ProjectError) -> Self {
        match e {
            ProjectError::InvalidField(f) => Self::invalid(f),
            ProjectError::NotFound => Self::not_found("project"),
            ProjectError::Unexpected(cause) => Self::internal(cause.as_ref()),
        }
    }
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::InvalidField(f) => Self::invalid(f),
            RepoError::ProjectNotFound => Self::not_found("project"),
            RepoError::NotLinked => Self::new(StatusCode::NOT_FOUND, "not_linked", e.to_string()),
            RepoError::ProjectArchived => {
                Self::new(StatusCode::CONFLICT, "project_archived", e.to_string())
            }
            RepoError::PathNotAllowed { field, .. } => Self {
                field: Some(field.into()),
                ..Self::new(StatusCode::FORBIDDEN, "path_not_allowed", e.to_string())
            },
            RepoError::CloneFailed(_) => Self {
                field: Some("url".into()),
                ..Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "clone_failed",
                    e.to_string(),
                )
            },
            RepoError::ProposalRefused(_) => {
                Self::new(StatusCode::CONFLICT, "proposal_refused", e.to_string())
            }
            RepoError::BaseBranchGone(_) => {
                Self::new(StatusCode::CONFLICT, "base_branch_gone", e.to_string())
            }
            RepoError::Unexpected(cause) => Self::internal(cause.as_ref()),
        }
    }
}

impl From<TaskError> for ApiError {
    fn from(e: TaskError) -> Self {
        match e {
            TaskError::InvalidField(f) => Self::invalid(f),
            TaskError::NotFound => Self::not_found("task"),
            TaskError::ProjectNotFound => Self::not_found("project"),
            TaskError::ProjectArchived => {
                Self::new(StatusCode::CONFLICT, "project_archived", e.to_string())
            }
            TaskError::Unexpected(cause) => Self::internal(cause.as_ref()),
        }
    }
}

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::NotFound(what) => Self::not_found(what),
            HistoryError::Project(e) => e.into(),
            HistoryError::Task(e) => e.into(),
            HistoryError::Session(e) => Self::internal(&e),
        }
    }
}

impl From<ConductorError> for ApiError {
    fn from(e: ConductorError) -> Self {
        match e {
            ConductorError::InvalidField(f) => Self::invalid(f),
            ConductorError::TaskNotFound => Self::not_found("task"),
            ConductorError::SessionNotFound => Self::not_found("session"),
            ConductorError::NoProvider(_) => {
                Self::new(StatusCode::CONFLICT, "no_provider", e.to_string())
            }
            ConductorError::ProviderNotConfigured { role, .. } => Self {
                field: Some(format!("agents.{}", role.as_str())),
                ..Self::new(StatusCode::CONFLICT, "no_provider", e.to_string())
            },
            ConductorError::Budget(b) => b.into(),
            ConductorError::TooManySessions { retry_after, .. } => Self {
                retry_after: Some(retry_after.as_secs().max(1)),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_sessions",
                    e.to_string(),
                )
            },
            ConductorError::NotRunning { .. } => {
                Self::new(StatusCode::CONFLICT, "not_running", e.to_string())
            }
            ConductorError::NotRetryable { .. } => {
                Self::new(StatusCode::CONFLICT, "not_retryable", e.to_string())
            }
            ConductorError::Repository(_) => {
                Self::new(StatusCode::CONFLICT, "repository", e.to_string())
            }
            ConductorError::Unexpected(cause) => Self::internal(cause.as_ref()),
        }
    }
}

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::InvalidField(f) => Self::invalid(f),
            ReviewError::NotFound => Self::not_found("review"),
            ReviewError::Budget(b) => b.into(),
            ReviewError::Unexpected(cause) => Self::internal(cause.as_ref()),
            conflict => {
                let code = match &conflict {
                    ReviewError::Stale => "stale_review",
                    ReviewError::AlreadyDecided { .. } => "already_decided",
                    ReviewError::Expired => "review_expired",
                    ReviewError::SessionMoved { .. } => "session_moved",
                    _ => "no_provider",
                };
                Self::new(StatusCode::CONFLICT, code, conflict.to_string())
            }
        }
    }
}

impl From<NotificationError> for ApiError {
    fn from(e: NotificationError) -> Self {
        match e {
            NotificationError::NotFound => Self::not_found("notification"),
            NotificationError::Unexpected(cause) => Self::internal(cause.as_ref()),
        }
    }
}

impl From<ReactionError> for ApiError {
    fn from(e: ReactionError) -> Self {
        // The API only reads the reactions' log, so any failure is ours.
        Self::internal(&e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let (code, message) = match &rejection {
            JsonRejection::MissingJsonContentType(_) => (
                "unsupported_media_type",
                "send a JSON body with Content-Type: application/json".to_owned(),
            ),
            JsonRejection::JsonSyntaxError(_) => (
                "malformed_json",
                format!("malformed JSON: {}", rejection.body_text()),
            ),
            JsonRejection::JsonDataError(_) => ("invalid_field", rejection.body_text()),
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload_too_large", "request body is too large".to_owned())
            }
            _ => ("bad_request", rejection.body_text()),
        };
        let field = (code == "invalid_field")
            .then(|| field_from_serde(&message))
            .flatten();
        Self {
            field,
            ..Self::new(status, code, message)
        }
    }
}

/// A query string that does not fit its parameters: an unknown or repeated
/// parameter is a 422 naming it, as an unknown or duplicate JSON field is.
impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        let message = rejection.body_text();
        Self {
            field: field_from_serde(&message),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
        }
    }
}

/// serde names the field in its messages: "missing field `email`",
/// "name: invalid type ...", "unknown variant `x`" (for `status`), and
/// serde_path_to_error puts the path in front: "modifications[0]: missing
/// field `modified_output`" names `modifications[0].modified_output`.
fn field_from_serde(message: &str) -> Option<String> {
    let detail = message
        .split_once("target type: ")
        .or_else(|| message.split_once("query string: "))
        .map_or(message, |(_, d)| d);
    let path = detail.split_once(": ").map(|(p, _)| p.trim()).filter(|p| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
    });
    let missing = detail
        .split("field `")
        .nth(1)
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        // A query string is flat: "page: unknown field `page`".
        (Some(path), Some(field)) if path == field => Some(field.to_owned()),
        (Some(path), Some(field)) => Some(format!("{path}.{field}")),
        (None, Some(field)) => Some(field.to_owned()),
        (Some(path), None) => Some(path.to_owned()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_field_names_in_serde_messages() {
        assert_eq!(field_from_serde("Failed to deserialize the JSON body into the target type: missing field `email` at line 1 column 2").as_deref(), Some("email"));
        assert_eq!(field_from_serde("Failed to deserialize query string: type: unknown variant `whim`, expected one of `approval`").as_deref(), Some("type"));
        assert_eq!(field_from_serde("Failed to deserialize the JSON body into the target type: status: unknown variant `doing`, expected one of ...").as_deref(), Some("status"));
        assert_eq!(field_from_serde("Failed to deserialize the JSON body into the target type: modifications[0]: missing field `modified_output` at line 1 column 36").as_deref(), Some("modifications[0].modified_output"));
        assert_eq!(field_from_serde("Failed to deserialize the JSON body into the target type: agents.coder: unknown variant `drummer`, expected one of `claude`").as_deref(), Some("agents.coder"));
        assert_eq!(field_from_serde("Failed to deserialize query string: unknown field `page`, expected one of `limit`, `cursor`").as_deref(), Some("page"));
        assert_eq!(
            field_from_serde("Failed to deserialize query string: duplicate field `limit`")
                .as_deref(),
            Some("limit")
        );
    }
}
