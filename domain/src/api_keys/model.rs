//! The API key as the rest of the system sees it (never with its secret),
//! the plaintext key on its one trip to the user, and the stored hash.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::SecretGenerator;
use crate::validation::text;
use crate::{BoxError, InvalidField};

/// Every key starts with this, so people and secret scanners can tell an
/// EXITON key at a glance.
pub const SCHEME: &str = "exk_";
/// Length of the public part after the scheme: shown in the UI, so a user
/// can tell keys apart without the secret.
const PREFIX_CHARS: usize = 8;
/// Length of the secret part: 40 base62 characters are about 238 bits.
const SECRET_CHARS: usize = 40;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A user's API key. Revoked keys stay listed (`revoked_at`) for the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// The key's public head (`exk_` and 8 characters); not a secret.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// When the key last authenticated a request, to the minute (see
    /// [`super::LAST_USED_RESOLUTION_SECS`]).
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// What the repository stores for a new key: the key and the hash of its
/// plaintext (the plaintext itself is never stored).
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub key: ApiKey,
    pub hash: KeyHash,
}

/// A key's name, 1–80 characters once trimmed, so a user can tell what
/// each key is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    pub const MAX_CHARS: usize = 80;

    /// # Errors
    /// `InvalidField("name")` when empty, longer than 80 characters or
    /// containing control characters.
    pub fn new(raw: &str) -> Result<Self, InvalidField> {
        text("name", raw, Self::MAX_CHARS, false, true).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A plaintext key, `exk_<8 public>_<40 secret>` in base62: given to the
/// user once at creation, or presented by a client. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainKey(String);

impl PlainKey {
    /// Mints a key from `secrets`, which must be a CSPRNG.
    ///
    /// # Errors
    /// When the random source fails.
    pub fn generate(secrets: &dyn SecretGenerator) -> Result<Self, BoxError> {
        let chars = base62(secrets, PREFIX_CHARS + SECRET_CHARS)?;
        let (public, secret) = chars.split_at(PREFIX_CHARS);
        Ok(Self(format!("{SCHEME}{public}_{secret}")))
    }

    /// A key as a client presents it, if it has the shape of one. Anything
    /// else cannot be a key, so it is refused without a lookup.
    pub fn parse(raw: &str) -> Option<Self> {
        let (public, secret) = raw.strip_prefix(SCHEME)?.split_once('_')?;
        let well_formed = public.len() == PREFIX_CHARS
            && secret.len() == SECRET_CHARS
            && public
                .bytes()
                .chain(secret.bytes())
                .all(|b| b.is_ascii_alphanumeric());
        well_formed.then(|| Self(raw.to_owned()))
    }

    /// The public head, `exk_` and 8 characters.
    pub fn prefix(&self) -> &str {
        self.0.get(..SCHEME.len() + PREFIX_CHARS).unwrap_or(&self.0)
    }

    /// What is stored and looked up instead of the key.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(self)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for PlainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainKey({}…)", self.prefix())
    }
}

