//! In-memory fakes of the ports, for the use-case unit tests. They record the
//! events each write carried so tests can assert "no change without its event".

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod band;
pub mod store;

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use uuid::Uuid;

use crate::accounts::{
    AccountError, Email, NewUser, Password, PasswordHash, PasswordHasher, User, UserRepository,
};
use crate::events::EventEnvelope;
use crate::pagination::{Page, PageKey, PageRequest};
use crate::projects::{Project, ProjectError, ProjectRepository};
use crate::tasks::{Task, TaskError, TaskQuery, TaskRepository};

#[derive(Default)]
pub struct Memory {
    pub users: Mutex<HashMap<String, (User, PasswordHash)>>,
    pub projects: Mutex<HashMap<Uuid, Project>>,
    pub tasks: Mutex<HashMap<Uuid, Task>>,
    pub events: Mutex<Vec<EventEnvelope>>,
}

impl Memory {
    pub fn event_types(&self) -> Vec<&'static str> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.event.type_name())
            .collect()
    }

    fn record(&self, events: &[EventEnvelope]) {
        self.events.lock().unwrap().extend_from_slice(events);
    }
}

#[async_trait]
impl UserRepository for Memory {
    async fn create(&self, new_user: &NewUser, event: &EventEnvelope) -> Result<(), AccountError> {
        let mut users = self.users.lock().unwrap();
        if users.contains_key(&new_user.user.email) {
            return Err(AccountError::EmailTaken);
        }
        users.insert(
            new_user.user.email.clone(),
            (new_user.user.clone(), new_user.password_hash.clone()),
        );
        self.record(std::slice::from_ref(event));
        Ok(())
    }

    async fn find_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<(User, PasswordHash)>, AccountError> {
        Ok(self.users.lock().unwrap().get(email.as_str()).cloned())
    }

    async fn find(&self, id: Uuid) -> Result<Option<User>, AccountError> {
        Ok(self
            .users
            .lock()
            .unwrap()
            .values()
            .find(|(u, _)| u.id == id)
            .map(|(u, _)| u.clone()))
    }

    async fn update_preferences(
        &self,
        id: Uuid,
        preferences: &crate::accounts::AiPreferences,
        event: &EventEnvelope,
    ) -> Result<(), AccountError> {
        let mut users = self.users.lock().unwrap();
        let (user, _) = users
            .values_mut()
            .find(|(u, _)| u.id == id)
            .ok_or(AccountError::NotFound)?;
        user.ai_preferences = preferences.clone();
        drop(users);
        self.record(std::slice::from_ref(event));
        Ok(())
    }
}

#[async_trait]
impl ProjectRepository for Memory {
    async fn insert(&self, project: &Project, event: &EventEnvelope) -> Result<(), ProjectError> {
        self.projects
            .lock()
            .unwrap()
            .insert(project.id, project.clone());
        self.record(std::slice::from_ref(event));
        Ok(())
    }

    async fn update(
        &self,
        project: &Project,
        events: &[EventEnvelope],
    ) -> Result<(), ProjectError> {
        self.projects
            .lock()
            .unwrap()
            .insert(project.id, project.clone());
        self.record(events);
        Ok(())
    }

    async fn delete(
        &self,
        owner_id: Uuid,
        id: Uuid,
        event: &EventEnvelope,
    ) -> Result<(), ProjectError> {
        let mut projects = self.projects.lock().unwrap();
        match projects.get(&id) {
            Some(p) if p.owner_id == owner_id => {
                projects.remove(&id);
                self.tasks.lock().unwrap().retain(|_, t| t.project_id != id);
                self.record(std::slice::from_ref(event));
                Ok(())
            }
            _ => Err(ProjectError::NotFound),
        }
    }

    async fn find(&self, owner_id: Uuid, id: Uuid) -> Result<Option<Project>, ProjectError> {
        Ok(self
            .projects
            .lock()
            .unwrap()
            .get(&id)
            .filter(|p| p.owner_id == owner_id)
            .cloned())
    }

    async fn list(&self, owner_id: Uuid) -> Result<Vec<Project>, ProjectError> {
        Ok(self
            .projects
            .lock()
            .unwrap()
            .values()
            .filter(|p| p.owner_id == owner_id)
            .cloned()
            .collect())
    }

