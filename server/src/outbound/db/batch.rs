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

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use sea_orm::{
    ActiveModelTrait, ActiveValue, ConnectionTrait, DbBackend, DbErr, EntityTrait, Iterable,
    QueryTrait, Statement, StatementBuilder, Value, Values,
};

/// Statements to run in one transaction, with the rows each must touch.
pub(crate) struct Batch {
    backend: DbBackend,
    statements: Vec<(Statement, Option<u64>)>,
}

/// What a kept INSERT's SQL depends on, besides the engine (see
/// [`Batch::push_insert`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Shape {
    Insert {
        entity: TypeId,
        rows: usize,
        columns: u128,
    },
}

/// Which of `row`'s columns hold a value (set or unchanged: what an INSERT
/// writes), one bit each in declaration order. `is_not_set` rather than
/// `get`, which clones the value — a prompt, a JSON tree — to look at it.
fn set_columns<A: ActiveModelTrait>(row: &A) -> u128 {
    <A::Entity as EntityTrait>::Column::iter()
        .enumerate()
        .filter(|(_, c)| !row.is_not_set(*c))
        .fold(0, |mask, (i, _)| mask | 1 << i.min(127))
}

/// Statements rendered so far, by shape and engine. A handful of entries:
/// the shapes are the step kinds times the rows a step writes.
static SHAPES: LazyLock<Mutex<HashMap<(Shape, u8), String>>> = LazyLock::new(Default::default);

/// The SQL kept for `shape` on `backend`, rendered by `render` the first
/// time.
fn kept_sql(shape: Shape, backend: DbBackend, render: impl FnOnce() -> String) -> String {
    SHAPES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry((shape, backend as u8))
        .or_insert_with(render)
        .clone()
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

    /// Adds one INSERT of `rows`, which must all set the same columns.
    ///
    /// A session step inserts rows of the same few shapes every time, and
    /// rendering their SQL through sea-query costs more than running it
    /// (about 0.1 ms a step, on the cold caches of a thread that just woke).
    /// So the SQL is rendered once per shape — entity, row count, columns
    /// set, engine — and kept; later inserts of that shape only collect the
    /// values, in the order sea-query renders them: row after row, each
    /// row's set columns in declaration order. (A test holds the two to the
    /// same SQL and values.)
    pub(crate) fn push_insert<A: ActiveModelTrait>(&mut self, rows: Vec<A>) {
        let count = rows.len();
        let touched = u64::try_from(count).unwrap_or(u64::MAX);
        let columns: Vec<<A::Entity as EntityTrait>::Column> =
            <A::Entity as EntityTrait>::Column::iter().collect();
        let mask = rows.first().map_or(0, set_columns);
        if count == 0 || columns.len() > 128 || rows.iter().any(|r| set_columns(r) != mask) {
            // Not a shape worth keeping: sea-query as usual.
            let insert = <A::Entity as EntityTrait>::insert_many(rows).into_query();
            return self.push(&insert, touched);
        }
        let shape = Shape::Insert {
            entity: TypeId::of::<A::Entity>(),
            rows: count,
            columns: mask,
        };
        let sql = kept_sql(shape, self.backend, || {
            let insert = <A::Entity as EntityTrait>::insert_many(rows.clone()).into_query();
            StatementBuilder::build(&insert, &self.backend).sql
        });
        let mut values: Vec<Value> = Vec::with_capacity(count * columns.len());
        for mut row in rows {
            for column in &columns {
                if let ActiveValue::Set(v) | ActiveValue::Unchanged(v) = row.take(*column) {
                    values.push(v);
                }
            }
        }
        self.statements.push((
            Statement::from_sql_and_values(self.backend, sql, Values(values)),
            Some(touched),
        ));
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

    /// `push_insert` renders exactly what sea-query renders, the first time
    /// (building the shape) and the next (from the kept SQL).
    fn same_as_sea_query<A: ActiveModelTrait>(rows: Vec<A>) {
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            for _ in 0..2 {
                let mut batch = Batch::new(backend);
                batch.push_insert(rows.clone());
                let insert = <A::Entity as EntityTrait>::insert_many(rows.clone()).into_query();
                let expected = StatementBuilder::build(&insert, &backend);
                let (got, count) = &batch.statements[0];
                assert_eq!(got.sql, expected.sql);
                assert_eq!(got.values, expected.values);
                assert_eq!(*count, Some(rows.len() as u64));
            }
        }
    }

    #[test]
    fn kept_insert_shapes_render_as_sea_query_does() {
        use chrono::{TimeZone, Utc};
        use entity::{agent_invocations, events, review_requests};
        use sea_orm::ActiveValue::{NotSet, Set};
        let at = Utc
            .with_ymd_and_hms(2026, 12, 2, 14, 0, 0)
            .unwrap()
            .fixed_offset();
        let event = |n: u128| events::ActiveModel {
            sequence: NotSet,
            id: Set(uuid::Uuid::from_u128(n)),
            event_type: Set(format!("Event{n}")),
            aggregate_id: Set(uuid::Uuid::from_u128(n + 100)),
            aggregate_type: Set("ai_session".into()),
            user_id: Set(None),
            project_id: Set(Some(uuid::Uuid::from_u128(7))),
            timestamp: Set(at),
            payload: Set(serde_json::json!({ "n": n as u64 })),
            metadata: Set(serde_json::json!({})),
        };
        same_as_sea_query(vec![event(1)]);
        same_as_sea_query(vec![event(1), event(2), event(3)]);
        let invocation = |n: u128| agent_invocations::ActiveModel {
            id: Set(uuid::Uuid::from_u128(n)),
            session_id: Set(uuid::Uuid::from_u128(9)),
            agent: Set("claude".into()),
            role: Set("coder".into()),
            prompt: Set("Write it.".into()),
            response: Set(serde_json::json!({ "content": "fn main() {}", "n": n as u64 })),
            confidence: Set(0.9),
            tokens_used: Set(120),
            execution_time_ms: Set(20),
            invoked_at: Set(at),
        };
        same_as_sea_query(vec![invocation(1), invocation(2)]);
        same_as_sea_query(vec![review_requests::ActiveModel {
            id: Set(uuid::Uuid::from_u128(1)),
            session_id: Set(uuid::Uuid::from_u128(2)),
            user_id: Set(uuid::Uuid::from_u128(3)),
            kind: Set("final_approval".into()),
            status: Set("pending_review".into()),
            reasons: Set(serde_json::json!([])),
            average_confidence: Set(0.91),
            created_at: Set(at),
            expires_at: Set(at),
            decided_at: Set(None),
        }]);
    }

    #[test]
    fn rows_setting_different_columns_are_not_kept() {
        use entity::events;
        use sea_orm::ActiveValue::{NotSet, Set};
        let some = events::ActiveModel {
            id: Set(uuid::Uuid::from_u128(1)),
            ..Default::default()
        };
        let more = events::ActiveModel {
            id: Set(uuid::Uuid::from_u128(2)),
            event_type: Set("E".into()),
            sequence: NotSet,
            ..Default::default()
        };
        let shape = (
            Shape::Insert {
                entity: TypeId::of::<events::Entity>(),
                rows: 2,
                columns: set_columns(&some),
            },
            DbBackend::Sqlite as u8,
        );
        let mut batch = Batch::new(DbBackend::Sqlite);
        batch.push_insert(vec![some, more]);
        assert_eq!(batch.statements.len(), 1);
        assert!(!SHAPES.lock().unwrap().contains_key(&shape));
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
