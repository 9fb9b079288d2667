//! Where each AI vendor lives and how long we wait for it, read from the
//! environment through a lookup closure (like `crate::config`) so tests need
//! not touch the process environment. Keys never appear in `Debug` output,
//! because configs end up in logs and panic messages.

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;

/// Default deadline for a whole non-streaming call, or for a streaming call's
/// response headers. Generous: long answers from large models take minutes.
const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 120_000;
/// Default longest silence between two chunks of a stream.
const DEFAULT_STALL_TIMEOUT_MS: u64 = 30_000;

/// How long to wait for a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A non-streaming call end to end; for a stream, until its headers.
    pub request: Duration,
    /// The longest gap between two chunks of a stream before it counts as
    /// stalled.
    pub stall: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            request: Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS),
            stall: Duration::from_millis(DEFAULT_STALL_TIMEOUT_MS),
        }
    }
}

/// One vendor's endpoint and credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct VendorConfig {
    /// Without a trailing slash; adapters append their paths.
    pub base_url: String,
    /// `None` for keyless endpoints (Ollama) or an unconfigured vendor.
    pub api_key: Option<String>,
    pub timeouts: Timeouts,
}

impl VendorConfig {
    /// A config for `base_url` with default timeouts.
    pub fn new(base_url: impl Into<String>, api_key: Option<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key,
            timeouts: Timeouts::default(),
        }
    }

    /// The same config with other timeouts.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub(crate) fn key(&self) -> &str {
        self.api_key.as_deref().unwrap_or_default()
    }
}

impl fmt::Debug for VendorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VendorConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

/// All vendors. A vendor counts as configured when it has a key (Ollama:
/// when `OLLAMA_HOST` is set), see [`ProviderConfig::configured`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub anthropic: VendorConfig,
    pub openai: VendorConfig,
    pub gemini: VendorConfig,
    pub ollama: VendorConfig,
    /// Whether `OLLAMA_HOST` was set explicitly: a default local address is
    /// not a promise that a model server runs there.
    pub ollama_explicit: bool,
}

/// Which vendors [`ProviderConfig`] says can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Configured {
    pub anthropic: bool,
    pub openai: bool,
    pub gemini: bool,
    pub ollama: bool,
}

impl ProviderConfig {
    /// Reads the process environment.
    ///
    /// # Errors
    /// When a variable is set to something unusable; the message names it.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads `ANTHROPIC_*`, `OPENAI_*`, `GEMINI_*`, `OLLAMA_HOST`,
    /// `EXITON_AI_TIMEOUT_MS` and `EXITON_AI_STALL_TIMEOUT_MS` through `get`.
    ///
    /// # Errors
    /// When a variable is set to something unusable; the message names it.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let timeouts = Timeouts {
            request: millis(&get, "EXITON_AI_TIMEOUT_MS", DEFAULT_REQUEST_TIMEOUT_MS)?,
            stall: millis(&get, "EXITON_AI_STALL_TIMEOUT_MS", DEFAULT_STALL_TIMEOUT_MS)?,
        };
        let vendor = |url_var: &str, default: &str, key_var: Option<&str>| {
            let url = get(url_var).unwrap_or_else(|| default.to_owned());
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                anyhow::bail!("{url_var} must start with http:// or https:// (got {url:?})");
            }
            Ok(VendorConfig::new(url, key_var.and_then(&get)).with_timeouts(timeouts))
        };
        Ok(Self {
            anthropic: vendor(
                "ANTHROPIC_BASE_URL",
                "https://api.anthropic.com",
                Some("ANTHROPIC_API_KEY"),
            )?,
            openai: vendor(
                "OPENAI_BASE_URL",
                "https://api.openai.com/v1",
                Some("OPENAI_API_KEY"),
            )?,
            gemini: vendor(
                "GEMINI_BASE_URL",
                "https://generativelanguage.googleapis.com",
                Some("GEMINI_API_KEY"),
            )?,
            ollama: vendor("OLLAMA_HOST", "http://127.0.0.1:11434", None)?,
            ollama_explicit: get("OLLAMA_HOST").is_some(),
        })
    }

    /// Which vendors have what they need to be called.
    pub fn configured(&self) -> Configured {
        Configured {
            anthropic: self.anthropic.api_key.is_some(),
            openai: self.openai.api_key.is_some(),
            gemini: self.gemini.api_key.is_some(),
            ollama: self.ollama_explicit,
        }
    }
}

fn millis(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: u64,
) -> anyhow::Result<Duration> {
    let ms = match get(key) {
        None => default,
        Some(v) => v
            .parse::<u64>()
            .with_context(|| format!("{key} must be a number of milliseconds (got {v:?})"))?,
    };
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> anyhow::Result<ProviderConfig> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ProviderConfig::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_point_at_the_vendors() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.anthropic.base_url, "https://api.anthropic.com");
        assert_eq!(c.openai.base_url, "https://api.openai.com/v1");
        assert_eq!(
            c.gemini.base_url,
            "https://generativelanguage.googleapis.com"
        );
        assert_eq!(c.ollama.base_url, "http://127.0.0.1:11434");
        assert_eq!(c.configured(), Configured::default());
        assert_eq!(c.openai.timeouts, Timeouts::default());
    }

    #[test]
    fn reads_keys_urls_and_timeouts() {
        let c = cfg(&[
            ("ANTHROPIC_API_KEY", "sk-ant-secret"),
            ("OPENAI_BASE_URL", "http://localhost:8080/v1/"),
            ("OLLAMA_HOST", "http://gpu:11434"),
            ("EXITON_AI_TIMEOUT_MS", "500"),
            ("EXITON_AI_STALL_TIMEOUT_MS", "100"),
        ])
        .unwrap();
        assert_eq!(c.anthropic.key(), "sk-ant-secret");
        assert_eq!(
            c.openai.url("/chat/completions"),
            "http://localhost:8080/v1/chat/completions"
        );
        assert_eq!(c.anthropic.timeouts.request, Duration::from_millis(500));
        assert_eq!(c.gemini.timeouts.stall, Duration::from_millis(100));
        let on = c.configured();
        assert!(on.anthropic && on.ollama && !on.openai && !on.gemini);
    }

    #[test]
    fn debug_redacts_keys() {
        let c = cfg(&[("OPENAI_API_KEY", "sk-proj-topsecret")]).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = cfg(&[("EXITON_AI_TIMEOUT_MS", "soon")]).unwrap_err();
        assert!(e.to_string().contains("EXITON_AI_TIMEOUT_MS"));
        let e = cfg(&[("GEMINI_BASE_URL", "ftp://x")]).unwrap_err();
        assert!(e.to_string().contains("GEMINI_BASE_URL"));
    }
}
