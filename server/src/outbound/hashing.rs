//! Argon2id password hashing on tokio's blocking pool, so a sign-in never
//! stalls the async workers, with a bound on hashes computed at once: each
//! takes 19 MiB and a core for tens of milliseconds, and a flood of sign-ins
//! must not fill the pool and every core. Past the bound a caller waits
//! briefly for a turn, then is told the server is busy (429, Retry-After).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{
    PasswordHash as PhcHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use domain::accounts::{AccountError, Password, PasswordHash, PasswordHasher};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a hash waits for a turn before the caller is told to retry.
const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// Argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane)
/// unless configured otherwise (tests use cheaper ones).
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: Params,
    turns: Arc<Semaphore>,
    queue_wait: Duration,
}

impl Argon2Hasher {
    /// A hasher computing at most `concurrent` hashes at once.
    ///
    /// # Errors
    /// When the parameters are out of argon2's range.
    pub fn new(memory_kib: u32, iterations: u32, concurrent: usize) -> Result<Self, argon2::Error> {
        Ok(Self {
            params: Params::new(memory_kib, iterations, 1, None)?,
            turns: Arc::new(Semaphore::new(concurrent.max(1))),
            queue_wait: QUEUE_WAIT,
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A turn to hash, or `Busy` once none came within the queue wait.
    async fn turn(&self) -> Result<OwnedSemaphorePermit, AccountError> {
        match tokio::time::timeout(self.queue_wait, self.turns.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(AccountError::Busy {
                retry_after_secs: self.queue_wait.as_secs().max(1),
            }),
        }
    }
}

fn unexpected(e: impl std::error::Error + Send + Sync + 'static) -> AccountError {
    AccountError::Unexpected(Box::new(e))
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, AccountError> {
        let turn = self.turn().await?;
        let argon2 = self.argon2();
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let salt = SaltString::generate(&mut OsRng);
            argon2
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| PasswordHash::new(h.to_string()))
                .map_err(|e| AccountError::Unexpected(e.to_string().into()))
        })
        .await
        .map_err(unexpected)?
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, AccountError> {
        let turn = self.turn().await?;
        let argon2 = self.argon2();
        let password = password.clone();
        let hash = hash.clone();
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            // The stored hash carries its own parameters; `argon2` only
            // supplies the algorithm implementation.
            PhcHash::new(hash.as_str())
                .map(|parsed| {
                    argon2
                        .verify_password(password.expose().as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .map_err(unexpected)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn hashes_with_argon2id_and_verifies() {
        let h = Argon2Hasher::new(1024, 1, 2).unwrap();
        let pw = Password::new("correct horse").unwrap();
        let hash = h.hash(&pw).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(h.verify(&pw, &hash).await.unwrap());
        assert!(
            !h.verify(&Password::unchecked("wrong"), &hash)
                .await
                .unwrap()
        );
        assert!(
            !h.verify(&pw, &PasswordHash::new("garbage".into()))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn past_the_bound_callers_wait_then_hear_busy() {
        let mut h = Argon2Hasher::new(1024, 1, 1).unwrap();
        h.queue_wait = Duration::from_millis(50);
        let pw = Password::new("correct horse").unwrap();
        // The one turn is taken (as by a hash in flight).
        let held = h.turns.clone().acquire_owned().await.unwrap();
        match h.hash(&pw).await {
            Err(AccountError::Busy { retry_after_secs }) => assert!(retry_after_secs >= 1),
            other => panic!("expected Busy, got {other:?}"),
        }
        // Freed within the wait, the caller gets its turn.
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(held);
        });
        h.queue_wait = Duration::from_secs(5);
        assert!(h.hash(&pw).await.is_ok());
        release.await.unwrap();
    }
}
