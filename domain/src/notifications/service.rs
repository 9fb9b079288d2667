//! Reading and marking the inbox.

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::{Notification, NotificationError, NotificationRepository};
use crate::pagination::{Page, PageRequest};

#[derive(Clone)]
pub struct InboxService {
    repo: Arc<dyn NotificationRepository>,
}

impl InboxService {
    pub fn new(repo: Arc<dyn NotificationRepository>) -> Self {
        Self { repo }
    }

    /// # Errors
    /// `Unexpected` on a storage failure.
    pub async fn page(
        &self,
        user_id: Uuid,
        unread_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Notification>, NotificationError> {
        self.repo.page(user_id, unread_only, page).await
    }

    /// # Errors
    /// `NotFound` unless `id` is one of `user_id`'s notifications.
    pub async fn mark_read(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Notification, NotificationError> {
        self.repo.mark_read(user_id, id, Utc::now()).await
    }

    /// # Errors
    /// `Unexpected` on a storage failure.
    pub async fn mark_all_read(&self, user_id: Uuid) -> Result<u64, NotificationError> {
        self.repo.mark_all_read(user_id, Utc::now()).await
    }

    /// # Errors
    /// `Unexpected` on a storage failure.
    pub async fn unread_count(&self, user_id: Uuid) -> Result<u64, NotificationError> {
        self.repo.unread_count(user_id).await
    }
}
