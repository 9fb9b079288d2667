#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Schema tests that run the real migrations on both supported backends.
//!
//! Every test body is written once against a `DatabaseConnection` and run
//! twice by `on_both_backends!`: on an in-memory SQLite database, and on a
//! throw-away PostgreSQL database created under `EXITON_TEST_DATABASE_URL`
//! (an admin URL, e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
//! Without that variable the PostgreSQL variants only print a notice, unless
//! `CI` is set, where a silently skipped suite would hide regressions.
//!
//! Rows are written through the `entity` crate on purpose: that checks that
//! the entities and the migrations agree on every column name and type.

use std::future::Future;

use chrono::{DateTime, FixedOffset};
use entity::{
    agent_invocations, ai_sessions, api_keys, events, human_intervention_points, human_reviews,
    projects, tasks, token_budgets, tower_sessions, users,
};
use migration::Migrator;
use migration::sea_orm_migration::MigratorTrait;
use migration::sea_orm_migration::sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ConnectionTrait, Database,
    DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel, PaginatorTrait, Statement,
};
use serde_json::json;
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Per-backend harness
// ---------------------------------------------------------------------------

/// Admin connection string for the PostgreSQL variants.
const PG_URL_VAR: &str = "EXITON_TEST_DATABASE_URL";

/// Generates `mod <test> { sqlite, postgres }` running the same body on both.
macro_rules! on_both_backends {
    ($($test:ident => $body:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                super::run_on_sqlite(super::$body).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::run_on_postgres(super::$body).await;
            }
        }
    )*};
}

on_both_backends! {
    migrations_round_trip => roundtrip_up_down_up,
    entities_match_schema => entities_round_trip,
    full_text_search => full_text_search_tracks_tasks,
    events_are_append_only => events_reject_update_and_delete,
    check_constraints => check_constraints_reject_bad_values,
}

async fn run_on_sqlite<F, Fut>(body: F)
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: Future<Output = ()>,
{
    // sea-orm caps SQLite pools at one connection, so the whole test sees the
    // same in-memory database.
    let db = Database::connect("sqlite::memory:").await.unwrap();
    body(db).await;
}

async fn run_on_postgres<F, Fut>(body: F)
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(admin_url) = std::env::var(PG_URL_VAR) else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "{PG_URL_VAR} must be set in CI: the PostgreSQL schema tests may not be skipped"
            );
        }
        eprintln!("notice: {PG_URL_VAR} is not set; skipping the PostgreSQL variant");
        return;
    };

    let admin = Database::connect(&admin_url).await.unwrap();
    let name = format!("exiton_test_{}", Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();

    let db = Database::connect(&with_database(&admin_url, &name))
        .await
        .unwrap();
    // A spawned task turns a failed assertion into a JoinError instead of
    // unwinding past the cleanup below.
    let outcome = tokio::spawn(body(db)).await;

    // FORCE: the body's pool may still hold connections when it panicked.
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
    admin.close().await.unwrap();

    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// `url` with its database name replaced by `db` (query string kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").expect("database URL has a scheme");
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    match query {
        Some(query) => format!("{scheme}://{authority}/{db}?{query}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A fixed, whole-second instant: it round-trips exactly through both
/// backends (PostgreSQL keeps microseconds, SQLite stores text).
fn at(rfc3339: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap()
}

fn user(email: &str) -> users::Model {
    users::Model {
        id: Uuid::new_v4(),
        email: email.to_owned(),
        name: Some("Ada".to_owned()),
        password_hash: "$argon2id$v=19$stub".to_owned(),
        subscription_tier: "free".to_owned(),
        ai_preferences: json!({}),
        created_at: at("2026-11-25T10:00:00+00:00"),
        updated_at: at("2026-11-25T10:00:00+00:00"),
    }
}

fn project(owner_id: Uuid) -> projects::Model {
    projects::Model {
        id: Uuid::new_v4(),
        owner_id,
        name: "EXITON".to_owned(),
        description: None,
        status: "active".to_owned(),
        metadata: json!({}),
        created_at: at("2026-11-25T10:00:00+00:00"),
        updated_at: at("2026-11-25T10:00:00+00:00"),
    }
}

fn task(project_id: Uuid, title: &str, description: Option<&str>) -> tasks::Model {
    tasks::Model {
        id: Uuid::new_v4(),
        project_id,
        title: title.to_owned(),
        description: description.map(str::to_owned),
        status: "todo".to_owned(),
        assigned_ai_agent: None,
        ai_generated: false,
        confidence_score: None,
        human_review_required: false,
        created_by: "human".to_owned(),
        metadata: json!({}),
        created_at: at("2026-11-25T10:00:00+00:00"),
        updated_at: at("2026-11-25T10:00:00+00:00"),
        human_moved_at: None,
        progressed_at: None,
    }
}

fn event(user_id: Option<Uuid>) -> events::ActiveModel {
    events::ActiveModel {
        sequence: NotSet,
        id: Set(Uuid::new_v4()),
        event_type: Set("TaskCreated".to_owned()),
        aggregate_id: Set(Uuid::new_v4()),
        aggregate_type: Set("Task".to_owned()),
        user_id: Set(user_id),
        project_id: Set(None),
        timestamp: Set(at("2026-11-25T10:00:00+00:00")),
        payload: Set(json!({ "title": "x" })),
        metadata: Set(json!({})),
    }
}

/// Ids of the tasks whose title/description match the prefix `word`, using
/// each backend's full-text search exactly as the application will.
async fn search_tasks(db: &DatabaseConnection, word: &str) -> Vec<Uuid> {
    let backend = db.get_database_backend();
    let stmt = match backend {
        DbBackend::Sqlite => Statement::from_sql_and_values(
            backend,
            "SELECT tasks.id FROM tasks JOIN tasks_fts ON tasks.rowid = tasks_fts.rowid \
             WHERE tasks_fts MATCH ? ORDER BY tasks.title",
            [format!("{word}*").into()],
        ),
        DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            "SELECT id FROM tasks \
             WHERE to_tsvector('english', title || ' ' || COALESCE(description, '')) \
             @@ to_tsquery('english', $1) ORDER BY title",
            [format!("{word}:*").into()],
        ),
        DbBackend::MySql => unreachable!("not a supported backend"),
    };
    db.query_all(stmt)
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<Uuid>(0).unwrap())
        .collect()
}

/// Application tables left in the database (the migration bookkeeping table
/// and SQLite internals excluded).
async fn app_tables(db: &DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT IN ('seaql_migrations', 'sqlite_sequence') ORDER BY name"
        }
        DbBackend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name <> 'seaql_migrations' \
             ORDER BY table_name"
        }
        DbBackend::MySql => unreachable!("not a supported backend"),
    };
    db.query_all(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
}

