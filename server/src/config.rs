//! Typed configuration, read once from the environment (and `.env` in
//! development). Defaults make a bare `cargo leptos serve` work: a SQLite
//! file under `./data`, in-process everything.

use std::fmt;
use std::path::PathBuf;

use anyhow::{Context as _, bail};

use domain::band::binding::BOUND_ROLES;
use domain::band::{ModelLock, ProviderKind};
use domain::sessions::ConductorSettings;

use crate::outbound::ai::ProviderConfig;
use crate::outbound::ai::local::LocalModelConfig;
use crate::outbound::bus::BusSettings;

/// When the session cookie carries the `Secure` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieSecure {
    /// Secure when `EXITON_PUBLIC_URL` is https.
    Auto,
    Always,
    Never,
}

#[derive(Clone)]
pub struct Config {
    /// `sqlite://...` or `postgres://...`; may embed a password, so never printed.
    pub database_url: String,
    pub data_dir: PathBuf,
    /// The URL users reach the app at (scheme://host[:port]); also an allowed
    /// `Origin` for state-changing requests.
    pub public_url: Option<String>,
    pub cookie_secure: CookieSecure,
    pub session_days: i64,
    pub max_body_bytes: usize,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub log_json: bool,
    /// AI providers: the vendors' own variables (keys are redacted in `Debug`).
    pub ai: ProviderConfig,
    /// Model versions per provider and role: the spec's defaults, overridden
    /// by `EXITON_MODEL_<PROVIDER>` (every role) and
    /// `EXITON_MODEL_<PROVIDER>_<ROLE>`, e.g. `EXITON_MODEL_CLAUDE_CODER`.
    pub models: ModelLock,
    /// Who and why, recorded in the model version log when the lock changes
    /// (`EXITON_DEPLOY_USER`, else `USER`; `EXITON_DEPLOY_REASON`).
    pub deploy_user: String,
    pub deploy_reason: Option<String>,
    /// The conductor's tunables: `EXITON_AGENT_TIMEOUT_SECS` (120),
    /// `EXITON_MAX_TOKENS` (2048 per call, less when the tier's session
    /// limit needs it), `EXITON_REVIEW_TTL_HOURS` (24).
    pub conductor: ConductorSettings,
    /// Connection, request and client-address limits (`crate::serve`).
    pub net: NetLimits,
    /// `EXITON_SHUTDOWN_GRACE_SECS` (10): how long runs in progress may go
    /// on after a stop signal before they are recorded as interrupted.
    pub shutdown_grace: std::time::Duration,
    /// The event bus: Redis Streams at `REDIS_URL` (may embed a password,
    /// so redacted in `Debug`), else in-process.
    pub redis_url: Option<String>,
    /// `EXITON_REDIS_PREFIX` (`exiton`): the key prefix of the streams, so
    /// several EXITON deployments can share one Redis.
    pub redis_prefix: String,
    /// `EXITON_INSTANCE_ID` (host and pid): this instance's consumer name
    /// in the reactions' consumer groups. Set it to something stable per
    /// instance (a pod name) so a restarted instance takes back its own
    /// unacknowledged deliveries at once instead of after the idle timeout.
    pub instance_id: String,
    /// `EXITON_BUS_MAX_LEN` (entries kept per stream, 10000) and
    /// `EXITON_BUS_CLAIM_IDLE_MS` (how long a delivery may stay
    /// unacknowledged before another consumer takes it, 30000).
    pub bus: BusSettings,
    /// The built-in local model: `EXITON_LOCAL_MODEL` (a GGUF path, or
    /// `off`; default `<data dir>/models/SmolLM2-135M-Instruct.Q4_1.gguf`),
    /// `EXITON_LOCAL_THREADS`, `EXITON_LOCAL_CONTEXT`,
    /// `EXITON_LOCAL_CONCURRENCY`, `EXITON_LOCAL_QUEUE` (waiting calls per
    /// user), `EXITON_LOCAL_REPEAT_PENALTY`.
    pub local_model: LocalModelSetting,
    /// `EXITON_REPO_ROOTS`: the directories (a path list, `:`-separated)
    /// inside which a project may link a local repository (or clone a
    /// `file://` URL); canonical. Empty by default: no server path is
    /// exposed until the operator says so.
    pub repo_roots: Vec<PathBuf>,
    /// `EXITON_SECRET_KEY`: the key stored credentials are sealed with
    /// (redacted in `Debug`); without it, `<data dir>/secret.key`.
    pub secret_key: Option<String>,
}

