//! SQLite transactions run on the calling thread.
//!
//! sqlx drives each SQLite connection from a thread of its own: `BEGIN`,
//! the step's statements and `COMMIT` are three hand-offs there and back.
//! After an agent's call the connection's thread has slept for as long as
//! the provider took, and on a machine whose idle cores halt (a VM without
//! halt polling, a laptop on battery) waking it costs about 0.2 ms a
//! hand-off, as much as the SQLite work of a whole session step. A [`Writer`] therefore keeps one connection of
//! its own to the same database file and runs a step — `BEGIN IMMEDIATE`,
//! the statements, `COMMIT` — right where it is asked, as one short
//! synchronous call: no hand-off at all, and nothing to cancel half-way (a
//! dropped future cannot leave a transaction open).
//!
//! It never waits on the runtime's thread. Another step holding the
//! connection is awaited asynchronously; another connection holding the
//! database's write lock (sqlx's pool writes the rest of EXITON's tables)
//! sends the step to a blocking thread, where SQLite's busy timeout waits
//! for it as it does for every other connection.
//!
//! Values are encoded by sqlx's own encoders, so a row written here reads
//! back exactly as one written through sea-orm.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use sea_orm::sqlx::encode::IsNull;
use sea_orm::sqlx::sqlite::SqliteArgumentValue;
use sea_orm::sqlx::{Encode, Sqlite};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::batch::Batch;
use super::connect::{SQLITE_BUSY_TIMEOUT, SQLITE_PRAGMAS};

/// A SQLite file's own connection for transactions run in place.
#[derive(Clone)]
pub(crate) struct Writer {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

/// How one attempt at a transaction ended.
enum Attempt {
    Done(Result<bool, DbErr>),
    /// Another connection holds the write lock (only when not waiting).
    Busy,
}

impl Writer {
    /// A writer for `db`'s file, or `None` when `db` is not a SQLite file
    /// (PostgreSQL, or an in-memory database another connection cannot
    /// share).
    ///
    /// # Errors
    /// When the file cannot be opened or set up.
    pub(crate) async fn open(db: &DatabaseConnection) -> Result<Option<Self>, DbErr> {
        if db.get_database_backend() != DbBackend::Sqlite {
            return Ok(None);
        }
        // SQLite's own answer: the main database's absolute path, empty
        // for an in-memory database.
        let row = db
            .query_one(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT file FROM pragma_database_list WHERE name = 'main'",
            ))
            .await?;
        let file: String = match row {
            Some(row) => row.try_get("", "file")?,
            None => String::new(),
        };
        if file.is_empty() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            &file,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db_err)?;
        for (name, value) in SQLITE_PRAGMAS {
            conn.pragma_update(None, name, value).map_err(db_err)?;
        }
        // A step's statements vary with its shape (how many invocations,
        // events); every shape stays prepared.
        conn.set_prepared_statement_cache_capacity(128);
        Ok(Some(Self {
            conn: Arc::new(Mutex::new(conn)),
        }))
    }

    /// Runs `batch` in one transaction: committed when every statement
    /// touched the rows it must, rolled back otherwise (answering `false`).
    ///
    /// # Errors
    /// When a statement, `BEGIN` or `COMMIT` fails; nothing is kept then.
    pub(crate) async fn run(&self, batch: Batch) -> Result<bool, DbErr> {
        let statements = batch.into_statements();
        // Owned, so a step that must wait for the write lock keeps the
        // connection on its way to the blocking thread.
        let mut conn: OwnedMutexGuard<Connection> = self.conn.clone().lock_owned().await;
        if let Attempt::Done(result) = attempt(&mut conn, &statements, false) {
            return result;
        }
        tokio::task::spawn_blocking(move || match attempt(&mut conn, &statements, true) {
            Attempt::Done(result) => result,
            Attempt::Busy => Err(DbErr::Custom(
                "the database stayed locked past the busy timeout".into(),
            )),
        })
        .await
        .map_err(|e| DbErr::Custom(format!("a blocking database task failed: {e}")))?
    }
}

