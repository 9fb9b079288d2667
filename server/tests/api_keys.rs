//! API keys: created and revoked over REST, shown once, stored hashed, and
//! `Authorization: Bearer <key>` on every `/api/v1` route — on SQLite and
//! PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use common::{Client, Reply, TestApp};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use uuid::Uuid;

/// A request with `Authorization: <authorization>` (and the client's cookie, if any).
async fn with_auth(
    c: &mut Client,
    method: Method,
    path: &str,
    authorization: &str,
    body: Option<Value>,
) -> Reply {
    let builder = c
        .request(method, path)
        .header(header::AUTHORIZATION, authorization);
    let req = match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap();
    c.send(req).await
}

async fn create_key(c: &mut Client, name: &str) -> Value {
    let r = c.post("/api/v1/api-keys", json!({ "name": name })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body
}

fn keys(r: &Reply) -> &Vec<Value> {
    r.body["api_keys"].as_array().unwrap()
}

backends!(
    a_key_is_shown_once_works_as_bearer_and_dies_when_revoked,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut owner = app.client();
        let user = owner.sign_up("keys@example.com").await;

        let r = owner
            .post("/api/v1/api-keys", json!({ "name": "  CI deploy " }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(r.body["name"], "CI deploy");
        let key = r.body["key"].as_str().unwrap().to_owned();
        let prefix = r.body["prefix"].as_str().unwrap();
        let id = r.body["id"].as_str().unwrap().to_owned();
        assert!(key.starts_with("exk_") && key.starts_with(prefix), "{key}");
        assert_eq!(prefix.len(), 12);
        assert_eq!(key.len(), 53);
        assert!(r.body["created_at"].is_string());

        // Listed without the secret, unused so far.
        let list = owner.get("/api/v1/api-keys").await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text);
        assert_eq!(list.body["total"], 1);
        let listed = &keys(&list)[0];
        assert_eq!(listed["id"], id.as_str());
        assert_eq!(listed["prefix"], prefix);
        assert!(listed.get("key").is_none() && listed.get("key_hash").is_none());
        assert!(
            !list.text.contains(&key[13..]),
            "the secret is never listed"
        );
        assert!(listed["last_used_at"].is_null() && listed["revoked_at"].is_null());

        // Stored hashed: the database holds SHA-256 hex, not the key.
        let rows = entity::api_keys::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].key_hash.len(), 64);
        assert!(!rows[0].key_hash.contains(&key[13..]));
        assert_eq!(rows[0].prefix, prefix);

        // A client with only the key: reads and writes as the owner. No
        // Origin header, as API clients send: the CSRF guard lets it pass.
        let bearer = format!("Bearer {key}");
        let mut script = app.client();
        let me = with_auth(&mut script, Method::GET, "/api/v1/auth/me", &bearer, None).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        assert_eq!(me.body["id"], user["id"]);
        let created = with_auth(
            &mut script,
            Method::POST,
            "/api/v1/projects",
            &bearer,
            Some(json!({ "name": "Made by a script" })),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let projects = with_auth(&mut script, Method::GET, "/api/v1/projects", &bearer, None).await;
        assert_eq!(projects.status, StatusCode::OK, "{}", projects.text);
        assert_eq!(projects.body["projects"][0]["name"], "Made by a script");
        assert!(
            script.cookie.is_none(),
            "a bearer request starts no session"
        );
        // The scheme is case-insensitive.
        let lower = with_auth(
            &mut script,
            Method::GET,
            "/api/v1/budget",
            &format!("bearer {key}"),
            None,
        )
        .await;
        assert_eq!(lower.status, StatusCode::OK, "{}", lower.text);
        // The owner's cookie sees what the script made.
        assert_eq!(owner.get("/api/v1/projects").await.body["total"], 1);

        // The use is recorded.
        let list = owner.get("/api/v1/api-keys").await;
        assert!(keys(&list)[0]["last_used_at"].is_string(), "{}", list.text);

        let revoked = owner.delete(&format!("/api/v1/api-keys/{id}")).await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
        let refused = with_auth(&mut script, Method::GET, "/api/v1/projects", &bearer, None).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
        assert_eq!(refused.code(), "unauthenticated");

        // Revoking again is fine; the key stays listed as revoked.
        let again = owner.delete(&format!("/api/v1/api-keys/{id}")).await;
        assert_eq!(again.status, StatusCode::NO_CONTENT, "{}", again.text);
        let list = owner.get("/api/v1/api-keys").await;
        assert!(keys(&list)[0]["revoked_at"].is_string(), "{}", list.text);

        // The audit trail has both, never the secret.
        let user_id = Uuid::parse_str(user["id"].as_str().unwrap()).unwrap();
        let events = server::outbound::db::read_events(&app.db, user_id)
            .await
            .unwrap();
        let types: Vec<&str> = events
            .iter()
            .map(|e| e.event_type.as_str())
            .filter(|t| t.starts_with("ApiKey"))
            .collect();
        assert_eq!(types, ["ApiKeyCreated", "ApiKeyRevoked"]);
        for e in &events {
            assert!(!e.payload.to_string().contains(&key[13..]));
        }
    }
);

