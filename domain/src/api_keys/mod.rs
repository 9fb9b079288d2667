//! API keys (spec §8.2, `Authorization: Bearer <token>`): long-lived secrets
//! a user creates for scripts and other clients. The plaintext is shown once
//! at creation; only its SHA-256 is stored, with a displayable prefix, the
//! time of last use and, once revoked, the time of revocation.

mod error;
mod model;
mod ports;
mod service;

pub use error::ApiKeyError;
pub use model::{ApiKey, ApiKeyName, KeyHash, NewApiKey, PlainKey};
pub use ports::{ApiKeyRepository, SecretGenerator};
pub use service::{ApiKeyService, LAST_USED_RESOLUTION_SECS, MAX_ACTIVE_KEYS};

#[cfg(test)]
mod service_tests;