    async fn page(
        &self,
        owner_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<Project>, ProjectError> {
        let mut mine = ProjectRepository::list(self, owner_id).await?;
        // The adapter's order: most recently updated first, then id.
        mine.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)));
        let rows = mine
            .into_iter()
            .filter(|p| {
                page.after()
                    .is_none_or(|k| p.updated_at < k.at || (p.updated_at == k.at && p.id > k.id))
            })
            .take(usize::try_from(page.fetch()).unwrap())
            .collect();
        Ok(Page::from_rows(rows, page, |p| {
            PageKey::new(p.updated_at, p.id)
        }))
    }

    async fn count(&self, owner_id: Uuid) -> Result<u64, ProjectError> {
        Ok(ProjectRepository::list(self, owner_id).await?.len() as u64)
    }
}

#[async_trait]
impl TaskRepository for Memory {
    async fn insert(&self, task: &Task, event: &EventEnvelope) -> Result<(), TaskError> {
        self.tasks.lock().unwrap().insert(task.id, task.clone());
        self.record(std::slice::from_ref(event));
        Ok(())
    }

    async fn update(&self, task: &Task, events: &[EventEnvelope]) -> Result<(), TaskError> {
        self.tasks.lock().unwrap().insert(task.id, task.clone());
        self.record(events);
        Ok(())
    }

    async fn update_if_unchanged(
        &self,
        before: &Task,
        after: &Task,
        events: &[EventEnvelope],
    ) -> Result<bool, TaskError> {
        let mut tasks = self.tasks.lock().unwrap();
        match tasks.get(&before.id) {
            Some(now) if now.updated_at == before.updated_at => {
                tasks.insert(after.id, after.clone());
                drop(tasks);
                self.record(events);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, task: &Task, event: &EventEnvelope) -> Result<(), TaskError> {
        self.tasks.lock().unwrap().remove(&task.id);
        self.record(std::slice::from_ref(event));
        Ok(())
    }

    async fn find(&self, owner_id: Uuid, id: Uuid) -> Result<Option<Task>, TaskError> {
        let task = self.tasks.lock().unwrap().get(&id).cloned();
        let projects = self.projects.lock().unwrap();
        Ok(task.filter(|t| {
            projects
                .get(&t.project_id)
                .is_some_and(|p| p.owner_id == owner_id)
        }))
    }

    async fn list(&self, project_id: Uuid, query: &TaskQuery) -> Result<Vec<Task>, TaskError> {
        let mut found: Vec<Task> = self
            .tasks
            .lock()
            .unwrap()
            .values()
            .filter(|t| t.project_id == project_id)
            .filter(|t| query.status.is_none_or(|s| s == t.status))
            .filter(|t| {
                query.search.as_ref().is_none_or(|s| {
                    let hay = format!("{} {}", t.title, t.description).to_lowercase();
                    s.terms().iter().all(|term| {
                        hay.split(|c: char| !c.is_alphanumeric())
                            .any(|w| w.starts_with(term.as_str()))
                    })
                })
            })
            .cloned()
            .collect();
        // The adapter's order: oldest first, then id.
        found.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(found)
    }

    async fn page(
        &self,
        project_id: Uuid,
        query: &TaskQuery,
        page: &PageRequest,
    ) -> Result<Page<Task>, TaskError> {
        let rows = TaskRepository::list(self, project_id, query)
            .await?
            .into_iter()
            .filter(|t| {
                page.after()
                    .is_none_or(|k| t.created_at > k.at || (t.created_at == k.at && t.id > k.id))
            })
            .take(usize::try_from(page.fetch()).unwrap())
            .collect();
        Ok(Page::from_rows(rows, page, |t| {
            PageKey::new(t.created_at, t.id)
        }))
    }

    async fn count(&self, project_id: Uuid, query: &TaskQuery) -> Result<u64, TaskError> {
        Ok(TaskRepository::list(self, project_id, query).await?.len() as u64)
    }
}

/// Reversible stand-in for argon2: fine for logic tests, never for the product.
pub struct PlainHasher;

#[async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, AccountError> {
        Ok(PasswordHash::new(format!("plain:{}", password.expose())))
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, AccountError> {
        Ok(hash.as_str() == format!("plain:{}", password.expose()))
    }
}