/// One try at the whole transaction. Without `wait`, a write lock held by
/// another connection answers `Busy` at once instead of blocking.
fn attempt(conn: &mut Connection, statements: &[(Statement, Option<u64>)], wait: bool) -> Attempt {
    let timeout = if wait {
        SQLITE_BUSY_TIMEOUT
    } else {
        Duration::ZERO
    };
    if let Err(e) = conn.busy_timeout(timeout) {
        return Attempt::Done(Err(db_err(e)));
    }
    match control(conn, "BEGIN IMMEDIATE") {
        Ok(()) => {}
        Err(e) if !wait && e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
            return Attempt::Busy;
        }
        Err(e) => return Attempt::Done(Err(db_err(e))),
    }
    let ran = run_all(conn, statements);
    if let Ok(true) = ran {
        match control(conn, "COMMIT") {
            Ok(()) => return Attempt::Done(Ok(true)),
            Err(e) => {
                let _ = control(conn, "ROLLBACK");
                return Attempt::Done(Err(db_err(e)));
            }
        }
    }
    // A miss or a failed statement: nothing of the step survives.
    if let Err(e) = control(conn, "ROLLBACK") {
        tracing::warn!(error = %e, "rolling back a session step failed");
    }
    Attempt::Done(ran.map_err(db_err))
}

/// A transaction-control statement, prepared once per connection.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.raw_execute().map(drop)
}

