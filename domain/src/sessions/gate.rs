//! The human gate (spec §3.1, §5.1): after the band has played, either the
//! conductor synthesises, or the session stops for a human. It stops when
//! the average confidence is below the user's threshold, or when any output
//! raised a safety flag; the reasons use the spec's vocabulary
//! (`low_confidence`, `safety_concern`, `critical_operation`).

use serde::{Deserialize, Serialize};

use crate::band::{AgentRole, Risk, SafetyCheck};

/// One agent's scored output.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub role: AgentRole,
    pub confidence: f64,
    pub safety: SafetyCheck,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    LowConfidence,
    SafetyConcern,
    CriticalOperation,
    /// The task's token reservation ran out before every step could run.
    BudgetExhausted,
    /// The conductor could not synthesise the band's outputs.
    SynthesisFailed,
    /// The coder's proposal could not become a commit on the repository
    /// (a failing hunk, a path outside it, a binary or huge file): the
    /// session says which and why.
    ProposalRefused,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GateDecision {
    /// Stop for a human, for these reasons (never empty).
    HumanReviewRequired {
        reasons: Vec<ReviewReason>,
        average_confidence: f64,
    },
    /// Safe and confident enough: the conductor may synthesise (the result
    /// still waits for the human's final approval).
    Synthesize { average_confidence: f64 },
}

/// Decides the gate for the band's successful outputs. No outputs at all
/// counts as zero confidence: a human must look.
pub fn decide(assessments: &[Assessment], threshold: f64) -> GateDecision {
    if assessments.is_empty() {
        return GateDecision::HumanReviewRequired {
            reasons: vec![ReviewReason::LowConfidence],
            average_confidence: 0.0,
        };
    }
    // Lossless for any realistic band size.
    #[allow(clippy::cast_precision_loss)]
    let n = assessments.len() as f64;
    let average_confidence = assessments
        .iter()
        .map(|a| a.confidence.clamp(0.0, 1.0))
        .sum::<f64>()
        / n;
    let mut reasons = Vec::new();
    if average_confidence < threshold {
        reasons.push(ReviewReason::LowConfidence);
    }
    let safety_concern = assessments.iter().any(|a| {
        a.safety.ethical_concern
            || a.safety.hallucination_risk == Risk::High
            || a.safety.flags.iter().any(|f| !f.kind.is_critical())
    });
    if safety_concern {
        reasons.push(ReviewReason::SafetyConcern);
    }
    if assessments
        .iter()
        .any(|a| a.safety.has_critical_operation())
    {
        reasons.push(ReviewReason::CriticalOperation);
    }
    if reasons.is_empty() {
        GateDecision::Synthesize { average_confidence }
    } else {
        GateDecision::HumanReviewRequired {
            reasons,
            average_confidence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::band::StopReason;

    fn assessed(role: AgentRole, confidence: f64, output: &str) -> Assessment {
        Assessment {
            role,
            confidence,
            safety: SafetyCheck::assess(output, &StopReason::Complete, false),
        }
    }

    #[test]
    fn confident_and_safe_outputs_go_to_synthesis() {
        let d = decide(
            &[
                assessed(
                    AgentRole::Coder,
                    0.9,
                    "fn add(a: i32, b: i32) -> i32 { a + b }",
                ),
                assessed(
                    AgentRole::Reviewer,
                    0.95,
                    "Verdict: approve\nIssues:\n- none",
                ),
            ],
            0.85,
        );
        assert!(
            matches!(d, GateDecision::Synthesize { average_confidence } if (average_confidence - 0.925).abs() < 1e-9)
        );
    }

    #[test]
    fn low_average_confidence_stops_at_the_gate() {
        let d = decide(
            &[
                assessed(AgentRole::Coder, 0.9, "ok"),
                assessed(AgentRole::Designer, 0.6, "ok"),
            ],
            0.85,
        );
        assert_eq!(
            d,
            GateDecision::HumanReviewRequired {
                reasons: vec![ReviewReason::LowConfidence],
                average_confidence: 0.75
            }
        );
    }

    #[test]
    fn a_critical_operation_always_stops_even_when_confident() {
        let d = decide(
            &[assessed(
                AgentRole::Coder,
                0.99,
                "Then run:\n    DROP TABLE users;",
            )],
            0.5,
        );
        match d {
            GateDecision::HumanReviewRequired { reasons, .. } => {
                assert!(reasons.contains(&ReviewReason::CriticalOperation))
            }
            other => panic!("expected review, got {other:?}"),
        }
    }

    #[test]
    fn no_outputs_means_a_human_must_look() {
        // Even a user who never wants to be asked about confidence is asked
        // when the band produced nothing.
        for threshold in [0.0, 0.85] {
            assert_eq!(
                decide(&[], threshold),
                GateDecision::HumanReviewRequired {
                    reasons: vec![ReviewReason::LowConfidence],
                    average_confidence: 0.0
                }
            );
        }
    }
}
