//! The token plan of one session: how many tokens each call may produce
//! and how much of an agent's output is passed on to later prompts, chosen
//! so that the whole task's **upper bound** fits the user's per-session
//! limit — and the pool that lets the session's calls share the one
//! reservation without any call ever starting uncovered.
//!
//! # The bound
//! A call's input is at most one token per byte of its system prompt and
//! prompt (byte-level tokenizers never produce more), plus a fixed
//! allowance for the vendor's message framing, and its output is capped by
//! `max_tokens`. The four calls (coder, designer, reviewer, conductor) are
//! bounded before the band starts; the only inputs not known yet — the
//! coder's output shown to the reviewer, and the three outputs shown to the
//! conductor — are cut to `passthrough` bytes each. So the estimate is a
//! true maximum: reserving it makes overspending impossible.

use std::sync::atomic::{AtomicI64, Ordering};

use super::prompts::{self, PromptContext};
use crate::band::AgentRole;

/// Tokens allowed per call for the vendor's message framing.
pub const FRAMING_TOKENS: i64 = 64;
/// The fewest output tokens worth asking an agent for.
pub const MIN_OUTPUT_TOKENS: u32 = 256;
/// Outputs passed on to later prompts: one to the reviewer, three to the conductor.
const PASSTHROUGH_SLOTS: i64 = 4;
const CALLS: i64 = 4;
/// Room kept inside each passthrough slot for the truncation note.
const NOTE_BYTES: usize = 80;

/// What a session may spend, per call and in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPlan {
    pub max_tokens: u32,
    /// Bytes of an agent's output shown to a later agent.
    pub passthrough: usize,
    /// The whole task's upper bound: what is reserved.
    pub estimate: i64,
}

impl TokenPlan {
    /// The largest plan within `session_limit` and the configured caps.
    /// When not even the smallest plan fits, the estimate exceeds the
    /// limit, and the reservation is refused with the reason.
    pub fn fit(
        ctx: &PromptContext<'_>,
        session_limit: i64,
        max_tokens: u32,
        passthrough: usize,
    ) -> Self {
        let fixed = fixed_bytes(ctx);
        let available = session_limit - fixed;
        let per_call = (available / (CALLS * 3)).clamp(
            i64::from(MIN_OUTPUT_TOKENS),
            i64::from(max_tokens.max(MIN_OUTPUT_TOKENS)),
        );
        let slot = ((available - CALLS * per_call) / PASSTHROUGH_SLOTS)
            .clamp(0, i64::try_from(passthrough).unwrap_or(i64::MAX));
        let max_tokens = u32::try_from(per_call).unwrap_or(MIN_OUTPUT_TOKENS);
        let passthrough = usize::try_from(slot).unwrap_or(0);
        Self {
            max_tokens,
            passthrough,
            estimate: fixed
                + CALLS * i64::from(max_tokens)
                + PASSTHROUGH_SLOTS * i64::try_from(passthrough).unwrap_or(0),
        }
    }

    /// The upper bound of one call.
    pub fn call_bound(&self, system: &str, prompt: &str) -> i64 {
        prompts::token_upper_bound(system, prompt, self.max_tokens) + FRAMING_TOKENS
    }

    /// `output` cut to the passthrough size at a character boundary, with a
    /// note saying how much was left out.
    pub fn pass_on<'a>(&self, output: &'a str) -> std::borrow::Cow<'a, str> {
        if output.len() <= self.passthrough {
            return output.into();
        }
        let mut end = self.passthrough.saturating_sub(NOTE_BYTES);
        while !output.is_char_boundary(end) {
            end -= 1;
        }
        format!(
            "{}\n[EXITON cut {} bytes here to fit the token budget]",
            &output[..end],
            output.len() - end
        )
        .into()
    }
}

/// The prompt bytes of the four calls, without passed-on outputs, plus
/// their framing.
fn fixed_bytes(ctx: &PromptContext<'_>) -> i64 {
    let bound = |role: AgentRole, prompt: &str| {
        prompts::token_upper_bound(&prompts::system_prompt(role, ctx.tone), prompt, 0)
            + FRAMING_TOKENS
    };
    let reviewer = prompts::review_prompt(ctx, "")
        .len()
        .max(prompts::agent_prompt(AgentRole::Reviewer, ctx).len());
    bound(
        AgentRole::Coder,
        &prompts::agent_prompt(AgentRole::Coder, ctx),
    ) + bound(
        AgentRole::Designer,
        &prompts::agent_prompt(AgentRole::Designer, ctx),
    ) + bound(AgentRole::Reviewer, &" ".repeat(reviewer))
        + bound(
            AgentRole::Conductor,
            &prompts::synthesis_prompt(
                ctx,
                &[
                    (AgentRole::Coder, ""),
                    (AgentRole::Designer, ""),
                    (AgentRole::Reviewer, ""),
                ],
            ),
        )
}

/// The part of the reservation not yet promised to a call. Calls claim
/// their bound before they start and give back what they did not use.
/// It also counts what the vendors charged that no committed step has
/// settled yet, so a run that fails after its calls still pays for them.
#[derive(Debug)]
pub struct Pool(AtomicI64, AtomicI64);

