//! The session, its intent and status machine, and invocation records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::InvalidField;
use crate::band::{
    AgentRole, Attempt, CoderOutput, Provenance, ProviderKind, Review, SafetyCheck, StopReason,
    TokenUsage,
};
use crate::validation::text;

/// Lifecycle of a session (spec §2.2, with the transitions of §3.1/§5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Pending,
    Executing,
    AwaitingReview,
    Completed,
    Failed,
    /// Stopped by its owner while the band played (issue 17).
    Cancelled,
}

impl SessionStatus {
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Executing,
        Self::AwaitingReview,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Executing => "executing",
            Self::AwaitingReview => "awaiting_review",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the session is over.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// The allowed moves: pending → executing → awaiting_review (the human
    /// gate) → executing again (approved: synthesis) or completed; any
    /// non-terminal status may fail; a playing one may be cancelled.
    /// Terminal states never change.
    pub fn can_become(self, to: Self) -> bool {
        use SessionStatus::{AwaitingReview, Cancelled, Completed, Executing, Failed, Pending};
        matches!(
            (self, to),
            (Pending, Executing)
                | (Executing, AwaitingReview | Completed)
                | (AwaitingReview, Executing | Completed)
                | (Pending | Executing | AwaitingReview, Failed)
                | (Pending | Executing, Cancelled)
        )
    }
}

/// What the band is asked to do (spec `ExecuteAIRequest.intent.action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentAction {
    GenerateCode,
    ReviewCode,
    DesignUi,
    WriteTests,
}

impl IntentAction {
    pub const ALL: [Self; 4] = [
        Self::GenerateCode,
        Self::ReviewCode,
        Self::DesignUi,
        Self::WriteTests,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GenerateCode => "generate_code",
            Self::ReviewCode => "review_code",
            Self::DesignUi => "design_ui",
            Self::WriteTests => "write_tests",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::GenerateCode => "Generate code",
            Self::ReviewCode => "Review code",
            Self::DesignUi => "Design the UI",
            Self::WriteTests => "Write tests",
        }
    }
}

/// The validated intent: action, free-text context and constraints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub action: IntentAction,
    pub context: String,
    pub constraints: Vec<String>,
}

impl Intent {
    pub const MAX_CONSTRAINTS: usize = 20;

    /// # Errors
    /// `InvalidField("context")` past 20,000 characters,
    /// `InvalidField("constraints")` for more than 20 or any over 200 characters.
    pub fn new(
        action: IntentAction,
        context: &str,
        constraints: &[String],
    ) -> Result<Self, InvalidField> {
        let context = text("context", context, 20_000, true, false)?;
        if constraints.len() > Self::MAX_CONSTRAINTS {
            return Err(InvalidField::new(
                "constraints",
                format!("at most {} constraints", Self::MAX_CONSTRAINTS),
            ));
        }
        let constraints = constraints
            .iter()
            .map(|c| text("constraints", c, 200, false, true))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            action,
            context,
            constraints,
        })
    }
}

/// Providers bound to roles for one session only (spec `ExecuteAIRequest.
/// agents`), ahead of the user's saved preferences. A bound role still
/// falls back along its chain when that provider fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lineup {
    #[serde(default)]
    pub coder: Option<ProviderKind>,
    #[serde(default)]
    pub reviewer: Option<ProviderKind>,
    #[serde(default)]
    pub designer: Option<ProviderKind>,
}

impl Lineup {
    /// The provider bound to `role` for this session, if any.
    pub fn bound(&self, role: AgentRole) -> Option<ProviderKind> {
        match role {
            AgentRole::Coder => self.coder,
            AgentRole::Reviewer => self.reviewer,
            AgentRole::Designer => self.designer,
            AgentRole::Conductor | AgentRole::Pm => None,
        }
    }

