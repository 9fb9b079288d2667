//! AI preferences: saved through the use case, visible in `/auth/me`,
//! evented, tolerant of rows written before new fields existed, and rendered
//! on the settings page with each role's binding — on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::TestApp;
use domain::accounts::{AiPreferences, Tone};
use domain::band::ProviderKind;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use server::outbound::db::read_events;
use uuid::Uuid;

backends!(
    preferences_round_trip_and_render,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        let user = c.sign_up("prefs@example.com").await;
        let uid = Uuid::parse_str(user["id"].as_str().unwrap()).unwrap();
        let services =
            server::startup::services(&app.db, &common::config("sqlite::memory:")).unwrap();

        let prefs = AiPreferences {
            default_coder: Some(ProviderKind::Gpt),
            default_conductor: Some(ProviderKind::Local),
            tone: Tone::Formal,
            confidence_threshold: 0.9,
            ..AiPreferences::default()
        };
        services
            .accounts
            .update_preferences(uid, prefs)
            .await
            .unwrap();
        let me = c.get("/api/v1/auth/me").await;
        assert_eq!(me.body["ai_preferences"]["default_coder"], "gpt");
        assert_eq!(me.body["ai_preferences"]["default_conductor"], "local");
        assert_eq!(me.body["ai_preferences"]["tone"], "formal");
        assert_eq!(me.body["ai_preferences"]["confidence_threshold"], 0.9);
        let events = read_events(&app.db, uid).await.unwrap();
        assert_eq!(events.last().unwrap().event_type, "AIPreferencesChanged");

        // The settings page shows the choice and, with no provider configured
        // in this test server, says how to configure one.
        let page = c.page("/settings").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("AI settings"));
        assert!(
            page.text.contains("no AI provider is configured"),
            "{}",
            page.text
        );
        assert!(
            page.text.contains(r#"value="gpt" selected"#),
            "{}",
            page.text
        );

        // This month's budget, in the API and on the page.
        let budget = c.get("/api/v1/budget").await;
        assert_eq!(budget.status, StatusCode::OK);
        assert_eq!(budget.body["tier"], "free");
        assert_eq!(budget.body["monthly_limit"], 100_000);
        assert_eq!(budget.body["used_this_month"], 0);
        assert!(page.text.contains("Token budget"));
        assert!(
            page.text.contains("100,000 left · up to 10,000 per task"),
            "{}",
            page.text
        );

        // A row written by an older version (fewer fields) still loads.
        entity::users::Entity::update_many()
            .col_expr(
                entity::users::Column::AiPreferences,
                Expr::value(serde_json::json!({"default_coder": "claude"})),
            )
            .filter(entity::users::Column::Id.eq(uid))
            .exec(&app.db)
            .await
            .unwrap();
        let me = c.get("/api/v1/auth/me").await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.body["ai_preferences"]["default_coder"], "claude");
        assert_eq!(me.body["ai_preferences"]["confidence_threshold"], 0.85);
    }
);
