//! Scores one agent's output as soon as what it depends on is in (the
//! coder's waits for the reviewer's verdict): the parsed structure (the
//! coder's files and patches, the reviewer's verdict), the confidence from
//! its real signals and the safety check.

use crate::band::{
    AgentRole, CoderOutput, Completion, ConfidenceScore, ConfidenceSignals, ProviderKind, Review,
    ReviewVerdict, SafetyCheck, parse_self_reported_confidence,
};

/// Everything the band learns about one output.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub confidence: ConfidenceScore,
    pub safety: SafetyCheck,
    pub coder_output: Option<CoderOutput>,
    pub review: Option<Review>,
}

/// Scores `completion`, produced by `role`. `verdict` is the reviewer's
/// verdict on this very output (the coder's, when the reviewer saw it);
/// `others` are the other agents' outputs, for agreement.
pub fn score(
    role: AgentRole,
    completion: &Completion,
    verdict: Option<ReviewVerdict>,
    others: &[&str],
) -> Scored {
    let content = completion.content.as_str();
    let (coder_output, review) = match role {
        AgentRole::Coder => (Some(CoderOutput::parse(content)), None),
        AgentRole::Reviewer => (None, Review::parse(content)),
        _ => (None, None),
    };
    let self_reported = coder_output
        .as_ref()
        .and_then(|c| c.self_reported_confidence)
        .or_else(|| review.as_ref().and_then(|r| r.self_reported_confidence))
        .or_else(|| parse_self_reported_confidence(content));
    let signals = ConfidenceSignals {
        stop_reason: completion.stop_reason.clone(),
        self_reported,
        reviewer_verdict: verdict,
        agreement: crate::band::confidence::mean_agreement(content, others),
        mean_logprob: completion.mean_logprob,
        is_local_small_model: completion.provenance.agent == ProviderKind::Local,
        empty_output: content.trim().is_empty(),
    };
    let disagrees = matches!(
        verdict,
        Some(ReviewVerdict::Reject | ReviewVerdict::RequestChanges)
    );
    Scored {
        confidence: ConfidenceScore::compute(&signals),
        safety: SafetyCheck::assess(content, &completion.stop_reason, disagrees),
        coder_output,
        review,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::band::{Provenance, StopReason, TokenUsage};

    fn completion(kind: ProviderKind, text: &str, stop: StopReason) -> Completion {
        Completion {
            content: text.into(),
            stop_reason: stop,
            usage: TokenUsage::default(),
            latency_ms: 1,
            provenance: Provenance {
                agent: kind,
                provider: kind.as_str().into(),
                model_version: "m".into(),
                timestamp: Utc::now(),
                temperature: 0.2,
                max_tokens: 100,
            },
            mean_logprob: None,
        }
    }

    #[test]
    fn an_approved_confident_coder_output_scores_high_and_is_parsed() {
        let c = completion(
            ProviderKind::Claude,
            "```rust src/lib.rs\npub fn add(a: i32, b: i32) -> i32 { a + b }\n```\nConfidence: 0.95",
            StopReason::Complete,
        );
        let s = score(AgentRole::Coder, &c, Some(ReviewVerdict::Approve), &[]);
        assert!(s.confidence.value > 0.85, "{:?}", s.confidence);
        assert_eq!(s.coder_output.unwrap().files[0].path, "src/lib.rs");
        assert!(!s.safety.requires_human_review);
    }

    #[test]
    fn a_rejected_or_truncated_or_local_output_scores_low() {
        let text = "fn add() {}\nConfidence: 0.99";
        let rejected = score(
            AgentRole::Coder,
            &completion(ProviderKind::Gpt, text, StopReason::Complete),
            Some(ReviewVerdict::Reject),
            &[],
        );
        assert!(rejected.confidence.value < 0.85);
        let truncated = score(
            AgentRole::Designer,
            &completion(ProviderKind::Gpt, text, StopReason::MaxTokens),
            None,
            &[],
        );
        assert!(truncated.confidence.value <= 0.5);
        let local = score(
            AgentRole::Designer,
            &completion(ProviderKind::Local, text, StopReason::Complete),
            None,
            &[],
        );
        assert!(local.confidence.value <= 0.6);
    }

    #[test]
    fn the_reviewer_output_is_read_as_a_review() {
        let s = score(
            AgentRole::Reviewer,
            &completion(
                ProviderKind::Gemini,
                "Verdict: request changes\nIssues:\n- no tests\nConfidence: 0.7",
                StopReason::Complete,
            ),
            None,
            &[],
        );
        let review = s.review.unwrap();
        assert_eq!(review.verdict, ReviewVerdict::RequestChanges);
        assert_eq!(review.issues, ["no tests"]);
        assert!(s.confidence.reasoning.iter().any(|l| l.contains("0.70")));
    }
}