async fn scalar_string(db: &DatabaseConnection, sql: &str) -> String {
    let backend = db.get_database_backend();
    db.query_one(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .expect("query returned a row")
        .try_get_by_index::<String>(0)
        .unwrap()
}

// ---------------------------------------------------------------------------
// Test bodies (each gets a fresh, empty database)
// ---------------------------------------------------------------------------

async fn roundtrip_up_down_up(db: DatabaseConnection) {
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(
        app_tables(&db).await.len(),
        19 + usize::from(db.get_database_backend() == DbBackend::Sqlite) * 5,
        "19 tables (+ tasks_fts and its 4 shadow tables on SQLite): {:?}",
        app_tables(&db).await
    );

    Migrator::down(&db, None).await.unwrap();
    assert_eq!(app_tables(&db).await, Vec::<String>::new());
    if db.get_database_backend() == DbBackend::Postgres {
        // `down` must also remove the trigger function, or `up` would clash.
        let leftovers = scalar_string(
            &db,
            "SELECT count(*)::text FROM pg_proc WHERE proname = 'events_reject_mutation'",
        )
        .await;
        assert_eq!(leftovers, "0");
    }

    Migrator::up(&db, None).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );

    // `fresh` drops every table by listing them (FTS shadow tables included
    // on SQLite) and re-applies everything; it must not trip over our extras.
    Migrator::fresh(&db).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );

    // Column types that are easy to get wrong across backends.
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            let events_sql =
                scalar_string(&db, "SELECT sql FROM sqlite_master WHERE name = 'events'").await;
            assert!(
                events_sql.contains("\"sequence\" integer NOT NULL PRIMARY KEY AUTOINCREMENT"),
                "{events_sql}"
            );
            let sessions_sql = scalar_string(
                &db,
                "SELECT sql FROM sqlite_master WHERE name = 'tower_sessions'",
            )
            .await;
            assert!(
                sessions_sql.contains("\"data\" blob NOT NULL"),
                "{sessions_sql}"
            );
        }
        DbBackend::Postgres => {
            let sequence = scalar_string(
                &db,
                "SELECT data_type || ' ' || column_default FROM information_schema.columns \
                 WHERE table_name = 'events' AND column_name = 'sequence'",
            )
            .await;
            assert!(sequence.starts_with("bigint nextval("), "{sequence}");
            let data = scalar_string(
                &db,
                "SELECT data_type::text FROM information_schema.columns \
                 WHERE table_name = 'tower_sessions' AND column_name = 'data'",
            )
            .await;
            assert_eq!(data, "bytea");
            let json = scalar_string(
                &db,
                "SELECT data_type::text FROM information_schema.columns \
                 WHERE table_name = 'users' AND column_name = 'ai_preferences'",
            )
            .await;
            assert_eq!(json, "jsonb");
        }
        DbBackend::MySql => unreachable!(),
    }
}

