//! What can go wrong with API keys.

use crate::{BoxError, InvalidField};

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error(transparent)]
    InvalidField(#[from] InvalidField),
    /// No such key, or someone else's: deliberately indistinguishable.
    #[error("API key not found")]
    NotFound,
    /// The user already holds the maximum number of active keys.
    #[error("you already have {max} active API keys; revoke one before creating another")]
    TooManyKeys { max: usize },
    #[error("unexpected API key error")]
    Unexpected(#[source] BoxError),
}
