//! The confidence score of one agent output and the reasoning chain behind
//! it (spec §3.1 phase 3, §5.1 check 1). The formula is deliberately simple,
//! documented and monotone, so a human can check every number the console
//! shows.
//!
//! # Formula
//!
//! 1. **Weighted average.** A prior of `0.70` with weight `0.20` is averaged
//!    with whichever signals are present, each with a fixed weight:
//!
//!    | signal | value | weight |
//!    |---|---|---|
//!    | prior | 0.70 | 0.20 |
//!    | self-reported confidence | as reported, clamped to [0, 1] | 0.25 |
//!    | reviewer verdict | approve 0.95, request changes 0.55, reject 0.15 | 0.35 |
//!    | agreement with other agents | [`agreement`], in [0, 1] | 0.20 |
//!    | token log-probability | `exp(mean_logprob)`, clamped to [0, 1] | 0.20 |
//!
//!    `value = Σ wᵢ·sᵢ / Σ wᵢ` over the prior and the present signals. The
//!    prior keeps a lone signal (an agent calling itself 100 % sure) from
//!    deciding the score by itself; with no signal at all the score is 0.70.
//!    Non-finite inputs are ignored (and said so).
//! 2. **Caps**, applied after the average, the lowest winning:
//!    stopped at `max_tokens` (truncated) → at most `0.50`; withheld by the
//!    vendor's content filter → at most `0.20`; a small local model → at
//!    most `0.60` (so with the default threshold of `0.85` its work always
//!    reaches the human gate); empty output → `0.0`.
//!
//! Raising any one signal's value never lowers the score, and every input
//! that was used (or ignored) adds one line to the reasoning.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{ReviewVerdict, StopReason};

/// The threshold below which outputs go to human review (spec §3.1).
pub const DEFAULT_THRESHOLD: f64 = 0.85;

const PRIOR: f64 = 0.70;
const PRIOR_WEIGHT: f64 = 0.20;
const SELF_REPORT_WEIGHT: f64 = 0.25;
const VERDICT_WEIGHT: f64 = 0.35;
const AGREEMENT_WEIGHT: f64 = 0.20;
const LOGPROB_WEIGHT: f64 = 0.20;
const TRUNCATED_CAP: f64 = 0.50;
const CONTENT_FILTER_CAP: f64 = 0.20;
const LOCAL_SMALL_MODEL_CAP: f64 = 0.60;

/// What is known about one output when scoring it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceSignals {
    pub stop_reason: StopReason,
    /// The agent's own confidence ([`super::parse_self_reported_confidence`]).
    pub self_reported: Option<f64>,
    /// The reviewer agent's verdict on this output.
    pub reviewer_verdict: Option<ReviewVerdict>,
    /// Similarity with the other agents' outputs, in [0, 1] ([`agreement`]).
    pub agreement: Option<f64>,
    /// Mean token log-probability, where the vendor reports it.
    pub mean_logprob: Option<f64>,
    /// The output came from a small local model.
    pub is_local_small_model: bool,
    /// The output had no content.
    pub empty_output: bool,
}

impl ConfidenceSignals {
    /// Signals for an output of which only the stop reason is known.
    pub fn new(stop_reason: StopReason) -> Self {
        Self {
            stop_reason,
            self_reported: None,
            reviewer_verdict: None,
            agreement: None,
            mean_logprob: None,
            is_local_small_model: false,
            empty_output: false,
        }
    }
}

/// A confidence value with the reasoning chain that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceScore {
    /// In [0, 1].
    pub value: f64,
    /// One line per signal, naming it and its effect, in the order applied.
    pub reasoning: Vec<String>,
}

