//! Opening the database named by the configuration and bringing its schema
//! up to date.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use migration::Migrator;
use migration::sea_orm_migration::MigratorTrait as _;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};

/// Which engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// # Errors
    /// For any scheme other than `sqlite:` or `postgres(ql):`.
    pub fn of(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite:// or postgres://")
        }
    }
}

/// Settings every SQLite connection gets, sqlx's and the session steps'
/// own (`writer`). With WAL, `NORMAL` syncs at checkpoints instead of every
/// commit: a crash of EXITON loses nothing, a power cut may lose the last
/// commits but never corrupts the file (SQLite's recommended setting for
/// WAL). Checkpoints (the only fsyncs left) run in a background task rather
/// than inside whichever commit crosses SQLite's automatic threshold.
pub(super) const SQLITE_PRAGMAS: [(&str, &str); 3] = [
    ("synchronous", "NORMAL"),
    ("wal_autocheckpoint", "0"),
    ("foreign_keys", "ON"),
];

/// How long a SQLite writer waits for another's lock.
pub(super) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `url`, creating a SQLite file (and its directory) on first
/// run, and applies pending migrations.
///
/// # Errors
/// When the database cannot be reached or migrated.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let backend = Backend::of(url)?;
    let url = match backend {
        Backend::Sqlite => prepare_sqlite(url)?,
        Backend::Postgres => url.to_owned(),
    };
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(match backend {
            // SQLite has one writer; a small pool avoids lock contention.
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        })
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        // A local file never goes stale: pinging it on every checkout only
        // adds a round trip to each query.
        .test_before_acquire(backend == Backend::Postgres)
        .sqlx_logging(false);
    // WAL (a property of the file once set) lets readers proceed during a
    // write; the busy timeout makes a writer wait for the lock instead of
    // failing.
    options.map_sqlx_sqlite_opts(|o| {
        SQLITE_PRAGMAS.into_iter().fold(
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT),
            |o, (name, value)| o.pragma(name, value),
        )
    });
    let db = Database::connect(options)
        .await
        .context("connecting to the database")?;
    Migrator::up(&db, None)
        .await
        .context("applying migrations")?;
    if backend == Backend::Sqlite {
        spawn_checkpointer(db.clone());
    }
    Ok(db)
}

/// Copies the SQLite write-ahead log back into the database file every
/// second, off every request's path. `PASSIVE` never blocks writers or
/// readers; what it cannot copy now, it copies next time.
fn spawn_checkpointer(db: DatabaseConnection) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = db
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await
            {
                tracing::debug!(error = %e, "WAL checkpoint skipped");
            }
        }
    });
}

/// Makes sure the SQLite file's directory exists and asks sqlx to create
/// the file (`mode=rwc`) if it is missing.
fn prepare_sqlite(url: &str) -> anyhow::Result<String> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        return Ok(url.to_owned());
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating database directory {}", dir.display()))?;
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// A trivial round trip, for `/api/health`.
///
/// # Errors
/// When the database does not answer.
pub async fn health(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    db.execute(Statement::from_string(
        db.get_database_backend(),
        "SELECT 1",
    ))
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn backend_is_picked_by_scheme() {
        assert_eq!(Backend::of("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert_eq!(
            Backend::of("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert!(Backend::of("mysql://h/db").is_err());
    }

    #[test]
    fn sqlite_file_urls_get_create_mode() {
        let dir = std::env::temp_dir().join(format!("exiton-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/sub/app.db", dir.display());
        let prepared = prepare_sqlite(&url).unwrap();
        assert!(prepared.ends_with("app.db?mode=rwc"));
        assert!(dir.join("sub").is_dir());
        assert_eq!(
            prepare_sqlite("sqlite::memory:").unwrap(),
            "sqlite::memory:"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