async fn entities_round_trip(db: DatabaseConnection) {
    Migrator::up(&db, None).await.unwrap();

    // Whatever goes in through an entity must come back identical: this is
    // where a column name, type or nullability mismatch would show up.
    macro_rules! insert_exact {
        ($module:ident, $model:expr) => {{
            let model: $module::Model = $model;
            let stored = model.clone().into_active_model().insert(&db).await.unwrap();
            assert_eq!(stored, model);
            let found = $module::Entity::find_by_id(model.id.clone())
                .one(&db)
                .await
                .unwrap();
            assert_eq!(found.as_ref(), Some(&model));
            model
        }};
    }

    let mut ada = user("ada@example.com");
    ada.ai_preferences = json!({ "conductor": "chatgpt", "agents": ["claude", "gpt"] });
    let ada = insert_exact!(users, ada);
    let bob = insert_exact!(users, user("bob@example.com"));
    insert_exact!(
        token_budgets,
        token_budgets::Model {
            id: Uuid::new_v4(),
            user_id: ada.id,
            tier: "pro".to_owned(),
            monthly_limit: 5_000_000_000,
            max_session_tokens: 200_000,
            used_this_month: 0,
            reserved_tokens: 1_000,
            resets_at: at("2026-12-01T00:00:00+00:00"),
            created_at: at("2026-11-25T10:00:00+00:00"),
            updated_at: at("2026-11-25T10:00:00+00:00"),
        }
    );
    let proj = insert_exact!(projects, project(ada.id));
    let mut t = task(proj.id, "Ship it", Some("with tests"));
    t.ai_generated = true;
    t.confidence_score = Some(0.75);
    t.assigned_ai_agent = Some("claude".to_owned());
    let t = insert_exact!(tasks, t);
    let session = insert_exact!(
        ai_sessions,
        ai_sessions::Model {
            id: Uuid::new_v4(),
            project_id: proj.id,
            task_id: Some(t.id),
            user_id: ada.id,
            conductor: "chatgpt".to_owned(),
            total_tokens_used: 1234,
            status: "awaiting_review".to_owned(),
            started_at: at("2026-11-25T10:00:00+00:00"),
            completed_at: None,
            metadata: json!({}),
        }
    );
    let invocation = insert_exact!(
        agent_invocations,
        agent_invocations::Model {
            id: Uuid::new_v4(),
            session_id: session.id,
            agent: "claude".to_owned(),
            role: "coder".to_owned(),
            prompt: "write it".to_owned(),
            response: json!({ "diff": "+1" }),
            confidence: 0.9,
            tokens_used: 1234,
            execution_time_ms: 5678,
            invoked_at: at("2026-11-25T10:00:01+00:00"),
        }
    );
    insert_exact!(
        human_reviews,
        human_reviews::Model {
            id: Uuid::new_v4(),
            session_id: session.id,
            reviewer_id: bob.id,
            ai_response_id: Some(invocation.id),
            decision: "modified".to_owned(),
            reason: Some("naming".to_owned()),
            modifications: Some(json!({ "rename": "x" })),
            reviewed_at: at("2026-11-25T10:05:00+00:00"),
            output_hash: Some("ab".repeat(32)),
        }
    );
    insert_exact!(
        human_intervention_points,
        human_intervention_points::Model {
            id: Uuid::new_v4(),
            session_id: session.id,
            user_id: ada.id,
            task_id: Some(t.id),
            intervention_type: "override".to_owned(),
            ai_agent: "claude".to_owned(),
            ai_suggestion: json!({ "a": 1 }),
            ai_confidence: 0.4,
            ai_reasoning: None,
            human_decision: json!({ "b": 2 }),
            reason: "too risky".to_owned(),
            modifications: None,
            context: Some(json!({ "file": "lib.rs" })),
            timestamp: at("2026-11-25T10:06:00+00:00"),
            tags: Some(json!(["safety", "naming"])),
            category: Some("quality".to_owned()),
        }
    );
    insert_exact!(
        api_keys,
        api_keys::Model {
            id: Uuid::new_v4(),
            user_id: ada.id,
            name: "ci".to_owned(),
            prefix: "exk_abcd".to_owned(),
            key_hash: "f".repeat(128),
            created_at: at("2026-11-25T10:00:00+00:00"),
            last_used_at: None,
            revoked_at: Some(at("2026-11-26T10:00:00+00:00")),
        }
    );
    insert_exact!(
        tower_sessions,
        tower_sessions::Model {
            id: "s".repeat(128),
            data: vec![0, 159, 146, 150, 255],
            expiry_date: at("2026-11-26T10:00:00+00:00"),
        }
    );

    // Events: the sequence is assigned by the database, in insertion order.
    let first = event(Some(ada.id)).insert(&db).await.unwrap();
    let second = event(None).insert(&db).await.unwrap();
    assert!(second.sequence > first.sequence, "{first:?} / {second:?}");
    assert_eq!(first.payload, json!({ "title": "x" }));

    // Deleting the reviewer does not get blocked by the review, and deleting
    // the owner cascades through everything; events (no FK) survive.
    users::Entity::delete_by_id(bob.id).exec(&db).await.unwrap();
    assert_eq!(human_reviews::Entity::find().count(&db).await.unwrap(), 0);
    users::Entity::delete_by_id(ada.id).exec(&db).await.unwrap();
    for (table, count) in [
        (
            "token_budgets",
            token_budgets::Entity::find().count(&db).await,
        ),
        ("projects", projects::Entity::find().count(&db).await),
        ("tasks", tasks::Entity::find().count(&db).await),
        ("ai_sessions", ai_sessions::Entity::find().count(&db).await),
        (
            "agent_invocations",
            agent_invocations::Entity::find().count(&db).await,
        ),
        (
            "human_intervention_points",
            human_intervention_points::Entity::find().count(&db).await,
        ),
        ("api_keys", api_keys::Entity::find().count(&db).await),
    ] {
        assert_eq!(count.unwrap(), 0, "{table} should cascade from users");
    }
    assert_eq!(events::Entity::find().count(&db).await.unwrap(), 2);
}