impl ConfidenceScore {
    /// Computes the score by the formula in the module documentation.
    pub fn compute(s: &ConfidenceSignals) -> Self {
        let mut reasoning = vec![format!("prior {PRIOR:.2} (weight {PRIOR_WEIGHT:.2})")];
        let mut sum = PRIOR * PRIOR_WEIGHT;
        let mut weights = PRIOR_WEIGHT;
        let mut add = |value: f64, weight: f64, line: String, reasoning: &mut Vec<String>| {
            sum += value * weight;
            weights += weight;
            reasoning.push(line);
        };

        match s.self_reported {
            Some(v) if v.is_finite() => {
                let v = v.clamp(0.0, 1.0);
                add(
                    v,
                    SELF_REPORT_WEIGHT,
                    format!("self-reported confidence {v:.2} (weight {SELF_REPORT_WEIGHT:.2})"),
                    &mut reasoning,
                );
            }
            Some(_) => reasoning.push("self-reported confidence is not a number: ignored".into()),
            None => reasoning.push("self-reported confidence: not given".into()),
        }
        match s.reviewer_verdict {
            Some(verdict) => {
                let v = verdict_value(verdict);
                add(
                    v,
                    VERDICT_WEIGHT,
                    format!(
                        "reviewer verdict {} counts as {v:.2} (weight {VERDICT_WEIGHT:.2})",
                        verdict.as_str()
                    ),
                    &mut reasoning,
                );
            }
            None => reasoning.push("reviewer verdict: none".into()),
        }
        match s.agreement {
            Some(v) if v.is_finite() => {
                let v = v.clamp(0.0, 1.0);
                add(
                    v,
                    AGREEMENT_WEIGHT,
                    format!("agreement with other agents {v:.2} (weight {AGREEMENT_WEIGHT:.2})"),
                    &mut reasoning,
                );
            }
            Some(_) => reasoning.push("agreement is not a number: ignored".into()),
            None => reasoning.push("agreement with other agents: not measured".into()),
        }
        match s.mean_logprob {
            Some(lp) if lp.is_finite() => {
                let v = lp.exp().clamp(0.0, 1.0);
                add(
                    v,
                    LOGPROB_WEIGHT,
                    format!(
                        "mean token log-probability {lp:.3}, exp = {v:.2} (weight {LOGPROB_WEIGHT:.2})"
                    ),
                    &mut reasoning,
                );
            }
            Some(_) => reasoning.push("mean token log-probability is not a number: ignored".into()),
            None => reasoning.push("token log-probability: not reported by the provider".into()),
        }

        let mut value = sum / weights;
        reasoning.push(format!("weighted average {value:.2}"));

        let mut cap = |limit: f64, why: &str, reasoning: &mut Vec<String>| {
            if value > limit {
                value = limit;
                reasoning.push(format!("{why}: capped at {limit:.2}"));
            } else {
                reasoning.push(format!("{why}: cap {limit:.2} not reached"));
            }
        };
        match &s.stop_reason {
            StopReason::MaxTokens => cap(
                TRUNCATED_CAP,
                "stopped at max_tokens (output truncated)",
                &mut reasoning,
            ),
            StopReason::ContentFilter => cap(
                CONTENT_FILTER_CAP,
                "withheld by the provider's content filter",
                &mut reasoning,
            ),
            StopReason::Complete | StopReason::StopSequence => {
                reasoning.push("finished normally: no cap".into());
            }
            StopReason::Other(reason) => {
                reasoning.push(format!(
                    "stop reason {reason:?}: not a known cut-off, no cap"
                ));
            }
        }
        if s.is_local_small_model {
            cap(LOCAL_SMALL_MODEL_CAP, "small local model", &mut reasoning);
        }
        if s.empty_output {
            value = 0.0;
            reasoning.push("empty output: confidence 0.00".into());
        }
        Self {
            value: value.clamp(0.0, 1.0),
            reasoning,
        }
    }

    /// Whether the score reaches `threshold` (not reaching it means the
    /// output waits for a human).
    pub fn passes(&self, threshold: f64) -> bool {
        self.value >= threshold
    }
}

fn verdict_value(verdict: ReviewVerdict) -> f64 {
    match verdict {
        ReviewVerdict::Approve => 0.95,
        ReviewVerdict::RequestChanges => 0.55,
        ReviewVerdict::Reject => 0.15,
    }
}

/// The distinct lower-cased alphanumeric words of `s` (anything else
/// separates them), sorted. A sorted list rather than a hash set: outputs
/// have a few hundred words, and this is built and compared on the
/// critical path of every run, where one allocation beats one per word.
fn words(s: &str) -> Vec<Cow<'_, str>> {
    let mut words: Vec<Cow<'_, str>> = s
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            // Exact: titlecase letters change too, and are not uppercase.
            let changes = |c: char| {
                let mut lower = c.to_lowercase();
                lower.next() != Some(c) || lower.next().is_some()
            };
            if w.chars().any(changes) {
                Cow::Owned(w.to_lowercase())
            } else {
                Cow::Borrowed(w)
            }
        })
        .collect();
    words.sort_unstable();
    words.dedup();
    words
}

