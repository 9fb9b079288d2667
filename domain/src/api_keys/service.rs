//! API key use cases: create (the plaintext is returned once), list,
//! revoke, and authenticate a presented key.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use uuid::Uuid;

use super::{
    ApiKey, ApiKeyError, ApiKeyName, ApiKeyRepository, NewApiKey, PlainKey, SecretGenerator,
};
use crate::events::{AggregateType, DomainEvent, EventEnvelope};

/// Active (unrevoked) keys a user may hold at once.
pub const MAX_ACTIVE_KEYS: usize = 20;

/// `last_used_at` is written at most this often per key, so a busy client
/// does not turn every request into a database write.
pub const LAST_USED_RESOLUTION_SECS: i64 = 60;

#[derive(Clone)]
pub struct ApiKeyService {
    keys: Arc<dyn ApiKeyRepository>,
    secrets: Arc<dyn SecretGenerator>,
}

impl ApiKeyService {
    pub fn new(keys: Arc<dyn ApiKeyRepository>, secrets: Arc<dyn SecretGenerator>) -> Self {
        Self { keys, secrets }
    }

    /// Creates a key named `name` for the user. Answers the key and its
    /// plaintext, which is never available again.
    ///
    /// # Errors
    /// `InvalidField("name")`, `TooManyKeys` when the user already holds
    /// [`MAX_ACTIVE_KEYS`] active keys, `Unexpected`.
    pub async fn create(&self, user_id: Uuid, name: &str) -> Result<(ApiKey, String), ApiKeyError> {
        let name = ApiKeyName::new(name)?.into_inner();
        let plain = PlainKey::generate(self.secrets.as_ref()).map_err(ApiKeyError::Unexpected)?;
        let now = Utc::now();
        let key = ApiKey {
            id: Uuid::new_v4(),
            user_id,
            name,
            prefix: plain.prefix().to_owned(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        let event = EventEnvelope::new(
            AggregateType::User,
            user_id,
            user_id,
            now,
            DomainEvent::ApiKeyCreated {
                key_id: key.id,
                name: key.name.clone(),
                prefix: key.prefix.clone(),
            },
        );
        let new_key = NewApiKey {
            hash: plain.hash(),
            key,
        };
        self.keys.insert(&new_key, MAX_ACTIVE_KEYS, &event).await?;
        Ok((new_key.key, plain.into_inner()))
    }

    /// The user's keys, newest first; revoked ones stay listed as such.
    ///
    /// # Errors
    /// `Unexpected`.
    pub async fn list(&self, user_id: Uuid) -> Result<Vec<ApiKey>, ApiKeyError> {
        self.keys.list(user_id).await
    }

    /// Revokes one of the user's keys; from then on it authenticates
    /// nothing. Revoking a revoked key changes nothing and succeeds.
    ///
    /// # Errors
    /// `NotFound` for an unknown key or someone else's, `Unexpected`.
    pub async fn revoke(&self, user_id: Uuid, id: Uuid) -> Result<ApiKey, ApiKeyError> {
        let mut key = self
            .keys
            .find(user_id, id)
            .await?
            .ok_or(ApiKeyError::NotFound)?;
        if key.is_revoked() {
            return Ok(key);
        }
        let now = Utc::now();
        let event = EventEnvelope::new(
            AggregateType::User,
            user_id,
            user_id,
            now,
            DomainEvent::ApiKeyRevoked { key_id: id },
        );
        if self.keys.revoke(user_id, id, now, &event).await? {
            key.revoked_at = Some(now);
            return Ok(key);
        }
        // Revoked (or deleted with its user) in the meantime: report how it is now.
        self.keys
            .find(user_id, id)
            .await?
            .ok_or(ApiKeyError::NotFound)
    }

    /// The user a presented key belongs to; `None` for anything that is
    /// not an active key. Records the use, at most once a minute per key.
    ///
    /// # Errors
    /// `Unexpected`.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<Uuid>, ApiKeyError> {
        let Some(plain) = PlainKey::parse(presented) else {
            return Ok(None);
        };
        let Some(key) = self.keys.find_by_hash(&plain.hash()).await? else {
            return Ok(None);
        };
        if key.is_revoked() {
            return Ok(None);
        }
        let now = Utc::now();
        let since = now - TimeDelta::seconds(LAST_USED_RESOLUTION_SECS);
        if key.last_used_at.is_none_or(|t| t < since) {
            self.keys.touch(key.id, now, since).await?;
        }
        Ok(Some(key.user_id))
    }
}