backends!(
    a_bad_authorization_header_is_401_even_with_a_valid_cookie,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        c.sign_up("cookie@example.com").await;
        let key = create_key(&mut c, "real").await["key"]
            .as_str()
            .unwrap()
            .to_owned();
        // Well-formed, but no such key.
        let mut unknown = key.clone();
        let last = unknown.pop().unwrap();
        unknown.push(if last == 'a' { 'b' } else { 'a' });
        for authorization in [
            "Bearer garbage".to_owned(),
            "Bearer ".to_owned(),
            "Bearer".to_owned(),
            format!("Basic {key}"),
            key.clone(),
            format!("Bearer {unknown}"),
            format!("Bearer {key}x"),
        ] {
            let r = with_auth(
                &mut c,
                Method::GET,
                "/api/v1/projects",
                &authorization,
                None,
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{authorization}: {}",
                r.text
            );
            assert_eq!(r.code(), "unauthenticated");
            let w = with_auth(
                &mut c,
                Method::POST,
                "/api/v1/projects",
                &authorization,
                Some(json!({ "name": "nope" })),
            )
            .await;
            assert_eq!(
                w.status,
                StatusCode::UNAUTHORIZED,
                "{authorization}: {}",
                w.text
            );
        }
        assert!(c.cookie.is_some(), "the cookie itself is untouched");
        let r = c.get("/api/v1/projects").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["total"], 0, "no refused write went through");

        // Nothing at all: 401 as before.
        let r = app.client().get("/api/v1/api-keys").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
);

