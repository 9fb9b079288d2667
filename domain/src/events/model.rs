//! The event envelope (spec `BaseEvent`) and the typed payloads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts::SubscriptionTier;
use crate::projects::{Project, ProjectStatus};
use crate::tasks::{Task, TaskStatus};

/// Which aggregate an event belongs to; stored as text in `events.aggregate_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggregateType {
    User,
    Project,
    Task,
    #[serde(rename = "AISession")]
    AiSession,
    Review,
    Budget,
}

impl AggregateType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Project => "Project",
            Self::Task => "Task",
            Self::AiSession => "AISession",
            Self::Review => "Review",
            Self::Budget => "Budget",
        }
    }
}

/// What happened. Serialised with an internal `type` tag as the event payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DomainEvent {
    UserRegistered {
        email: String,
        tier: SubscriptionTier,
    },
    AiPreferencesChanged {
        preferences: crate::accounts::AiPreferences,
    },
    /// The user created an API key (the secret is never recorded).
    ApiKeyCreated {
        key_id: Uuid,
        name: String,
        prefix: String,
    },
    /// The user revoked an API key.
    ApiKeyRevoked {
        key_id: Uuid,
    },
    ProjectCreated {
        project: Project,
    },
    ProjectUpdated {
        project: Project,
        changed: Vec<String>,
    },
    ProjectArchived {
        project_id: Uuid,
        previous_status: ProjectStatus,
    },
    ProjectDeleted {
        project_id: Uuid,
    },
    /// A repository was linked to the project (or the link replaced).
    RepositoryLinked {
        project_id: Uuid,
        kind: crate::repos::RepoKind,
        base_branch: String,
        push: crate::repos::PushPolicy,
    },
    /// The project's repository was unlinked (its files untouched).
    RepositoryUnlinked {
        project_id: Uuid,
    },
    TaskCreated {
        task: Task,
    },
    TaskUpdated {
        task: Task,
        changed: Vec<String>,
    },
    TaskMoved {
        task_id: Uuid,
        project_id: Uuid,
        from: TaskStatus,
        to: TaskStatus,
        /// The run that moved the card; none when a human did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by_session: Option<Uuid>,
    },
    TaskDeleted {
        task_id: Uuid,
        project_id: Uuid,
    },
    AiSessionStarted {
        session_id: Uuid,
        project_id: Uuid,
        task_id: Option<Uuid>,
        intent: crate::sessions::Intent,
        reserved_tokens: i64,
    },
    AiSessionStatusChanged {
        session_id: Uuid,
        from: crate::sessions::SessionStatus,
        to: crate::sessions::SessionStatus,
        reason: Option<String>,
    },
    AgentInvoked {
        session_id: Uuid,
        invocation_id: Uuid,
        agent: crate::band::ProviderKind,
        role: crate::band::AgentRole,
        confidence: f64,
        tokens_used: i64,
        execution_time_ms: i64,
        failed: bool,
    },
    /// The band stopped for a human: at the gate, or for final approval
    /// of a synthesised answer. A pending review row was created with it.
    HumanReviewRequired {
        review_id: Uuid,
        session_id: Uuid,
        kind: crate::sessions::ReviewKind,
        reasons: Vec<crate::sessions::ReviewReason>,
        average_confidence: f64,
        expires_at: DateTime<Utc>,
    },
    /// A human opened a pending review (`pending_review` → `under_review`).
    HumanReviewStarted {
        review_id: Uuid,
        session_id: Uuid,
    },
    /// A human approved what a review showed (spec `HumanApprovedEvent`);
    /// `output_hash` names exactly what was approved.
    HumanApproved {
        review_id: Uuid,
        session_id: Uuid,
        reviewer_id: Uuid,
        kind: crate::sessions::ReviewKind,
        output_hash: String,
        comment: Option<String>,
    },
    /// A human rejected it, with a reason (spec `HumanRejectedEvent`).
    HumanRejected {
        review_id: Uuid,
        session_id: Uuid,
        reviewer_id: Uuid,
        kind: crate::sessions::ReviewKind,
        output_hash: String,
        reason: String,
    },
    /// A human replaced agents' outputs with their own edit and approved
    /// that (spec `HumanModifiedEvent`); `roles` are the outputs edited.
    HumanModified {
        review_id: Uuid,
        session_id: Uuid,
        reviewer_id: Uuid,
        kind: crate::sessions::ReviewKind,
        output_hash: String,
        roles: Vec<crate::band::AgentRole>,
        comment: Option<String>,
    },
    /// Nobody decided in time; the session failed.
    ReviewExpired {
        review_id: Uuid,
        session_id: Uuid,
    },
    /// A reservation was refused (spec `TokenBudgetExceededEvent`); `limit`
    /// is `session_limit` or `monthly_limit`.
    TokenBudgetExceeded {
        tier: SubscriptionTier,
        limit: String,
        requested: i64,
        remaining: i64,
        max_session_tokens: i64,
    },
}

impl DomainEvent {
    /// The event's `type`, as stored in `events.event_type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::UserRegistered { .. } => "UserRegistered",
            Self::AiPreferencesChanged { .. } => "AIPreferencesChanged",
            Self::ApiKeyCreated { .. } => "ApiKeyCreated",
            Self::ApiKeyRevoked { .. } => "ApiKeyRevoked",
            Self::ProjectCreated { .. } => "ProjectCreated",
            Self::ProjectUpdated { .. } => "ProjectUpdated",
            Self::ProjectArchived { .. } => "ProjectArchived",
            Self::ProjectDeleted { .. } => "ProjectDeleted",
            Self::RepositoryLinked { .. } => "RepositoryLinked",
            Self::RepositoryUnlinked { .. } => "RepositoryUnlinked",
            Self::TaskCreated { .. } => "TaskCreated",
            Self::TaskUpdated { .. } => "TaskUpdated",
            Self::TaskMoved { .. } => "TaskMoved",
            Self::TaskDeleted { .. } => "TaskDeleted",
            Self::TokenBudgetExceeded { .. } => "TokenBudgetExceeded",
            Self::AiSessionStarted { .. } => "AISessionStarted",
            Self::AiSessionStatusChanged { .. } => "AISessionStatusChanged",
            Self::AgentInvoked { .. } => "AgentInvoked",
            Self::HumanReviewRequired { .. } => "HumanReviewRequired",
            Self::HumanReviewStarted { .. } => "HumanReviewStarted",
            Self::HumanApproved { .. } => "HumanApproved",
            Self::HumanRejected { .. } => "HumanRejected",
            Self::HumanModified { .. } => "HumanModified",
            Self::ReviewExpired { .. } => "ReviewExpired",
        }
    }
}

/// An event ready to append: identity, aggregate, actor and time around the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub id: Uuid,
    pub aggregate_id: Uuid,
    pub aggregate_type: AggregateType,
    pub user_id: Option<Uuid>,
    pub timestamp: DateTime<Utc>,
    pub event: DomainEvent,
}

impl EventEnvelope {
    /// Wraps `event` for `aggregate`, caused by `user_id`, at `timestamp`.
    pub fn new(
        aggregate_type: AggregateType,
        aggregate_id: Uuid,
        user_id: Uuid,
        timestamp: DateTime<Utc>,
        event: DomainEvent,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            aggregate_id,
            aggregate_type,
            user_id: Some(user_id),
            timestamp,
            event,
        }
    }
}