/// The allowed roots, each made canonical (symlinks resolved) so that a
/// repository's canonical path can be compared with them.
///
/// # Errors
/// When a listed directory does not exist or is relative.
fn repo_roots(raw: Option<&str>) -> anyhow::Result<Vec<PathBuf>> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    std::env::split_paths(raw)
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| {
            if !p.is_absolute() {
                bail!("EXITON_REPO_ROOTS: {} is not an absolute path", p.display());
            }
            std::fs::canonicalize(&p).map_err(|e| {
                anyhow::anyhow!("EXITON_REPO_ROOTS: {} cannot be used: {e}", p.display())
            })
        })
        .collect()
}

/// The file the set-up scripts unpack into `<data dir>/models/`.
pub const DEFAULT_LOCAL_MODEL: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Whether and how to run the built-in local model.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalModelSetting {
    /// `None` when turned off.
    pub model: Option<LocalModelConfig>,
    /// Whether the path was given explicitly (then a missing file is an
    /// error; the default path may simply not be installed).
    pub explicit: bool,
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// When a variable is set to something unusable; the message names it.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `get`, so tests need not touch the
    /// process environment.
    ///
    /// # Errors
    /// When a variable is set to something unusable; the message names it.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let data_dir = PathBuf::from(get("EXITON_DATA_DIR").unwrap_or_else(|| "data".to_owned()));
        let database_url = get("DATABASE_URL")
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("exiton.db").display()));
        let cookie_secure = match get("EXITON_COOKIE_SECURE").as_deref().map(str::trim) {
            None | Some("" | "auto") => CookieSecure::Auto,
            Some("true" | "1" | "always") => CookieSecure::Always,
            Some("false" | "0" | "never") => CookieSecure::Never,
            Some(other) => {
                bail!("EXITON_COOKIE_SECURE must be auto, true or false (got {other:?})")
            }
        };
        let public_url = get("EXITON_PUBLIC_URL")
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty());
        if let Some(url) = &public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("EXITON_PUBLIC_URL must start with http:// or https:// (got {url:?})");
        }
        let local_model = local_model(&get, &data_dir)?;
        let repo_roots = repo_roots(get("EXITON_REPO_ROOTS").as_deref())?;
        Ok(Self {
            repo_roots,
            secret_key: get("EXITON_SECRET_KEY").filter(|k| !k.trim().is_empty()),
            local_model,
            database_url,
            data_dir,
            public_url,
            cookie_secure,
            session_days: number(&get, "EXITON_SESSION_DAYS", 14)?,
            max_body_bytes: number(&get, "EXITON_MAX_BODY_BYTES", 256 * 1024)?,
            argon2_memory_kib: number(&get, "EXITON_ARGON2_MEMORY_KIB", 19 * 1024)?,
            argon2_iterations: number(&get, "EXITON_ARGON2_ITERATIONS", 2)?,
            log_json: get("EXITON_LOG_FORMAT").is_some_and(|f| f == "json"),
            ai: ProviderConfig::from_lookup(&get)?,
            models: model_lock(&get)?,
            deploy_user: get("EXITON_DEPLOY_USER")
                .or_else(|| get("USER"))
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| "unknown".to_owned()),
            deploy_reason: get("EXITON_DEPLOY_REASON").filter(|r| !r.trim().is_empty()),
            conductor: conductor_settings(&get)?,
            redis_url: get("REDIS_URL")
                .map(|u| u.trim().to_owned())
                .filter(|u| !u.is_empty()),
            redis_prefix: get("EXITON_REDIS_PREFIX")
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "exiton".to_owned()),
            instance_id: get("EXITON_INSTANCE_ID")
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(crate::inbound::reactions::default_consumer_name),
            bus: bus_settings(&get)?,
            net: net_limits(&get)?,
            shutdown_grace: std::time::Duration::from_secs(number(
                &get,
                "EXITON_SHUTDOWN_GRACE_SECS",
                10,
            )?),
        })
    }

    /// Whether the session cookie must be `Secure`.
    pub fn secure_cookies(&self) -> bool {
        match self.cookie_secure {
            CookieSecure::Always => true,
            CookieSecure::Never => false,
            CookieSecure::Auto => self
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
        }
    }
}

