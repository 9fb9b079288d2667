//! What a security review asked for, over the real router on SQLite and
//! PostgreSQL: user text never reaches a page as markup, every response
//! carries the security headers and a CSP whose nonce the page's scripts
//! carry, server functions refuse oversized bodies with 413, and request
//! ids are always the server's own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod band_rig;
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use band_rig::*;
use common::TestApp;
use domain::band::{AgentRole, ProviderKind};
use domain::reviews::Decision;
use domain::sessions::SessionStatus;
use leptos::server_fn::ServerFn as _;
use uuid::Uuid;

/// Closes a textarea, then tries a script, an event handler and a link.
const XSS: &str = "</textarea><script>alert('xss')</script><img src=x onerror=alert(1)><a href=\"javascript:alert(2)\">x</a>";

/// Any of these in a page means some user text went out as markup.
fn assert_inert(page: &str, html: &str) {
    for raw in [
        "<script>alert(",
        "<img src=x",
        "</textarea><script",
        "<a href=\"javascript:",
    ] {
        assert!(
            !html.contains(raw),
            "{page} carries {raw:?} unescaped:\n{html}"
        );
    }
}

/// A coder whose output is the payload and who is unsure of it: the gate
/// stops the band and the review page offers the output for editing.
fn hostile(kind: ProviderKind) -> Arc<Scripted> {
    Scripted::new(kind, |role| match role {
        AgentRole::Coder => Step::Answer(
            "</textarea><script>alert('xss')</script><img src=x onerror=alert(1)>\nConfidence: 0.3",
        ),
        other => Step::Answer(good_answer(other)),
    })
}

async fn gate(rig: &Rig, task: Uuid) -> (Uuid, Uuid, String) {
    let started = rig.conductor.start(rig.user, task, intent()).await.unwrap();
    let status = rig.conductor.run(started.job).await.unwrap();
    assert_eq!(status, SessionStatus::AwaitingReview);
    let review = rig
        .reviews
        .open_review_of(rig.user, started.session.id)
        .await
        .unwrap();
    let detail = rig.reviews.open_review(rig.user, review.id).await.unwrap();
    (started.session.id, review.id, detail.output_hash)
}

backends!(
    user_text_never_reaches_a_page_as_markup,
    |url: String| async move {
        let rig = rig(&url, vec![hostile(ProviderKind::Claude)]).await;
        // The modified session's synthesis is never played here.
        several_at_once(&rig).await;
        let mut c = rig.client.clone();
        let project = c.create_project(XSS).await;
        let pid = project["id"].as_str().unwrap().to_owned();
        let edited = c
            .patch(
                &format!("/api/v1/projects/{pid}"),
                serde_json::json!({"description": XSS}),
            )
            .await;
        assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
        let task = |t: &serde_json::Value| Uuid::parse_str(t["id"].as_str().unwrap()).unwrap();
        let rejected_task = task(&c.create_task(&pid, XSS, XSS).await);
        let modified_task = task(&c.create_task(&pid, "modified", XSS).await);
        let open_task = task(&c.create_task(&pid, "open", XSS).await);

        // Reasons, comments and edits are user text too.
        let (rejected, review, hash) = gate(&rig, rejected_task).await;
        let reason = format!("{XSS} is not what I asked for");
        rig.reviews
            .decide(rig.user, review, Decision::Reject { reason }, Some(&hash))
            .await
            .unwrap();
        let (modified, review, hash) = gate(&rig, modified_task).await;
        let modify = Decision::Modify {
            outputs: BTreeMap::from([(AgentRole::Coder, XSS.to_owned())]),
            comment: Some(XSS.to_owned()),
        };
        rig.reviews
            .decide(rig.user, review, modify, Some(&hash))
            .await
            .unwrap();
        let (open, open_review, _) = gate(&rig, open_task).await;

        let pages = [
            "/".to_owned(),
            format!("/projects/{pid}"),
            format!("/projects/{pid}?task={rejected_task}"),
            format!("/projects/{pid}?task={open_task}"),
            format!("/tasks/{rejected_task}/band"),
            format!("/sessions/{rejected}"),
            format!("/sessions/{modified}"),
            format!("/sessions/{open}"),
            "/reviews".to_owned(),
            format!("/reviews/{open_review}"),
            "/interventions".to_owned(),
            "/settings".to_owned(),
        ];
        for path in &pages {
            let page = c.page(path).await;
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text);
            assert_inert(path, &page.text);
        }
        // The payload is there, as text: escaped, not dropped.
        let board = c.page(&format!("/projects/{pid}?task={open_task}")).await;
        assert!(
            board.text.contains("&lt;/textarea&gt;&lt;script&gt;"),
            "{}",
            board.text
        );
        let review = c.page(&format!("/reviews/{open_review}")).await;
        assert!(
            review.text.contains("&lt;/textarea&gt;&lt;script&gt;"),
            "{}",
            review.text
        );

        // A name is user text as well.
        let mut named = rig.app.client();
        let signed = named
            .post(
                "/api/v1/auth/signup",
                serde_json::json!({"email": "mallory@example.com", "password": "correct horse battery", "name": "<script>alert('xss')</script>"}),
            )
            .await;
        assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.text);
        for path in ["/", "/settings"] {
            let page = named.page(path).await;
            assert_inert(path, &page.text);
        }
    }
);

