//! Structured logs with `tracing`: human-readable by default, JSON with
//! `EXITON_LOG_FORMAT=json`; `RUST_LOG` filters.

use tracing_subscriber::EnvFilter;

pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,tower_sessions=warn")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // try_init: a second call (tests) is not an error worth failing over.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
