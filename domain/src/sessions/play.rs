//! Playing a started session (spec §3.1): the first round — the coder and
//! then the reviewer on the coder's output, alongside the designer, each
//! within its deadline and what is left of the reservation — then scoring,
//! the gate, and the conductor's synthesis or a hold for a human. Every
//! call made is settled, whatever ends the run; a halt (a cancel, the
//! server stopping) cuts the calls in flight and records what was done.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use uuid::Uuid;

use super::concurrency::{Signal, join};
use super::conductor::{session_event, status_event};
use super::gate::{self, Assessment, GateDecision, ReviewReason};
use super::plan::Pool;
use super::prompts;
use super::runner::{AgentState, Halt};
use super::scoring::{self, Scored};
use super::{
    AgentInvocation, Conductor, ConductorError, InvocationRecord, ReviewKind, ReviewRequest,
    ReviewStatus, SessionJob, SessionStatus, SessionStep, StatusMove,
};
use crate::band::{
    AgentRole, AiRequest, Attempt, ChatMessage, Completion, ProviderError, ProviderKind,
};
use crate::budgets::BudgetError;
use crate::events::{DomainEvent, EventEnvelope};
use crate::repos::SessionChange;

/// One agent's call, before scoring.
struct AgentRun {
    role: AgentRole,
    agent: ProviderKind,
    prompt: String,
    result: Result<Completion, String>,
    attempts: Vec<Attempt>,
    used: i64,
    elapsed_ms: i64,
    /// Skipped or stopped because the reservation could not cover it.
    budget_exhausted: bool,
}

impl AgentRun {
    fn output(&self) -> Option<&str> {
        self.result.as_ref().ok().map(|c| c.content.as_str())
    }
}

impl Conductor {
    /// Plays a started session to the gate (or to failure) and releases
    /// what is left of its reservation. Answers the session's new status.
    ///
    /// # Errors
    /// `Unexpected` when storage failed; the session is then marked failed
    /// if storage allows.
    pub async fn run(&self, job: SessionJob) -> Result<SessionStatus, ConductorError> {
        let pool = Pool::new(job.reservation.amount);
        let played = match &job.synthesis_inputs {
            Some(inputs) => self.synthesize(&job, &pool, inputs).await,
            None => self.play(&job, &pool).await,
        };
        match played {
            Ok(status) => Ok(status),
            Err(e) => {
                self.fail_owing(&job, pool.owed()).await;
                Err(e)
            }
        }
    }

    /// After an internal error: fails the session, settles `owed` — the
    /// tokens the calls used that no committed step settled, which the
    /// vendors charged all the same — and returns the rest of the
    /// reservation; in one step if storage allows, else the settlement and
    /// the release on their own (best effort: the error is already being
    /// reported).
    async fn fail_owing(&self, job: &SessionJob, owed: i64) {
        let why = "the run stopped on an internal error; see the server log";
        let events = [status_event(
            &job.session,
            SessionStatus::Failed,
            Some(why.into()),
        )];
        let step = SessionStep {
            charge: (owed != 0).then_some((job.reservation.id, owed)),
            status: Some(StatusMove {
                from: SessionStatus::Executing,
                to: SessionStatus::Failed,
                failure: Some(why),
            }),
            release: Some(job.reservation.id),
            ..SessionStep::new(job.session.id, Utc::now(), &events)
        };
        if self.sessions.commit(step).await.is_ok() {
            return;
        }
        if owed != 0
            && let Err(BudgetError::ReservationClosed) =
                self.budgets.settle(job.reservation.id, owed).await
        {
            self.charge_late(job, owed).await;
        }
        let _ = self.budgets.release(job.reservation.id).await;
    }

    /// Charges `owed` tokens whose reservation someone else closed — a
    /// cancel recorded on another instance while this run's calls were in
    /// flight — through a reservation of their own, opened, settled and
    /// closed at once: the vendors charged them, so the month pays.
    async fn charge_late(&self, job: &SessionJob, owed: i64) {
        let user = job.session.user_id;
        if let Ok(late) = self.budgets.reserve(user, Some(job.session.id), owed).await {
            let _ = self.budgets.settle(late.id, owed).await;
            let _ = self.budgets.release(late.id).await;
        }
    }

