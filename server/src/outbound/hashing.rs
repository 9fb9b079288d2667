//! Argon2id password hashing on tokio's blocking pool, so a sign-in never
//! stalls the async workers.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{
    PasswordHash as PhcHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use domain::accounts::{AccountError, Password, PasswordHash, PasswordHasher};

/// Argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane)
/// unless configured otherwise (tests use cheaper ones).
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: Params,
}

impl Argon2Hasher {
    /// # Errors
    /// When the parameters are out of argon2's range.
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self, argon2::Error> {
        Ok(Self {
            params: Params::new(memory_kib, iterations, 1, None)?,
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }
}

fn unexpected(e: impl std::error::Error + Send + Sync + 'static) -> AccountError {
    AccountError::Unexpected(Box::new(e))
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, AccountError> {
        let argon2 = self.argon2();
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
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
        let argon2 = self.argon2();
        let password = password.clone();
        let hash = hash.clone();
        tokio::task::spawn_blocking(move || {
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
        let h = Argon2Hasher::new(1024, 1).unwrap();
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
}