/// The spec's model lock with the environment's overrides applied:
/// provider-wide first, then per role.
fn model_lock(get: &impl Fn(&str) -> Option<String>) -> anyhow::Result<ModelLock> {
    let mut lock = ModelLock::default();
    for kind in ProviderKind::ALL {
        let base = format!("EXITON_MODEL_{}", kind.as_str().to_uppercase());
        if let Some(model) = get(&base) {
            lock.set(kind, None, checked_model(&base, &model)?);
        }
        for role in BOUND_ROLES {
            let key = format!("{base}_{}", role.as_str().to_uppercase());
            if let Some(model) = get(&key) {
                lock.set(kind, Some(role), checked_model(&key, &model)?);
            }
        }
    }
    Ok(lock)
}

fn checked_model<'a>(key: &str, model: &'a str) -> anyhow::Result<&'a str> {
    let model = model.trim();
    if model.is_empty() || model.len() > 200 || model.chars().any(char::is_whitespace) {
        bail!("{key} must be a model name without spaces (got {model:?})");
    }
    Ok(model)
}

fn conductor_settings(get: &impl Fn(&str) -> Option<String>) -> anyhow::Result<ConductorSettings> {
    let defaults = ConductorSettings::default();
    let timeout: u64 = number(
        get,
        "EXITON_AGENT_TIMEOUT_SECS",
        defaults.agent_timeout.as_secs(),
    )?;
    let max_tokens: u32 = number(get, "EXITON_MAX_TOKENS", defaults.max_tokens)?;
    let ttl_hours: i64 = number(
        get,
        "EXITON_REVIEW_TTL_HOURS",
        defaults.review_ttl.num_hours(),
    )?;
    if timeout == 0 || max_tokens < 16 || !(1..=24 * 365).contains(&ttl_hours) {
        bail!(
            "EXITON_AGENT_TIMEOUT_SECS must be at least 1, EXITON_MAX_TOKENS at least 16 \
             and EXITON_REVIEW_TTL_HOURS between 1 and 8760"
        );
    }
    Ok(ConductorSettings {
        agent_timeout: std::time::Duration::from_secs(timeout),
        max_tokens,
        review_ttl: chrono::Duration::hours(ttl_hours),
        ..defaults
    })
}

