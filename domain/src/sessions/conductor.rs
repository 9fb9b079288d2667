//! The conductor use case (spec §3.1): run the band on a task.
//!
//! `start` checks ownership, binds each role to its fallback chain from the
//! user's preferences, sizes the token plan to the user's tier and reserves
//! the whole task's upper bound before anything is called; the session is
//! stored with its `AISessionStarted` event. The caller then runs `run` in
//! the background:
//!
//! 1. **First round**, concurrently: the coder and then the reviewer on the
//!    coder's output (on the task itself if the coder failed), alongside the
//!    designer. Each agent has a deadline; one failing never sinks the
//!    others. Every call walks its chain through the shared resilience layer
//!    and is charged to the reservation (settled with the real usage of
//!    every attempt).
//! 2. **Scoring**: each output is parsed, scored and safety-checked, and
//!    stored with its `AgentInvoked` event. The coder's score includes the
//!    reviewer's verdict on it; the synthesis's includes its agreement with
//!    the outputs it combined (a synthesis that drifts from its sources is
//!    suspect).
//! 3. **Gate**: low confidence, a safety flag or a spent reservation stop
//!    the session at `awaiting_review` with a pending review; otherwise the
//!    conductor synthesises, and the session waits for final approval.
//!
//! Whatever happens, what is left of the reservation is released.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use uuid::Uuid;

use super::gate::{self, Assessment, GateDecision, ReviewReason};
use super::plan::{Pool, TokenPlan};
use super::prompts::{self, PromptContext};
use super::scoring::{self, Scored};
use super::{
    AgentInvocation, AiSession, Intent, InvocationRecord, ReviewKind, ReviewRequest, ReviewStatus,
    SessionError, SessionRepository, SessionStatus,
};
use crate::accounts::{AccountError, AccountService, Tone};
use crate::band::{
    AgentRole, AiRequest, Attempt, Band, ChainLink, ChatMessage, Completion, ProviderError,
    ProviderKind, Sleeper,
};
use crate::budgets::{BudgetError, BudgetService, Reservation};
use crate::events::{AggregateType, DomainEvent, EventEnvelope};
use crate::projects::{ProjectError, ProjectService};
use crate::tasks::{TaskError, TaskService};
use crate::{BoxError, InvalidField};

/// Tunables of the conductor.
#[derive(Debug, Clone)]
pub struct ConductorSettings {
    /// How long one agent (its whole fallback chain) may take.
    pub agent_timeout: Duration,
    /// Output tokens per call, when the tier leaves room for them.
    pub max_tokens: u32,
    /// Bytes of an agent's output shown to later agents, at most.
    pub passthrough_bytes: usize,
    /// How long a pending review waits before it expires.
    pub review_ttl: chrono::Duration,
    /// A typical call's duration, for the completion estimate.
    pub typical_call: Duration,
}

