//! Use-case tests for projects and tasks together, on the in-memory fakes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use uuid::Uuid;

use crate::projects::{NewProject, ProjectError, ProjectPatch, ProjectService, ProjectStatus};
use crate::tasks::{
    NewTask, SearchTerms, TaskError, TaskPatch, TaskQuery, TaskService, TaskStatus,
};
use crate::testing::Memory;

fn services() -> (ProjectService, TaskService, Arc<Memory>) {
    let mem = Arc::new(Memory::default());
    (
        ProjectService::new(mem.clone()),
        TaskService::new(mem.clone(), mem.clone()),
        mem,
    )
}

fn named(name: &str) -> NewProject {
    NewProject {
        name: name.into(),
        description: None,
    }
}

fn titled(title: &str) -> NewTask {
    NewTask {
        title: title.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn another_users_project_is_not_found() {
    let (projects, tasks, _) = services();
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let p = projects.create(alice, named("Alpha")).await.unwrap();
    assert!(matches!(
        projects.get(bob, p.id).await,
        Err(ProjectError::NotFound)
    ));
    assert!(matches!(
        projects.delete(bob, p.id).await,
        Err(ProjectError::NotFound)
    ));
    assert!(matches!(
        tasks.create(bob, p.id, titled("x")).await,
        Err(TaskError::ProjectNotFound)
    ));
    let t = tasks.create(alice, p.id, titled("mine")).await.unwrap();
    assert!(matches!(
        tasks.get(bob, t.id).await,
        Err(TaskError::NotFound)
    ));
    assert!(matches!(
        tasks.update(bob, t.id, TaskPatch::default()).await,
        Err(TaskError::NotFound)
    ));
}

#[tokio::test]
async fn project_updates_emit_the_right_events() {
    let (projects, _, mem) = services();
    let owner = Uuid::new_v4();
    let p = projects.create(owner, named("Alpha")).await.unwrap();
    // A no-op patch records nothing.
    projects
        .update(
            owner,
            p.id,
            ProjectPatch {
                name: Some("Alpha".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(mem.event_types(), ["ProjectCreated"]);
    projects
        .update(
            owner,
            p.id,
            ProjectPatch {
                name: Some("Beta".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let archived = projects
        .update(
            owner,
            p.id,
            ProjectPatch {
                status: Some(ProjectStatus::Archived),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(archived.status, ProjectStatus::Archived);
    assert_eq!(
        mem.event_types(),
        ["ProjectCreated", "ProjectUpdated", "ProjectArchived"]
    );
}

#[tokio::test]
async fn moving_a_task_records_from_and_to() {
    let (projects, tasks, mem) = services();
    let owner = Uuid::new_v4();
    let p = projects.create(owner, named("Alpha")).await.unwrap();
    let t = tasks
        .create(owner, p.id, titled("Write docs"))
        .await
        .unwrap();
    assert_eq!(t.status, TaskStatus::Todo);
    let moved = tasks
        .update(
            owner,
            t.id,
            TaskPatch {
                status: Some(TaskStatus::Done),
                title: Some("Write the docs".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.status, TaskStatus::Done);
    assert_eq!(
        mem.event_types(),
        ["ProjectCreated", "TaskCreated", "TaskMoved", "TaskUpdated"]
    );
    let events = mem.events.lock().unwrap();
    match &events[2].event {
        crate::events::DomainEvent::TaskMoved { from, to, .. } => {
            assert_eq!((*from, *to), (TaskStatus::Todo, TaskStatus::Done));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn archived_projects_are_read_only() {
    let (projects, tasks, _) = services();
    let owner = Uuid::new_v4();
    let p = projects.create(owner, named("Alpha")).await.unwrap();
    let t = tasks.create(owner, p.id, titled("a")).await.unwrap();
    projects
        .update(
            owner,
            p.id,
            ProjectPatch {
                status: Some(ProjectStatus::Archived),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        tasks.create(owner, p.id, titled("b")).await,
        Err(TaskError::ProjectArchived)
    ));
    assert!(matches!(
        tasks
            .update(
                owner,
                t.id,
                TaskPatch {
                    status: Some(TaskStatus::Done),
                    ..Default::default()
                }
            )
            .await,
        Err(TaskError::ProjectArchived)
    ));
    // Reading still works.
    assert_eq!(
        tasks
            .list(owner, p.id, &TaskQuery::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn invalid_task_fields_are_named() {
    let (projects, tasks, mem) = services();
    let owner = Uuid::new_v4();
    let p = projects.create(owner, named("Alpha")).await.unwrap();
    match tasks.create(owner, p.id, titled("   ")).await {
        Err(TaskError::InvalidField(f)) => assert_eq!(f.field, "title"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(mem.event_types(), ["ProjectCreated"]);
}

#[tokio::test]
async fn search_filters_by_prefix_terms() {
    let (projects, tasks, _) = services();
    let owner = Uuid::new_v4();
    let p = projects.create(owner, named("Alpha")).await.unwrap();
    tasks
        .create(owner, p.id, titled("Deploy the rocket"))
        .await
        .unwrap();
    tasks
        .create(owner, p.id, titled("Paint the hull"))
        .await
        .unwrap();
    let q = TaskQuery {
        search: SearchTerms::parse("rock"),
        status: None,
    };
    let found = tasks.list(owner, p.id, &q).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].title, "Deploy the rocket");
}