async fn full_text_search_tracks_tasks(db: DatabaseConnection) {
    Migrator::up(&db, None).await.unwrap();

    let owner = user("fts@example.com")
        .into_active_model()
        .insert(&db)
        .await
        .unwrap();
    let proj = project(owner.id)
        .into_active_model()
        .insert(&db)
        .await
        .unwrap();
    let auth = task(proj.id, "Refactor authentication module", None)
        .into_active_model()
        .insert(&db)
        .await
        .unwrap();
    let docs = task(
        proj.id,
        "Write onboarding docs",
        Some("Explain the invoice workflow"),
    )
    .into_active_model()
    .insert(&db)
    .await
    .unwrap();

    assert_eq!(search_tasks(&db, "authent").await, vec![auth.id]);
    assert_eq!(search_tasks(&db, "onboard").await, vec![docs.id]);
    // The description is indexed too.
    assert_eq!(search_tasks(&db, "invoic").await, vec![docs.id]);
    assert!(search_tasks(&db, "zebra").await.is_empty());

    // Renaming re-indexes: the old words disappear, the new ones match.
    let mut renamed = auth.clone().into_active_model();
    renamed.title = Set("Polish landing page".to_owned());
    renamed.update(&db).await.unwrap();
    assert!(search_tasks(&db, "authent").await.is_empty());
    assert_eq!(search_tasks(&db, "land").await, vec![auth.id]);

    // Updating a non-indexed column leaves the index alone and correct.
    let mut moved = docs.clone().into_active_model();
    moved.status = Set("in_progress".to_owned());
    moved.update(&db).await.unwrap();
    assert_eq!(search_tasks(&db, "onboard").await, vec![docs.id]);

    tasks::Entity::delete_by_id(docs.id)
        .exec(&db)
        .await
        .unwrap();
    assert!(search_tasks(&db, "onboard").await.is_empty());
    assert!(search_tasks(&db, "invoic").await.is_empty());
    assert_eq!(search_tasks(&db, "land").await, vec![auth.id]);

    // Cascaded deletes (user -> project -> tasks) fire the triggers too.
    users::Entity::delete_by_id(owner.id)
        .exec(&db)
        .await
        .unwrap();
    assert!(search_tasks(&db, "land").await.is_empty());

    match db.get_database_backend() {
        DbBackend::Sqlite => {
            // rank = 1 makes FTS5 compare the index with the content table.
            db.execute_unprepared(
                "INSERT INTO tasks_fts(tasks_fts, rank) VALUES ('integrity-check', 1)",
            )
            .await
            .unwrap();
        }
        DbBackend::Postgres => {
            let indexdef = scalar_string(
                &db,
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_tasks_search'",
            )
            .await;
            assert!(indexdef.contains("USING gin"), "{indexdef}");
        }
        DbBackend::MySql => unreachable!(),
    }
}

