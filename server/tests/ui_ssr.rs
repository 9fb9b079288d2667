//! The server-rendered UI: pages render without JavaScript, guard sign-in
//! with a redirect, show the user's own data, and 404 on someone else's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{StatusCode, header};
use common::TestApp;

backends!(
    signed_out_visitors_are_sent_to_sign_in,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        let r = c.page("/").await;
        assert!(r.status.is_redirection(), "{} {}", r.status, r.text);
        assert_eq!(r.headers.get(header::LOCATION).unwrap(), "/login");
        let login = c.page("/login").await;
        assert_eq!(login.status, StatusCode::OK);
        assert!(login.text.contains("Sign in"), "{}", login.text);
        assert!(login.text.contains("name=\"email\""));
        assert!(login.text.contains("/pkg/exiton.css"));
        let signup = c.page("/signup").await;
        assert!(signup.text.contains("Create your account"));
    }
);

backends!(board_renders_on_the_server, |url: String| async move {
    let app = TestApp::new(&url).await;
    let mut c = app.client();
    c.sign_up("ssr@example.com").await;
    let pid = c.create_project("Server Side Suite").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.create_task(&pid, "Render me <b>safely</b>", "").await;
    let finished = c.create_task(&pid, "Already finished", "").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.patch(
        &format!("/api/v1/tasks/{finished}"),
        serde_json::json!({"status": "done"}),
    )
    .await;

    // Signed in, the sign-in pages send you to your projects.
    for path in ["/login", "/signup"] {
        let r = c.page(path).await;
        assert!(r.status.is_redirection(), "{path}: {}", r.status);
        assert_eq!(r.headers.get(header::LOCATION).unwrap(), "/");
    }

    let home = c.page("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.text.contains("Server Side Suite"), "{}", home.text);

    let board = c.page(&format!("/projects/{pid}")).await;
    assert_eq!(board.status, StatusCode::OK);
    assert!(board.text.contains("data-column=\"done\""));
    assert!(board.text.contains("Already finished"));
    // User text is escaped, never interpreted as markup.
    assert!(
        board.text.contains("Render me &lt;b&gt;safely&lt;/b&gt;"),
        "{}",
        board.text
    );
    assert!(!board.text.contains("<b>safely</b>"));

    let search = c.page(&format!("/projects/{pid}?q=finish")).await;
    assert!(search.text.contains("Already finished"));
    assert!(
        !search.text.contains("Render me"),
        "search filters server-side too"
    );

    let mut other = app.client();
    other.sign_up("other@example.com").await;
    let foreign = other.page(&format!("/projects/{pid}")).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert!(!foreign.text.contains("Server Side Suite"));
    assert!(foreign.text.contains("Off the chart"));
});
