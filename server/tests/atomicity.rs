//! "No state change without its event; no event without its change": when
//! the event cannot be appended, the change rolls back — on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use common::TestApp;
use domain::events::{AggregateType, DomainEvent, EventEnvelope};
use domain::projects::{Project, ProjectRepository as _, ProjectStatus};
use domain::tasks::{CreatedBy, Task, TaskQuery, TaskRepository as _, TaskStatus};
use server::outbound::db::{SeaOrmProjectRepository, SeaOrmTaskRepository, read_events};
use uuid::Uuid;

backends!(
    a_failed_event_append_rolls_back_the_change,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let mut c = app.client();
        let user = c.sign_up("atomic@example.com").await;
        let uid = Uuid::parse_str(user["id"].as_str().unwrap()).unwrap();
        let pid =
            Uuid::parse_str(c.create_project("Atomic").await["id"].as_str().unwrap()).unwrap();
        let taken_event_id = read_events(&app.db, uid).await.unwrap()[0].id;

        let now = Utc::now();
        let task = Task {
            id: Uuid::new_v4(),
            project_id: pid,
            title: "never stored".into(),
            description: String::new(),
            status: TaskStatus::Todo,
            assigned_ai_agent: None,
            ai_generated: false,
            confidence_score: None,
            human_review_required: false,
            created_by: CreatedBy::Human,
            created_at: now,
            updated_at: now,
            human_moved_at: None,
            progressed_at: None,
        };
        // An event whose id is already in the log: the append must fail.
        let mut event = EventEnvelope::new(
            AggregateType::Task,
            task.id,
            uid,
            now,
            DomainEvent::TaskCreated { task: task.clone() },
        );
        event.id = taken_event_id;

        let tasks = SeaOrmTaskRepository::new(app.db.clone());
        assert!(tasks.insert(&task, &event).await.is_err());
        assert!(
            tasks
                .list(pid, &TaskQuery::default())
                .await
                .unwrap()
                .is_empty(),
            "task rolled back with its event"
        );

        let projects = SeaOrmProjectRepository::new(app.db.clone());
        let mut project: Project = projects.find(uid, pid).await.unwrap().unwrap();
        project.status = ProjectStatus::Paused;
        project.name = "renamed".into();
        assert!(
            projects
                .update(&project, std::slice::from_ref(&event))
                .await
                .is_err()
        );
        let stored = projects.find(uid, pid).await.unwrap().unwrap();
        assert_eq!(stored.name, "Atomic");
        assert_eq!(stored.status, ProjectStatus::Active);
        assert_eq!(
            read_events(&app.db, uid).await.unwrap().len(),
            2,
            "no stray events either"
        );
    }
);
