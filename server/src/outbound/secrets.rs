//! `SecretBox` with ChaCha20-Poly1305: what the server stores sealed (a
//! clone's credentials) can only be read with its key, and any change to
//! the stored bytes is detected.
//!
//! The key comes from `EXITON_SECRET_KEY` (any string; its SHA-256 is the
//! key) or, without it, from `secret.key` in the data directory: 32 random
//! bytes written once with mode 0600. Losing the key loses the stored
//! credentials (re-link the clone), nothing else.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use domain::BoxError;
use domain::repos::SecretBox;
use sha2::{Digest as _, Sha256};

/// The version byte in front of every sealed value.
const V1: u8 = 1;
const NONCE_LEN: usize = 12;

pub struct KeyBox {
    source: KeySource,
    /// Made at first use, so a server that never seals anything never
    /// writes a key file.
    cipher: std::sync::OnceLock<ChaCha20Poly1305>,
}

enum KeySource {
    Secret(String),
    /// The data directory holding `secret.key`.
    File(std::path::PathBuf),
}

impl std::fmt::Debug for KeyBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyBox(<key redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the sealed value cannot be opened with this server's key")]
struct NotOurs;

impl KeyBox {
    /// The box for `secret` (a configured string of any length).
    pub fn from_secret(secret: &str) -> Self {
        Self {
            source: KeySource::Secret(secret.to_owned()),
            cipher: std::sync::OnceLock::new(),
        }
    }

    /// The box for the key file in `data_dir`, made (mode 0600) at first
    /// use if missing.
    pub fn from_key_file(data_dir: &Path) -> Self {
        Self {
            source: KeySource::File(data_dir.to_owned()),
            cipher: std::sync::OnceLock::new(),
        }
    }

    fn cipher(&self) -> Result<&ChaCha20Poly1305, BoxError> {
        if let Some(c) = self.cipher.get() {
            return Ok(c);
        }
        let made = match &self.source {
            KeySource::Secret(secret) => {
                let key = Sha256::digest(secret.as_bytes());
                ChaCha20Poly1305::new(Key::from_slice(&key))
            }
            KeySource::File(dir) => {
                let key = key_file(dir).map_err(|e| -> BoxError { e.into() })?;
                ChaCha20Poly1305::new(Key::from_slice(&key))
            }
        };
        Ok(self.cipher.get_or_init(|| made))
    }
}

/// The 32 bytes in `<data_dir>/secret.key`, written first if missing.
fn key_file(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("secret.key");
    if !path.exists() {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let key = ChaCha20Poly1305::generate_key(&mut OsRng);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => file
                .write_all(&key)
                .with_context(|| format!("writing {}", path.display()))?,
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }
    let key = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(
        key.len() == 32,
        "{} must hold 32 bytes (delete it to make a new key; stored credentials are then lost)",
        path.display()
    );
    Ok(key)
}

impl SecretBox for KeyBox {
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, BoxError> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher()?
            .encrypt(&nonce, plain)
            .map_err(|_| Box::new(NotOurs) as BoxError)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, BoxError> {
        let (version, rest) = sealed.split_first().ok_or(NotOurs)?;
        if *version != V1 || rest.len() < NONCE_LEN {
            return Err(Box::new(NotOurs));
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        self.cipher()?
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| Box::new(NotOurs) as BoxError)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sealed_values_open_with_the_same_key_only_and_detect_changes() {
        let a = KeyBox::from_secret("correct horse");
        let sealed = a.seal(b"ada\0hunter2").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(a.open(&sealed).unwrap(), b"ada\0hunter2");
        assert_ne!(
            a.seal(b"ada\0hunter2").unwrap(),
            sealed,
            "a fresh nonce each time"
        );
        assert!(KeyBox::from_secret("battery staple").open(&sealed).is_err());
        let mut changed = sealed.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert!(a.open(&changed).is_err());
        assert!(a.open(&[]).is_err());
        assert!(!format!("{a:?}").contains("horse"));
    }

    #[test]
    fn the_key_file_is_made_once_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("exiton-key-{}", uuid::Uuid::new_v4()));
        let first = KeyBox::from_key_file(&dir);
        assert!(!dir.join("secret.key").exists(), "made at first use only");
        let sealed = first.seal(b"secret").unwrap();
        let again = KeyBox::from_key_file(&dir);
        assert_eq!(again.open(&sealed).unwrap(), b"secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("secret.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.join("secret.key"), b"short").unwrap();
        assert!(KeyBox::from_key_file(&dir).seal(b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
