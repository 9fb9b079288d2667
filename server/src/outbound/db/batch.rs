//! A transaction step's statements, sent together.
//!
//! sqlx runs each SQLite connection on a thread of its own, so every
//! statement is a round trip between threads: the caller hands the
//! statement over, the connection's thread wakes, runs it and wakes the
//! caller. On a machine whose idle cores sleep (a VM without halt polling,
//! a laptop on battery) each wake costs tens of microseconds, more than the
//! statement. A [`Batch`] therefore goes to SQLite as one multi-statement
//! `execute`: sqlx runs the statements in order on the connection's thread
//! and binds the parameters across them, so a session step of eight
//! statements costs one round trip instead of eight. PostgreSQL's extended
//! protocol prepares one statement at a time, so there the statements run
//! one after another (and a miss stops the batch early).
//!
//! Each statement carries the number of rows it must touch. A conditional
//! write that misses (the session moved, the reservation closed) shows as a
//! short count: [`Batch::run`] answers `false` and the caller rolls back —
//! nothing the batch did survives.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, StatementBuilder, Values};

/// Statements to run in one transaction, with the rows each must touch.
pub(crate) struct Batch {
    backend: DbBackend,
    statements: Vec<(Statement, Option<u64>)>,
}

impl Batch {
    pub(crate) fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            statements: Vec::new(),
        }
    }

    pub(crate) fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Adds `statement`, which must touch exactly `rows` rows.
    pub(crate) fn push(&mut self, statement: &impl StatementBuilder, rows: u64) {
        self.statements
            .push((statement.build(&self.backend), Some(rows)));
    }

    /// Adds a statement whose row count means nothing (a lock, say).
    pub(crate) fn push_unchecked(&mut self, statement: Statement) {
        self.statements.push((statement, None));
    }

    /// Runs the statements in `conn` (a transaction: a short count leaves
    /// work behind that only a rollback undoes). Answers whether every
    /// statement touched the rows it must.
    ///
    /// # Errors
    /// When a statement fails; the ones after it do not run.
    pub(crate) async fn run(self, conn: &impl ConnectionTrait) -> Result<bool, DbErr> {
        let every_count_known = self.statements.iter().all(|(_, rows)| rows.is_some());
        if self.backend == DbBackend::Sqlite && every_count_known && self.statements.len() > 1 {
            let expected: u64 = self.statements.iter().filter_map(|(_, rows)| *rows).sum();
            let touched = conn.execute(self.joined()).await?.rows_affected();
            return Ok(touched == expected);
        }
        for (statement, rows) in self.statements {
            let touched = conn.execute(statement).await?.rows_affected();
            if rows.is_some_and(|rows| rows != touched) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The statements with the rows each must touch, in order.
    pub(crate) fn into_statements(self) -> Vec<(Statement, Option<u64>)> {
        self.statements
    }

    /// The statements as one SQLite string, their values in order (SQLite
    /// numbers bare `?` parameters per statement; sqlx carries on counting
    /// from one statement to the next).
    fn joined(self) -> Statement {
        let mut sql = String::new();
        let mut values = Vec::new();
        for (statement, _) in self.statements {
            sql.push_str(&statement.sql);
            sql.push_str(";\n");
            values.extend(statement.values.map(|v| v.0).unwrap_or_default());
        }
        Statement::from_sql_and_values(self.backend, sql, Values(values))
    }
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sea_orm::sea_query::{Alias, Expr, Query};
    use sea_orm::{Database, TransactionTrait};

    use super::*;

    async fn table() -> sea_orm::DatabaseConnection {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
            .await
            .unwrap();
        db
    }

    /// A row of the scratch table `t (id, n)`.
    pub(in crate::outbound::db) fn insert(id: i64, n: i64) -> sea_orm::sea_query::InsertStatement {
        Query::insert()
            .into_table(Alias::new("t"))
            .columns([Alias::new("id"), Alias::new("n")])
            .values_panic([id.into(), n.into()])
            .to_owned()
    }

    /// Adds `by` to row `id` of `t`.
    pub(in crate::outbound::db) fn bump(id: i64, by: i64) -> sea_orm::sea_query::UpdateStatement {
        Query::update()
            .table(Alias::new("t"))
            .value(Alias::new("n"), Expr::col(Alias::new("n")).add(by))
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned()
    }

    async fn rows(db: &sea_orm::DatabaseConnection) -> Vec<(i64, i64)> {
        use sea_orm::{FromQueryResult, JsonValue};
        JsonValue::find_by_statement(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT id, n FROM t ORDER BY id",
        ))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v["id"].as_i64().unwrap(), v["n"].as_i64().unwrap()))
        .collect()
    }

    #[tokio::test]
    async fn statements_run_in_order_with_their_own_parameters() {
        let db = table().await;
        let mut batch = Batch::new(DbBackend::Sqlite);
        batch.push(&insert(1, 10), 1);
        batch.push(&insert(2, 20), 1);
        // Reads what the statements before it wrote.
        batch.push(&bump(1, 5), 1);
        batch.push(&bump(2, -20), 1);
        let txn = db.begin().await.unwrap();
        assert!(batch.run(&txn).await.unwrap());
        txn.commit().await.unwrap();
        assert_eq!(rows(&db).await, vec![(1, 15), (2, 0)]);
    }

    #[tokio::test]
    async fn a_write_that_misses_is_reported_and_rolls_back() {
        let db = table().await;
        let mut batch = Batch::new(DbBackend::Sqlite);
        batch.push(&insert(1, 10), 1);
        batch.push(&bump(7, 1), 1); // no row 7
        batch.push(&insert(2, 20), 1);
        let txn = db.begin().await.unwrap();
        assert!(!batch.run(&txn).await.unwrap());
        txn.rollback().await.unwrap();
        assert!(rows(&db).await.is_empty());
    }

    #[tokio::test]
    async fn a_failing_statement_stops_the_batch_with_its_error() {
        let db = table().await;
        let mut batch = Batch::new(DbBackend::Sqlite);
        batch.push(&insert(1, 10), 1);
        batch.push(&insert(1, 11), 1); // duplicate key
        batch.push(&insert(2, 20), 1);
        let txn = db.begin().await.unwrap();
        let err = batch.run(&txn).await.unwrap_err();
        assert!(err.to_string().contains("UNIQUE"), "{err}");
        txn.rollback().await.unwrap();
        assert!(rows(&db).await.is_empty());
    }

    #[tokio::test]
    async fn unchecked_statements_run_one_by_one() {
        let db = table().await;
        let mut batch = Batch::new(DbBackend::Sqlite);
        batch.push_unchecked(Statement::from_string(DbBackend::Sqlite, "SELECT 1"));
        batch.push(&insert(3, 30), 1);
        let txn = db.begin().await.unwrap();
        assert!(batch.run(&txn).await.unwrap());
        txn.commit().await.unwrap();
        assert_eq!(rows(&db).await, vec![(3, 30)]);
    }
}
