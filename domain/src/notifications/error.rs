//! Why an inbox operation failed.

use crate::BoxError;

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// No such notification of this user's (someone else's is not found
    /// either, so ids cannot be probed).
    #[error("notification not found")]
    NotFound,
    #[error("unexpected inbox failure")]
    Unexpected(#[source] BoxError),
}