    async fn play(&self, job: &SessionJob, pool: &Pool) -> Result<SessionStatus, ConductorError> {
        let ctx = job.ctx();
        // Agreement is not scored here: a coder, a designer and a reviewer
        // answer different questions, so their texts differ by design. The
        // reviewer's verdict (parsed once, when the review is scored) is the
        // coder's cross-check; agreement grounds the synthesis, below.
        let score = |run: &AgentRun, verdict| {
            run.result
                .as_ref()
                .ok()
                .map(|c| scoring::score(run.role, c, verdict, &[]))
        };
        // Each output is scored as soon as what it needs is in: the
        // designer's while the reviewer is still at work. Which of the
        // coder's and the designer's requests leaves first is left to the
        // runtime: steering it made no measurable difference against
        // vendors that take hundreds of milliseconds (BENCHMARKS.md,
        // 2026-12-07).
        let reviewer_asked = Signal::default();
        let coder_then_reviewer = async {
            let coder = self
                .call(
                    job,
                    pool,
                    AgentRole::Coder,
                    prompts::agent_prompt(AgentRole::Coder, &ctx),
                )
                .await;
            let prompt = match coder.output() {
                Some(output) => prompts::review_prompt(&ctx, &job.plan.pass_on(output)),
                None => prompts::agent_prompt(AgentRole::Reviewer, &ctx),
            };
            reviewer_asked.raise();
            let reviewer = self.call(job, pool, AgentRole::Reviewer, prompt).await;
            let review = score(&reviewer, None);
            let verdict = review
                .as_ref()
                .and_then(|s| s.review.as_ref())
                .map(|r| r.verdict)
                .filter(|_| coder.result.is_ok());
            let coded = score(&coder, verdict);
            ([coder, reviewer], [coded, review])
        };
        let designer = async {
            let run = self
                .call(
                    job,
                    pool,
                    AgentRole::Designer,
                    prompts::agent_prompt(AgentRole::Designer, &ctx),
                )
                .await;
            // The designer's answer often lands with the coder's: score it
            // once the reviewer's request is on its way, never before, so
            // it does not hold up the critical path (coder → reviewer →
            // synthesis). This holds whichever branch `join` polls first:
            // the signal is raised in the turn that hands the request over,
            // and the yield lets the connection write it before the
            // scoring starts.
            reviewer_asked.raised().await;
            self.sleeper.yield_now().await;
            let scored = score(&run, None);
            (run, scored)
        };
        let (([coder, reviewer], [coded, review]), (designer, designed)) =
            join(coder_then_reviewer, designer).await;
        // The proposal is built from the coder's answer as parsed for its
        // score; on a repository it becomes a commit on the task branch.
        let coder_output = coded.as_ref().and_then(|s| s.coder_output.clone());
        let runs = [coder, reviewer, designer];
        let scores = [coded, review, designed];
        let mut assessments = Vec::new();
        let mut passed: Vec<(AgentRole, String)> = Vec::new();
        let mut invocations = Vec::new();
        let mut events = Vec::new();
        for (run, scored) in runs.iter().zip(scores) {
            if let (Some(s), Some(output)) = (&scored, run.output()) {
                assessments.push(Assessment {
                    role: run.role,
                    confidence: s.confidence.value,
                    safety: s.safety.clone(),
                });
                passed.push((run.role, job.plan.pass_on(output).into_owned()));
            }
            let (invocation, event) = self.invocation(job, run, scored);
            invocations.push(invocation);
            events.push(event);
        }

        if let Some(why) = job.control.halted() {
            return self
                .finish(job, invocations, events, Finish::Halted(why))
                .await;
        }
        if assessments.is_empty() {
            let why: Vec<String> = runs
                .iter()
                .map(|r| {
                    format!(
                        "{}: {}",
                        r.role.as_str(),
                        r.result.as_ref().err().map_or("no output", String::as_str)
                    )
                })
                .collect();
            let why = format!("every agent failed — {}", why.join("; "));
            return self
                .finish(job, invocations, events, Finish::Failed(why))
                .await;
        }

        let change = self.propose(job, coder_output.as_ref()).await?;
        let refused = matches!(change, Some(SessionChange::Refused { .. }));
        let budget_exhausted = runs.iter().any(|r| r.budget_exhausted);
        let decision = gate::decide(&assessments, job.threshold);
        let average = match &decision {
            GateDecision::HumanReviewRequired {
                average_confidence, ..
            }
            | GateDecision::Synthesize { average_confidence } => *average_confidence,
        };
        let hold = |kind, reasons| Finish::Hold {
            kind,
            reasons,
            average,
        };
        let outcome = match decision {
            GateDecision::HumanReviewRequired { mut reasons, .. } => {
                if budget_exhausted {
                    reasons.push(ReviewReason::BudgetExhausted);
                }
                if refused {
                    reasons.push(ReviewReason::ProposalRefused);
                }
                hold(ReviewKind::Gate, reasons)
            }
            GateDecision::Synthesize { .. } if budget_exhausted || refused => {
                let reasons = [
                    (budget_exhausted, ReviewReason::BudgetExhausted),
                    (refused, ReviewReason::ProposalRefused),
                ];
                hold(
                    ReviewKind::Gate,
                    reasons
                        .into_iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, r)| r)
                        .collect(),
                )
            }
            GateDecision::Synthesize { .. } => {
                // The first round is stored while the conductor plays, so
                // its bookkeeping stays off the critical path — a moment
                // after the request went out, not right after: a vendor on
                // this machine (a local model server) must get the CPU to
                // take the request, and the OS tends to queue it behind the
                // thread that woke it, so SQLite work right after the send
                // held the request back by its whole length. A millisecond
                // is nothing to a call of seconds. The store begins with
                // that wait, so this holds whichever branch `join` polls
                // first: the call hands its request over in the same poll
                // (`the_synthesis_request_leaves_before_the_first_round_is_stored`
                // holds the outcome).
                let stored = async {
                    self.sleeper.sleep(STORE_AFTER_SEND).await;
                    self.store(job, &invocations, &events).await?;
                    pool.settled(tokens_of(&invocations));
                    Ok::<(), ConductorError>(())
                };
                let outputs: Vec<(AgentRole, &str)> =
                    passed.iter().map(|(r, t)| (*r, t.as_str())).collect();
                let prompt = prompts::synthesis_prompt(&ctx, &outputs);
                let (synthesis, stored) =
                    join(self.call(job, pool, AgentRole::Conductor, prompt), stored).await;
                stored?;
                let others: Vec<&str> = outputs.iter().map(|(_, t)| *t).collect();
                let scored = synthesis
                    .result
                    .as_ref()
                    .ok()
                    .map(|c| scoring::score(AgentRole::Conductor, c, None, &others));
                let (invocation, event) = self.invocation(job, &synthesis, scored);
                invocations = vec![invocation];
                events = vec![event];
                match job.control.halted() {
                    Some(why) => Finish::Halted(why),
                    None => synthesis_outcome(&synthesis, average),
                }
            }
        };
        self.finish_with(job, invocations, events, outcome, change.as_ref())
            .await
    }

    /// The conductor's synthesis of outputs a human approved at the gate
    /// (their edits included), then the final-approval hold — the
    /// continuation of an approved session.
    async fn synthesize(
        &self,
        job: &SessionJob,
        pool: &Pool,
        inputs: &[(AgentRole, String)],
    ) -> Result<SessionStatus, ConductorError> {
        let outputs: Vec<(AgentRole, &str)> =
            inputs.iter().map(|(r, t)| (*r, t.as_str())).collect();
        let prompt = prompts::synthesis_prompt(&job.ctx(), &outputs);
        let synthesis = self.call(job, pool, AgentRole::Conductor, prompt).await;
        let others: Vec<&str> = outputs.iter().map(|(_, t)| *t).collect();
        let scored = synthesis
            .result
            .as_ref()
            .ok()
            .map(|c| scoring::score(AgentRole::Conductor, c, None, &others));
        let average = scored.as_ref().map_or(0.0, |s| s.confidence.value);
        let (invocation, event) = self.invocation(job, &synthesis, scored);
        let outcome = match job.control.halted() {
            Some(why) => Finish::Halted(why),
            None => synthesis_outcome(&synthesis, average),
        };
        self.finish(job, vec![invocation], vec![event], outcome)
            .await
    }

    /// One agent's call along its chain, within its deadline and the
    /// reservation; `used` is the real usage of every attempt (settled when
    /// the run's step is committed).
    async fn call(
        &self,
        job: &SessionJob,
        pool: &Pool,
        role: AgentRole,
        prompt: String,
    ) -> AgentRun {
        let chain = job.chains.of(role);
        let system = prompts::system_prompt(role, job.tone);
        let mut run = AgentRun {
            role,
            agent: chain
                .first()
                .map_or(job.session.conductor, |l| l.provider.kind()),
            result: Err(String::new()),
            attempts: Vec::new(),
            used: 0,
            elapsed_ms: 0,
            budget_exhausted: false,
            prompt,
        };
        if job.control.halted().is_some() {
            run.result = Err(HALTED.to_owned());
            return run;
        }
        if chain.is_empty() {
            run.result = Err(format!(
                "no provider is configured for the {}",
                role.as_str()
            ));
            return run;
        }
        let bound = job.plan.call_bound(&system, &run.prompt);
        if !pool.claim(bound) {
            run.budget_exhausted = true;
            run.result = Err(ProviderError::BudgetExhausted.to_string());
            return run;
        }
        // What this call holds of the pool: its bound, plus whatever a
        // failed-over attempt needs on top of what the cut one spent.
        let held = AtomicI64::new(bound);
        let may_continue = |spent: u64| {
            let need = i64::try_from(spent)
                .unwrap_or(i64::MAX)
                .saturating_add(bound);
            let have = held.load(Ordering::SeqCst);
            if need <= have {
                return true;
            }
            let granted = pool.claim(need - have);
            if granted {
                held.store(need, Ordering::SeqCst);
            }
            granted
        };
        let request = AiRequest {
            model: String::new(),
            system: Some(system),
            messages: vec![ChatMessage::user(run.prompt.clone())],
            temperature: temperature(role),
            max_tokens: job.plan.max_tokens,
            tenant: Some(job.session.user_id),
        };
        // Stream only for someone watching: a plain answer costs less.
        let sink = self
            .live
            .as_deref()
            .filter(|tap| tap.watching(job.session.user_id))
            .map(|tap| super::live::AgentSink {
                tap,
                user_id: job.session.user_id,
                session_id: job.session.id,
                role,
            });
        let started = Instant::now();
        job.control.agent(role, AgentState::Calling);
        let guarded = super::concurrency::with_deadline(
            self.band.resilience().call_guarded(
                chain,
                &request,
                sink.as_ref().map(|s| s as &dyn crate::band::DeltaSink),
                &may_continue,
            ),
            self.settings.agent_timeout,
            self.sleeper.as_ref(),
        );
        // A halt drops the call in flight: the HTTP request is cut, the
        // built-in model stops at its next token.
        let outcome = super::concurrency::first_of(guarded, job.control.halt_requested()).await;
        run.elapsed_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match outcome {
            Ok(Some(outcome)) => {
                run.used = outcome
                    .attempts
                    .iter()
                    .map(|a| i64::try_from(a.usage.total()).unwrap_or(i64::MAX))
                    .sum();
                pool.give_back(held.load(Ordering::SeqCst) - run.used);
                pool.spent(run.used);
                job.control.spent(run.used);
                run.attempts = outcome.attempts;
                run.budget_exhausted =
                    matches!(outcome.result, Err(ProviderError::BudgetExhausted));
                run.result = outcome.result.map_err(|e| e.to_string());
                if let Ok(c) = &run.result {
                    run.agent = c.provenance.agent;
                }
            }
            Ok(None) => {
                // The in-flight attempt's usage is unknown: its hold stays
                // claimed so no later call can count on it.
                run.result = Err(format!(
                    "no answer within {} s",
                    self.settings.agent_timeout.as_secs()
                ));
            }
            // As for a deadline: the cut attempt's usage is unknown.
            Err(_) => run.result = Err(HALTED.to_owned()),
        }
        job.control.agent(
            role,
            if run.result.is_ok() {
                AgentState::Done
            } else {
                AgentState::Failed
            },
        );
        run
    }

    /// The stored form of one agent run, with its `AgentInvoked` event.
    fn invocation(
        &self,
        job: &SessionJob,
        run: &AgentRun,
        scored: Option<Scored>,
    ) -> (AgentInvocation, EventEnvelope) {
        let (content, stop_reason, usage, provenance) = match &run.result {
            Ok(c) => (
                c.content.clone(),
                Some(c.stop_reason.clone()),
                c.usage,
                Some(c.provenance.clone()),
            ),
            Err(_) => (String::new(), None, Default::default(), None),
        };
        let confidence = scored.as_ref().map_or(0.0, |s| s.confidence.value);
        let (reasoning, coder_output, review, safety) = match scored {
            Some(s) => (
                s.confidence.reasoning,
                s.coder_output,
                s.review,
                Some(s.safety),
            ),
            None => (Vec::new(), None, None, None),
        };
        let invocation = AgentInvocation {
            id: Uuid::new_v4(),
            session_id: job.session.id,
            agent: run.agent,
            role: run.role,
            prompt: run.prompt.clone(),
            response: InvocationRecord {
                content,
                stop_reason,
                usage,
                provenance,
                reasoning,
                attempts: run.attempts.clone(),
                error: run.result.as_ref().err().cloned(),
                coder_output,
                review,
                safety,
            },
            confidence,
            tokens_used: run.used,
            execution_time_ms: run.elapsed_ms,
            invoked_at: Utc::now(),
        };
        let event = session_event(
            &job.session,
            DomainEvent::AgentInvoked {
                session_id: job.session.id,
                invocation_id: invocation.id,
                agent: run.agent,
                role: run.role,
                confidence,
                tokens_used: run.used,
                execution_time_ms: run.elapsed_ms,
                failed: run.result.is_err(),
            },
        );
        (invocation, event)
    }

    /// Stores invocations with their tokens charged, in one commit.
    async fn store(
        &self,
        job: &SessionJob,
        invocations: &[AgentInvocation],
        events: &[EventEnvelope],
    ) -> Result<(), ConductorError> {
        let step = SessionStep {
            invocations,
            charge: Some((job.reservation.id, tokens_of(invocations))),
            ..SessionStep::new(job.session.id, Utc::now(), events)
        };
        self.sessions.commit(step).await?;
        Ok(())
    }

    /// The last step, in one commit: the remaining invocations and their
    /// tokens, the session's new status (a pending review with its
    /// `HumanReviewRequired` event, or the failure), and the release of what
    /// the reservation still holds.
    async fn finish(
        &self,
        job: &SessionJob,
        invocations: Vec<AgentInvocation>,
        events: Vec<EventEnvelope>,
        outcome: Finish,
    ) -> Result<SessionStatus, ConductorError> {
        self.finish_with(job, invocations, events, outcome, None)
            .await
    }

    /// [`Self::finish`], recording what became of the coder's proposal.
    async fn finish_with(
        &self,
        job: &SessionJob,
        invocations: Vec<AgentInvocation>,
        mut events: Vec<EventEnvelope>,
        outcome: Finish,
        change: Option<&SessionChange>,
    ) -> Result<SessionStatus, ConductorError> {
        let now = Utc::now();
        let mut review = None;
        let (to, failure) = match outcome {
            Finish::Halted(why) => {
                let (to, reason) = why.outcome();
                events.push(status_event(&job.session, to, Some(reason.into())));
                (to, Some(reason.to_owned()))
            }
            Finish::Failed(why) => {
                events.push(status_event(
                    &job.session,
                    SessionStatus::Failed,
                    Some(why.clone()),
                ));
                (SessionStatus::Failed, Some(why))
            }
            Finish::Hold {
                kind,
                reasons,
                average,
            } => {
                let request = ReviewRequest {
                    id: Uuid::new_v4(),
                    session_id: job.session.id,
                    user_id: job.session.user_id,
                    kind,
                    status: ReviewStatus::PendingReview,
                    reasons,
                    average_confidence: average,
                    created_at: now,
                    expires_at: now + self.settings.review_ttl,
                };
                let why = match kind {
                    ReviewKind::FinalApproval => {
                        "synthesised; waiting for final approval".to_owned()
                    }
                    ReviewKind::Gate => {
                        let names: Vec<String> =
                            request.reasons.iter().map(|r| format!("{r:?}")).collect();
                        format!("stopped at the gate: {}", names.join(", "))
                    }
                };
                events.push(status_event(
                    &job.session,
                    SessionStatus::AwaitingReview,
                    Some(why),
                ));
                events.push(session_event(
                    &job.session,
                    DomainEvent::HumanReviewRequired {
                        review_id: request.id,
                        session_id: job.session.id,
                        kind,
                        reasons: request.reasons.clone(),
                        average_confidence: average,
                        expires_at: request.expires_at,
                    },
                ));
                review = Some(request);
                (SessionStatus::AwaitingReview, None)
            }
        };
        let step = SessionStep {
            invocations: &invocations,
            charge: Some((job.reservation.id, tokens_of(&invocations))),
            status: Some(StatusMove {
                from: SessionStatus::Executing,
                to,
                failure: failure.as_deref(),
            }),
            review: review.as_ref(),
            release: Some(job.reservation.id),
            change,
            ..SessionStep::new(job.session.id, now, &events)
        };
        self.sessions.commit(step).await?;
        Ok(to)
    }
}

