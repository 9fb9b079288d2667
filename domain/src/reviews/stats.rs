//! The interventions view's aggregates (spec §5.2): how often the human
//! approved each agent's work as it was, per agent and per confidence band.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{InterventionPoint, InterventionType};
use crate::band::ProviderKind;

/// Approval rate of one group of interventions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRate {
    pub label: String,
    pub total: usize,
    pub approved: usize,
    pub modified: usize,
    pub rejected: usize,
}

impl ApprovalRate {
    fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            total: 0,
            approved: 0,
            modified: 0,
            rejected: 0,
        }
    }

    fn count(&mut self, kind: InterventionType) {
        self.total += 1;
        match kind {
            InterventionType::Approval => self.approved += 1,
            InterventionType::Modification => self.modified += 1,
            InterventionType::Rejection => self.rejected += 1,
        }
    }

    /// Approved as shown, out of all decisions (0 when there are none).
    pub fn rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.approved as f64 / self.total as f64
        }
    }
}

/// The interventions view's aggregates: how often the human approved each
/// agent's work as it was, per agent and per confidence band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterventionStats {
    pub per_agent: Vec<ApprovalRate>,
    pub per_band: Vec<ApprovalRate>,
}

/// Confidence bands, by lower edge: the gate's default threshold (0.85)
/// is one of the edges, so "the band was sure but the human disagreed"
/// stands out.
const BANDS: [(f64, &str); 4] = [
    (0.85, "0.85–1.00"),
    (0.70, "0.70–0.85"),
    (0.50, "0.50–0.70"),
    (0.0, "0.00–0.50"),
];

/// Aggregates interventions per agent (in `ProviderKind` order) and per
/// confidence band (highest first); empty groups are left out.
pub fn intervention_stats(points: &[InterventionPoint]) -> InterventionStats {
    let mut per_agent: BTreeMap<usize, ApprovalRate> = BTreeMap::new();
    let mut per_band: Vec<ApprovalRate> =
        BANDS.iter().map(|(_, l)| ApprovalRate::new(*l)).collect();
    for p in points {
        let index = ProviderKind::ALL
            .iter()
            .position(|k| *k == p.agent)
            .unwrap_or(usize::MAX);
        per_agent
            .entry(index)
            .or_insert_with(|| ApprovalRate::new(p.agent.as_str()))
            .count(p.kind);
        let band = BANDS
            .iter()
            .position(|(edge, _)| p.confidence >= *edge)
            .unwrap_or(BANDS.len() - 1);
        per_band[band].count(p.kind);
    }
    InterventionStats {
        per_agent: per_agent.into_values().collect(),
        per_band: per_band.into_iter().filter(|b| b.total > 0).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::band::AgentRole;
    use crate::reviews::{Decision, InterventionContext, ReviewKind};
    use chrono::Utc;
    use uuid::Uuid;

    fn point(agent: ProviderKind, kind: InterventionType, confidence: f64) -> InterventionPoint {
        InterventionPoint {
            id: Uuid::new_v4(),
            session_id: Uuid::nil(),
            user_id: Uuid::nil(),
            task_id: None,
            kind,
            agent,
            role: AgentRole::Coder,
            suggestion: Vec::new(),
            confidence,
            reasoning: None,
            decision: Decision::Approve { comment: None },
            reason: String::new(),
            context: InterventionContext {
                review_kind: ReviewKind::Gate,
                reasons: Vec::new(),
                average_confidence: confidence,
                action: crate::sessions::IntentAction::GenerateCode,
                modifications: BTreeMap::new(),
            },
            at: Utc::now(),
        }
    }

    #[test]
    fn stats_count_per_agent_and_per_confidence_band() {
        use InterventionType::*;
        let claude = ProviderKind::ALL[0];
        let other = ProviderKind::ALL[1];
        let points = [
            point(claude, Approval, 0.9),
            point(claude, Rejection, 0.9),
            point(claude, Modification, 0.6),
            point(other, Approval, 0.2),
        ];
        let stats = intervention_stats(&points);
        assert_eq!(stats.per_agent.len(), 2);
        let first = &stats.per_agent[0];
        assert_eq!(first.label, claude.as_str());
        assert_eq!(
            (first.total, first.approved, first.modified, first.rejected),
            (3, 1, 1, 1)
        );
        assert!((first.rate() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(stats.per_agent[1].rate(), 1.0);
        let bands: Vec<(&str, usize)> = stats
            .per_band
            .iter()
            .map(|b| (b.label.as_str(), b.total))
            .collect();
        assert_eq!(
            bands,
            [("0.85–1.00", 2), ("0.50–0.70", 1), ("0.00–0.50", 1)]
        );
        assert_eq!(ApprovalRate::new("none").rate(), 0.0);
    }
}
