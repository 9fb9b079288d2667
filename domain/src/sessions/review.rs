//! A request for a human decision (spec §5.3): the row the gate leaves
//! behind when the band stops for a human, and the one a synthesised
//! answer waits on for final approval. The next issue's review workflow
//! moves it through its states; here it is created `pending_review`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ReviewReason;

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
    fn names_round_trip() {
        for s in ReviewStatus::ALL {
            assert_eq!(ReviewStatus::parse(s.as_str()), Some(s));
        }
        for k in [ReviewKind::Gate, ReviewKind::FinalApproval] {
            assert_eq!(ReviewKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ReviewStatus::parse("pending"), None);
        assert_eq!(ReviewKind::parse("final"), None);
    }
}
