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

/// The ids of a list reply's `key` array, in order.
fn ids(r: &common::Reply, key: &str) -> Vec<String> {
    r.body[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {}", r.text))
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A walk through a paged list: `first` is the path with its query
/// string, each step follows the previous page's `next_cursor`.
struct Walk {
    first: String,
    key: &'static str,
    cursor: Option<String>,
    done: bool,
    sizes: Vec<usize>,
}

impl Walk {
    fn new(first: &str, key: &'static str) -> Self {
        Self {
            first: first.to_owned(),
            key,
            cursor: None,
            done: false,
            sizes: Vec::new(),
        }
    }

    /// The next page's ids; `None` once the last page has been read.
    async fn page(&mut self, c: &mut common::Client) -> Option<Vec<String>> {
        if self.done {
            return None;
        }
        assert!(self.sizes.len() < 100, "the walk does not end");
        let path = match &self.cursor {
            Some(cursor) => format!("{}&cursor={cursor}", self.first),
            None => self.first.clone(),
        };
        let r = c.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let page = ids(&r, self.key);
        self.sizes.push(page.len());
        self.cursor = r.body["next_cursor"].as_str().map(str::to_owned);
        if self.cursor.is_none() {
            assert!(
                r.body["next_cursor"].is_null(),
                "the last page says so: {}",
                r.text
            );
            self.done = true;
        }
        Some(page)
    }

    /// Every page to the end: the ids in the order seen, and page sizes.
    async fn all(mut self, c: &mut common::Client) -> (Vec<String>, Vec<usize>) {
        let mut seen = Vec::new();
        while let Some(page) = self.page(c).await {
            seen.extend(page);
        }
        (seen, self.sizes)
    }
}

backends!(
    task_pages_walk_every_task_once_in_order,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        c.sign_up("pages@example.com").await;
        let pid = c.create_project("Paged").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut created = Vec::new();
        for i in 0..120 {
            // Words no stemmer or stop list alters, for the search below.
            let parity = if i % 2 == 0 { "kiwi" } else { "mango" };
            let t = c
                .create_task(&pid, &format!("Task {i:03} {parity}"), "")
                .await;
            created.push(t["id"].as_str().unwrap().to_owned());
        }
        let list = format!("/api/v1/projects/{pid}/tasks");

        // Without parameters: the first 50, oldest first, and the full total.
        let r = c.get(&list).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(ids(&r, "tasks"), created[..50]);
        assert_eq!(r.body["total"], 120);
        assert!(r.body["next_cursor"].is_string());

        let (seen, sizes) = Walk::new(&format!("{list}?limit=50"), "tasks")
            .all(&mut c)
            .await;
        assert_eq!(seen, created, "every task once, in creation order");
        assert_eq!(sizes, [50, 50, 20]);

        // One page holds them all at the maximum.
        let r = c.get(&format!("{list}?limit=200")).await;
        assert_eq!(ids(&r, "tasks"), created);
        assert!(r.body["next_cursor"].is_null());

        // The filters still apply, and `total` counts what matches them.
        let r = c.get(&format!("{list}?q=kiwi&limit=25")).await;
        assert_eq!(r.body["total"], 60);
        let (kiwis, sizes) = Walk::new(&format!("{list}?q=kiwi&limit=25"), "tasks")
            .all(&mut c)
            .await;
        let expected: Vec<String> = created.iter().step_by(2).cloned().collect();
        assert_eq!(kiwis, expected);
        assert_eq!(sizes, [25, 25, 10]);
        let r = c.get(&format!("{list}?status=done&limit=10")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["total"], 0);
        assert!(r.body["next_cursor"].is_null());

        // Tasks created (and moved) during a walk neither repeat nor hide the
        // earlier ones: being newest, the new ones come last.
        let mut walk = Walk::new(&format!("{list}?limit=50"), "tasks");
        let (mut seen, mut added) = (Vec::new(), Vec::new());
        let statuses = ["in_progress", "review", "done"];
        while let Some(page) = walk.page(&mut c).await {
            seen.extend(page);
            if walk.done {
                break;
            }
            let t = c
                .create_task(&pid, &format!("Late {}", added.len()), "")
                .await;
            added.push(t["id"].as_str().unwrap().to_owned());
            // Moving a task the walk has not reached yet leaves its place.
            let (unseen, status) = (&created[119], statuses[added.len() % statuses.len()]);
            let r = c
                .patch(
                    &format!("/api/v1/tasks/{unseen}"),
                    json!({"status": status}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
        assert_eq!(added.len(), 2, "two pages were followed by another");
        let expected: Vec<String> = created.iter().chain(&added).cloned().collect();
        assert_eq!(seen, expected);
    }
);

backends!(
    project_pages_are_newest_first_and_stable_under_inserts,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        c.sign_up("projects-pages@example.com").await;
        let mut created = Vec::new();
        for i in 0..5 {
            created.push(
                c.create_project(&format!("Project {i}")).await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        let mut bob = app.client();
        bob.sign_up("bob-pages@example.com").await;
        bob.create_project("Bob's").await;
        let newest_first: Vec<String> = created.iter().rev().cloned().collect();

        let r = c.get("/api/v1/projects?limit=2").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["total"], 5, "the caller's projects only");
        let (seen, sizes) = Walk::new("/api/v1/projects?limit=2", "projects")
            .all(&mut c)
            .await;
        assert_eq!(seen, newest_first);
        assert_eq!(sizes, [2, 2, 1]);

        // A project created mid-walk is newer than the cursor: this walk does
        // not show it, and shows every earlier one exactly once.
        let mut walk = Walk::new("/api/v1/projects?limit=2", "projects");
        let mut seen = Vec::new();
        while let Some(page) = walk.page(&mut c).await {
            seen.extend(page);
            if !walk.done {
                c.create_project("Mid-walk").await;
            }
        }
        assert_eq!(seen, newest_first);
        assert_eq!(
            c.get("/api/v1/projects").await.body["total"],
            7,
            "two mid-walk"
        );
        assert_eq!(bob.get("/api/v1/projects").await.body["total"], 1);
    }
);

backends!(
    bad_page_parameters_are_422_naming_them,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        c.sign_up("bad-pages@example.com").await;
        let pid = c.create_project("Params").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        c.create_task(&pid, "one", "").await;
        c.create_task(&pid, "two", "").await;
        let tasks = format!("/api/v1/projects/{pid}/tasks");
        let r = c.get(&format!("{tasks}?limit=1")).await;
        let cursor = r.body["next_cursor"].as_str().unwrap().to_owned();
        assert_eq!(ids(&r, "tasks").len(), 1);
        // The cursor with its last character changed.
        let mut tampered = cursor.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == '0' { '1' } else { '0' });

        for list in ["/api/v1/projects", tasks.as_str()] {
            for (query, field) in [
                ("limit=0".to_owned(), "limit"),
                ("limit=201".to_owned(), "limit"),
                ("limit=abc".to_owned(), "limit"),
                ("limit=-1".to_owned(), "limit"),
                ("limit=".to_owned(), "limit"),
                ("limit=1&limit=2".to_owned(), "limit"),
                ("cursor=garbage".to_owned(), "cursor"),
                (format!("cursor={tampered}"), "cursor"),
                (format!("cursor={}", &cursor[..cursor.len() - 2]), "cursor"),
                ("page=2".to_owned(), "page"),
            ] {
                let r = c.get(&format!("{list}?{query}")).await;
                assert_eq!(
                    r.status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{list}?{query}: {}",
                    r.text
                );
                assert_eq!(r.code(), "invalid_field", "{list}?{query}");
                assert_eq!(r.field(), field, "{list}?{query}: {}", r.text);
            }
        }
        // The cursor itself works, and an empty one is the first page.
        let r = c.get(&format!("{tasks}?limit=1&cursor={cursor}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["tasks"][0]["title"], "two");
        assert!(r.body["next_cursor"].is_null());
        let r = c.get(&format!("{tasks}?limit=1&cursor=")).await;
        assert_eq!(r.body["tasks"][0]["title"], "one");

        // Another user's project stays a 404, cursor or not.
        let mut bob = app.client();
        bob.sign_up("bob-params@example.com").await;
        for query in [
            String::new(),
            "?limit=1".to_owned(),
            format!("?limit=1&cursor={cursor}"),
        ] {
            let r = bob.get(&format!("{tasks}{query}")).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
            assert_eq!(r.code(), "not_found");
        }
    }
);
