//! Use-case tests for API keys over an in-memory repository.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::*;
use crate::BoxError;
use crate::events::{DomainEvent, EventEnvelope};

/// Keys by hash, the events written, and how many `touch` writes happened.
#[derive(Default)]
struct Keys {
    rows: Mutex<HashMap<KeyHash, ApiKey>>,
    events: Mutex<Vec<EventEnvelope>>,
    touches: Mutex<usize>,
}

impl Keys {
    fn by_id(&self, id: Uuid) -> ApiKey {
        self.rows
            .lock()
            .unwrap()
            .values()
            .find(|k| k.id == id)
            .cloned()
            .unwrap()
    }

    fn set_last_used(&self, id: Uuid, at: DateTime<Utc>) {
        let mut rows = self.rows.lock().unwrap();
        let key = rows.values_mut().find(|k| k.id == id).unwrap();
        key.last_used_at = Some(at);
    }

    fn event_types(&self) -> Vec<&'static str> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.event.type_name())
            .collect()
    }

    fn touches(&self) -> usize {
        *self.touches.lock().unwrap()
    }
}

#[async_trait]
impl ApiKeyRepository for Keys {
    async fn insert(
        &self,
        new_key: &NewApiKey,
        max_active: usize,
        event: &EventEnvelope,
    ) -> Result<(), ApiKeyError> {
        let mut rows = self.rows.lock().unwrap();
        let active = rows
            .values()
            .filter(|k| k.user_id == new_key.key.user_id && !k.is_revoked())
            .count();
        if active >= max_active {
            return Err(ApiKeyError::TooManyKeys { max: max_active });
        }
        rows.insert(new_key.hash.clone(), new_key.key.clone());
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }

    async fn list(&self, user_id: Uuid) -> Result<Vec<ApiKey>, ApiKeyError> {
        let mut keys: Vec<ApiKey> = self
            .rows
            .lock()
            .unwrap()
            .values()
            .filter(|k| k.user_id == user_id)
            .cloned()
            .collect();
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(keys)
    }

    async fn find(&self, user_id: Uuid, id: Uuid) -> Result<Option<ApiKey>, ApiKeyError> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .values()
            .find(|k| k.id == id && k.user_id == user_id)
            .cloned())
    }

    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKey>, ApiKeyError> {
        Ok(self.rows.lock().unwrap().get(hash).cloned())
    }

    async fn revoke(
        &self,
        user_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
        event: &EventEnvelope,
    ) -> Result<bool, ApiKeyError> {
        let mut rows = self.rows.lock().unwrap();
        let Some(key) = rows
            .values_mut()
            .find(|k| k.id == id && k.user_id == user_id && !k.is_revoked())
        else {
            return Ok(false);
        };
        key.revoked_at = Some(at);
        self.events.lock().unwrap().push(event.clone());
        Ok(true)
    }

    async fn touch(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        unless_since: DateTime<Utc>,
    ) -> Result<(), ApiKeyError> {
        let mut rows = self.rows.lock().unwrap();
        if let Some(key) = rows.values_mut().find(|k| {
            k.id == id && !k.is_revoked() && k.last_used_at.is_none_or(|t| t < unless_since)
        }) {
            key.last_used_at = Some(at);
            *self.touches.lock().unwrap() += 1;
        }
        Ok(())
    }
}

/// The operating system's generator stands in for the server's adapter;
/// the format tests with a predictable source live beside the model.
struct FromUuids;

impl SecretGenerator for FromUuids {
    fn fill(&self, buf: &mut [u8]) -> Result<(), BoxError> {
        for chunk in buf.chunks_mut(16) {
            let random = *Uuid::new_v4().as_bytes();
            chunk.copy_from_slice(&random[..chunk.len()]);
        }
        Ok(())
    }
}

struct Broken;

impl SecretGenerator for Broken {
    fn fill(&self, _: &mut [u8]) -> Result<(), BoxError> {
        Err("no entropy".into())
    }
}

fn service() -> (ApiKeyService, Arc<Keys>) {
    let keys = Arc::new(Keys::default());
    (ApiKeyService::new(keys.clone(), Arc::new(FromUuids)), keys)
}

