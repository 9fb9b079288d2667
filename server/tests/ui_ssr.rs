//! The server-rendered UI: pages render without JavaScript, guard sign-in
//! with a redirect, show the user's own data, and 404 on someone else's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod band_rig;
mod common;

use axum::http::{StatusCode, header};
use common::TestApp;
use leptos::server_fn::ServerFn as _;

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

backends!(
    review_pages_render_on_the_server,
    |url: String| async move {
        use band_rig::{Scripted, Step, good_answer};
        use domain::band::{AgentRole, ProviderKind};
        use domain::reviews::Decision;
        use domain::sessions::{ReviewStatus, SessionStatus};

        // The coder's answer carries markup and a critical operation: the gate
        // stops the band on it, and the review page must show it as text.
        let coder =
            "</textarea><script>alert('agent')</script>\nDROP TABLE users;\nConfidence: 0.9";
        let rig = band_rig::rig(
            &url,
            vec![Scripted::new(
                ProviderKind::Claude,
                move |role| match role {
                    AgentRole::Coder => Step::Answer(coder),
                    other => Step::Answer(good_answer(other)),
                },
            )],
        )
        .await;
        let mut c = rig.client.clone();
        let empty = c.page("/reviews").await;
        assert_eq!(empty.status, StatusCode::OK, "{}", empty.text);
        assert!(empty.text.contains("data-testid=\"no-reviews\""));
        assert!(empty.text.contains("data-testid=\"reviews-link\""));
        assert!(!empty.text.contains("data-testid=\"review-count\""));

        let played = band_rig::play(&rig).await;
        assert_eq!(played.status, SessionStatus::AwaitingReview);
        let review = played.reviews[0].id;

        let queue = c.page("/reviews").await;
        assert_eq!(queue.status, StatusCode::OK);
        assert!(
            queue.text.contains("data-testid=\"review-item\""),
            "{}",
            queue.text
        );
        assert!(queue.text.contains("Login form"));
        assert!(queue.text.contains("a critical operation"));
        assert!(queue.text.contains(&format!("/reviews/{review}")));
        assert!(queue.text.contains("data-testid=\"review-count\""));

        let page = c.page(&format!("/reviews/{review}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        for id in ["approve-form", "modify-form", "reject-form", "modify-text"] {
            assert!(
                page.text.contains(&format!("data-testid=\"{id}\"")),
                "{id} missing"
            );
        }
        // Agent output is text: escaped in the output card and the edit box,
        // and never a live <script> anywhere in the document.
        assert!(
            page.text
                .contains("&lt;script&gt;alert(&#x27;agent&#x27;)&lt;/script&gt;")
                || page
                    .text
                    .contains("&lt;script&gt;alert('agent')&lt;/script&gt;"),
            "{}",
            page.text
        );
        assert!(!page.text.contains("<script>alert"), "{}", page.text);
        assert!(!page.text.contains("</textarea><script>"), "{}", page.text);
        assert!(page.text.contains("&lt;/textarea&gt;&lt;script&gt;"));
        // Loading the page changed nothing (a GET); the forms carry the
        // hash of exactly what was shown.
        let detail = rig.reviews.review(rig.user, review).await.unwrap();
        assert_eq!(detail.review.status, ReviewStatus::PendingReview);
        assert!(page.text.contains(&detail.output_hash));
        // The live page takes it under review with a POST.
        let start = c
            .request(axum::http::Method::POST, app::server_fns::StartReview::PATH)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "http://localhost:3000")
            .body(axum::body::Body::from(format!("id={review}")))
            .unwrap();
        let started = c.send(start).await;
        assert_eq!(started.status, StatusCode::OK, "{}", started.text);
        let detail = rig.reviews.review(rig.user, review).await.unwrap();
        assert_eq!(detail.review.status, ReviewStatus::UnderReview);
        // Other users cannot.
        let mut other = rig.app.client();
        other.sign_up("nosy@example.com").await;
        let nosy = other
            .request(axum::http::Method::POST, app::server_fns::StartReview::PATH)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "http://localhost:3000")
            .body(axum::body::Body::from(format!("id={review}")))
            .unwrap();
        assert!(other.send(nosy).await.status.is_client_error());

        rig.reviews
            .decide(
                rig.user,
                review,
                Decision::Reject {
                    reason: "<b>never</b> drop tables".into(),
                },
                Some(&detail.output_hash),
            )
            .await
            .unwrap();
        let decided = c.page(&format!("/reviews/{review}")).await;
        assert!(decided.text.contains("data-testid=\"decision\""));
        assert!(decided.text.contains("data-status=\"rejected\""));
        assert!(
            decided
                .text
                .contains("&lt;b&gt;never&lt;/b&gt; drop tables")
        );
        assert!(!decided.text.contains("data-testid=\"approve-form\""));

        let log = c.page("/interventions").await;
        assert_eq!(log.status, StatusCode::OK, "{}", log.text);
        assert!(
            log.text.contains("data-testid=\"intervention-row\""),
            "{}",
            log.text
        );
        assert!(log.text.contains("data-type=\"rejection\""));
        assert!(log.text.contains("&lt;b&gt;never&lt;/b&gt; drop tables"));
        assert!(log.text.contains("data-testid=\"intervention-stats\""));
        assert!(!log.text.contains("<b>never</b>"));
        let filtered = c.page("/interventions?type=approval&agent=").await;
        assert!(!filtered.text.contains("data-testid=\"intervention-row\""));
        assert!(filtered.text.contains("data-testid=\"intervention-stats\""));
        let bad = c.page("/interventions?agent=nobody").await;
        assert!(bad.text.contains("must be claude, gpt, gemini or local"));

        // Someone else's review is not found; signed out, the pages ask to sign in.
        let mut other = rig.app.client();
        other.sign_up("other@example.com").await;
        let foreign = other.page(&format!("/reviews/{review}")).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
        assert!(!foreign.text.contains("Login form"));
        let mut anon = rig.app.client();
        for path in ["/reviews", "/interventions"] {
            let r = anon.page(path).await;
            assert!(r.status.is_redirection(), "{path}: {}", r.status);
        }
    }
);

