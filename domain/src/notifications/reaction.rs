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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    use super::*;
    use crate::events::{AggregateType, EventEnvelope};
    use crate::pagination::{Page, PageRequest};
    use crate::sessions::SessionStatus;

    /// Keeps what the reaction adds; nothing else is asked of it here.
    #[derive(Default)]
    struct Kept(Mutex<Vec<Notification>>);

    #[async_trait]
    impl NotificationRepository for Kept {
        async fn add(&self, n: &Notification) -> Result<bool, NotificationError> {
            self.0.lock().unwrap().push(n.clone());
            Ok(true)
        }
        async fn page(
            &self,
            _: Uuid,
            _: bool,
            _: &PageRequest,
        ) -> Result<Page<Notification>, NotificationError> {
            unreachable!("not used by the reaction")
        }
        async fn mark_read(
            &self,
            _: Uuid,
            _: Uuid,
            _: DateTime<Utc>,
        ) -> Result<Notification, NotificationError> {
            unreachable!("not used by the reaction")
        }
        async fn mark_all_read(&self, _: Uuid, _: DateTime<Utc>) -> Result<u64, NotificationError> {
            unreachable!("not used by the reaction")
        }
        async fn unread_count(&self, _: Uuid) -> Result<u64, NotificationError> {
            unreachable!("not used by the reaction")
        }
    }

    fn ended(user: Uuid, to: SessionStatus, at: DateTime<Utc>, sequence: i64) -> StoredEvent {
        let session = Uuid::new_v4();
        StoredEvent {
            sequence,
            project_id: None,
            request_id: None,
            envelope: EventEnvelope::new(
                AggregateType::AiSession,
                session,
                user,
                at,
                DomainEvent::AiSessionStatusChanged {
                    session_id: session,
                    from: SessionStatus::Executing,
                    to,
                    reason: None,
                },
            ),
        }
    }

    #[tokio::test]
    async fn week_old_events_make_no_notification() {
        let kept = Arc::new(Kept::default());
        let inbox = InboxReaction::new(kept.clone());
        let user = Uuid::new_v4();
        let old = ended(
            user,
            SessionStatus::Failed,
            Utc::now() - chrono::Duration::days(8),
            1,
        );
        let fresh = ended(user, SessionStatus::Completed, Utc::now(), 2);
        inbox.handle(&old).await.unwrap();
        inbox.handle(&fresh).await.unwrap();
        let kinds: Vec<NotificationKind> = kept.0.lock().unwrap().iter().map(|n| n.kind).collect();
        assert_eq!(kinds, [NotificationKind::SessionCompleted]);
    }
}