#[tokio::test]
async fn create_returns_the_plaintext_once_and_stores_only_its_hash() {
    let (svc, keys) = service();
    let user = Uuid::new_v4();
    let (key, plain) = svc.create(user, "  deploy bot ").await.unwrap();
    assert_eq!(key.name, "deploy bot");
    assert_eq!(key.user_id, user);
    assert!(plain.starts_with(&key.prefix), "{plain} / {}", key.prefix);
    assert_eq!(key.prefix.len(), 12);
    assert!(key.last_used_at.is_none() && key.revoked_at.is_none());
    let parsed = PlainKey::parse(&plain).unwrap();
    assert_eq!(keys.rows.lock().unwrap().get(&parsed.hash()), Some(&key));
    assert_eq!(keys.event_types(), ["ApiKeyCreated"]);
    let event = keys.events.lock().unwrap()[0].clone();
    assert_eq!(event.aggregate_id, user);
    match &event.event {
        DomainEvent::ApiKeyCreated {
            key_id,
            name,
            prefix,
        } => {
            assert_eq!(
                (*key_id, name.as_str(), prefix),
                (key.id, "deploy bot", &key.prefix)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        !format!("{event:?}").contains(&plain[13..]),
        "no secret in the event"
    );
}

#[tokio::test]
async fn two_keys_never_share_a_secret() {
    let (svc, _) = service();
    let user = Uuid::new_v4();
    let (a, pa) = svc.create(user, "a").await.unwrap();
    let (b, pb) = svc.create(user, "b").await.unwrap();
    assert_ne!(pa, pb);
    assert_ne!(a.prefix, b.prefix);
}

#[tokio::test]
async fn names_are_validated() {
    let (svc, keys) = service();
    for bad in ["", "   ", &"x".repeat(81), "tab\there"] {
        match svc.create(Uuid::new_v4(), bad).await {
            Err(ApiKeyError::InvalidField(f)) => assert_eq!(f.field, "name", "{bad:?}"),
            other => panic!("{bad:?}: unexpected {other:?}"),
        }
    }
    assert!(keys.event_types().is_empty());
}

#[tokio::test]
async fn a_failing_random_source_is_unexpected() {
    let svc = ApiKeyService::new(Arc::new(Keys::default()), Arc::new(Broken));
    assert!(matches!(
        svc.create(Uuid::new_v4(), "x").await,
        Err(ApiKeyError::Unexpected(_))
    ));
}

#[tokio::test]
async fn at_most_twenty_active_keys_and_revoking_frees_a_slot() {
    let (svc, _) = service();
    let user = Uuid::new_v4();
    let mut first = None;
    for i in 0..MAX_ACTIVE_KEYS {
        let (key, _) = svc.create(user, &format!("key {i}")).await.unwrap();
        first.get_or_insert(key.id);
    }
    let err = svc.create(user, "one too many").await.unwrap_err();
    assert!(
        matches!(err, ApiKeyError::TooManyKeys { max: 20 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("revoke one"), "{err}");
    // Someone else is not affected.
    svc.create(Uuid::new_v4(), "other").await.unwrap();
    svc.revoke(user, first.unwrap()).await.unwrap();
    svc.create(user, "now it fits").await.unwrap();
}

#[tokio::test]
async fn list_is_newest_first_and_shows_revoked_keys() {
    let (svc, _) = service();
    let user = Uuid::new_v4();
    let (old, _) = svc.create(user, "old").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (new, _) = svc.create(user, "new").await.unwrap();
    svc.create(Uuid::new_v4(), "not mine").await.unwrap();
    svc.revoke(user, old.id).await.unwrap();
    let list = svc.list(user).await.unwrap();
    assert_eq!(
        list.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["new", "old"]
    );
    assert!(!list[0].is_revoked());
    assert!(list[1].is_revoked());
    assert_eq!(list[0].id, new.id);
}

#[tokio::test]
async fn authenticate_answers_the_owner_of_an_active_key_only() {
    let (svc, _) = service();
    let user = Uuid::new_v4();
    let (key, plain) = svc.create(user, "ci").await.unwrap();
    assert_eq!(svc.authenticate(&plain).await.unwrap(), Some(user));

    // Garbage, a well-formed unknown key, and a near miss are nobody's.
    let mut near = plain.clone();
    near.pop();
    near.push(if plain.ends_with('a') { 'b' } else { 'a' });
    let (_, other_plain) = ApiKeyService::new(Arc::new(Keys::default()), Arc::new(FromUuids))
        .create(user, "elsewhere")
        .await
        .unwrap();
    for bad in ["", "garbage", near.as_str(), other_plain.as_str()] {
        assert_eq!(svc.authenticate(bad).await.unwrap(), None, "{bad}");
    }

    svc.revoke(user, key.id).await.unwrap();
    assert_eq!(svc.authenticate(&plain).await.unwrap(), None);
}

#[tokio::test]
async fn last_use_is_written_at_most_once_a_minute() {
    let (svc, keys) = service();
    let user = Uuid::new_v4();
    let (key, plain) = svc.create(user, "ci").await.unwrap();
    let before = Utc::now();
    svc.authenticate(&plain).await.unwrap();
    let first = keys.by_id(key.id).last_used_at.unwrap();
    assert!(first >= before);
    assert_eq!(keys.touches(), 1);

    for _ in 0..5 {
        svc.authenticate(&plain).await.unwrap();
    }
    assert_eq!(keys.touches(), 1, "no write within the minute");
    assert_eq!(keys.by_id(key.id).last_used_at, Some(first));

    // A minute later, the next use is recorded.
    let long_ago = Utc::now() - TimeDelta::seconds(LAST_USED_RESOLUTION_SECS + 1);
    keys.set_last_used(key.id, long_ago);
    svc.authenticate(&plain).await.unwrap();
    assert_eq!(keys.touches(), 2);
    assert!(keys.by_id(key.id).last_used_at.unwrap() > long_ago);
}

#[tokio::test]
async fn revoke_is_idempotent_and_hides_other_users_keys() {
    let (svc, keys) = service();
    let user = Uuid::new_v4();
    let stranger = Uuid::new_v4();
    let (key, _) = svc.create(user, "ci").await.unwrap();

    assert!(matches!(
        svc.revoke(stranger, key.id).await,
        Err(ApiKeyError::NotFound)
    ));
    assert!(matches!(
        svc.revoke(user, Uuid::new_v4()).await,
        Err(ApiKeyError::NotFound)
    ));
    assert!(!keys.by_id(key.id).is_revoked());

    let revoked = svc.revoke(user, key.id).await.unwrap();
    let at = revoked.revoked_at.unwrap();
    let again = svc.revoke(user, key.id).await.unwrap();
    assert_eq!(
        again.revoked_at,
        Some(at),
        "the first revocation time stays"
    );
    assert_eq!(keys.event_types(), ["ApiKeyCreated", "ApiKeyRevoked"]);
}