/// How a synthesis ends the run: waiting for final approval, or back at
/// the gate when it could not be made.
fn synthesis_outcome(synthesis: &AgentRun, average: f64) -> Finish {
    let hold = |kind, reasons| Finish::Hold {
        kind,
        reasons,
        average,
    };
    match (&synthesis.result, synthesis.budget_exhausted) {
        (Ok(_), _) => hold(ReviewKind::FinalApproval, Vec::new()),
        (Err(_), true) => hold(ReviewKind::Gate, vec![ReviewReason::BudgetExhausted]),
        (Err(_), false) => hold(ReviewKind::Gate, vec![ReviewReason::SynthesisFailed]),
    }
}

/// How a run ends.
enum Finish {
    /// Stopped by a cancel or the server's shutdown: the calls made so far
    /// are recorded and settled, nothing else is called.
    Halted(Halt),
    Failed(String),
    Hold {
        kind: ReviewKind,
        reasons: Vec<ReviewReason>,
        average: f64,
    },
}

fn tokens_of(invocations: &[AgentInvocation]) -> i64 {
    invocations.iter().map(|i| i.tokens_used).sum()
}

/// What a call halted before its answer records.
const HALTED: &str = "stopped: the run was halted";

/// How long after the synthesis request went out the first round is
/// stored (see `play`).
const STORE_AFTER_SEND: Duration = Duration::from_millis(1);

/// Sampling temperature per role: exact for code and review, freer for design.
fn temperature(role: AgentRole) -> f32 {
    match role {
        AgentRole::Coder => 0.2,
        AgentRole::Reviewer => 0.1,
        AgentRole::Designer => 0.6,
        AgentRole::Conductor | AgentRole::Pm => 0.3,
    }
}