/// The `nonce-…` of a CSP header.
fn nonce_of(csp: &str) -> &str {
    let start = csp.find("'nonce-").expect("a nonce in the CSP") + "'nonce-".len();
    let end = csp[start..].find('\'').unwrap() + start;
    &csp[start..end]
}

backends!(
    every_response_carries_the_security_headers_and_a_nonced_csp,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        let first = c.page("/login").await;
        let second = c.page("/login").await;
        let csp = |r: &common::Reply| {
            r.headers
                .get(header::CONTENT_SECURITY_POLICY)
                .expect("a CSP")
                .to_str()
                .unwrap()
                .to_owned()
        };
        let (csp1, csp2) = (csp(&first), csp(&second));
        assert!(!csp1.contains("unsafe-inline"), "{csp1}");
        assert!(csp1.contains("'wasm-unsafe-eval'"), "{csp1}");
        assert!(csp1.contains("frame-ancestors 'none'"), "{csp1}");
        assert_ne!(nonce_of(&csp1), nonce_of(&csp2), "a nonce per response");
        // Every script the page carries has this response's nonce.
        let nonce = nonce_of(&csp1);
        let scripts = first.text.matches("<script").count();
        assert!(scripts > 0, "{}", first.text);
        let nonced = first.text.matches(&format!("nonce=\"{nonce}\"")).count();
        assert!(
            nonced >= scripts,
            "{scripts} scripts, {nonced} nonces: {}",
            first.text
        );

        c.sign_up("headers@example.com").await;
        for reply in [
            c.page("/").await,
            c.get("/api/v1/projects").await,
            c.get("/api/health").await,
            c.get("/api/v1/nope").await,
            c.page("/no/such/page").await,
        ] {
            for (name, value) in [
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "DENY"),
                ("referrer-policy", "same-origin"),
            ] {
                assert_eq!(
                    reply.headers.get(name).and_then(|v| v.to_str().ok()),
                    Some(value),
                    "{name} on {:?}",
                    reply.headers
                );
            }
            assert!(reply.headers.contains_key(header::CONTENT_SECURITY_POLICY));
        }
    }
);

backends!(
    server_functions_refuse_oversized_bodies_with_413,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        let path = app::server_fns::SignIn::PATH;
        let big = format!("email=a%40b.c&password={}", "x".repeat(300 * 1024));
        for declared in [true, false] {
            let mut req = c
                .request(Method::POST, path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ORIGIN, "http://localhost:3000");
            if !declared {
                req = req.header(header::TRANSFER_ENCODING, "chunked");
            }
            let body = if declared {
                Body::from(big.clone())
            } else {
                let chunks = big
                    .as_bytes()
                    .chunks(16 * 1024)
                    .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
                    .collect::<Vec<_>>();
                Body::from_stream(futures_util::stream::iter(chunks))
            };
            let reply = c.send(req.body(body).unwrap()).await;
            assert_eq!(
                reply.status,
                StatusCode::PAYLOAD_TOO_LARGE,
                "{}",
                reply.text
            );
            assert_eq!(reply.code(), "payload_too_large", "{}", reply.text);
        }
        // A normal body still reaches the function (wrong password: 401-ish, not 413).
        let small = c
            .request(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "http://localhost:3000")
            .body(Body::from("email=a%40b.c&password=nope"))
            .unwrap();
        let reply = c.send(small).await;
        assert_ne!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(!reply.status.is_server_error(), "{}", reply.text);
    }
);

backends!(request_ids_are_the_servers_own, |url: String| async move {
    let app = TestApp::new(&url).await;
    let mut c = app.client();
    let user = c.sign_up("ids@example.com").await;
    let user = Uuid::parse_str(user["id"].as_str().unwrap()).unwrap();
    let long = "client-".repeat(40);
    for sent in [long.as_str(), "client-a b"] {
        let value = axum::http::HeaderValue::from_str(sent).unwrap();
        let req = c
            .request(Method::POST, "/api/v1/projects")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-request-id", value)
            .body(Body::from(r#"{"name":"Traced"}"#))
            .unwrap();
        let reply = c.send(req).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let id = reply.headers["x-request-id"].to_str().unwrap();
        assert!(Uuid::parse_str(id).is_ok(), "our own id, not {id:?}");
        let events = server::outbound::db::read_events(&app.db, user)
            .await
            .unwrap();
        let metadata = &events.last().unwrap().metadata;
        assert_eq!(metadata["request_id"], id);
        // What the client sent is kept apart, cleaned and cut.
        let kept = metadata["client_request_id"].as_str().unwrap();
        assert!(kept.len() <= 64 && kept.starts_with("client-"), "{kept}");
    }
});

backends!(
    names_and_titles_refuse_bidirectional_overrides,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        c.sign_up("bidi@example.com").await;
        // "invoice\u{202E}fdp.exe" shows as "invoiceexe.pdf".
        let spoof = "invoice\u{202E}fdp.exe";
        let r = c
            .post("/api/v1/projects", serde_json::json!({"name": spoof}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.field(), "name");
        let pid = c.create_project("Plain").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = c
            .post(
                &format!("/api/v1/projects/{pid}/tasks"),
                serde_json::json!({"title": format!("Fix {spoof}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.field(), "title");
        let r = c
            .post(
                "/api/v1/auth/signup",
                serde_json::json!({"email": "rtl@example.com", "password": "correct horse battery", "name": "\u{2066}Eve"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.field(), "name");
        // Right-to-left text itself is fine.
        let r = c
            .post("/api/v1/projects", serde_json::json!({"name": "مشروع"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
);
