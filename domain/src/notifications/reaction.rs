//! The reaction that fills the inbox from events.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Notification, NotificationError, NotificationKind, NotificationRepository};
use crate::events::{ConsumerGroup, DomainEvent, Reaction, ReactionError, StoredEvent};

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
