//! The one error type of the server functions: the UI's side of the
//! boundary (the REST API has `ApiError`). Internal details never cross it.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("please sign in")]
    Unauthenticated,
    #[error("{0} not found")]
    NotFound(String),
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("too many attempts; try again in {0} seconds")]
    TooManyAttempts(u64),
    #[error("something went wrong on our side; please try again")]
    Internal,
    #[error("could not reach the server: {0}")]
    Transport(String),
}

impl AppError {
    /// The field this error is about, for showing it next to the input.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
mod from_domain {
    use domain::InvalidField;
    use domain::accounts::AccountError;
    use domain::api_keys::ApiKeyError;
    use domain::budgets::BudgetError;
    use domain::projects::ProjectError;
    use domain::reviews::ReviewError;
    use domain::sessions::{ConductorError, HistoryError};
    use domain::tasks::TaskError;

    use super::AppError;

    fn internal(cause: &(dyn std::error::Error + 'static)) -> AppError {
        tracing::error!(error = %cause, "internal error in server function");
        AppError::Internal
    }

    impl From<InvalidField> for AppError {
        fn from(f: InvalidField) -> Self {
            Self::Invalid {
                message: f.to_string(),
                field: f.field,
            }
        }
    }

    impl From<AccountError> for AppError {
        fn from(e: AccountError) -> Self {
            match e {
                AccountError::InvalidField(f) => f.into(),
                AccountError::EmailTaken => Self::Invalid {
                    field: "email".into(),
                    message: e.to_string(),
                },
                AccountError::InvalidCredentials => Self::Invalid {
                    field: "password".into(),
                    message: e.to_string(),
                },
                AccountError::TooManyAttempts { retry_after_secs }
                | AccountError::Busy { retry_after_secs } => {
                    Self::TooManyAttempts(retry_after_secs)
                }
                AccountError::NotFound => Self::Unauthenticated,
                AccountError::Unexpected(cause) => internal(cause.as_ref()),
            }
        }
    }

    impl From<ApiKeyError> for AppError {
        fn from(e: ApiKeyError) -> Self {
            match e {
                ApiKeyError::InvalidField(f) => f.into(),
                ApiKeyError::NotFound => Self::NotFound("API key".into()),
                ApiKeyError::TooManyKeys { .. } => Self::Conflict(e.to_string()),
                ApiKeyError::Unexpected(cause) => internal(cause.as_ref()),
            }
        }
    }

    impl From<BudgetError> for AppError {
        fn from(e: BudgetError) -> Self {
            match e {
                BudgetError::InvalidField(f) => f.into(),
                BudgetError::SessionLimitExceeded { .. }
                | BudgetError::MonthlyLimitExceeded { .. }
                | BudgetError::ReservationClosed => Self::Conflict(e.to_string()),
                BudgetError::NoBudget | BudgetError::ReservationNotFound => {
                    Self::NotFound("token budget".into())
                }
                BudgetError::Unexpected(cause) => internal(cause.as_ref()),
            }
        }
    }

    impl From<domain::notifications::NotificationError> for AppError {
        fn from(e: domain::notifications::NotificationError) -> Self {
            use domain::notifications::NotificationError;
            match e {
                NotificationError::NotFound => Self::NotFound("notification".into()),
                NotificationError::Unexpected(cause) => internal(cause.as_ref()),
            }
        }
    }

    impl From<ProjectError> for AppError {
        fn from(e: ProjectError) -> Self {
            match e {
                ProjectError::InvalidField(f) => f.into(),
                ProjectError::NotFound => Self::NotFound("project".into()),
                ProjectError::Unexpected(cause) => internal(cause.as_ref()),
            }
        }
    }

    impl From<domain::repos::RepoError> for AppError {
        fn from(e: domain::repos::RepoError) -> Self {
            use domain::repos::RepoError;
            match e {
                RepoError::InvalidField(f) => f.into(),
                RepoError::ProjectNotFound => Self::NotFound("project".into()),
                RepoError::NotLinked => Self::NotFound("repository".into()),
                RepoError::ProjectArchived => Self::Conflict(e.to_string()),
                RepoError::PathNotAllowed { field, .. } => Self::Invalid {
                    field: field.into(),
                    message: e.to_string(),
                },
                RepoError::CloneFailed(_) => Self::Invalid {
                    field: "url".into(),
                    message: e.to_string(),
                },
                RepoError::BaseBranchGone(_) | RepoError::ProposalRefused(_) => {
                    Self::Conflict(e.to_string())
                }
                RepoError::Unexpected(cause) => internal(cause.as_ref()),
            }
        }
    }

    impl From<TaskError> for AppError {
        fn from(e: TaskError) -> Self {
            match e {
                TaskError::InvalidField(f) => f.into(),
                TaskError::NotFound => Self::NotFound("task".into()),
                TaskError::ProjectNotFound => Self::NotFound("project".into()),
                TaskError::ProjectArchived => Self::Conflict(e.to_string()),
                TaskError::Unexpected(cause) => internal(cause.as_ref()),
            }
        }
    }

    impl From<HistoryError> for AppError {
        fn from(e: HistoryError) -> Self {
            match e {
                HistoryError::NotFound(what) => Self::NotFound(what.into()),
                HistoryError::Project(e) => e.into(),
                HistoryError::Task(e) => e.into(),
                HistoryError::Session(e) => internal(&e),
            }
        }
    }

    impl From<ConductorError> for AppError {
        fn from(e: ConductorError) -> Self {
            match e {
                ConductorError::InvalidField(f) => f.into(),
                ConductorError::TaskNotFound => Self::NotFound("task".into()),
                ConductorError::SessionNotFound => Self::NotFound("session".into()),
                ConductorError::NoProvider(_)
                | ConductorError::ProviderNotConfigured { .. }
                | ConductorError::NotRunning { .. }
                | ConductorError::NotRetryable { .. }
                | ConductorError::Repository(_)
                // The message says what to do; a form shows it as is.
                | ConductorError::TooManySessions { .. } => Self::Conflict(e.to_string()),
                ConductorError::Budget(b) => b.into(),
                ConductorError::Unexpected(cause) => internal(cause.as_ref()),
            }
        }
    }

    impl From<ReviewError> for AppError {
        fn from(e: ReviewError) -> Self {
            match e {
                ReviewError::InvalidField(f) => f.into(),
                ReviewError::NotFound => Self::NotFound("review".into()),
                ReviewError::Budget(b) => b.into(),
                ReviewError::Unexpected(cause) => internal(cause.as_ref()),
                ReviewError::Stale
                | ReviewError::AlreadyDecided { .. }
                | ReviewError::Expired
                | ReviewError::SessionMoved { .. }
                | ReviewError::NoProvider(_) => Self::Conflict(e.to_string()),
            }
        }
    }
}
