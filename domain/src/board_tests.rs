//! Use-case tests for projects and tasks together, on the in-memory fakes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use uuid::Uuid;

use crate::pagination::PageRequest;
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

#[tokio::test]
async fn task_pages_walk_the_whole_list_once_in_order() {
    let (projects, tasks, _) = services();
    let owner = Uuid::new_v4();
    let p = projects.create(owner, named("Alpha")).await.unwrap();
    for i in 0..7 {
        tasks
            .create(owner, p.id, titled(&format!("task {i}")))
            .await
            .unwrap();
    }
    let q = TaskQuery::default();
    let all: Vec<Uuid> = tasks
        .list(owner, p.id, &q)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    let mut walked = Vec::new();
    let mut sizes = Vec::new();
    let mut after = None;
    loop {
        let request = PageRequest::new(3, after).unwrap();
        let page = tasks.page(owner, p.id, &q, &request).await.unwrap();
        sizes.push(page.items.len());
        walked.extend(page.items.iter().map(|t| t.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(walked, all);
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(tasks.count(owner, p.id, &q).await.unwrap(), 7);

    let stranger = Uuid::new_v4();
    assert!(matches!(
        tasks
            .page(stranger, p.id, &q, &PageRequest::default())
            .await,
        Err(TaskError::ProjectNotFound)
    ));
    assert!(matches!(
        tasks.count(stranger, p.id, &q).await,
        Err(TaskError::ProjectNotFound)
    ));
}

#[tokio::test]
async fn project_pages_follow_the_list_order() {
    let (projects, _, _) = services();
    let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
    for i in 0..5 {
        projects
            .create(owner, named(&format!("P{i}")))
            .await
            .unwrap();
        // Distinct `updated_at`s, so the expected order is by time alone.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    projects.create(other, named("Not mine")).await.unwrap();
    let first = projects
        .page(owner, &PageRequest::new(4, None).unwrap())
        .await
        .unwrap();
    let rest = projects
        .page(owner, &PageRequest::new(4, first.next).unwrap())
        .await
        .unwrap();
    assert_eq!(first.items.len(), 4);
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next, None);
    let walked: Vec<String> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(walked, ["P4", "P3", "P2", "P1", "P0"], "newest first");
    assert_eq!(projects.count(owner).await.unwrap(), 5);
}
