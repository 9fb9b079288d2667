//! REST API v1: accounts, sessions, error shape, CSRF — on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use common::TestApp;
use serde_json::json;

backends!(health_reports_database, |url: String| async move {
    let app = TestApp::new(&url).await;
    let r = app.client().get("/api/health").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["database"]["status"], "ok");
    let expected = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(r.body["database"]["backend"], expected);
    assert!(
        r.headers.contains_key("x-request-id"),
        "every response carries a request id"
    );
});

backends!(
    signup_sets_a_safe_cookie_and_me_works,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        let r = c
            .post(
                "/api/v1/auth/signup",
                json!({"email": "Ada@Example.com", "password": "correct horse", "name": "Ada"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["email"], "ada@example.com");
        assert_eq!(r.body["subscription_tier"], "free");
        assert!(r.body["id"].is_string());
        assert!(r.body.get("password_hash").is_none());
        let set_cookie = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
        assert!(set_cookie.starts_with("exiton_session="), "{set_cookie}");
        assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
        assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
        assert!(
            !set_cookie.contains("Secure"),
            "plain http by default: {set_cookie}"
        );

        let me = c.get("/api/v1/auth/me").await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.body["name"], "Ada");
        assert_eq!(me.body["ai_preferences"]["confidence_threshold"], 0.85);
    }
);

backends!(
    signup_refuses_bad_input_with_named_fields,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        let cases = [
            (
                json!({"email": "nope", "password": "correct horse", "name": "A"}),
                422,
                "email",
            ),
            (
                json!({"email": "a@b.co", "password": "short", "name": "A"}),
                422,
                "password",
            ),
            (
                json!({"email": "a@b.co", "password": "correct horse", "name": "  "}),
                422,
                "name",
            ),
            (
                json!({"email": "a@b.co", "password": "correct horse"}),
                422,
                "name",
            ),
            (
                json!({"email": 42, "password": "correct horse", "name": "A"}),
                422,
                "email",
            ),
        ];
        for (body, status, field) in cases {
            let r = c.post("/api/v1/auth/signup", body.clone()).await;
            assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text);
            assert_eq!(r.field(), field, "{body}: {}", r.text);
            assert!(r.body["error"]["message"].is_string());
        }
        assert!(c.cookie.is_none(), "no session for a refused sign-up");
        // Nothing was created: the email is still free.
        c.sign_up("a@b.co").await;
    }
);

backends!(
    malformed_requests_get_4xx_not_5xx,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        let malformed = c
            .request(Method::POST, "/api/v1/auth/signup")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{\"email\": "))
            .unwrap();
        let r = c.send(malformed).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert_eq!(r.code(), "malformed_json");

        let not_json = c
            .request(Method::POST, "/api/v1/auth/signup")
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from("email=a"))
            .unwrap();
        let r = c.send(not_json).await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(r.code(), "unsupported_media_type");

        let huge =
            json!({"email": "a@b.co", "password": "correct horse", "name": "x".repeat(100 * 1024)});
        let r = c.post("/api/v1/auth/signup", huge).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
        assert_eq!(r.code(), "payload_too_large");

        let r = c.get("/api/v1/nothing-here").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.code(), "not_found");

        let r = c.json(Method::PUT, "/api/v1/projects", json!({})).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.code(), "method_not_allowed");

        let r = c
            .post(
                "/api/v1/auth/signup",
                json!({"email": "a@b.co", "password": "correct horse", "name": "A", "admin": true}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown fields are refused: {}",
            r.text
        );
    }
);

backends!(login_logout_and_duplicates, |url: String| async move {
    let app = TestApp::new(&url).await;
    let mut first = app.client();
    first.sign_up("grace@example.com").await;

    let mut dup = app.client();
    let r = dup
        .post(
            "/api/v1/auth/signup",
            json!({"email": "GRACE@example.com", "password": "another password", "name": "G"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "email_taken");

    let mut c = app.client();
    let r = c
        .post(
            "/api/v1/auth/login",
            json!({"email": "grace@example.com", "password": "wrong password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "invalid_credentials");
    let r = c
        .post(
            "/api/v1/auth/login",
            json!({"email": "nobody@example.com", "password": "wrong password"}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "unknown email looks the same"
    );
    assert_eq!(r.code(), "invalid_credentials");

    let r = c
        .post(
            "/api/v1/auth/login",
            json!({"email": "grace@example.com", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let old_cookie = c.cookie.clone().unwrap();
    assert_eq!(c.get("/api/v1/auth/me").await.status, StatusCode::OK);

    let r = c.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        c.get("/api/v1/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    // The old cookie is dead server-side, not just forgotten by the client.
    c.cookie = Some(old_cookie);
    let r = c.get("/api/v1/auth/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "unauthenticated");
});

backends!(
    repeated_failed_logins_are_throttled,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        app.client().sign_up("linus@example.com").await;
        let mut c = app.client();
        for _ in 0..5 {
            let r = c
                .post(
                    "/api/v1/auth/login",
                    json!({"email": "linus@example.com", "password": "guess guess"}),
                )
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
        let r = c
            .post(
                "/api/v1/auth/login",
                json!({"email": "linus@example.com", "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
        assert_eq!(r.code(), "too_many_attempts");
        let retry: u64 = r
            .headers
            .get(header::RETRY_AFTER)
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=30).contains(&retry));
    }
);

backends!(unauthenticated_requests_get_401, |url: String| async move {
    let app = TestApp::new(&url).await;
    let mut c = app.client();
    for path in ["/api/v1/auth/me", "/api/v1/projects"] {
        let r = c.get(path).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(r.code(), "unauthenticated");
    }
    let r = c.post("/api/v1/projects", json!({"name": "x"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    c.cookie = Some("exiton_session=forged-value".into());
    assert_eq!(
        c.get("/api/v1/projects").await.status,
        StatusCode::UNAUTHORIZED
    );
});

backends!(sessions_survive_a_restart, |url: String| async move {
    let app = TestApp::new(&url).await;
    let mut c = app.client();
    c.sign_up("restart@example.com").await;
    // A new router and new services over the same database: a restarted server.
    let restarted = TestApp::over(app.db.clone());
    let mut again = restarted.client();
    again.cookie = c.cookie.clone();
    let r = again.get("/api/v1/auth/me").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["email"], "restart@example.com");
});

backends!(cross_origin_writes_are_refused, |url: String| async move {
    let app = TestApp::new(&url).await;
    let mut c = app.client();
    c.sign_up("csrf@example.com").await;
    let evil = c
        .request(Method::POST, "/api/v1/projects")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::from(json!({"name": "pwned"}).to_string()))
        .unwrap();
    let r = c.send(evil).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "cross_origin");
    let same = c
        .request(Method::POST, "/api/v1/projects")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, "http://localhost:3000")
        .body(Body::from(json!({"name": "mine"}).to_string()))
        .unwrap();
    assert_eq!(c.send(same).await.status, StatusCode::CREATED);
    let list = c.get("/api/v1/projects").await;
    assert_eq!(list.body["total"], 1, "the cross-origin write did nothing");
});