/// Jaccard similarity of two sorted, distinct word lists (see [`agreement`]).
fn jaccard(a: &[Cow<'_, str>], b: &[Cow<'_, str>]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let all = a.len() + b.len() - shared;
    // Word counts are far below 2^52, so the conversion is exact.
    shared as f64 / all as f64
}

/// How much two outputs say the same thing: the Jaccard similarity
/// `|A ∩ B| / |A ∪ B|` of their sets of lower-cased alphanumeric words.
///
/// Cheap and order-blind, so it measures shared vocabulary (the same
/// identifiers, the same files) rather than meaning; good enough to notice
/// when two agents went in different directions. Two texts without words
/// are identical (1.0); one without words shares nothing (0.0).
pub fn agreement(a: &str, b: &str) -> f64 {
    jaccard(&words(a), &words(b))
}

/// The mean [`agreement`] of `output` with each of `others`; `None` when
/// there is nobody to agree with.
pub fn mean_agreement(output: &str, others: &[&str]) -> Option<f64> {
    if others.is_empty() {
        return None;
    }
    let mine = words(output);
    let total: f64 = others.iter().map(|o| jaccard(&mine, &words(o))).sum();
    Some(total / others.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ConfidenceSignals {
        ConfidenceSignals::new(StopReason::Complete)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn no_signals_gives_the_prior() {
        let s = ConfidenceScore::compute(&base());
        assert!(close(s.value, 0.70));
        assert!(!s.passes(DEFAULT_THRESHOLD));
    }

    #[test]
    fn weighted_average_matches_the_documented_weights() {
        let mut sig = base();
        sig.self_reported = Some(0.9);
        sig.reviewer_verdict = Some(ReviewVerdict::Approve);
        sig.agreement = Some(0.8);
        sig.mean_logprob = Some(0.0);
        let want = (0.7 * 0.2 + 0.9 * 0.25 + 0.95 * 0.35 + 0.8 * 0.2 + 1.0 * 0.2)
            / (0.2 + 0.25 + 0.35 + 0.2 + 0.2);
        let s = ConfidenceScore::compute(&sig);
        assert!(close(s.value, want), "{} vs {want}", s.value);
        assert!(s.passes(DEFAULT_THRESHOLD));
    }

    #[test]
    fn a_lone_self_report_is_tempered_by_the_prior() {
        let mut sig = base();
        sig.self_reported = Some(1.0);
        let s = ConfidenceScore::compute(&sig);
        assert!(close(s.value, (0.14 + 0.25) / 0.45));
        assert!(s.value < 1.0);
    }

    #[test]
    fn a_better_verdict_never_lowers_the_score() {
        for self_reported in [None, Some(0.0), Some(0.5), Some(1.0)] {
            for agreement in [None, Some(0.1), Some(0.9)] {
                for stop in [StopReason::Complete, StopReason::MaxTokens] {
                    let score = |v| {
                        let mut sig = ConfidenceSignals::new(stop.clone());
                        sig.self_reported = self_reported;
                        sig.agreement = agreement;
                        sig.reviewer_verdict = Some(v);
                        ConfidenceScore::compute(&sig).value
                    };
                    let reject = score(ReviewVerdict::Reject);
                    let changes = score(ReviewVerdict::RequestChanges);
                    let approve = score(ReviewVerdict::Approve);
                    assert!(reject <= changes && changes <= approve);
                }
            }
        }
    }

    #[test]
    fn every_signal_is_monotone() {
        let steps = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
        let mut previous = [-1.0; 3];
        for v in steps {
            let mut a = base();
            a.self_reported = Some(v);
            let mut b = base();
            b.agreement = Some(v);
            let mut c = base();
            c.mean_logprob = Some(v.max(1e-9).ln());
            let now = [a, b, c].map(|s| ConfidenceScore::compute(&s).value);
            for i in 0..3 {
                assert!(now[i] >= previous[i]);
            }
            previous = now;
        }
    }

    #[test]
    fn caps_apply_after_the_average() {
        let mut sig = base();
        sig.self_reported = Some(1.0);
        sig.reviewer_verdict = Some(ReviewVerdict::Approve);
        sig.stop_reason = StopReason::MaxTokens;
        assert!(close(ConfidenceScore::compute(&sig).value, 0.5));
        sig.stop_reason = StopReason::ContentFilter;
        assert!(close(ConfidenceScore::compute(&sig).value, 0.2));
        sig.stop_reason = StopReason::Complete;
        sig.is_local_small_model = true;
        let local = ConfidenceScore::compute(&sig);
        assert!(close(local.value, 0.6));
        assert!(!local.passes(DEFAULT_THRESHOLD));
        sig.empty_output = true;
        assert_eq!(ConfidenceScore::compute(&sig).value, 0.0);
    }

    #[test]
    fn the_lowest_cap_wins_and_caps_never_raise() {
        let mut sig = base();
        sig.stop_reason = StopReason::ContentFilter;
        sig.is_local_small_model = true;
        assert!(close(ConfidenceScore::compute(&sig).value, 0.2));
        let mut low = base();
        low.reviewer_verdict = Some(ReviewVerdict::Reject);
        low.self_reported = Some(0.0);
        let uncapped = ConfidenceScore::compute(&low).value;
        low.is_local_small_model = true;
        assert!(close(ConfidenceScore::compute(&low).value, uncapped));
    }

    #[test]
    fn value_stays_in_bounds_for_wild_inputs() {
        for v in [f64::NAN, f64::INFINITY, -5.0, 5.0, f64::NEG_INFINITY] {
            let mut sig = base();
            sig.self_reported = Some(v);
            sig.agreement = Some(v);
            sig.mean_logprob = Some(v);
            let s = ConfidenceScore::compute(&sig);
            assert!((0.0..=1.0).contains(&s.value), "{v}: {}", s.value);
        }
    }

    #[test]
    fn non_finite_signals_are_ignored_and_said_so() {
        let mut sig = base();
        sig.self_reported = Some(f64::NAN);
        let s = ConfidenceScore::compute(&sig);
        assert!(close(s.value, 0.7));
        assert!(s.reasoning.iter().any(|l| l.contains("not a number")));
    }

    #[test]
    fn reasoning_names_every_signal_used() {
        let mut sig = base();
        sig.self_reported = Some(0.8);
        sig.reviewer_verdict = Some(ReviewVerdict::RequestChanges);
        sig.agreement = Some(0.5);
        sig.mean_logprob = Some(-0.1);
        sig.stop_reason = StopReason::MaxTokens;
        sig.is_local_small_model = true;
        sig.empty_output = true;
        let s = ConfidenceScore::compute(&sig);
        let text = s.reasoning.join("\n");
        for needle in [
            "prior",
            "self-reported confidence 0.80",
            "reviewer verdict request_changes counts as 0.55",
            "agreement with other agents 0.50",
            "log-probability -0.100",
            "weighted average",
            "max_tokens",
            "small local model",
            "empty output",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn unknown_stop_reasons_are_reported_without_a_cap() {
        let mut sig = base();
        sig.stop_reason = StopReason::Other("tool_use".into());
        sig.self_reported = Some(1.0);
        let s = ConfidenceScore::compute(&sig);
        assert!(s.value > 0.8);
        assert!(s.reasoning.iter().any(|l| l.contains("tool_use")));
    }

    #[test]
    fn agreement_is_a_word_set_jaccard() {
        assert!(close(agreement("Fix the bug", "fix THE bug!"), 1.0));
        assert!(close(agreement("a b c", "b c d"), 0.5));
        assert!(close(agreement("alpha", "beta"), 0.0));
        assert!(close(agreement("", "  ..."), 1.0));
        assert!(close(agreement("", "word"), 0.0));
        // Order and repetition do not matter.
        assert!(close(agreement("x y y y", "y x"), 1.0));
        assert!(close(agreement("a_b", "a b"), 1.0));
        // Case folds beyond ASCII, and order or repeats do not matter.
        assert!(close(agreement("Ärger ÜBER", "über ärger ärger"), 1.0));
        assert!(close(agreement("ǅemal", "ǆemal"), 1.0));
        assert!(close(agreement("b a c a", "c d b"), 0.5));
    }

    #[test]
    fn mean_agreement_over_the_others() {
        assert_eq!(mean_agreement("a", &[]), None);
        let m = mean_agreement("a b", &["a b", "c d"]).unwrap();
        assert!(close(m, 0.5));
    }
}
