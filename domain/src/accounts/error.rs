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
    /// Too many attempts from this client: failed sign-ins for this email,
    /// failed sign-ins for any emails, or sign-ups (see `ThrottlePolicy`).
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    /// Every password-hashing slot is taken and the queue is full: the
    /// server bounds concurrent hashing so a flood of sign-ins cannot starve
    /// everything else of CPU or memory. Nothing was checked, so nothing is
    /// counted against the caller; they should retry after the delay.
    #[error("the server is busy checking passwords; try again in {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
    #[error("user not found")]
    NotFound,
    #[error("unexpected account error")]
    Unexpected(#[source] BoxError),
}
