//! What API keys need from the outside: storage and a source of secrets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ApiKey, ApiKeyError, KeyHash, NewApiKey};
use crate::BoxError;
use crate::events::EventEnvelope;

#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    /// Stores the key and its event in one transaction, unless the user
    /// already has `max_active` unrevoked keys. Counting and inserting must
    /// be atomic per user, so concurrent creations cannot overshoot.
    ///
    /// # Errors
    /// `TooManyKeys` at the limit; `Unexpected` otherwise.
    async fn insert(
        &self,
        new_key: &NewApiKey,
        max_active: usize,
        event: &EventEnvelope,
    ) -> Result<(), ApiKeyError>;

    /// The user's keys, revoked ones included, newest first.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn list(&self, user_id: Uuid) -> Result<Vec<ApiKey>, ApiKeyError>;

    /// One of the user's keys; `None` when it does not exist or belongs to
    /// someone else.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn find(&self, user_id: Uuid, id: Uuid) -> Result<Option<ApiKey>, ApiKeyError>;

    /// The key whose plaintext hashes to `hash`, revoked or not.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKey>, ApiKeyError>;

    /// Sets `revoked_at` on the user's key if it is still active, with the
    /// event, in one transaction. `Ok(false)` (and no event) when nothing
    /// changed: already revoked, gone, or someone else's.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn revoke(
        &self,
        user_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
        event: &EventEnvelope,
    ) -> Result<bool, ApiKeyError>;

    /// Records a use of an active key: sets `last_used_at` to `at` unless
    /// it is already at or after `unless_since` (so concurrent requests
    /// write once). Bookkeeping, not a state change: no event.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    async fn touch(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        unless_since: DateTime<Utc>,
    ) -> Result<(), ApiKeyError>;
}

/// Random bytes for secrets. Implementations must be cryptographically
/// secure (the operating system's generator): keys are only as strong as
/// their randomness.
pub trait SecretGenerator: Send + Sync {
    /// Fills `buf` entirely.
    ///
    /// # Errors
    /// When the generator cannot provide randomness.
    fn fill(&self, buf: &mut [u8]) -> Result<(), BoxError>;
}