impl Default for ConductorSettings {
    fn default() -> Self {
        Self {
            agent_timeout: Duration::from_secs(120),
            max_tokens: 2048,
            passthrough_bytes: 16_000,
            review_ttl: chrono::Duration::hours(24),
            typical_call: Duration::from_secs(20),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConductorError {
    #[error(transparent)]
    InvalidField(#[from] InvalidField),
    /// Absent, or someone else's.
    #[error("task not found")]
    TaskNotFound,
    /// No provider can play the band's roles.
    #[error("no AI provider is configured: set {0}")]
    NoProvider(String),
    /// The reservation was refused; the session did not start.
    #[error(transparent)]
    Budget(#[from] BudgetError),
    #[error("session not found")]
    SessionNotFound,
    #[error("unexpected conductor error")]
    Unexpected(#[source] BoxError),
}

impl From<SessionError> for ConductorError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::InvalidField(f) => Self::InvalidField(f),
            SessionError::NotFound => Self::SessionNotFound,
            other => Self::Unexpected(Box::new(other)),
        }
    }
}

/// A started session and what `run` needs to play it.
pub struct Started {
    pub session: AiSession,
    /// The critical path (coder → reviewer → conductor) at typical speed.
    pub estimated_completion_seconds: u64,
    pub job: SessionJob,
}

/// Everything a run needs, owned, so it can move to a background task.
pub struct SessionJob {
    session: AiSession,
    reservation: Reservation,
    plan: TokenPlan,
    project_name: String,
    task_title: String,
    task_description: String,
    tone: Tone,
    threshold: f64,
    chains: Chains,
}

impl SessionJob {
    pub fn session_id(&self) -> Uuid {
        self.session.id
    }

    fn ctx(&self) -> PromptContext<'_> {
        PromptContext {
            project_name: &self.project_name,
            task_title: &self.task_title,
            task_description: &self.task_description,
            intent: &self.session.intent,
            tone: self.tone,
        }
    }
}

struct Chains {
    coder: Vec<ChainLink>,
    designer: Vec<ChainLink>,
    reviewer: Vec<ChainLink>,
    conductor: Vec<ChainLink>,
}

impl Chains {
    fn of(&self, role: AgentRole) -> &[ChainLink] {
        match role {
            AgentRole::Coder => &self.coder,
            AgentRole::Designer => &self.designer,
            AgentRole::Reviewer => &self.reviewer,
            AgentRole::Conductor | AgentRole::Pm => &self.conductor,
        }
    }
}

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

/// Runs the band on tasks. Cheap to clone.
#[derive(Clone)]
pub struct Conductor {
    sessions: Arc<dyn SessionRepository>,
    accounts: AccountService,
    projects: ProjectService,
    tasks: TaskService,
    budgets: BudgetService,
    band: Band,
    sleeper: Arc<dyn Sleeper>,
    settings: ConductorSettings,
}

impl Conductor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sessions: Arc<dyn SessionRepository>,
        accounts: AccountService,
        projects: ProjectService,
        tasks: TaskService,
        budgets: BudgetService,
        band: Band,
        sleeper: Arc<dyn Sleeper>,
        settings: ConductorSettings,
    ) -> Self {
        Self {
            sessions,
            accounts,
            projects,
            tasks,
            budgets,
            band,
            sleeper,
            settings,
        }
    }

    /// Starts a session for `task_id`: binds the roles, reserves the whole
    /// task's token bound and stores the session (`executing`). Call
    /// [`Self::run`] with the job to play it.
    ///
    /// # Errors
    /// `TaskNotFound` (also for someone else's task), `NoProvider`,
    /// `Budget` when the reservation is refused (a `TokenBudgetExceeded`
    /// event is appended), `Unexpected`.
    pub async fn start(
        &self,
        user_id: Uuid,
        task_id: Uuid,
        intent: Intent,
    ) -> Result<Started, ConductorError> {
        let task = self
            .tasks
            .get(user_id, task_id)
            .await
            .map_err(|e| match e {
                TaskError::NotFound | TaskError::ProjectNotFound => ConductorError::TaskNotFound,
                other => ConductorError::Unexpected(Box::new(other)),
            })?;
        let project = self
            .projects
            .get(user_id, task.project_id)
            .await
            .map_err(|e| match e {
                ProjectError::NotFound => ConductorError::TaskNotFound,
                other => ConductorError::Unexpected(Box::new(other)),
            })?;
        let user = self.accounts.get(user_id).await.map_err(|e| match e {
            AccountError::NotFound => ConductorError::TaskNotFound,
            other => ConductorError::Unexpected(Box::new(other)),
        })?;
        let prefs = &user.ai_preferences;
        let chain = |role| self.band.chain(role, prefs.preferred(role));
        let chains = Chains {
            coder: chain(AgentRole::Coder),
            designer: chain(AgentRole::Designer),
            reviewer: chain(AgentRole::Reviewer),
            conductor: chain(AgentRole::Conductor),
        };
        let Some(conductor) = chains.conductor.first().map(|l| l.provider.kind()) else {
            let settings: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.setting()).collect();
            return Err(ConductorError::NoProvider(settings.join(", ")));
        };