fn local_model(
    get: &impl Fn(&str) -> Option<String>,
    data_dir: &std::path::Path,
) -> anyhow::Result<LocalModelSetting> {
    // Read by the kernels themselves (once, at first use); checked here so
    // a typo stops the start instead of quietly meaning "the best".
    if let Some(kernels) = get("EXITON_LOCAL_KERNELS").filter(|v| !v.is_empty())
        && crate::outbound::ai::local::quant::Isa::named(&kernels).is_none()
    {
        bail!(
            "EXITON_LOCAL_KERNELS must be avx2 or portable (unset: the best kernels \
             the CPU has), not {kernels:?}"
        );
    }
    let chosen = get("EXITON_LOCAL_MODEL").filter(|v| !v.trim().is_empty());
    if chosen.as_deref().map(str::trim) == Some("off") {
        return Ok(LocalModelSetting {
            model: None,
            explicit: true,
        });
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let config = LocalModelConfig {
        path: chosen.as_deref().map_or_else(
            || data_dir.join("models").join(DEFAULT_LOCAL_MODEL),
            |p| PathBuf::from(p.trim()),
        ),
        threads: number(get, "EXITON_LOCAL_THREADS", threads)?,
        context: number(get, "EXITON_LOCAL_CONTEXT", 4096)?,
        concurrency: number(get, "EXITON_LOCAL_CONCURRENCY", 1)?,
        queue: number(get, "EXITON_LOCAL_QUEUE", 16)?,
        // Off by default: on this model it shortens looping prose but
        // garbles code (tried at 1.1, Ollama's default).
        repeat_penalty: number(get, "EXITON_LOCAL_REPEAT_PENALTY", 1.0)?,
    };
    if !(1..=256).contains(&config.threads)
        || !(64..=131_072).contains(&config.context)
        || !(1..=64).contains(&config.concurrency)
        || !(1.0..=2.0).contains(&config.repeat_penalty)
    {
        bail!(
            "EXITON_LOCAL_THREADS must be 1 to 256, EXITON_LOCAL_CONTEXT 64 to 131072, \
             EXITON_LOCAL_CONCURRENCY 1 to 64 and EXITON_LOCAL_REPEAT_PENALTY 1 to 2"
        );
    }
    Ok(LocalModelSetting {
        model: Some(config),
        explicit: chosen.is_some(),
    })
}

fn bus_settings(get: &impl Fn(&str) -> Option<String>) -> anyhow::Result<BusSettings> {
    let defaults = BusSettings::default();
    let max_len: usize = number(get, "EXITON_BUS_MAX_LEN", defaults.max_len)?;
    let claim_idle_ms: u64 = number(
        get,
        "EXITON_BUS_CLAIM_IDLE_MS",
        u64::try_from(defaults.claim_idle.as_millis()).unwrap_or(u64::MAX),
    )?;
    if max_len == 0 || claim_idle_ms == 0 {
        bail!("EXITON_BUS_MAX_LEN and EXITON_BUS_CLAIM_IDLE_MS must be at least 1");
    }
    Ok(BusSettings {
        max_len,
        claim_idle: std::time::Duration::from_millis(claim_idle_ms),
        ..defaults
    })
}

/// Limits that keep slow or abusive clients from tying the server up.
#[derive(Debug, Clone)]
pub struct NetLimits {
    /// A connection must finish its request headers within this
    /// (`EXITON_HEADER_READ_TIMEOUT_SECS`, 10).
    pub header_read_timeout: std::time::Duration,
    /// A request's response must start within this, else 503
    /// (`EXITON_REQUEST_TIMEOUT_SECS`, 30). Bodies already streaming and
    /// upgraded sockets are not cut.
    pub request_timeout: std::time::Duration,
    /// Connections served at once; more wait in the listen queue
    /// (`EXITON_MAX_CONNECTIONS`, 1024).
    pub max_connections: usize,
    /// Password hashes (argon2id, 19 MiB each) computed at once; sign-ins
    /// past it wait briefly, then get 429 (`EXITON_MAX_CONCURRENT_HASHES`,
    /// the number of cores).
    pub max_concurrent_hashes: usize,
    /// Sign-up attempts one client may make per hour
    /// (`EXITON_SIGNUPS_PER_HOUR`, 10).
    pub sign_ups_per_hour: u32,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` names the
    /// client (`EXITON_TRUSTED_PROXIES`: addresses or CIDR ranges, comma
    /// separated; none by default, so those headers are ignored).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for NetLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: std::time::Duration::from_secs(10),
            request_timeout: std::time::Duration::from_secs(30),
            max_connections: 1024,
            max_concurrent_hashes: cores(),
            sign_ups_per_hour: 10,
            trusted_proxies: Vec::new(),
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

fn net_limits(get: &impl Fn(&str) -> Option<String>) -> anyhow::Result<NetLimits> {
    let defaults = NetLimits::default();
    let secs = |key: &str, default: std::time::Duration| -> anyhow::Result<std::time::Duration> {
        let n: u64 = number(get, key, default.as_secs())?;
        if n == 0 {
            bail!("{key} must be at least 1");
        }
        Ok(std::time::Duration::from_secs(n))
    };
    let at_least_one = |key: &str, default: usize| -> anyhow::Result<usize> {
        let n: usize = number(get, key, default)?;
        if n == 0 {
            bail!("{key} must be at least 1");
        }
        Ok(n)
    };
    Ok(NetLimits {
        header_read_timeout: secs(
            "EXITON_HEADER_READ_TIMEOUT_SECS",
            defaults.header_read_timeout,
        )?,
        request_timeout: secs("EXITON_REQUEST_TIMEOUT_SECS", defaults.request_timeout)?,
        max_connections: at_least_one("EXITON_MAX_CONNECTIONS", defaults.max_connections)?,
        max_concurrent_hashes: at_least_one(
            "EXITON_MAX_CONCURRENT_HASHES",
            defaults.max_concurrent_hashes,
        )?,
        sign_ups_per_hour: number(get, "EXITON_SIGNUPS_PER_HOUR", defaults.sign_ups_per_hour)?,
        trusted_proxies: trusted_proxies(get("EXITON_TRUSTED_PROXIES").as_deref())?,
    })
}

/// `10.0.0.1, 10.1.0.0/16, ::1` → the ranges (a bare address is its own /32
/// or /128).
fn trusted_proxies(raw: Option<&str>) -> anyhow::Result<Vec<ipnet::IpNet>> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .with_context(|| {
                    format!("EXITON_TRUSTED_PROXIES: {s:?} is not an address or CIDR range")
                })
        })
        .collect()
}

fn number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: T,
) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match get(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .with_context(|| format!("{key} must be a number (got {v:?})")),
    }
}

/// Hides a URL's password: `postgres://user:secret@host` → `postgres://user:***@host`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((creds, host)) => match creds.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("data_dir", &self.data_dir)
            .field("public_url", &self.public_url)
            .field("cookie_secure", &self.cookie_secure)
            .field("session_days", &self.session_days)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("argon2_memory_kib", &self.argon2_memory_kib)
            .field("argon2_iterations", &self.argon2_iterations)
            .field("log_json", &self.log_json)
            .field("ai", &self.ai)
            .field("models", &self.models)
            .field("deploy_user", &self.deploy_user)
            .field("conductor", &self.conductor)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("instance_id", &self.instance_id)
            .field("bus", &self.bus)
            .field("net", &self.net)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("local_model", &self.local_model)
            .field("repo_roots", &self.repo_roots)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use domain::band::AgentRole;

    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn network_limits_and_trusted_proxies() {
        let c = cfg(&[]).unwrap();
        assert!(c.net.trusted_proxies.is_empty());
        assert_eq!(c.net.header_read_timeout.as_secs(), 10);
        let c = cfg(&[
            ("EXITON_TRUSTED_PROXIES", " 10.0.0.1, 172.16.0.0/12,::1 "),
            ("EXITON_MAX_CONNECTIONS", "8"),
        ])
        .unwrap();
        let proxies: Vec<String> = c
            .net
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(proxies, ["10.0.0.1/32", "172.16.0.0/12", "::1/128"]);
        assert_eq!(c.net.max_connections, 8);
        let bad = cfg(&[("EXITON_TRUSTED_PROXIES", "10.0.0.1,proxy.local")]).unwrap_err();
        assert!(format!("{bad:#}").contains("proxy.local"), "{bad:#}");
        assert!(cfg(&[("EXITON_REQUEST_TIMEOUT_SECS", "0")]).is_err());
    }

    #[test]
    fn defaults_to_sqlite_in_data_dir() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.database_url, "sqlite://data/exiton.db");
        assert!(!c.secure_cookies());
    }

    #[test]
    fn model_versions_are_locked_with_overrides() {
        let c = cfg(&[
            ("EXITON_MODEL_LOCAL", "qwen2.5-coder:7b"),
            ("EXITON_MODEL_CLAUDE_REVIEWER", "claude-opus-4-1"),
        ])
        .unwrap();
        assert_eq!(
            c.models.model(ProviderKind::Local, AgentRole::Designer),
            Some("qwen2.5-coder:7b")
        );
        assert_eq!(
            c.models.model(ProviderKind::Claude, AgentRole::Reviewer),
            Some("claude-opus-4-1")
        );
        assert_eq!(
            c.models.model(ProviderKind::Claude, AgentRole::Coder),
            ModelLock::default().model(ProviderKind::Claude, AgentRole::Coder)
        );
        let err = cfg(&[("EXITON_MODEL_GPT", "gpt 4")]).unwrap_err();
        assert!(format!("{err:#}").contains("EXITON_MODEL_GPT"));
    }

    #[test]
    fn the_builtin_model_is_configured_by_its_variables() {
        let c = cfg(&[("EXITON_DATA_DIR", "/srv/exiton")]).unwrap();
        let local = c.local_model.model.unwrap();
        assert!(!c.local_model.explicit, "the default file may be absent");
        assert_eq!(
            local.path,
            PathBuf::from("/srv/exiton/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        );
        assert_eq!(
            (local.context, local.concurrency, local.queue),
            (4096, 1, 16)
        );
        assert!(local.threads >= 1);

        let c = cfg(&[
            ("EXITON_LOCAL_MODEL", " /models/other.gguf "),
            ("EXITON_LOCAL_THREADS", "3"),
            ("EXITON_LOCAL_CONTEXT", "1024"),
            ("EXITON_LOCAL_CONCURRENCY", "2"),
            ("EXITON_LOCAL_QUEUE", "0"),
            ("EXITON_LOCAL_REPEAT_PENALTY", "1.15"),
        ])
        .unwrap();
        assert!(
            c.local_model.explicit,
            "a missing explicit file is an error"
        );
        let local = c.local_model.model.unwrap();
        assert_eq!(local.path, PathBuf::from("/models/other.gguf"));
        assert_eq!(
            (local.threads, local.context, local.concurrency, local.queue),
            (3, 1024, 2, 0)
        );
        assert!((local.repeat_penalty - 1.15).abs() < 1e-6);

        for kernels in ["avx2", "portable", ""] {
            assert!(
                cfg(&[("EXITON_LOCAL_KERNELS", kernels)]).is_ok(),
                "{kernels}"
            );
        }

        let off = cfg(&[("EXITON_LOCAL_MODEL", "off")]).unwrap();
        assert_eq!(off.local_model.model, None);
        let blank = cfg(&[("EXITON_LOCAL_MODEL", "  ")]).unwrap();
        assert!(!blank.local_model.explicit && blank.local_model.model.is_some());

        for (var, value) in [
            ("EXITON_LOCAL_THREADS", "0"),
            ("EXITON_LOCAL_CONTEXT", "32"),
            ("EXITON_LOCAL_CONCURRENCY", "65"),
            ("EXITON_LOCAL_THREADS", "many"),
            ("EXITON_LOCAL_QUEUE", "-1"),
            ("EXITON_LOCAL_REPEAT_PENALTY", "0.5"),
            ("EXITON_LOCAL_REPEAT_PENALTY", "NaN"),
            ("EXITON_LOCAL_KERNELS", "avx-512"),
            ("EXITON_LOCAL_KERNELS", "AVX2"),
        ] {
            let err = format!("{:#}", cfg(&[(var, value)]).unwrap_err());
            assert!(err.contains(var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn debug_redacts_provider_keys() {
        let c = cfg(&[("ANTHROPIC_API_KEY", "sk-ant-verysecret")]).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("verysecret"), "{shown}");
        assert!(c.ai.configured().anthropic);
    }

    #[test]
    fn debug_redacts_database_password() {
        let c = cfg(&[("DATABASE_URL", "postgres://app:s3cr3t@db:5432/exiton")]).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("postgres://app:***@db:5432/exiton"));
    }

    #[test]
    fn repo_roots_are_canonical_and_the_secret_key_redacted() {
        let c = cfg(&[("EXITON_SECRET_KEY", "correct horse battery")]).unwrap();
        assert!(c.repo_roots.is_empty(), "none by default");
        assert!(!format!("{c:?}").contains("horse"));
        let tmp = std::env::temp_dir();
        let listed = format!("{}:{}", tmp.display(), tmp.join(".").display());
        let c = cfg(&[("EXITON_REPO_ROOTS", &listed)]).unwrap();
        let canonical = std::fs::canonicalize(&tmp).unwrap();
        assert_eq!(c.repo_roots, [canonical.clone(), canonical]);
        let err = cfg(&[("EXITON_REPO_ROOTS", "relative/dir")]).unwrap_err();
        assert!(err.to_string().contains("absolute"), "{err}");
        let err = cfg(&[("EXITON_REPO_ROOTS", "/no/such/exiton/root")]).unwrap_err();
        assert!(err.to_string().contains("EXITON_REPO_ROOTS"), "{err}");
    }

    #[test]
    fn instance_id_names_the_reactions_consumer() {
        let c = cfg(&[("EXITON_INSTANCE_ID", " web-1 ")]).unwrap();
        assert_eq!(c.instance_id, "web-1");
        let c = cfg(&[("EXITON_INSTANCE_ID", "")]).unwrap();
        let pid = std::process::id().to_string();
        assert!(c.instance_id.ends_with(&pid), "{}", c.instance_id);
    }

    #[test]
    fn redis_url_selects_the_bus_and_is_redacted() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.redis_url, None, "in-process bus by default");
        let c = cfg(&[
            ("REDIS_URL", "redis://default:r3d1spass@cache:6379/0"),
            ("EXITON_BUS_MAX_LEN", "500"),
            ("EXITON_BUS_CLAIM_IDLE_MS", "1500"),
        ])
        .unwrap();
        assert_eq!(
            c.redis_url.as_deref(),
            Some("redis://default:r3d1spass@cache:6379/0")
        );
        assert_eq!(c.bus.max_len, 500);
        assert_eq!(c.bus.claim_idle, std::time::Duration::from_millis(1500));
        let shown = format!("{c:?}");
        assert!(!shown.contains("r3d1spass"), "{shown}");
        assert!(
            shown.contains("redis://default:***@cache:6379/0"),
            "{shown}"
        );
        let shown = format!(
            "{:?}",
            cfg(&[("REDIS_URL", "redis://:only-pass@cache")]).unwrap()
        );
        assert!(!shown.contains("only-pass"), "{shown}");
        assert!(cfg(&[("EXITON_BUS_MAX_LEN", "0")]).is_err());
    }

    #[test]
    fn secure_cookie_follows_https_public_url() {
        assert!(
            cfg(&[("EXITON_PUBLIC_URL", "https://exiton.example")])
                .unwrap()
                .secure_cookies()
        );
        assert!(
            !cfg(&[("EXITON_PUBLIC_URL", "http://localhost:3000")])
                .unwrap()
                .secure_cookies()
        );
        assert!(
            cfg(&[("EXITON_COOKIE_SECURE", "true")])
                .unwrap()
                .secure_cookies()
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = cfg(&[("EXITON_SESSION_DAYS", "soon")]).unwrap_err();
        assert!(format!("{err:#}").contains("EXITON_SESSION_DAYS"));
        assert!(cfg(&[("EXITON_COOKIE_SECURE", "maybe")]).is_err());
        assert!(cfg(&[("EXITON_PUBLIC_URL", "exiton.example")]).is_err());
    }
}
