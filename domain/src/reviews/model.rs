//! A request for a human decision (spec §5.3): the row the gate leaves
//! behind when the band stops for a human, and the one a synthesised
//! answer waits on for final approval; its state machine; and the
//! decisions a human takes on it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use std::collections::BTreeMap;

use crate::InvalidField;
use crate::band::{AgentRole, ProviderKind};
use crate::sessions::ReviewReason;

/// Why the human is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewKind {
    /// The gate stopped the band before synthesis.
    Gate,
    /// The conductor synthesised; nothing is applied until a human approves.
    FinalApproval,
}

impl ReviewKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gate => "gate",
            Self::FinalApproval => "final_approval",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Gate, Self::FinalApproval]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Where a review stands (spec §5.3 `ReviewState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    PendingReview,
    UnderReview,
    Approved,
    Rejected,
    Modified,
    Expired,
}

impl ReviewStatus {
    pub const ALL: [Self; 6] = [
        Self::PendingReview,
        Self::UnderReview,
        Self::Approved,
        Self::Rejected,
        Self::Modified,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingReview => "pending_review",
            Self::UnderReview => "under_review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Modified => "modified",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Still waiting for a decision.
    pub fn is_open(self) -> bool {
        matches!(self, Self::PendingReview | Self::UnderReview)
    }

    /// The allowed moves (spec §5.3): a pending review may be opened; an
    /// open one (opened or not: an API client decides without opening) is
    /// approved, rejected, modified or expires. Decided and expired reviews
    /// never change again.
    pub fn can_become(self, to: Self) -> bool {
        use ReviewStatus::{Approved, Expired, Modified, PendingReview, Rejected, UnderReview};
        matches!(
            (self, to),
            (PendingReview, UnderReview)
                | (
                    PendingReview | UnderReview,
                    Approved | Rejected | Modified | Expired
                )
        )
    }
}

/// What a human decides on a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Approve {
        comment: Option<String>,
    },
    /// Approve the human's own version of some outputs instead.
    Modify {
        outputs: BTreeMap<AgentRole, String>,
        comment: Option<String>,
    },
    Reject {
        reason: String,
    },
}

impl Decision {
    /// Longest reason or comment accepted, in characters.
    pub const MAX_REASON_CHARS: usize = 4_000;
    /// Longest edited output accepted, in bytes.
    pub const MAX_OUTPUT_BYTES: usize = 200_000;

    /// The review status this decision leads to.
    pub fn status(&self) -> ReviewStatus {
        match self {
            Self::Approve { .. } => ReviewStatus::Approved,
            Self::Modify { .. } => ReviewStatus::Modified,
            Self::Reject { .. } => ReviewStatus::Rejected,
        }
    }

    /// Checks and trims what the human typed: a rejection needs a reason,
    /// an edit needs text, and both have a size limit.
    ///
    /// # Errors
    /// `InvalidField` naming the field.
    pub fn validated(self) -> Result<Self, InvalidField> {
        let comment = |c: Option<String>| -> Result<Option<String>, InvalidField> {
            c.map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .map(|c| bounded("comment", c))
                .transpose()
        };
        match self {
            Self::Approve { comment: c } => Ok(Self::Approve {
                comment: comment(c)?,
            }),
            Self::Reject { reason } => {
                let reason = reason.trim().to_owned();
                if reason.is_empty() {
                    return Err(InvalidField::new(
                        "reason",
                        "say why you reject it: the reason is logged for the band to learn from",
                    ));
                }
                Ok(Self::Reject {
                    reason: bounded("reason", reason)?,
                })
            }
            Self::Modify {
                outputs,
                comment: c,
            } => {
                if outputs.is_empty() {
                    return Err(InvalidField::new("modifications", "nothing was modified"));
                }
                for (role, text) in &outputs {
                    if text.trim().is_empty() {
                        return Err(InvalidField::new(
                            "modifications",
                            format!("the {} output cannot be empty", role.as_str()),
                        ));
                    }
                    if text.len() > Self::MAX_OUTPUT_BYTES {
                        return Err(InvalidField::new(
                            "modifications",
                            format!(
                                "the {} output is longer than {} bytes",
                                role.as_str(),
                                Self::MAX_OUTPUT_BYTES
                            ),
                        ));
                    }
                }
                Ok(Self::Modify {
                    outputs,
                    comment: comment(c)?,
                })
            }
        }
    }
}

fn bounded(field: &'static str, text: String) -> Result<String, InvalidField> {
    if text.chars().count() > Decision::MAX_REASON_CHARS {
        return Err(InvalidField::new(
            field,
            format!("at most {} characters", Decision::MAX_REASON_CHARS),
        ));
    }
    Ok(text)
}

/// A decision as stored (`human_reviews`): one per review request, under
/// the request's own id, so the database itself refuses a second one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HumanDecision {
    /// The review request's id.
    pub review_id: Uuid,
    pub session_id: Uuid,
    pub reviewer_id: Uuid,
    /// The output the decision is mainly about.
    pub invocation_id: Option<Uuid>,
    pub decision: Decision,
    /// The hash of the outputs the human was shown.
    pub output_hash: String,
    pub decided_at: DateTime<Utc>,
}

/// How an intervention is logged (spec §5.2 `intervention_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterventionType {
    Approval,
    Rejection,
    Modification,
}

impl InterventionType {
    pub const ALL: [Self; 3] = [Self::Approval, Self::Rejection, Self::Modification];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approval => "approval",
            Self::Rejection => "rejection",
            Self::Modification => "modification",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn of(decision: &Decision) -> Self {
        match decision {
            Decision::Approve { .. } => Self::Approval,
            Decision::Modify { .. } => Self::Modification,
            Decision::Reject { .. } => Self::Rejection,
        }
    }
}

/// One logged human intervention (spec §5.2): what the AI suggested, how
/// sure it was, and what the human did about it — the raw material for
/// learning from overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterventionPoint {
    pub id: Uuid,
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub task_id: Option<Uuid>,
    pub kind: InterventionType,
    /// The provider that produced the main output under review.
    pub agent: ProviderKind,
    /// Its role in the band.
    pub role: AgentRole,
    /// The outputs shown.
    pub suggestion: Vec<SuggestedOutput>,
    pub confidence: f64,
    pub reasoning: Option<String>,
    pub decision: Decision,
    /// The rejection reason or the comment (empty when none was given).
    pub reason: String,
    pub context: InterventionContext,
    pub at: DateTime<Utc>,
}

