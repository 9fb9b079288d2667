//! A notification and the events that make one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::{DomainEvent, StoredEvent};
use crate::sessions::SessionStatus;

/// What a notification is about; stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    ReviewRequired,
    ReviewExpired,
    SessionCompleted,
    SessionFailed,
    SessionCancelled,
}

impl NotificationKind {
    pub const ALL: [Self; 5] = [
        Self::ReviewRequired,
        Self::ReviewExpired,
        Self::SessionCompleted,
        Self::SessionFailed,
        Self::SessionCancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReviewRequired => "review_required",
            Self::ReviewExpired => "review_expired",
            Self::SessionCompleted => "session_completed",
            Self::SessionFailed => "session_failed",
            Self::SessionCancelled => "session_cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// The kind an event makes, if it makes one.
    pub fn of(event: &DomainEvent) -> Option<Self> {
        match event {
            DomainEvent::HumanReviewRequired { .. } => Some(Self::ReviewRequired),
            DomainEvent::ReviewExpired { .. } => Some(Self::ReviewExpired),
            DomainEvent::AiSessionStatusChanged { to, .. } => match to {
                SessionStatus::Completed => Some(Self::SessionCompleted),
                SessionStatus::Failed => Some(Self::SessionFailed),
                SessionStatus::Cancelled => Some(Self::SessionCancelled),
                _ => None,
            },
            _ => None,
        }
    }
}

/// One entry of a user's inbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The event it came from: at most one notification per user and event.
    pub event_id: Uuid,
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    /// The page to open (a review, a session).
    pub link: Option<String>,
    pub session_id: Option<Uuid>,
    pub review_id: Option<Uuid>,
    /// When the event happened (not when the inbox heard of it), so the
    /// inbox orders by what happened first whatever the bus's delays.
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl Notification {
    /// The notification `event` makes for the user it names, if any: events
    /// of other kinds, and events with no user, make none.
    pub fn from_event(event: &StoredEvent) -> Option<Self> {
        let envelope = &event.envelope;
        let user_id = envelope.user_id?;
        let kind = NotificationKind::of(&envelope.event)?;
        let (title, body, session_id, review_id) = match &envelope.event {
            DomainEvent::HumanReviewRequired {
                review_id,
                session_id,
                expires_at,
                ..
            } => (
                "A review is waiting for you".to_owned(),
                format!(
                    "The band stopped for your decision; the review expires at {}.",
                    expires_at.format("%Y-%m-%d %H:%M UTC")
                ),
                Some(*session_id),
                Some(*review_id),
            ),
            DomainEvent::ReviewExpired {
                review_id,
                session_id,
            } => (
                "A review expired".to_owned(),
                "Nobody decided in time, so its session failed.".to_owned(),
                Some(*session_id),
                Some(*review_id),
            ),
            DomainEvent::AiSessionStatusChanged {
                session_id, reason, ..
            } => {
                let title = match kind {
                    NotificationKind::SessionCompleted => "A session completed",
                    NotificationKind::SessionCancelled => "A session was cancelled",
                    _ => "A session failed",
                };
                (
                    title.to_owned(),
                    reason.clone().unwrap_or_default(),
                    Some(*session_id),
                    None,
                )
            }
            _ => return None,
        };
        let link = match (kind, review_id, session_id) {
            (NotificationKind::ReviewRequired, Some(review), _) => {
                Some(format!("/reviews/{review}"))
            }
            (_, _, Some(session)) => Some(format!("/sessions/{session}")),
            _ => None,
        };
        Some(Self {
            id: Uuid::new_v4(),
            user_id,
            event_id: envelope.id,
            kind,
            title,
            body,
            link,
            session_id,
            review_id,
            created_at: envelope.timestamp,
            read_at: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone as _;

    use super::*;
    use crate::events::{AggregateType, EventEnvelope};

    fn stored(event: DomainEvent, user: Option<Uuid>) -> StoredEvent {
        let mut envelope = EventEnvelope::new(
            AggregateType::AiSession,
            Uuid::new_v4(),
            Uuid::new_v4(),
            Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap(),
            event,
        );
        envelope.user_id = user;
        StoredEvent {
            sequence: 1,
            project_id: None,
            request_id: None,
            envelope,
        }
    }

    fn status(to: SessionStatus) -> DomainEvent {
        DomainEvent::AiSessionStatusChanged {
            session_id: Uuid::new_v4(),
            from: SessionStatus::Executing,
            to,
            reason: Some("why".into()),
        }
    }

    #[test]
    fn ended_sessions_and_reviews_make_notifications() {
        let user = Uuid::new_v4();
        for (to, kind) in [
            (SessionStatus::Completed, NotificationKind::SessionCompleted),
            (SessionStatus::Failed, NotificationKind::SessionFailed),
            (SessionStatus::Cancelled, NotificationKind::SessionCancelled),
        ] {
            let event = stored(status(to), Some(user));
            let n = Notification::from_event(&event).unwrap();
            assert_eq!(n.kind, kind);
            assert_eq!(n.user_id, user);
            assert_eq!(n.event_id, event.envelope.id);
            assert_eq!(n.created_at, event.envelope.timestamp);
            assert_eq!(n.body, "why");
            assert!(n.link.unwrap().starts_with("/sessions/"));
            assert_eq!(NotificationKind::parse(kind.as_str()), Some(kind));
        }
        for to in [
            SessionStatus::Pending,
            SessionStatus::Executing,
            SessionStatus::AwaitingReview,
        ] {
            assert!(Notification::from_event(&stored(status(to), Some(user))).is_none());
        }
        let review = Uuid::new_v4();
        let expired = stored(
            DomainEvent::ReviewExpired {
                review_id: review,
                session_id: Uuid::new_v4(),
            },
            Some(user),
        );
        let n = Notification::from_event(&expired).unwrap();
        assert_eq!(n.kind, NotificationKind::ReviewExpired);
        assert_eq!(n.review_id, Some(review));
        // Nobody to tell.
        assert!(Notification::from_event(&stored(status(SessionStatus::Failed), None)).is_none());
        assert!(
            NotificationKind::of(&DomainEvent::ProjectDeleted {
                project_id: Uuid::new_v4()
            })
            .is_none()
        );
    }
}