/// The SHA-256 of a whole key, in lower-case hex.
///
/// A fast, unsalted hash is the right tool here, unlike for passwords: a
/// key carries about 286 bits from a CSPRNG (238 in its secret part alone),
/// so no amount of hashing speed makes guessing one feasible, and argon2's
/// deliberate slowness would only tax every API request. Being
/// deterministic, the hash can also be looked up through a unique index,
/// so a presented key is found in one query (an index lookup on a hash
/// leaks nothing useful about the key, so no constant-time comparison is
/// needed).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(key: &PlainKey) -> Self {
        let digest = Sha256::digest(key.expose().as_bytes());
        let mut hex = String::with_capacity(digest.len() * 2);
        for byte in digest {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(<redacted>)")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The random source kept answering bytes that cannot be used (a broken
/// or fake generator): better an error than an endless loop.
#[derive(Debug, thiserror::Error)]
#[error("the random source produced no usable bytes")]
struct UnusableRandomness;

/// `n` uniformly distributed base62 characters from `secrets`.
fn base62(secrets: &dyn SecretGenerator, n: usize) -> Result<String, BoxError> {
    // A CSPRNG needs one round for 48 characters almost always; 16 rounds
    // without enough is a broken source.
    const ROUNDS: usize = 16;
    let mut out = String::with_capacity(n);
    let mut buf = [0_u8; 64];
    for _ in 0..ROUNDS {
        secrets.fill(&mut buf)?;
        // Bytes from 248 = 4 × 62 up are dropped (rejection sampling), so
        // every character is equally likely.
        for b in buf.iter().copied().filter(|b| *b < 248) {
            out.push(char::from(ALPHABET[usize::from(b % 62)]));
            if out.len() == n {
                return Ok(out);
            }
        }
    }
    Err(Box::new(UnusableRandomness))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Mutex;

    use super::*;

    /// Counts up from a seed: predictable, which is the point in tests.
    struct Counter(Mutex<u8>);

    impl SecretGenerator for Counter {
        fn fill(&self, buf: &mut [u8]) -> Result<(), BoxError> {
            let mut n = self.0.lock().unwrap();
            for b in buf {
                *b = *n;
                *n = n.wrapping_add(1);
            }
            Ok(())
        }
    }

    struct Stuck;

    impl SecretGenerator for Stuck {
        fn fill(&self, buf: &mut [u8]) -> Result<(), BoxError> {
            buf.fill(255);
            Ok(())
        }
    }

    #[test]
    fn generated_keys_have_the_documented_shape_and_parse() {
        let key = PlainKey::generate(&Counter(Mutex::new(0))).unwrap();
        let s = key.expose();
        assert_eq!(s.len(), 4 + 8 + 1 + 40, "{s}");
        assert!(s.starts_with("exk_"));
        assert_eq!(s.as_bytes()[12], b'_');
        assert_eq!(key.prefix(), &s[..12]);
        assert_eq!(s, "exk_01234567_89ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl");
        assert_eq!(PlainKey::parse(s), Some(key));
    }

    #[test]
    fn rejection_sampling_skips_biased_bytes() {
        let key = PlainKey::generate(&Counter(Mutex::new(240))).unwrap();
        // 240..=247 are 54..=61 (s..z); 248..=255 are dropped; 0.. follow.
        assert!(
            key.expose().starts_with("exk_stuvwxyz_0123"),
            "{:?}",
            key.expose()
        );
    }

    #[test]
    fn a_broken_source_is_an_error_not_a_hang() {
        assert!(PlainKey::generate(&Stuck).is_err());
    }

    #[test]
    fn parse_refuses_anything_else() {
        let good = "exk_01234567_89ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl";
        for bad in [
            "",
            "garbage",
            "exk_",
            &good[..good.len() - 1],
            &format!("{good}x"),
            &good.replace("exk_", "exq_"),
            &good.replace("_89", "-89"),
            &good.replace('A', "é"),
            &good.replace('B', "+"),
        ] {
            assert!(PlainKey::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hash_is_sha256_hex() {
        let key = PlainKey::parse("exk_01234567_89ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl").unwrap();
        let hash = key.hash();
        assert_eq!(hash.as_str().len(), 64);
        assert!(
            hash.as_str()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(hash, KeyHash::of(&key));
        // A known vector: SHA-256("abc").
        assert_eq!(
            KeyHash::of(&PlainKey("abc".into())).as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let key = PlainKey::generate(&Counter(Mutex::new(0))).unwrap();
        let shown = format!("{key:?} {:?}", key.hash());
        assert!(!shown.contains("89ABCDEF"), "{shown}");
        assert!(shown.contains("exk_01234567"), "{shown}");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(ApiKeyName::new("  ci  ").unwrap().into_inner(), "ci");
        assert!(ApiKeyName::new(&"x".repeat(80)).is_ok());
        assert_eq!(ApiKeyName::new(&"x".repeat(81)).unwrap_err().field, "name");
        assert_eq!(ApiKeyName::new("   ").unwrap_err().field, "name");
        assert!(ApiKeyName::new("a\nb").is_err());
    }
}