/// One AI output as a review showed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuggestedOutput {
    pub invocation_id: Uuid,
    pub role: AgentRole,
    pub agent: ProviderKind,
    pub confidence: f64,
    pub content: String,
}

/// Why the human was asked: the review's kind and reasons, and what the
/// band had been asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterventionContext {
    pub review_kind: ReviewKind,
    pub reasons: Vec<ReviewReason>,
    pub average_confidence: f64,
    pub action: crate::sessions::IntentAction,
    /// The human's edits, for a modification.
    #[serde(default)]
    pub modifications: BTreeMap<AgentRole, String>,
}

/// Filters of the interventions view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterventionFilter {
    pub agent: Option<ProviderKind>,
    pub kind: Option<InterventionType>,
    /// One session's decisions only (a retry's feedback).
    pub session_id: Option<Uuid>,
}

/// SHA-256 (hex) over what a review shows — each output's invocation id,
/// role and text, in order — so a decision can be bound to exactly what
/// the human saw. Lengths are hashed too, so no two different lists can
/// run together into the same bytes.
pub fn output_hash<'a>(outputs: impl IntoIterator<Item = (Uuid, AgentRole, &'a str)>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for (id, role, text) in outputs {
        hasher.update(id.as_bytes());
        hasher.update(role.as_str().as_bytes());
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The role whose output `agent` names among a review's `outputs`: a role
/// (`coder`) names itself; a provider (`claude`, as the spec's
/// `modifications[].agent` does) names the one output it made.
///
/// # Errors
/// `InvalidField(field)` when `agent` is neither, when no output under
/// decision is that role's or that provider's, or when the provider made
/// several (the role must be named then).
pub fn output_role(
    outputs: &[(AgentRole, ProviderKind)],
    agent: &str,
    field: &str,
) -> Result<AgentRole, InvalidField> {
    let roles: Vec<&str> = outputs.iter().map(|(r, _)| r.as_str()).collect();
    let shown = roles.join(", ");
    if let Some((role, _)) = outputs.iter().find(|(r, _)| r.as_str() == agent) {
        return Ok(*role);
    }
    let Some(kind) = ProviderKind::parse(agent) else {
        return Err(InvalidField::new(
            field,
            format!("`{agent}` is neither a role under review ({shown}) nor a provider"),
        ));
    };
    let mut made = outputs.iter().filter(|(_, k)| *k == kind);
    match (made.next(), made.next()) {
        (Some((role, _)), None) => Ok(*role),
        (None, _) => Err(InvalidField::new(
            field,
            format!("no output under review comes from {agent} (roles: {shown})"),
        )),
        (Some(_), Some(_)) => Err(InvalidField::new(
            field,
            format!("several outputs come from {agent}: name the role instead ({shown})"),
        )),
    }
}

/// One request for a human decision on a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewRequest {
    pub id: Uuid,
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub kind: ReviewKind,
    pub status: ReviewStatus,
    /// Why the gate stopped (empty for a final approval of a clean run).
    pub reasons: Vec<ReviewReason>,
    pub average_confidence: f64,
    pub created_at: DateTime<Utc>,
    /// After this, an undecided request expires.
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_role_reads_roles_and_providers() {
        use AgentRole::{Coder, Designer, Reviewer};
        use ProviderKind::{Claude, Gemini};
        let outputs = [(Coder, Claude), (Reviewer, Claude), (Designer, Gemini)];
        assert_eq!(output_role(&outputs, "reviewer", "f"), Ok(Reviewer));
        assert_eq!(output_role(&outputs, "gemini", "f"), Ok(Designer));
        let several = output_role(&outputs, "claude", "f").unwrap_err();
        assert!(
            several.message.contains("name the role"),
            "{}",
            several.message
        );
        let absent = output_role(&outputs, "gpt", "m.agent").unwrap_err();
        assert_eq!(absent.field, "m.agent");
        assert!(
            absent.message.contains("coder, reviewer, designer"),
            "{}",
            absent.message
        );
        let unknown = output_role(&outputs, "pm", "f").unwrap_err();
        assert!(unknown.message.contains("neither"), "{}", unknown.message);
        assert!(output_role(&outputs, "drummer", "f").is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in ReviewStatus::ALL {
            assert_eq!(ReviewStatus::parse(s.as_str()), Some(s));
        }
        for k in [ReviewKind::Gate, ReviewKind::FinalApproval] {
            assert_eq!(ReviewKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ReviewStatus::parse("pending"), None);
        assert_eq!(ReviewKind::parse("final"), None);
        for t in InterventionType::ALL {
            assert_eq!(InterventionType::parse(t.as_str()), Some(t));
        }
    }

    #[test]
    fn every_transition_is_allowed_or_refused_as_specified() {
        use ReviewStatus::*;
        let allowed = [
            (PendingReview, UnderReview),
            (PendingReview, Approved),
            (PendingReview, Rejected),
            (PendingReview, Modified),
            (PendingReview, Expired),
            (UnderReview, Approved),
            (UnderReview, Rejected),
            (UnderReview, Modified),
            (UnderReview, Expired),
        ];
        for from in ReviewStatus::ALL {
            for to in ReviewStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
        for s in [Approved, Rejected, Modified, Expired] {
            assert!(!s.is_open(), "{s:?} is final");
        }
        assert!(PendingReview.is_open() && UnderReview.is_open());
    }

    #[test]
    fn a_rejection_needs_a_reason() {
        let e = Decision::Reject {
            reason: "  \n ".into(),
        }
        .validated()
        .unwrap_err();
        assert_eq!(e.field, "reason");
        let ok = Decision::Reject {
            reason: "  drops the users table ".into(),
        }
        .validated()
        .unwrap();
        assert_eq!(
            ok,
            Decision::Reject {
                reason: "drops the users table".into()
            }
        );
        let long = "x".repeat(Decision::MAX_REASON_CHARS + 1);
        assert!(Decision::Reject { reason: long }.validated().is_err());
    }

    #[test]
    fn an_edit_needs_text_and_a_blank_comment_is_none() {
        let empty = Decision::Modify {
            outputs: BTreeMap::new(),
            comment: None,
        };
        assert_eq!(empty.validated().unwrap_err().field, "modifications");
        let blank = Decision::Modify {
            outputs: BTreeMap::from([(AgentRole::Coder, " ".into())]),
            comment: None,
        };
        assert!(blank.validated().is_err());
        let ok = Decision::Approve {
            comment: Some("   ".into()),
        }
        .validated()
        .unwrap();
        assert_eq!(ok, Decision::Approve { comment: None });
        assert_eq!(ok.status(), ReviewStatus::Approved);
    }

    #[test]
    fn the_hash_binds_ids_roles_and_texts() {
        let id = Uuid::from_u128(1);
        let h = |items: &[(Uuid, AgentRole, &str)]| output_hash(items.iter().copied());
        let base = h(&[(id, AgentRole::Coder, "ab"), (id, AgentRole::Reviewer, "c")]);
        assert_eq!(base.len(), 64);
        assert_eq!(
            base,
            h(&[(id, AgentRole::Coder, "ab"), (id, AgentRole::Reviewer, "c")])
        );
        assert_ne!(
            base,
            h(&[(id, AgentRole::Coder, "a"), (id, AgentRole::Reviewer, "bc")])
        );
        assert_ne!(
            base,
            h(&[
                (id, AgentRole::Designer, "ab"),
                (id, AgentRole::Reviewer, "c")
            ])
        );
        assert_ne!(
            base,
            h(&[
                (Uuid::from_u128(2), AgentRole::Coder, "ab"),
                (id, AgentRole::Reviewer, "c")
            ])
        );
    }
}