/// Runs the statements in order; `false` at the first that touched other
/// than the rows it must.
fn run_all(conn: &Connection, statements: &[(Statement, Option<u64>)]) -> rusqlite::Result<bool> {
    for (statement, rows) in statements {
        let mut prepared = conn.prepare_cached(&statement.sql)?;
        if let Some(values) = &statement.values {
            for (i, value) in values.0.iter().enumerate() {
                bind(&mut prepared, i + 1, value)?;
            }
        }
        let touched = u64::try_from(prepared.raw_execute()?).unwrap_or(u64::MAX);
        if rows.is_some_and(|rows| rows != touched) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Binds `value` as sqlx would (its encoders, as sea-orm's SQLite binder
/// calls them), so both paths store the same bytes.
fn bind(statement: &mut rusqlite::Statement<'_>, at: usize, value: &Value) -> rusqlite::Result<()> {
    let mut encoded: Vec<SqliteArgumentValue<'_>> = Vec::with_capacity(1);
    let is_null = encode(value, &mut encoded).map_err(|e| {
        rusqlite::Error::ToSqlConversionFailure(format!("parameter {at}: {e}").into())
    })?;
    if matches!(is_null, IsNull::Yes) {
        encoded.push(SqliteArgumentValue::Null);
    }
    match encoded.first() {
        Some(SqliteArgumentValue::Null) | None => {
            statement.raw_bind_parameter(at, rusqlite::types::Null)
        }
        Some(SqliteArgumentValue::Text(text)) => statement.raw_bind_parameter(at, text.as_ref()),
        Some(SqliteArgumentValue::Blob(bytes)) => statement.raw_bind_parameter(at, bytes.as_ref()),
        Some(SqliteArgumentValue::Double(d)) => statement.raw_bind_parameter(at, d),
        Some(SqliteArgumentValue::Int(n)) => statement.raw_bind_parameter(at, n),
        Some(SqliteArgumentValue::Int64(n)) => statement.raw_bind_parameter(at, n),
    }
}

type Encoded = Result<IsNull, sea_orm::sqlx::error::BoxDynError>;

/// sqlx's encoding of one sea-query value (mirrors sea-query-binder).
fn encode<'q>(value: &'q Value, out: &mut Vec<SqliteArgumentValue<'q>>) -> Encoded {
    fn with<'q, T: Encode<'q, Sqlite>>(
        value: T,
        out: &mut Vec<SqliteArgumentValue<'q>>,
    ) -> Encoded {
        value.encode_by_ref(out)
    }
    match value {
        Value::Bool(v) => with(*v, out),
        Value::TinyInt(v) => with(*v, out),
        Value::SmallInt(v) => with(*v, out),
        Value::Int(v) => with(*v, out),
        Value::BigInt(v) => with(*v, out),
        Value::TinyUnsigned(v) => with(*v, out),
        Value::SmallUnsigned(v) => with(*v, out),
        Value::Unsigned(v) => with(*v, out),
        Value::BigUnsigned(v) => with(v.map(i64::try_from).transpose()?, out),
        Value::Float(v) => with(*v, out),
        Value::Double(v) => with(*v, out),
        Value::String(v) => with(v.as_deref().map(String::as_str), out),
        Value::Char(v) => with(v.map(|c| c.to_string()), out),
        Value::Bytes(v) => with(v.as_deref().map(Vec::as_slice), out),
        Value::Json(v) => with(v.as_deref(), out),
        Value::ChronoDate(v) => with(v.as_deref(), out),
        Value::ChronoTime(v) => with(v.as_deref(), out),
        Value::ChronoDateTime(v) => with(v.as_deref(), out),
        Value::ChronoDateTimeUtc(v) => with(v.as_deref(), out),
        Value::ChronoDateTimeLocal(v) => with(v.as_deref(), out),
        Value::ChronoDateTimeWithTimeZone(v) => with(v.as_deref(), out),
        Value::Uuid(v) => with(v.as_deref(), out),
        #[allow(unreachable_patterns)]
        other => Err(format!("SQLite cannot bind {other:?}").into()),
    }
}

/// SQLite's message, as sea-orm carries other drivers' errors.
fn db_err(e: rusqlite::Error) -> DbErr {
    DbErr::Custom(format!("SQLite: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use chrono::{TimeZone, Utc};
    use sea_orm::sea_query::{Alias, Query};
    use sea_orm::{Database, TransactionTrait};

    use super::super::batch::tests::{bump, insert};
    use super::*;

    /// A migrated SQLite file (as the product opens it) with a scratch
    /// table `t` and a table `v` of every kind of value a step binds.
    async fn file_db() -> (DatabaseConnection, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("exiton-writer-{}", uuid::Uuid::new_v4()));
        let db = super::super::connect(&format!("sqlite://{}/w.db", dir.display()))
            .await
            .unwrap();
        db.execute_unprepared(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
             CREATE TABLE v (k INTEGER PRIMARY KEY, id BLOB, s TEXT, j TEXT, at TEXT,
                             at_fixed TEXT, f REAL, b INTEGER, big INTEGER, none TEXT)",
        )
        .await
        .unwrap();
        (db, dir)
    }

    fn batch(statements: &[&dyn Fn(&mut Batch)]) -> Batch {
        let mut batch = Batch::new(DbBackend::Sqlite);
        for push in statements {
            push(&mut batch);
        }
        batch
    }

    async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<String> {
        db.query_all(Statement::from_string(DbBackend::Sqlite, sql))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.try_get::<String>("", "r").unwrap())
            .collect()
    }

    async fn table_t(db: &DatabaseConnection) -> Vec<String> {
        rows(db, "SELECT id || ':' || n AS r FROM t ORDER BY id").await
    }

    #[tokio::test]
    async fn a_file_gets_a_writer_and_memory_does_not() {
        let (db, dir) = file_db().await;
        assert!(Writer::open(&db).await.unwrap().is_some());
        let memory = Database::connect("sqlite::memory:").await.unwrap();
        assert!(Writer::open(&memory).await.unwrap().is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_step_commits_and_every_connection_sees_it() {
        let (db, dir) = file_db().await;
        let writer = Writer::open(&db).await.unwrap().unwrap();
        let step = batch(&[
            &|b| b.push(&insert(1, 10), 1),
            &|b| b.push(&insert(2, 20), 1),
            // Sees what the statements before it wrote.
            &|b| b.push(&bump(1, 1), 1),
        ]);
        assert!(writer.run(step).await.unwrap());
        assert_eq!(table_t(&db).await, ["1:11", "2:20"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_miss_or_a_failure_leaves_nothing_behind() {
        let (db, dir) = file_db().await;
        let writer = Writer::open(&db).await.unwrap().unwrap();
        let missed = batch(&[&|b| b.push(&insert(1, 10), 1), &|b| b.push(&bump(7, 1), 1)]);
        assert!(!writer.run(missed).await.unwrap());
        let failed = batch(&[
            &|b| b.push(&insert(1, 10), 1),
            &|b| b.push(&insert(1, 11), 1), // duplicate key
        ]);
        let err = writer.run(failed).await.unwrap_err();
        assert!(err.to_string().contains("UNIQUE"), "{err}");
        assert!(table_t(&db).await.is_empty());
        // The connection is usable after both.
        let ok = batch(&[&|b| b.push(&insert(3, 30), 1)]);
        assert!(writer.run(ok).await.unwrap());
        assert_eq!(table_t(&db).await, ["3:30"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn values_are_stored_exactly_as_sea_orm_stores_them() {
        let (db, dir) = file_db().await;
        let writer = Writer::open(&db).await.unwrap().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 13, 14, 15).unwrap()
            + chrono::Duration::microseconds(123_456);
        let row = |k: i64| {
            Query::insert()
                .into_table(Alias::new("v"))
                .columns(
                    [
                        "k", "id", "s", "j", "at", "at_fixed", "f", "b", "big", "none",
                    ]
                    .map(Alias::new),
                )
                .values_panic([
                    k.into(),
                    uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef).into(),
                    "naïve — text".into(),
                    serde_json::json!({"a": [1, 2.5, null], "b": "x\"y"}).into(),
                    at.into(),
                    at.fixed_offset().into(),
                    0.85_f64.into(),
                    true.into(),
                    i64::MAX.into(),
                    Option::<String>::None.into(),
                ])
                .to_owned()
        };
        db.execute(DbBackend::Sqlite.build(&row(1))).await.unwrap();
        assert!(writer.run(batch(&[&|b| b.push(&row(2), 1)])).await.unwrap());
        let columns = ["id", "s", "j", "at", "at_fixed", "f", "b", "big", "none"];
        let shown: Vec<String> = columns
            .iter()
            .map(|c| format!("typeof({c}) || '=' || quote({c})"))
            .collect();
        let sql = format!(
            "SELECT {} AS r FROM v ORDER BY k",
            shown.join(" || ' ' || ")
        );
        let both = rows(&db, &sql).await;
        assert_eq!(both.len(), 2);
        assert_eq!(both[0], both[1]);
        assert!(both[0].contains("blob=X'0123456789ABCDEF"), "{}", both[0]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_write_lock_held_elsewhere_is_waited_for_off_the_runtime() {
        let (db, dir) = file_db().await;
        let writer = Writer::open(&db).await.unwrap().unwrap();
        // The pool's connection takes the write lock first.
        let txn = db.begin().await.unwrap();
        txn.execute(DbBackend::Sqlite.build(&insert(1, 10)))
            .await
            .unwrap();
        let step = tokio::spawn({
            let writer = writer.clone();
            async move { writer.run(batch(&[&|b| b.push(&bump(1, 1), 1)])).await }
        });
        // The runtime stays free while the step waits for the lock.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!step.is_finished());
        txn.commit().await.unwrap();
        assert!(step.await.unwrap().unwrap());
        assert_eq!(table_t(&db).await, ["1:11"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_steps_each_land_once() {
        let (db, dir) = file_db().await;
        let writer = Writer::open(&db).await.unwrap().unwrap();
        assert!(
            writer
                .run(batch(&[&|b| b.push(&insert(1, 0), 1)]))
                .await
                .unwrap()
        );
        let steps: Vec<_> = (0..64)
            .map(|i| {
                let (writer, db) = (writer.clone(), db.clone());
                tokio::spawn(async move {
                    if i % 4 == 0 {
                        // The pool writes too, now and then.
                        db.execute(DbBackend::Sqlite.build(&bump(1, 1)))
                            .await
                            .map(|_| true)
                    } else {
                        writer.run(batch(&[&|b| b.push(&bump(1, 1), 1)])).await
                    }
                })
            })
            .collect();
        for step in steps {
            assert!(step.await.unwrap().unwrap());
        }
        assert_eq!(table_t(&db).await, ["1:64"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
