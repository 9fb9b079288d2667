//! REST API v1: projects and tasks, isolation between users, search, and the
//! event log — on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::json;
use uuid::Uuid;

backends!(project_lifecycle, |url: String| async move {
    let app = TestApp::new(&url).await;
    let mut c = app.client();
    c.sign_up("pm@example.com").await;
    let p = c.create_project("Blue Bebop").await;
    let id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(p["status"], "active");
    assert_eq!(p["name"], "Blue Bebop");
    assert!(
        p["owner_id"].is_string() && p["created_at"].is_string() && p["updated_at"].is_string()
    );

    let r = c
        .patch(
            &format!("/api/v1/projects/{id}"),
            json!({"name": "Red Bebop", "status": "paused"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["name"], "Red Bebop");
    assert_eq!(r.body["status"], "paused");

    let r = c
        .patch(&format!("/api/v1/projects/{id}"), json!({"status": "gone"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field(), "status");
    let r = c
        .patch(&format!("/api/v1/projects/{id}"), json!({"name": ""}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field(), "name");

    let list = c.get("/api/v1/projects").await;
    assert_eq!(list.body["total"], 1);
    assert_eq!(
        list.body["projects"][0]["name"], "Red Bebop",
        "refused patches changed nothing"
    );

    assert_eq!(
        c.delete(&format!("/api/v1/projects/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        c.get(&format!("/api/v1/projects/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get("/api/v1/projects/not-a-uuid").await.status,
        StatusCode::NOT_FOUND
    );
});

backends!(tasks_create_move_filter_delete, |url: String| async move {
    let app = TestApp::new(&url).await;
    let mut c = app.client();
    c.sign_up("dev@example.com").await;
    let p = c.create_project("Board").await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let t1 = c
        .create_task(&pid, "Write the parser", "tokens and spans")
        .await;
    let t2 = c.create_task(&pid, "Deploy rocket", "").await;
    assert_eq!(t1["status"], "todo");
    assert_eq!(t1["created_by"], "human");
    assert_eq!(t1["ai_generated"], false);
    assert_eq!(t1["project_id"], pid.as_str());
    let t1id = t1["id"].as_str().unwrap().to_owned();

    let r = c
        .patch(&format!("/api/v1/tasks/{t1id}"), json!({"status": "done"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "done");

    let done = c
        .get(&format!("/api/v1/projects/{pid}/tasks?status=done"))
        .await;
    assert_eq!(done.body["total"], 1);
    assert_eq!(done.body["tasks"][0]["id"], t1id.as_str());
    let r = c
        .get(&format!("/api/v1/projects/{pid}/tasks?status=doing"))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field(), "status");

    let r = c
        .patch(
            &format!("/api/v1/tasks/{t1id}"),
            json!({"status": "finished"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.field(), "status");
    let r = c
        .post(
            &format!("/api/v1/projects/{pid}/tasks"),
            json!({"title": "x".repeat(501)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field(), "title");

    let all = c.get(&format!("/api/v1/projects/{pid}/tasks")).await;
    assert_eq!(all.body["total"], 2);
    assert_eq!(all.body["tasks"][1]["id"], t2["id"], "oldest first");

    let t2id = t2["id"].as_str().unwrap();
    assert_eq!(
        c.delete(&format!("/api/v1/tasks/{t2id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        c.get(&format!("/api/v1/tasks/{t2id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.delete(&format!("/api/v1/tasks/{t2id}")).await.status,
        StatusCode::NOT_FOUND
    );
});

backends!(
    full_text_search_matches_prefixes_in_title_and_description,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        c.sign_up("search@example.com").await;
        let pid = c.create_project("Search").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        c.create_task(&pid, "Refactor the login form", "").await;
        c.create_task(&pid, "Ship it", "update the deployment pipeline")
            .await;
        c.create_task(&pid, "Tune database indexes", "for the search page")
            .await;
        let search = |q: &str| format!("/api/v1/projects/{pid}/tasks?q={q}");

        let titles = |r: &common::Reply| -> Vec<String> {
            r.body["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["title"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            titles(&c.get(&search("login")).await),
            ["Refactor the login form"]
        );
        assert_eq!(
            titles(&c.get(&search("deploy")).await),
            ["Ship it"],
            "prefix of a description word"
        );
        assert_eq!(
            titles(&c.get(&search("Datab%20ind")).await),
            ["Tune database indexes"],
            "all terms, any case"
        );
        assert!(
            titles(&c.get(&search("login%20pipeline")).await).is_empty(),
            "terms are ANDed"
        );
        // Query syntax is not interpreted: quotes, stars, operators are just separators.
        let r = c.get(&search("%22login%22%20OR%20*")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // Punctuation only means no filter.
        assert_eq!(c.get(&search("%2A%2A")).await.body["total"], 3);

        // Search follows edits and deletes.
        let t = c.create_task(&pid, "Old name", "").await;
        let tid = t["id"].as_str().unwrap().to_owned();
        c.patch(
            &format!("/api/v1/tasks/{tid}"),
            json!({"title": "Brand new saxophone"}),
        )
        .await;
        assert_eq!(
            titles(&c.get(&search("saxo")).await),
            ["Brand new saxophone"]
        );
        assert!(titles(&c.get(&search("old")).await).is_empty());
        c.delete(&format!("/api/v1/tasks/{tid}")).await;
        assert!(titles(&c.get(&search("saxo")).await).is_empty());
    }
);

backends!(another_users_objects_answer_404, |url: String| async move {
    let app = TestApp::new(&url).await;
    let mut alice = app.client();
    alice.sign_up("alice@example.com").await;
    let pid = alice.create_project("Alice's").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tid = alice.create_task(&pid, "secret", "").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut bob = app.client();
    bob.sign_up("bob@example.com").await;
    assert_eq!(bob.get("/api/v1/projects").await.body["total"], 0);
    for r in [
        bob.get(&format!("/api/v1/projects/{pid}")).await,
        bob.patch(
            &format!("/api/v1/projects/{pid}"),
            json!({"name": "mine now"}),
        )
        .await,
        bob.delete(&format!("/api/v1/projects/{pid}")).await,
        bob.get(&format!("/api/v1/projects/{pid}/tasks")).await,
        bob.post(
            &format!("/api/v1/projects/{pid}/tasks"),
            json!({"title": "intruder"}),
        )
        .await,
        bob.get(&format!("/api/v1/tasks/{tid}")).await,
        bob.patch(&format!("/api/v1/tasks/{tid}"), json!({"status": "done"}))
            .await,
        bob.delete(&format!("/api/v1/tasks/{tid}")).await,
    ] {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        assert_eq!(r.code(), "not_found");
    }
    // Alice's things are untouched.
    let t = alice.get(&format!("/api/v1/tasks/{tid}")).await;
    assert_eq!(t.body["status"], "todo");
    assert_eq!(
        alice.get(&format!("/api/v1/projects/{pid}")).await.body["name"],
        "Alice's"
    );
});

backends!(archived_projects_are_read_only, |url: String| async move {
    let app = TestApp::new(&url).await;
    let mut c = app.client();
    c.sign_up("archive@example.com").await;
    let pid = c.create_project("Old").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tid = c.create_task(&pid, "t", "").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.patch(
        &format!("/api/v1/projects/{pid}"),
        json!({"status": "archived"}),
    )
    .await;
    let r = c
        .post(
            &format!("/api/v1/projects/{pid}/tasks"),
            json!({"title": "late"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "project_archived");
    let r = c
        .patch(&format!("/api/v1/tasks/{tid}"), json!({"status": "done"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        c.get(&format!("/api/v1/projects/{pid}/tasks")).await.body["total"],
        1
    );
});

backends!(every_change_appends_its_event, |url: String| async move {
    let app = TestApp::new(&url).await;
    let mut c = app.client();
    let user = c.sign_up("events@example.com").await;
    let uid = Uuid::parse_str(user["id"].as_str().unwrap()).unwrap();
    let pid = c.create_project("Evented").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tid = c.create_task(&pid, "first", "").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let moved = c
        .patch(
            &format!("/api/v1/tasks/{tid}"),
            json!({"status": "in_progress"}),
        )
        .await;
    let move_request = moved.headers["x-request-id"].to_str().unwrap().to_owned();
    c.patch(
        &format!("/api/v1/tasks/{tid}"),
        json!({"title": "first, renamed"}),
    )
    .await;
    // No-ops and refusals record nothing.
    c.patch(
        &format!("/api/v1/tasks/{tid}"),
        json!({"status": "in_progress"}),
    )
    .await;
    c.patch(&format!("/api/v1/tasks/{tid}"), json!({"title": ""}))
        .await;
    c.delete(&format!("/api/v1/tasks/{tid}")).await;
    c.patch(
        &format!("/api/v1/projects/{pid}"),
        json!({"name": "Evented 2"}),
    )
    .await;
    c.patch(
        &format!("/api/v1/projects/{pid}"),
        json!({"status": "archived"}),
    )
    .await;
    c.delete(&format!("/api/v1/projects/{pid}")).await;

    let events = server::outbound::db::read_events(&app.db, uid)
        .await
        .unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "UserRegistered",
            "ProjectCreated",
            "TaskCreated",
            "TaskMoved",
            "TaskUpdated",
            "TaskDeleted",
            "ProjectUpdated",
            "ProjectArchived",
            "ProjectDeleted"
        ]
    );
    assert!(
        events.windows(2).all(|w| w[0].sequence < w[1].sequence),
        "monotonic sequence"
    );
    let moved = &events[3];
    assert_eq!(moved.aggregate_type, "Task");
    assert_eq!(moved.payload["from"], "todo");
    assert_eq!(moved.payload["to"], "in_progress");
    assert_eq!(moved.metadata["request_id"], move_request.as_str());
    assert_eq!(events[0].aggregate_type, "User");
    // Each event names the request that caused it.
    let request_ids: std::collections::HashSet<&str> = events
        .iter()
        .map(|e| e.metadata["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        request_ids.len(),
        events.len(),
        "one request per change here"
    );
    assert_eq!(events[1].aggregate_type, "Project");
});
