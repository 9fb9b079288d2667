//! What can go wrong with accounts.

use crate::{BoxError, InvalidField};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    InvalidField(#[from] InvalidField),
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Wrong email or wrong password: deliberately indistinguishable.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many failed sign-ins for this email from this client.
    #[error("too many failed sign-ins; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("user not found")]
    NotFound,
    #[error("unexpected account error")]
    Unexpected(#[source] BoxError),
}
