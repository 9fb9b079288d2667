//! What accounts need from the outside: storage and password hashing.

use async_trait::async_trait;
use uuid::Uuid;

use super::{AccountError, AiPreferences, Email, NewUser, Password, PasswordHash, User};
use crate::events::EventEnvelope;

#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores the user, their first token budget and the `UserRegistered`
    /// event in one transaction.
    ///
    /// # Errors
    /// `EmailTaken` when the email is already registered; `Unexpected` otherwise.
    async fn create(&self, new_user: &NewUser, event: &EventEnvelope) -> Result<(), AccountError>;

    /// The user and their password hash, by normalised email.
    ///
    /// # Errors
    /// `Unexpected` on storage failure (absence is `Ok(None)`).
    async fn find_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<(User, PasswordHash)>, AccountError>;

    /// # Errors
    /// `Unexpected` on storage failure (absence is `Ok(None)`).
    async fn find(&self, id: Uuid) -> Result<Option<User>, AccountError>;

    /// Replaces the user's AI preferences, with the event.
    ///
    /// # Errors
    /// `NotFound` if the user vanished; `Unexpected` otherwise.
    async fn update_preferences(
        &self,
        id: Uuid,
        preferences: &AiPreferences,
        event: &EventEnvelope,
    ) -> Result<(), AccountError>;
}

/// Password hashing is CPU-heavy; implementations must keep it off the async
/// executor.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// # Errors
    /// `Unexpected` if hashing fails.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, AccountError>;

    /// Whether `password` matches `hash`; a malformed hash verifies as `false`.
    ///
    /// # Errors
    /// `Unexpected` if the hashing pool fails.
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, AccountError>;
}
