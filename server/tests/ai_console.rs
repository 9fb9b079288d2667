//! The band's console: configured providers with their locked models,
//! circuit state and last error; a manual reset; the model version log —
//! on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use chrono::Utc;
use common::TestApp;
use domain::band::{AgentRole, AiRequest, ChatMessage, ModelLock, ProviderKind};
use serde_json::json;
use server::outbound::db::{model_history, record_model_lock};

backends!(
    model_lock_changes_are_logged_once_with_who_and_why,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let lock = ModelLock::default();
        let first = record_model_lock(&app.db, &lock, "ci", None, Utc::now())
            .await
            .unwrap();
        assert_eq!(first.len(), 16, "first start records every locked version");
        let again = record_model_lock(&app.db, &lock, "ci", None, Utc::now())
            .await
            .unwrap();
        assert!(again.is_empty(), "an unchanged lock is not logged again");

        let mut newer = lock.clone();
        newer.set(
            ProviderKind::Claude,
            Some(AgentRole::Coder),
            "claude-opus-4-1",
        );
        let changes = record_model_lock(
            &app.db,
            &newer,
            "ada",
            Some("better code reviews"),
            Utc::now(),
        )
        .await
        .unwrap();
        assert_eq!(
            changes,
            ["claude coder: claude-sonnet-4-5-20250929 → claude-opus-4-1"]
        );
        let history = model_history(&app.db, 10).await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].changed_by, "ada");
        assert_eq!(history[0].reason, "better code reviews");
        assert_eq!(history[0].versions, newer);
        assert_eq!(history[1].reason, "first start: initial lock");

        let mut c = app.client();
        c.sign_up("models@example.com").await;
        let r = c.get("/api/v1/ai/models").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["history"].as_array().unwrap().len(), 2);
        assert_eq!(
            r.body["current"]["versions"]["claude"]["coder"],
            "claude-sonnet-4-5-20250929"
        );
    }
);

backends!(
    console_shows_providers_circuits_and_resets,
    |url: String| async move {
        // Claude points at a closed port: every call is refused.
        let app = TestApp::with_vars(
            &url,
            &[
                ("ANTHROPIC_API_KEY", "sk-ant-test"),
                ("ANTHROPIC_BASE_URL", "http://127.0.0.1:9"),
                ("OLLAMA_HOST", "http://127.0.0.1:9"),
                ("EXITON_MODEL_LOCAL", "qwen2.5-coder"),
            ],
        )
        .await;
        let mut c = app.client();
        assert_eq!(
            c.get("/api/v1/ai/providers").await.status,
            StatusCode::UNAUTHORIZED
        );
        c.sign_up("console@example.com").await;

        let r = c.get("/api/v1/ai/providers").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["available"], json!(["claude", "local"]));
        let providers = r.body["providers"].as_array().unwrap();
        assert_eq!(providers.len(), 2);
        assert_eq!(providers[0]["name"], "anthropic");
        assert_eq!(providers[0]["circuit"]["state"], "closed");
        assert_eq!(
            providers[0]["models"]["coder"],
            "claude-sonnet-4-5-20250929"
        );
        assert_eq!(providers[1]["models"]["designer"], "qwen2.5-coder");
        assert!(
            !r.text.contains("sk-ant-test"),
            "keys never leave the server"
        );

        // A real call through the coder's chain: Claude refuses the connection,
        // then the local model too. The console then shows the failures.
        let band = &app.services.band;
        let chain = band.chain(AgentRole::Coder, None);
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].model, "claude-sonnet-4-5-20250929");
        assert_eq!(
            chain[1].model, "qwen2.5-coder",
            "local last, with its locked model"
        );
        let request = AiRequest {
            model: String::new(),
            system: None,
            messages: vec![ChatMessage::user("hello")],
            temperature: 0.2,
            max_tokens: 16,
            tenant: None,
        };
        let out = band.resilience().call(&chain, &request, None).await;
        assert!(out.result.is_err());
        assert_eq!(
            out.attempts.len(),
            6,
            "each refused connection is retried, then the chain moves on"
        );
        let r = c.get("/api/v1/ai/providers").await;
        assert_eq!(r.body["providers"][0]["circuit"]["consecutive_failures"], 3);
        assert!(
            r.body["providers"][0]["circuit"]["last_error"]
                .as_str()
                .unwrap()
                .contains("unreachable")
        );
        let page = c.page("/settings").await;
        assert!(page.text.contains("Provider health"));
        assert!(page.text.contains("3 failures in a row"), "{}", page.text);

        // The app's own band: reset works for a known provider, 404 otherwise.
        assert_eq!(
            c.post("/api/v1/ai/providers/anthropic/reset", json!({}))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        let r = c.post("/api/v1/ai/providers/nobody/reset", json!({})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.code(), "not_found");

        // The settings page now resolves roles to configured providers.
        let page = c.page("/settings").await;
        assert!(
            page.text
                .contains("the best configured provider for the coder role"),
            "{}",
            page.text
        );
    }
);