    /// Each bound role with its provider.
    pub fn bindings(&self) -> impl Iterator<Item = (AgentRole, ProviderKind)> + '_ {
        [AgentRole::Coder, AgentRole::Reviewer, AgentRole::Designer]
            .into_iter()
            .filter_map(|role| self.bound(role).map(|kind| (role, kind)))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiSession {
    pub id: Uuid,
    pub project_id: Uuid,
    pub task_id: Option<Uuid>,
    pub user_id: Uuid,
    /// The provider family that synthesises (the spec fixes ChatGPT; we let
    /// the user choose).
    pub conductor: ProviderKind,
    pub status: SessionStatus,
    pub intent: Intent,
    pub total_tokens_used: i64,
    /// The budget reservation held for the whole task, while it runs.
    pub reservation_id: Option<Uuid>,
    /// Why the session failed, in words for the user.
    pub failure: Option<String>,
    /// When an approval at the gate set the band playing again.
    pub resumed_at: Option<DateTime<Utc>>,
    /// The failed, cancelled or rejected session this one runs again.
    #[serde(default)]
    pub retry_of: Option<Uuid>,
    /// Which commit of the project's repository the session works on, and
    /// which files of it the band was shown (none: no repository linked).
    #[serde(default)]
    pub code: Option<crate::repos::CodeProvenance>,
    /// The coder's proposal as a commit on the task branch, or why it
    /// could not be one.
    #[serde(default)]
    pub change: Option<crate::repos::SessionChange>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// What an agent produced, as stored in `agent_invocations.response`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationRecord {
    pub content: String,
    pub stop_reason: Option<StopReason>,
    pub usage: TokenUsage,
    pub provenance: Option<Provenance>,
    pub reasoning: Vec<String>,
    pub attempts: Vec<Attempt>,
    /// Set when every attempt failed.
    pub error: Option<String>,
    /// The coder's answer read as files and patches, next to the raw text.
    #[serde(default)]
    pub coder_output: Option<CoderOutput>,
    /// The reviewer's structured verdict.
    #[serde(default)]
    pub review: Option<Review>,
    /// The safety check of this output (spec §5.1).
    #[serde(default)]
    pub safety: Option<SafetyCheck>,
}

/// One agent call (spec `AgentInvocation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInvocation {
    pub id: Uuid,
    pub session_id: Uuid,
    pub agent: ProviderKind,
    pub role: AgentRole,
    pub prompt: String,
    pub response: InvocationRecord,
    pub confidence: f64,
    pub tokens_used: i64,
    pub execution_time_ms: i64,
    pub invoked_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::SessionStatus::*;
    use super::*;

    #[test]
    fn allowed_and_refused_transitions() {
        let allowed = [
            (Pending, Executing),
            (Executing, AwaitingReview),
            (Executing, Completed),
            (AwaitingReview, Executing),
            (AwaitingReview, Completed),
            (Pending, Failed),
            (Executing, Failed),
            (AwaitingReview, Failed),
            (Pending, Cancelled),
            (Executing, Cancelled),
        ];
        for from in SessionStatus::ALL {
            for to in SessionStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
        assert!(Completed.is_terminal() && Failed.is_terminal() && !AwaitingReview.is_terminal());
        assert!(Cancelled.is_terminal());
    }

    #[test]
    fn status_round_trips() {
        for s in SessionStatus::ALL {
            assert_eq!(SessionStatus::parse(s.as_str()), Some(s));
        }
        for a in IntentAction::ALL {
            assert_eq!(IntentAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(IntentAction::parse("deploy"), None);
        assert_eq!(SessionStatus::parse("running"), None);
    }

    #[test]
    fn intent_validation_names_fields() {
        let ok = Intent::new(
            IntentAction::GenerateCode,
            "Build a login form",
            &["TypeScript".into()],
        )
        .unwrap();
        assert_eq!(ok.constraints, ["TypeScript"]);
        let too_many: Vec<String> = (0..21).map(|i| format!("c{i}")).collect();
        assert_eq!(
            Intent::new(IntentAction::DesignUi, "", &too_many)
                .unwrap_err()
                .field,
            "constraints"
        );
        assert_eq!(
            Intent::new(IntentAction::DesignUi, "", &["x".repeat(201)])
                .unwrap_err()
                .field,
            "constraints"
        );
        assert_eq!(
            Intent::new(IntentAction::WriteTests, &"y".repeat(20_001), &[])
                .unwrap_err()
                .field,
            "context"
        );
    }
}