async fn events_reject_update_and_delete(db: DatabaseConnection) {
    Migrator::up(&db, None).await.unwrap();

    let stored = event(None).insert(&db).await.unwrap();

    let update = db
        .execute_unprepared("UPDATE events SET event_type = 'Tampered'")
        .await
        .expect_err("UPDATE on events must fail");
    assert!(update.to_string().contains("append-only"), "{update}");

    let delete = db
        .execute_unprepared("DELETE FROM events")
        .await
        .expect_err("DELETE on events must fail");
    assert!(delete.to_string().contains("append-only"), "{delete}");

    let still_there = events::Entity::find_by_id(stored.sequence)
        .one(&db)
        .await
        .unwrap();
    assert_eq!(still_there, Some(stored));
}

async fn check_constraints_reject_bad_values(db: DatabaseConnection) {
    Migrator::up(&db, None).await.unwrap();

    let owner = user("checks@example.com")
        .into_active_model()
        .insert(&db)
        .await
        .unwrap();
    let proj = project(owner.id)
        .into_active_model()
        .insert(&db)
        .await
        .unwrap();

    let mut bad_status = task(proj.id, "bad status", None);
    bad_status.status = "someday".to_owned();
    assert!(bad_status.into_active_model().insert(&db).await.is_err());

    let mut bad_confidence = task(proj.id, "bad confidence", None);
    bad_confidence.confidence_score = Some(1.5);
    assert!(
        bad_confidence
            .into_active_model()
            .insert(&db)
            .await
            .is_err()
    );

    let mut bad_author = task(proj.id, "bad author", None);
    bad_author.created_by = "robot".to_owned();
    assert!(bad_author.into_active_model().insert(&db).await.is_err());

    // A session may be cancelled (issue 17), not anything else.
    let session = |status: &str| ai_sessions::Model {
        id: Uuid::new_v4(),
        project_id: proj.id,
        task_id: None,
        user_id: owner.id,
        conductor: "claude".to_owned(),
        total_tokens_used: 0,
        status: status.to_owned(),
        started_at: at("2026-12-07T10:00:00+00:00"),
        completed_at: None,
        metadata: json!({}),
    };
    assert!(
        session("cancelled")
            .into_active_model()
            .insert(&db)
            .await
            .is_ok()
    );
    assert!(
        session("abandoned")
            .into_active_model()
            .insert(&db)
            .await
            .is_err()
    );

    let mut bad_tier = user("tier@example.com");
    bad_tier.subscription_tier = "enterprise".to_owned();
    assert!(bad_tier.into_active_model().insert(&db).await.is_err());

    let budget = token_budgets::Model {
        id: Uuid::new_v4(),
        user_id: owner.id,
        tier: "free".to_owned(),
        monthly_limit: 100,
        max_session_tokens: 10,
        used_this_month: -1,
        reserved_tokens: 0,
        resets_at: at("2026-12-01T00:00:00+00:00"),
        created_at: at("2026-11-25T10:00:00+00:00"),
        updated_at: at("2026-11-25T10:00:00+00:00"),
    };
    assert!(
        budget
            .clone()
            .into_active_model()
            .insert(&db)
            .await
            .is_err()
    );

    // Column defaults apply when the application leaves a column out.
    let mut defaults = tasks::ActiveModel {
        id: Set(Uuid::new_v4()),
        project_id: Set(proj.id),
        title: Set("defaults".to_owned()),
        created_by: Set("ai".to_owned()),
        created_at: Set(at("2026-11-25T10:00:00+00:00")),
        updated_at: Set(at("2026-11-25T10:00:00+00:00")),
        ..Default::default()
    };
    defaults.description = NotSet;
    let stored = defaults.insert(&db).await.unwrap();
    assert_eq!(stored.status, "todo");
    assert!(!stored.ai_generated && !stored.human_review_required);
    assert_eq!(stored.metadata, json!({}));

    // A valid row still goes in, and the budget period key is unique.
    let ok = token_budgets::Model {
        used_this_month: 0,
        ..budget
    };
    ok.clone().into_active_model().insert(&db).await.unwrap();
    let duplicate_period = token_budgets::Model {
        id: Uuid::new_v4(),
        ..ok
    };
    assert!(
        duplicate_period
            .into_active_model()
            .insert(&db)
            .await
            .is_err()
    );
}
