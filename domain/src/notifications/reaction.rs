//! The reaction that fills the inbox from events.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Notification, NotificationError, NotificationKind, NotificationRepository};
use crate::events::{ConsumerGroup, DomainEvent, Reaction, ReactionError, StoredEvent};

/// Events older than this make no notification.
pub const STALE_AFTER: chrono::Duration = chrono::Duration::days(7);

/// Turns review-required, review-expired and session-ended events into
/// notifications for the user the event names. Idempotent through the
/// repository's one-notification-per-(user, event) rule.
pub struct InboxReaction {
    repo: Arc<dyn NotificationRepository>,
}

impl InboxReaction {
    pub fn new(repo: Arc<dyn NotificationRepository>) -> Self {
        Self { repo }
    }
}

#[async_trait]
impl Reaction for InboxReaction {
    /// The spec's `notifications` group (§4.1), which is what this is.
    fn name(&self) -> ConsumerGroup {
        ConsumerGroup::NOTIFICATIONS
    }

    fn wants(&self, event: &DomainEvent) -> bool {
        NotificationKind::of(event).is_some()
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), ReactionError> {
        // An inbox is about what needs the user now. A consumer group
        // created over a bus that retains history (Redis creates groups at
        // its start) is handed weeks of old events at once; those make no
        // notification.
        if chrono::Utc::now() - event.envelope.timestamp > STALE_AFTER {
            return Ok(());
        }
        // An event with no user has nobody to tell.
        let Some(notification) = Notification::from_event(event) else {
            return Ok(());
        };
        match self.repo.add(&notification).await {
            Ok(_) => Ok(()),
            Err(NotificationError::Unexpected(e)) => Err(ReactionError::Unexpected(e)),
            Err(e @ NotificationError::NotFound) => Err(ReactionError::Failed(e.to_string())),
        }
    }
}