impl Pool {
    pub fn new(tokens: i64) -> Self {
        Self(AtomicI64::new(tokens), AtomicI64::new(0))
    }

    /// Records `tokens` a call used (the vendors charge them).
    pub fn spent(&self, tokens: i64) {
        self.1.fetch_add(tokens, Ordering::SeqCst);
    }

    /// Records `tokens` a committed step settled.
    pub fn settled(&self, tokens: i64) {
        self.1.fetch_sub(tokens, Ordering::SeqCst);
    }

    /// Used by calls, not yet settled by any committed step.
    pub fn owed(&self) -> i64 {
        self.1.load(Ordering::SeqCst)
    }

    /// Takes `tokens` if the pool still holds them.
    pub fn claim(&self, tokens: i64) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                (left >= tokens).then(|| left - tokens)
            })
            .is_ok()
    }

    /// Returns `tokens` (negative when a provider reported more than it
    /// was allowed: the pool shrinks accordingly).
    pub fn give_back(&self, tokens: i64) {
        self.0.fetch_add(tokens, Ordering::SeqCst);
    }

    #[cfg(test)]
    pub fn left(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Tone;
    use crate::sessions::{Intent, IntentAction};

    fn with_ctx<T>(f: impl FnOnce(&PromptContext<'_>) -> T) -> T {
        let intent = Intent::new(IntentAction::GenerateCode, "a form", &[]).unwrap();
        f(&PromptContext {
            project_name: "P",
            task_title: "Login",
            task_description: "Email and password",
            intent: &intent,
            tone: Tone::Formal,
            feedback: "",
            code: "",
        })
    }

    #[test]
    fn the_pool_counts_what_calls_used_until_a_step_settles_it() {
        let pool = Pool::new(1_000);
        assert!(pool.claim(600));
        pool.give_back(600 - 250);
        pool.spent(250);
        pool.spent(100);
        assert_eq!((pool.left(), pool.owed()), (750, 350));
        pool.settled(250);
        assert_eq!(pool.owed(), 100);
    }

    #[test]
    fn plans_fit_each_tier_and_use_the_caps_when_there_is_room() {
        with_ctx(|ctx| {
            let free = TokenPlan::fit(ctx, 10_000, 2048, 16_000);
            assert!(free.estimate <= 10_000, "{free:?}");
            assert!(free.max_tokens >= MIN_OUTPUT_TOKENS && free.max_tokens < 2048);
            let team = TokenPlan::fit(ctx, 100_000, 2048, 16_000);
            assert_eq!((team.max_tokens, team.passthrough), (2048, 16_000));
            assert!(team.estimate <= 100_000);
        });
    }

    #[test]
    fn a_limit_too_small_for_any_plan_yields_an_estimate_over_it() {
        with_ctx(|ctx| {
            let plan = TokenPlan::fit(ctx, 1_000, 2048, 16_000);
            assert_eq!(plan.max_tokens, MIN_OUTPUT_TOKENS);
            assert!(plan.estimate > 1_000);
        });
    }

    #[test]
    fn the_estimate_covers_every_call_at_its_bound() {
        with_ctx(|ctx| {
            let plan = TokenPlan::fit(ctx, 50_000, 2048, 8_000);
            let system = |r| prompts::system_prompt(r, ctx.tone);
            let long = "x".repeat(100_000);
            let passed = plan.pass_on(&long);
            assert!(passed.len() <= plan.passthrough);
            let calls = plan.call_bound(
                &system(AgentRole::Coder),
                &prompts::agent_prompt(AgentRole::Coder, ctx),
            ) + plan.call_bound(
                &system(AgentRole::Designer),
                &prompts::agent_prompt(AgentRole::Designer, ctx),
            ) + plan.call_bound(
                &system(AgentRole::Reviewer),
                &prompts::review_prompt(ctx, &passed),
            ) + plan.call_bound(
                &system(AgentRole::Conductor),
                &prompts::synthesis_prompt(
                    ctx,
                    &[
                        (AgentRole::Coder, &passed),
                        (AgentRole::Designer, &passed),
                        (AgentRole::Reviewer, &passed),
                    ],
                ),
            );
            assert!(calls <= plan.estimate, "{calls} > {}", plan.estimate);
        });
    }

    #[test]
    fn pass_on_cuts_at_a_character_boundary_and_says_so() {
        with_ctx(|ctx| {
            let plan = TokenPlan::fit(ctx, 100_000, 2048, 200);
            let text = "é".repeat(300);
            let cut = plan.pass_on(&text);
            assert!(cut.len() <= 200);
            assert!(cut.contains("EXITON cut"));
            assert_eq!(plan.pass_on("short"), "short");
        });
    }

    #[test]
    fn the_pool_never_goes_below_what_was_claimed() {
        let pool = Pool::new(100);
        assert!(pool.claim(60));
        assert!(!pool.claim(50));
        pool.give_back(20);
        assert!(pool.claim(60));
        assert_eq!(pool.left(), 0);
        pool.give_back(-5);
        assert!(!pool.claim(1));
    }
}