        let session_id = Uuid::new_v4();
        let budget = self.budgets.current(user_id).await?;
        let intent_ref = &intent;
        let plan = TokenPlan::fit(
            &PromptContext {
                project_name: &project.name,
                task_title: &task.title,
                task_description: &task.description,
                intent: intent_ref,
                tone: prefs.tone,
            },
            budget.max_session_tokens,
            self.settings.max_tokens,
            self.settings.passthrough_bytes,
        );
        let reservation = self
            .budgets
            .reserve(user_id, Some(session_id), plan.estimate)
            .await?;
        let now = Utc::now();
        let session = AiSession {
            id: session_id,
            project_id: project.id,
            task_id: Some(task.id),
            user_id,
            conductor,
            status: SessionStatus::Executing,
            intent: intent.clone(),
            total_tokens_used: 0,
            reservation_id: Some(reservation.id),
            failure: None,
            started_at: now,
            completed_at: None,
        };
        let started = EventEnvelope::new(
            AggregateType::AiSession,
            session_id,
            user_id,
            now,
            DomainEvent::AiSessionStarted {
                session_id,
                project_id: project.id,
                task_id: Some(task.id),
                intent,
                reserved_tokens: reservation.amount,
            },
        );
        if let Err(e) = self.sessions.create(&session, &[started]).await {
            // Best effort: the reservation must not outlive a session that
            // was never stored.
            let _ = self.budgets.release(reservation.id).await;
            return Err(e.into());
        }
        let estimated_completion_seconds = self.settings.typical_call.as_secs() * 3;
        Ok(Started {
            job: SessionJob {
                session: session.clone(),
                reservation,
                plan,
                project_name: project.name,
                task_title: task.title,
                task_description: task.description,
                tone: prefs.tone,
                threshold: prefs.confidence_threshold,
                chains,
            },
            session,
            estimated_completion_seconds,
        })
    }

    /// Plays a started session to the gate (or to failure) and releases
    /// what is left of its reservation. Answers the session's new status.
    ///
    /// # Errors
    /// `Unexpected` when storage failed; the session is then marked failed
    /// if storage allows.
    pub async fn run(&self, job: SessionJob) -> Result<SessionStatus, ConductorError> {
        let pool = Pool::new(job.reservation.amount);
        let outcome = self.play(&job, &pool).await;
        // Whatever happened, return what the reservation still holds.
        let released = self.budgets.release(job.reservation.id).await;
        match outcome {
            Ok(status) => {
                released.map_err(|e| ConductorError::Unexpected(Box::new(e)))?;
                Ok(status)
            }
            Err(e) => {
                let _ = self
                    .fail(
                        &job,
                        "the run stopped on an internal error; see the server log",
                    )
                    .await;
                Err(e)
            }
        }
    }

    async fn play(&self, job: &SessionJob, pool: &Pool) -> Result<SessionStatus, ConductorError> {
        let ctx = job.ctx();
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
            let reviewer = self.call(job, pool, AgentRole::Reviewer, prompt).await;
            vec![coder, reviewer]
        };
        let designer = async {
            vec![
                self.call(
                    job,
                    pool,
                    AgentRole::Designer,
                    prompts::agent_prompt(AgentRole::Designer, &ctx),
                )
                .await,
            ]
        };
        type Branch<'a> =
            std::pin::Pin<Box<dyn std::future::Future<Output = Vec<AgentRun>> + Send + 'a>>;
        let branches: Vec<Branch<'_>> = vec![Box::pin(coder_then_reviewer), Box::pin(designer)];
        let runs: Vec<AgentRun> = super::concurrency::join_all(branches)
            .await
            .into_iter()
            .flatten()
            .collect();

        let coder_reviewed = runs
            .iter()
            .any(|r| r.role == AgentRole::Coder && r.result.is_ok());
        let verdict = runs
            .iter()
            .find(|r| r.role == AgentRole::Reviewer)
            .and_then(|r| r.result.as_ref().ok())
            .filter(|_| coder_reviewed)
            .and_then(|c| crate::band::Review::parse(&c.content))
            .map(|r| r.verdict);
        let mut assessments = Vec::new();
        let mut passed: Vec<(AgentRole, String)> = Vec::new();
        for run in &runs {
            // Agreement is not scored here: a coder, a designer and a
            // reviewer answer different questions, so their texts differ by
            // design. The reviewer's verdict is the coder's cross-check;
            // agreement grounds the synthesis, below.
            let scored = run.result.as_ref().ok().map(|c| {
                let verdict = verdict.filter(|_| run.role == AgentRole::Coder);
                scoring::score(run.role, c, verdict, &[])
            });
            if let (Some(s), Some(output)) = (&scored, run.output()) {
                assessments.push(Assessment {
                    role: run.role,
                    confidence: s.confidence.value,
                    safety: s.safety.clone(),
                });
                passed.push((run.role, job.plan.pass_on(output).into_owned()));
            }
            self.record(job, run, scored).await?;
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
            self.fail(job, &format!("every agent failed — {}", why.join("; ")))
                .await?;
            return Ok(SessionStatus::Failed);
        }

        let budget_exhausted = runs.iter().any(|r| r.budget_exhausted);
        let decision = gate::decide(&assessments, job.threshold);
        let average = match &decision {
            GateDecision::HumanReviewRequired {
                average_confidence, ..
            }
            | GateDecision::Synthesize { average_confidence } => *average_confidence,
        };
        match decision {
            GateDecision::HumanReviewRequired { mut reasons, .. } => {
                if budget_exhausted {
                    reasons.push(ReviewReason::BudgetExhausted);
                }
                self.hold(job, ReviewKind::Gate, reasons, average).await?;
            }
            GateDecision::Synthesize { .. } if budget_exhausted => {
                self.hold(
                    job,
                    ReviewKind::Gate,
                    vec![ReviewReason::BudgetExhausted],
                    average,
                )
                .await?;
            }
            GateDecision::Synthesize { .. } => {
                let outputs: Vec<(AgentRole, &str)> =
                    passed.iter().map(|(r, t)| (*r, t.as_str())).collect();
                let prompt = prompts::synthesis_prompt(&ctx, &outputs);
                let synthesis = self.call(job, pool, AgentRole::Conductor, prompt).await;
                let others: Vec<&str> = outputs.iter().map(|(_, t)| *t).collect();
                let scored = synthesis
                    .result
                    .as_ref()
                    .ok()
                    .map(|c| scoring::score(AgentRole::Conductor, c, None, &others));
                self.record(job, &synthesis, scored).await?;
                let (kind, reasons) = match (&synthesis.result, synthesis.budget_exhausted) {
                    (Ok(_), _) => (ReviewKind::FinalApproval, Vec::new()),
                    (Err(_), true) => (ReviewKind::Gate, vec![ReviewReason::BudgetExhausted]),
                    (Err(_), false) => (ReviewKind::Gate, vec![ReviewReason::SynthesisFailed]),
                };
                self.hold(job, kind, reasons, average).await?;
            }
        }
        Ok(SessionStatus::AwaitingReview)
    }

    /// One agent's call along its chain, within its deadline and the
    /// reservation, settled with the real usage of every attempt.
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
        };
        let started = Instant::now();
        let outcome = super::concurrency::with_deadline(
            self.band
                .resilience()
                .call_guarded(chain, &request, None, &may_continue),
            self.settings.agent_timeout,
            self.sleeper.as_ref(),
        )
        .await;
        run.elapsed_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match outcome {
            Some(outcome) => {
                run.used = outcome
                    .attempts
                    .iter()
                    .map(|a| i64::try_from(a.usage.total()).unwrap_or(i64::MAX))
                    .sum();
                pool.give_back(held.load(Ordering::SeqCst) - run.used);
                run.attempts = outcome.attempts;
                run.budget_exhausted =
                    matches!(outcome.result, Err(ProviderError::BudgetExhausted));
                run.result = outcome.result.map_err(|e| e.to_string());
                if let Ok(c) = &run.result {
                    run.agent = c.provenance.agent;
                }
            }
            None => {
                // The in-flight attempt's usage is unknown: its hold stays
                // claimed so no later call can count on it.
                run.result = Err(format!(
                    "no answer within {} s",
                    self.settings.agent_timeout.as_secs()
                ));
            }
        }
        run
    }

    /// Settles the run's usage and stores it with its `AgentInvoked` event.
    async fn record(
        &self,
        job: &SessionJob,
        run: &AgentRun,
        scored: Option<Scored>,
    ) -> Result<(), ConductorError> {
        if run.used > 0 {
            self.budgets
                .settle(job.reservation.id, run.used)
                .await
                .map_err(|e| ConductorError::Unexpected(Box::new(e)))?;
        }
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
        let now = Utc::now();
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
            invoked_at: now,
        };
        let event = self.event(
            job,
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
        self.sessions
            .record_invocation(&invocation, &[event])
            .await?;
        Ok(())
    }

    /// Stops the session for a human, with a pending review.
    async fn hold(
        &self,
        job: &SessionJob,
        kind: ReviewKind,
        reasons: Vec<ReviewReason>,
        average_confidence: f64,
    ) -> Result<(), ConductorError> {
        let now = Utc::now();
        let review = ReviewRequest {
            id: Uuid::new_v4(),
            session_id: job.session.id,
            user_id: job.session.user_id,
            kind,
            status: ReviewStatus::PendingReview,
            reasons,
            average_confidence,
            created_at: now,
            expires_at: now + self.settings.review_ttl,
        };
        let why = match kind {
            ReviewKind::FinalApproval => "synthesised; waiting for final approval".to_owned(),
            ReviewKind::Gate => {
                let names: Vec<String> = review.reasons.iter().map(|r| format!("{r:?}")).collect();
                format!("stopped at the gate: {}", names.join(", "))
            }
        };
        let events = [
            self.status_event(job, SessionStatus::AwaitingReview, Some(why)),
            self.event(
                job,
                DomainEvent::HumanReviewRequired {
                    review_id: review.id,
                    session_id: job.session.id,
                    kind,
                    reasons: review.reasons.clone(),
                    average_confidence,
                    expires_at: review.expires_at,
                },
            ),
        ];
        self.sessions
            .hold_for_review(SessionStatus::Executing, &review, &events)
            .await?;
        Ok(())
    }

    async fn fail(&self, job: &SessionJob, why: &str) -> Result<(), ConductorError> {
        let event = self.status_event(job, SessionStatus::Failed, Some(why.to_owned()));
        self.sessions
            .transition(
                job.session.id,
                SessionStatus::Executing,
                SessionStatus::Failed,
                Some(why),
                Utc::now(),
                &[event],
            )
            .await?;
        Ok(())
    }

    fn status_event(
        &self,
        job: &SessionJob,
        to: SessionStatus,
        reason: Option<String>,
    ) -> EventEnvelope {
        self.event(
            job,
            DomainEvent::AiSessionStatusChanged {
                session_id: job.session.id,
                from: SessionStatus::Executing,
                to,
                reason,
            },
        )
    }

    fn event(&self, job: &SessionJob, event: DomainEvent) -> EventEnvelope {
        EventEnvelope::new(
            AggregateType::AiSession,
            job.session.id,
            job.session.user_id,
            Utc::now(),
            event,
        )
    }

    /// The session with its invocations and review requests, if it belongs
    /// to `user_id`.
    ///
    /// # Errors
    /// `SessionNotFound`, `Unexpected`.
    pub async fn session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<(AiSession, Vec<AgentInvocation>, Vec<ReviewRequest>), ConductorError> {
        let (session, invocations) = self
            .sessions
            .find(user_id, session_id)
            .await?
            .ok_or(ConductorError::SessionNotFound)?;
        let reviews = self.sessions.reviews(user_id, session_id).await?;
        Ok((session, invocations, reviews))
    }
}

/// Sampling temperature per role: exact for code and review, freer for design.
fn temperature(role: AgentRole) -> f32 {
    match role {
        AgentRole::Coder => 0.2,
        AgentRole::Reviewer => 0.1,
        AgentRole::Designer => 0.6,
        AgentRole::Conductor | AgentRole::Pm => 0.3,
    }
}