backends!(
    a_card_opens_behind_its_link_and_a_full_board_stays_light,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        c.sign_up("cards@example.com").await;
        // The board benchmark's board (server/benches/board_ssr.rs).
        let (pid, ids) = c.full_board(200).await;
        let first = &ids[0];

        let board = c.page(&format!("/projects/{pid}")).await;
        assert_eq!(board.status, StatusCode::OK);
        // A closed card is its text and one link; nothing done to a card is
        // rendered until it is opened.
        assert!(board.text.contains(&format!("href=\"?task={first}\"")));
        assert!(!board.text.contains("data-testid=\"task-detail\""));
        assert!(!board.text.contains("Run the band"));
        // The page is built once: each title is in the HTML once and in the
        // hydration data once (a second build serialised the list again).
        let title = "Wire the login form to the session 007";
        assert_eq!(
            board.text.matches(title).count(),
            2,
            "{title} appears twice"
        );
        // The ceiling for a board of 200 tasks.
        assert!(
            board.text.len() <= 120 * 1024,
            "a board of 200 tasks is {} bytes of HTML",
            board.text.len()
        );

        // Opened (a plain link, so before hydration too): the card's moves,
        // Run the band, its edit form and Delete, on that card alone.
        let opened = c.page(&format!("/projects/{pid}?task={first}")).await;
        assert_eq!(opened.status, StatusCode::OK);
        assert_eq!(
            opened.text.matches("data-testid=\"task-detail\"").count(),
            1
        );
        assert!(opened.text.contains("aria-label=\"Move to In progress\""));
        assert!(
            opened
                .text
                .contains(&format!("href=\"/tasks/{first}/band\""))
        );
        assert!(
            opened
                .text
                .contains("aria-label=\"Delete Wire the login form to the session 000\"")
        );
        assert!(
            !opened.text.contains(&format!("href=\"?task={first}\"")),
            "an open card has no Open link"
        );
    }
);

backends!(
    an_opened_card_lists_its_band_sessions,
    |url: String| async move {
        let rig = band_rig::rig(
            &url,
            vec![band_rig::Scripted::good(domain::band::ProviderKind::Claude)],
        )
        .await;
        let mut c = rig.client.clone();
        let task = c.get(&format!("/api/v1/tasks/{}", rig.task)).await;
        let pid = task.body["project_id"].as_str().unwrap().to_owned();
        let opened = format!("/projects/{pid}?task={}", rig.task);
        // No session yet: no list.
        let page = c.page(&opened).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.text.contains("data-testid=\"task-sessions\""));

        let played = band_rig::play(&rig).await;
        let page = c.page(&opened).await;
        assert!(
            page.text.contains("data-testid=\"task-sessions\""),
            "{}",
            page.text
        );
        assert!(
            page.text
                .contains(&format!("href=\"/sessions/{}\"", played.session.id))
        );
        assert!(page.text.contains("data-status=\"awaiting_review\""));
        // A closed board lists no sessions.
        let board = c.page(&format!("/projects/{pid}")).await;
        assert!(!board.text.contains("data-testid=\"task-sessions\""));
    }
);
