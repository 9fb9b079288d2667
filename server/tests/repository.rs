#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A project's repository through the API (issue 18), against real git
//! repositories made with the git CLI, which also checks what EXITON
//! reports: linking a local repository inside the allowed roots (and
//! nothing outside them, symlinks resolved first), a new repository, a
//! clone, the status (base commit, dirty files), and unlinking, which
//! leaves every file where it was. On SQLite and PostgreSQL.

mod common;

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use serde_json::json;

use common::{TempDir as Dir, git};

/// A repository with one commit on `main` at `dir`.
fn repo_at(dir: &Path) {
    common::repo_with(dir, &[("README.md", "# Blue Bebop\n")]);
}

backends!(
    a_repository_is_linked_inside_the_roots_only_and_unlinked_without_loss,
    |url: String| async move {
        let root = Dir::new("root");
        let data = Dir::new("data");
        let outside = Dir::new("outside");
        let app = repo_at_root_app(&url, &root, &data).await;
        let mut c = app.client();
        c.sign_up("repo@example.com").await;
        let project = c.create_project("Blue Bebop").await;
        let pid = project["id"].as_str().unwrap().to_owned();
        let at = format!("/api/v1/projects/{pid}/repository");

        let r = c.get(&at).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        assert_eq!(r.body["error"]["code"], "not_linked");

        let app_dir = root.0.join("app");
        repo_at(&app_dir);
        let r = c
            .put(
                &at,
                json!({"kind": "local", "path": app_dir.display().to_string()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["repository"]["kind"], "local");
        assert_eq!(r.body["repository"]["base_branch"], "main");
        assert_eq!(r.body["repository"]["path"], app_dir.display().to_string());
        assert_eq!(
            r.body["status"]["base_commit"],
            git(&app_dir, &["rev-parse", "main"])
        );
        assert_eq!(r.body["status"]["clean"], true);

        // The user's edit shows as dirty, and stays.
        std::fs::write(app_dir.join("README.md"), "# Blue Bebop, edited\n").unwrap();
        std::fs::write(app_dir.join("notes.txt"), "mine\n").unwrap();
        let r = c.get(&at).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["status"]["clean"], false);
        let porcelain = git(&app_dir, &["status", "--porcelain", "-uall"]);
        assert_eq!(
            r.body["status"]["dirty_count"],
            porcelain.lines().count(),
            "{porcelain}"
        );

        // Outside the roots: refused, symlinks resolved first.
        repo_at(&outside.0.join("secret"));
        std::os::unix::fs::symlink(outside.0.join("secret"), root.0.join("escape")).unwrap();
        for path in [
            outside.0.join("secret").display().to_string(),
            root.0.join("escape").display().to_string(),
            // Both live in the same temporary directory.
            format!(
                "{}/../{}/secret",
                root.0.display(),
                outside.0.file_name().unwrap().to_str().unwrap()
            ),
        ] {
            let r = c.put(&at, json!({"kind": "local", "path": path})).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.text);
            assert_eq!(r.body["error"]["code"], "path_not_allowed");
            assert_eq!(r.body["error"]["field"], "path");
        }
        let r = c
            .put(
                &at,
                json!({"kind": "clone", "url": format!("file://{}", outside.0.join("secret").display())}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(r.body["error"]["field"], "url");
        // Not a repository, a missing branch, a bad kind: 422 naming the field.
        std::fs::create_dir_all(root.0.join("plain")).unwrap();
        for (body, field) in [
            (
                json!({"kind": "local", "path": root.0.join("plain").display().to_string()}),
                "path",
            ),
            (
                json!({"kind": "local", "path": root.0.join("missing").display().to_string()}),
                "path",
            ),
            (
                json!({"kind": "local", "path": app_dir.display().to_string(), "base_branch": "nope"}),
                "base_branch",
            ),
            (json!({"kind": "svn"}), "kind"),
        ] {
            let r = c.put(&at, body).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
            assert_eq!(r.body["error"]["field"], field, "{}", r.text);
        }
        // The link is still the first one.
        let r = c.get(&at).await;
        assert_eq!(r.body["repository"]["path"], app_dir.display().to_string());

        // Another user sees no project.
        let mut eve = app.client();
        eve.sign_up("eve@example.com").await;
        assert_eq!(eve.get(&at).await.status, StatusCode::NOT_FOUND);
        let r = eve
            .put(
                &at,
                json!({"kind": "local", "path": app_dir.display().to_string()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);

        // Unlinking keeps every file, the user's edit included.
        let r = c.delete(&at).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        assert_eq!(
            std::fs::read_to_string(app_dir.join("README.md")).unwrap(),
            "# Blue Bebop, edited\n"
        );
        assert!(app_dir.join(".git").exists());
        assert_eq!(c.get(&at).await.status, StatusCode::NOT_FOUND);
        assert_eq!(c.delete(&at).await.status, StatusCode::NOT_FOUND);
    }
);

backends!(
    a_new_repository_and_a_clone_live_in_the_data_directory,
    |url: String| async move {
        let root = Dir::new("root");
        let data = Dir::new("data");
        let app = repo_at_root_app(&url, &root, &data).await;
        let mut c = app.client();
        c.sign_up("new@example.com").await;
        let project = c.create_project("Blue Bebop").await;
        let at = format!(
            "/api/v1/projects/{}/repository",
            project["id"].as_str().unwrap()
        );

        let r = c
            .put(&at, json!({"kind": "new", "base_branch": "trunk"}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let made = PathBuf::from(r.body["repository"]["path"].as_str().unwrap());
        assert!(made.starts_with(data.0.join("repos")), "{}", made.display());
        assert_eq!(git(&made, &["rev-parse", "--abbrev-ref", "HEAD"]), "trunk");
        assert_eq!(
            r.body["status"]["base_commit"],
            git(&made, &["rev-parse", "HEAD"])
        );

        let origin = root.0.join("origin");
        repo_at(&origin);
        git(&origin, &["branch", "develop"]);
        let r = c
            .put(
                &at,
                json!({"kind": "clone", "url": format!("file://{}", origin.display()), "base_branch": "develop"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let cloned = PathBuf::from(r.body["repository"]["path"].as_str().unwrap());
        assert_ne!(cloned, made, "a directory of its own");
        assert!(made.join(".git").exists(), "the earlier repository stays");
        assert_eq!(r.body["repository"]["base_branch"], "develop");
        assert_eq!(r.body["repository"]["has_credentials"], false);
        assert_eq!(
            git(&cloned, &["remote", "get-url", "origin"]),
            format!("file://{}", origin.display())
        );
        assert_eq!(r.body["status"]["upstream"], "origin/develop");
        assert_eq!(r.body["status"]["ahead"], 0);

        // A clone that fails says why and links nothing new.
        let r = c
            .put(
                &at,
                json!({"kind": "clone", "url": format!("file://{}", root.0.join("nothing").display())}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.body["error"]["field"], "url");
        let r = c
            .put(
                &at,
                json!({"kind": "clone", "url": "https://ada:hunter2@127.0.0.1:9/none.git"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.body["error"]["code"], "clone_failed");
        assert!(!r.text.contains("hunter2"), "{}", r.text);
        let r = c.get(&at).await;
        assert_eq!(r.body["repository"]["path"], cloned.display().to_string());
        let r = c
            .put(
                &at,
                json!({"kind": "clone", "url": "http://example.com/app.git"}),
            )
            .await;
        assert_eq!(r.body["error"]["field"], "url", "{}", r.text);
    }
);

backends!(
    without_roots_no_server_path_is_linked,
    |url: String| async move {
        let data = Dir::new("data");
        let app =
            common::TestApp::with_vars(&url, &[("EXITON_DATA_DIR", &data.0.display().to_string())])
                .await;
        let mut c = app.client();
        c.sign_up("roots@example.com").await;
        let project = c.create_project("Blue Bebop").await;
        let at = format!(
            "/api/v1/projects/{}/repository",
            project["id"].as_str().unwrap()
        );
        let r = c
            .put(
                &at,
                json!({"kind": "local", "path": data.0.display().to_string()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("EXITON_REPO_ROOTS")
        );
    }
);

/// The application with `root` as its one allowed root and `data` as its
/// data directory.
async fn repo_at_root_app(url: &str, root: &Dir, data: &Dir) -> common::TestApp {
    common::TestApp::with_vars(
        url,
        &[
            ("EXITON_REPO_ROOTS", &root.0.display().to_string()),
            ("EXITON_DATA_DIR", &data.0.display().to_string()),
            ("EXITON_SECRET_KEY", "test key"),
        ],
    )
    .await
}