backends!(keys_are_private_to_their_owner, |url: String| async move {
    let app = TestApp::new(&url).await;
    let mut ada = app.client();
    ada.sign_up("ada@example.com").await;
    let ada_key = create_key(&mut ada, "ada's").await;
    let ada_id = ada_key["id"].as_str().unwrap().to_owned();

    let mut bob = app.client();
    bob.sign_up("bob@example.com").await;
    let r = bob.delete(&format!("/api/v1/api-keys/{ada_id}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(r.code(), "not_found");
    for missing in [Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let r = bob.delete(&format!("/api/v1/api-keys/{missing}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}: {}", r.text);
    }
    assert_eq!(bob.get("/api/v1/api-keys").await.body["total"], 0);

    // Ada's key is untouched and, used as a bearer, sees Ada's keys only.
    let bearer = format!("Bearer {}", ada_key["key"].as_str().unwrap());
    let mut script = app.client();
    let list = with_auth(&mut script, Method::GET, "/api/v1/api-keys", &bearer, None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.body["total"], 1);
    assert!(keys(&list)[0]["revoked_at"].is_null());

    // A key manages keys too (documented): it can create and revoke.
    let made = with_auth(
        &mut script,
        Method::POST,
        "/api/v1/api-keys",
        &bearer,
        Some(json!({ "name": "made by a key" })),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let gone = with_auth(
        &mut script,
        Method::DELETE,
        &format!("/api/v1/api-keys/{}", made.body["id"].as_str().unwrap()),
        &bearer,
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
});

backends!(names_are_validated, |url: String| async move {
    let app = TestApp::new(&url).await;
    let mut c = app.client();
    c.sign_up("names@example.com").await;
    for body in [
        json!({ "name": "" }),
        json!({ "name": "   " }),
        json!({ "name": "x".repeat(81) }),
        json!({ "name": "line\nbreak" }),
        json!({ "name": 7 }),
        json!({}),
        json!({ "name": "ok", "scopes": ["all"] }),
    ] {
        let r = c.post("/api/v1/api-keys", body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        assert!(r.body.get("key").is_none());
    }
    let r = c.post("/api/v1/api-keys", json!({ "name": "" })).await;
    assert_eq!(r.field(), "name");
    assert_eq!(r.code(), "invalid_field");
    let ok = c
        .post("/api/v1/api-keys", json!({ "name": "x".repeat(80) }))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    assert_eq!(c.get("/api/v1/api-keys").await.body["total"], 1);
});

backends!(
    at_most_twenty_active_keys_even_when_created_at_once,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        c.sign_up("many@example.com").await;
        // 25 creations at once: the per-user lock lets exactly 20 through.
        let tasks: Vec<_> = (0..25)
            .map(|i| {
                let mut c = c.clone();
                tokio::spawn(async move {
                    c.post("/api/v1/api-keys", json!({ "name": format!("key {i}") }))
                        .await
                })
            })
            .collect();
        let mut created = Vec::new();
        let mut refused = 0;
        for task in tasks {
            let r = task.await.unwrap();
            match r.status {
                StatusCode::CREATED => created.push(r.body["id"].as_str().unwrap().to_owned()),
                StatusCode::CONFLICT => {
                    assert_eq!(r.code(), "too_many_api_keys");
                    assert!(r.body["error"]["message"].as_str().unwrap().contains("20"));
                    refused += 1;
                }
                other => panic!("unexpected {other}: {}", r.text),
            }
        }
        assert_eq!((created.len(), refused), (20, 5));
        assert_eq!(c.get("/api/v1/api-keys").await.body["total"], 20);

        // Revoking one makes room for one.
        let r = c.delete(&format!("/api/v1/api-keys/{}", created[0])).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        create_key(&mut c, "replacement").await;
        let r = c
            .post("/api/v1/api-keys", json!({ "name": "one more" }))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        // Newest first; the revoked one is still listed.
        let list = c.get("/api/v1/api-keys").await;
        assert_eq!(list.body["total"], 21);
        assert_eq!(keys(&list)[0]["name"], "replacement");
    }
);

backends!(
    the_settings_page_lists_keys_without_their_secret,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        c.sign_up("page@example.com").await;
        let empty = c.page("/settings").await;
        assert_eq!(empty.status, StatusCode::OK);
        assert!(empty.text.contains("No API keys yet."), "{}", empty.text);

        let live = create_key(&mut c, "Deploy bot").await;
        let dead = create_key(&mut c, "Old laptop").await;
        let r = c
            .delete(&format!(
                "/api/v1/api-keys/{}",
                dead["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);

        let page = c.page("/settings").await;
        assert_eq!(page.status, StatusCode::OK);
        let html = &page.text;
        assert!(html.contains(r#"data-testid="api-keys""#), "{html}");
        assert_eq!(
            html.matches(r#"data-testid="api-key-row""#).count(),
            2,
            "{html}"
        );
        assert!(html.contains("Deploy bot") && html.contains("Old laptop"));
        assert!(html.contains(&format!("{}…", live["prefix"].as_str().unwrap())));
        assert!(html.contains("never used"));
        assert!(html.contains(r#"data-revoked="true""#));
        // Only the live key can be revoked.
        assert_eq!(html.matches(r#"data-testid="api-key-revoke""#).count(), 1);
        for key in [&live, &dead] {
            let secret = &key["key"].as_str().unwrap()[13..];
            assert!(!html.contains(secret), "a secret reached the page");
        }
    }
);
