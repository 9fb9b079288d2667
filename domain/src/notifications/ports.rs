//! What the inbox needs from storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Notification, NotificationError};
use crate::pagination::{Page, PageRequest};

#[async_trait]
pub trait NotificationRepository: Send + Sync {
    /// Stores `notification` unless its user already has one for its event;
    /// answers whether it was stored. This is what makes the inbox reaction
    /// idempotent.
    ///
    /// # Errors
    /// `Unexpected` on a storage failure.
    async fn add(&self, notification: &Notification) -> Result<bool, NotificationError>;

    /// A page of `user_id`'s notifications, newest first, only the unread
    /// ones when `unread_only`.
    ///
    /// # Errors
    /// `Unexpected` on a storage failure.
    async fn page(
        &self,
        user_id: Uuid,
        unread_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Notification>, NotificationError>;

    /// Marks one of `user_id`'s notifications read at `at` (an already read
    /// one keeps its first time) and answers it.
    ///
    /// # Errors
    /// `NotFound` when `user_id` has no such notification.
    async fn mark_read(
        &self,
        user_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Notification, NotificationError>;

    /// Marks all of `user_id`'s unread notifications read; answers how many.
    ///
    /// # Errors
    /// `Unexpected` on a storage failure.
    async fn mark_all_read(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<u64, NotificationError>;

    /// How many of `user_id`'s notifications are unread.
    ///
    /// # Errors
    /// `Unexpected` on a storage failure.
    async fn unread_count(&self, user_id: Uuid) -> Result<u64, NotificationError>;
}
