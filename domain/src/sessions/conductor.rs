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
//!    and must fit what is left of the reservation.
//! 2. **Scoring**: each output is parsed, scored and safety-checked, and
//!    stored with its `AgentInvoked` event and its tokens settled. The coder's score includes the
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

use super::concurrency::{Signal, join};
use super::gate::{self, Assessment, GateDecision, ReviewReason};
use super::plan::{Pool, TokenPlan};
use super::prompts::{self, PromptContext};
use super::runner::{AgentState, CANCEL_WAIT, Halt, RunControl, SessionRunner};
use super::scoring::{self, Scored};
use super::{
    AgentInvocation, AiSession, Intent, InvocationRecord, Lineup, ReviewKind, ReviewRequest,
    ReviewStatus, SessionError, SessionRepository, SessionStatus, SessionStep, StatusMove,
};
use crate::accounts::{AccountError, AccountService, Tone};
use crate::band::{
    AgentRole, AiRequest, Attempt, Band, ChainLink, ChatMessage, Completion, ProviderError,
    ProviderKind, Sleeper,
};
use crate::budgets::{BudgetError, BudgetService, Reservation, TierLimits};
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
    /// The session asked for a provider this server has no credentials for.
    #[error("{} is not configured on this server (set {}) so it cannot play the {}", .provider.label(), .provider.setting(), .role.as_str())]
    ProviderNotConfigured {
        role: AgentRole,
        provider: ProviderKind,
    },
    /// The reservation was refused; the session did not start.
    #[error(transparent)]
    Budget(#[from] BudgetError),
    #[error("session not found")]
    SessionNotFound,
    /// The user's tier allows `limit` sessions playing at once and that
    /// many are (spec §6.2 `concurrent_ai_sessions`).
    #[error("{limit} of your sessions {} already playing, the most your plan allows at once: wait for one to end, or cancel one", if *.limit == 1 { "is" } else { "are" })]
    TooManySessions { limit: u32, retry_after: Duration },
    /// Only a playing session can be cancelled; a session at the gate is
    /// rejected instead.
    #[error("the session is {}: {}", .status.as_str(), match .status { SessionStatus::AwaitingReview => "it waits for your review; reject it instead", _ => "only a playing session can be cancelled" })]
    NotRunning { status: SessionStatus },
    /// Only a failed, cancelled or rejected session can be retried.
    #[error("the session is {}: only a failed, cancelled or rejected session can be run again", .status.as_str())]
    NotRetryable { status: SessionStatus },
    #[error("unexpected conductor error")]
    Unexpected(#[source] BoxError),
}

impl From<SessionError> for ConductorError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::InvalidField(f) => Self::InvalidField(f),
            SessionError::NotFound => Self::SessionNotFound,
            SessionError::Conflict { actual } => Self::NotRunning { status: actual },
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
    pub(super) session: AiSession,
    pub(super) reservation: Reservation,
    pub(super) plan: TokenPlan,
    pub(super) project_name: String,
    pub(super) task_title: String,
    pub(super) task_description: String,
    pub(super) tone: Tone,
    pub(super) threshold: f64,
    pub(super) chains: Chains,
    /// Set when a human approved the first round at the gate: the run is
    /// then only the synthesis of these (possibly edited) outputs.
    pub(super) synthesis_inputs: Option<Vec<(AgentRole, String)>>,
    /// The human's feedback on the session this one retries (empty if none).
    pub(super) feedback: String,
    /// Progress out, halt in: shared with the runner.
    pub(super) control: Arc<RunControl>,
}

impl SessionJob {
    /// The run's control, for the runner that plays it.
    pub fn control(&self) -> Arc<RunControl> {
        self.control.clone()
    }

    pub fn session_id(&self) -> Uuid {
        self.session.id
    }

    /// What the run holds of the month.
    pub fn reservation(&self) -> &Reservation {
        &self.reservation
    }
}

/// What [`Conductor::context`] finds.
pub(super) struct JobContext {
    pub task: crate::tasks::Task,
    pub project: crate::projects::Project,
    pub tone: Tone,
    pub threshold: f64,
    pub chains: Chains,
    pub conductor: ProviderKind,
}

impl SessionJob {
    fn ctx(&self) -> PromptContext<'_> {
        PromptContext {
            project_name: &self.project_name,
            task_title: &self.task_title,
            task_description: &self.task_description,
            intent: &self.session.intent,
            tone: self.tone,
            feedback: &self.feedback,
        }
    }
}

pub(super) struct Chains {
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

/// Runs the band on tasks: the use cases and ports it plays with, built
/// once at start-up. Cheap to clone.
#[derive(Clone)]
pub struct Conductor {
    pub sessions: Arc<dyn SessionRepository>,
    /// Read for a session's reviews and, on a retry, its decisions.
    pub reviews: Arc<dyn crate::reviews::ReviewStore>,
    pub accounts: AccountService,
    pub projects: ProjectService,
    pub tasks: TaskService,
    pub budgets: BudgetService,
    pub band: Band,
    /// Times the agents' deadlines.
    pub sleeper: Arc<dyn Sleeper>,
    pub settings: ConductorSettings,
    /// Where agents' token deltas go while someone watches (none: calls
    /// never stream).
    pub live: Option<Arc<dyn super::LiveTap>>,
}

impl Conductor {
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
        self.start_with(user_id, task_id, intent, Lineup::default())
            .await
    }

    /// [`Self::start`] with providers bound to roles for this session only.
    ///
    /// # Errors
    /// As `start`, and `ProviderNotConfigured` when the lineup names a
    /// provider this server cannot call (nothing is reserved or stored).
    pub async fn start_with(
        &self,
        user_id: Uuid,
        task_id: Uuid,
        intent: Intent,
        lineup: Lineup,
    ) -> Result<Started, ConductorError> {
        self.begin(user_id, task_id, intent, lineup, None).await
    }

    /// Starts a session; `retry` names the session it runs again and the
    /// human's feedback on it.
    async fn begin(
        &self,
        user_id: Uuid,
        task_id: Uuid,
        intent: Intent,
        lineup: Lineup,
        retry: Option<(Uuid, String)>,
    ) -> Result<Started, ConductorError> {
        let catalog = self.band.catalog();
        if let Some((role, provider)) = lineup.bindings().find(|(_, k)| !catalog.has(*k)) {
            return Err(ConductorError::ProviderNotConfigured { role, provider });
        }
        let JobContext {
            task,
            project,
            tone,
            threshold,
            chains,
            conductor,
        } = self.context(user_id, task_id, lineup).await?;
        let (retry_of, feedback) = retry.map_or((None, String::new()), |(id, f)| (Some(id), f));

        let session_id = Uuid::new_v4();
        let budget = self.budgets.current(user_id).await?;
        let plan = TokenPlan::fit(
            &PromptContext {
                project_name: &project.name,
                task_title: &task.title,
                task_description: &task.description,
                intent: &intent,
                tone,
                feedback: &feedback,
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
            resumed_at: None,
            retry_of,
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
        let limit = TierLimits::of(budget.tier).concurrent_sessions;
        if let Err(e) = self.sessions.create(&session, &[started], limit).await {
            // Best effort: the reservation must not outlive a session that
            // was never stored.
            let _ = self.budgets.release(reservation.id).await;
            return Err(match e {
                SessionError::TooManyRunning { limit } => ConductorError::TooManySessions {
                    limit,
                    retry_after: self.settings.typical_call,
                },
                other => other.into(),
            });
        }
        let estimated_completion_seconds = self.settings.typical_call.as_secs() * 3;
        Ok(Started {
            job: SessionJob {
                control: Arc::new(RunControl::new(session_id, session.task_id, user_id)),
                session: session.clone(),
                reservation,
                plan,
                project_name: project.name,
                task_title: task.title,
                task_description: task.description,
                tone,
                threshold,
                chains,
                synthesis_inputs: None,
                feedback,
            },
            session,
            estimated_completion_seconds,
        })
    }

    /// Runs a failed, cancelled or rejected session again, as a new
    /// session linked to it (`retry_of`) with the same intent. The human's
    /// rejection reasons, comments and edits on it go to the band as
    /// feedback in every prompt.
    ///
    /// # Errors
    /// `SessionNotFound`, `NotRetryable` for a session that is playing, at
    /// the gate or completed, `TaskNotFound` when its task is gone, and
    /// whatever starting a session can answer.
    pub async fn retry(&self, user_id: Uuid, session_id: Uuid) -> Result<Started, ConductorError> {
        let (old, _) = self
            .sessions
            .find(user_id, session_id)
            .await?
            .ok_or(ConductorError::SessionNotFound)?;
        if !matches!(old.status, SessionStatus::Failed | SessionStatus::Cancelled) {
            return Err(ConductorError::NotRetryable { status: old.status });
        }
        let task_id = old.task_id.ok_or(ConductorError::TaskNotFound)?;
        let filter = crate::reviews::InterventionFilter {
            session_id: Some(old.id),
            ..Default::default()
        };
        let mut decisions = self.reviews.interventions(user_id, &filter, 20).await?;
        decisions.reverse();
        let feedback = feedback_of(&decisions, self.settings.passthrough_bytes);
        self.begin(
            user_id,
            task_id,
            old.intent,
            Lineup::default(),
            Some((old.id, feedback)),
        )
        .await
    }

    /// Cancels the run of `session_id`: its provider calls are dropped, what
    /// they used is settled, the rest of the reservation is released, and
    /// the session becomes `cancelled` (with its event). Cancelling a
    /// cancelled session again answers `cancelled`.
    ///
    /// A run in progress on this instance is halted through `runner` and
    /// records itself; a session `executing` with no run here (playing on
    /// another instance, or left by a stopped server) is moved here, its
    /// reservation released — a run elsewhere then finds its next step
    /// refused and settles what it spent on its own.
    ///
    /// # Errors
    /// `SessionNotFound`, `NotRunning` for a session at the gate or ended
    /// otherwise, `Unexpected`.
    pub async fn cancel(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        runner: &dyn SessionRunner,
    ) -> Result<SessionStatus, ConductorError> {
        let (session, _) = self
            .sessions
            .find(user_id, session_id)
            .await?
            .ok_or(ConductorError::SessionNotFound)?;
        match session.status {
            SessionStatus::Cancelled => return Ok(SessionStatus::Cancelled),
            SessionStatus::Executing | SessionStatus::Pending => {}
            status => return Err(ConductorError::NotRunning { status }),
        }
        if let Some(control) = runner.control(session_id) {
            control.halt(Halt::Cancelled);
            // The halted run drops its calls at once and records itself
            // with one commit; wait for it so the answer is the outcome.
            let _ = super::concurrency::with_deadline(
                control.ended(),
                CANCEL_WAIT,
                self.sleeper.as_ref(),
            )
            .await;
        } else {
            let why = "cancelled by its owner";
            let events = [status_event(
                &session,
                SessionStatus::Cancelled,
                Some(why.into()),
            )];
            let step = SessionStep {
                status: Some(StatusMove {
                    from: session.status,
                    to: SessionStatus::Cancelled,
                    failure: Some(why),
                }),
                release: session.reservation_id,
                ..SessionStep::new(session.id, Utc::now(), &events)
            };
            match self.sessions.commit(step).await {
                Ok(()) | Err(SessionError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let (now, _) = self
            .sessions
            .find(user_id, session_id)
            .await?
            .ok_or(ConductorError::SessionNotFound)?;
        match now.status {
            SessionStatus::Cancelled => Ok(SessionStatus::Cancelled),
            // It reached its end before the cancel did.
            status => Err(ConductorError::NotRunning { status }),
        }
    }

    /// What a run of `task_id` needs to know: the task and its project
    /// (both the user's), the user's tone and threshold, and each role's
    /// fallback chain from the user's preferences.
    ///
    /// # Errors
    /// `TaskNotFound` (also for someone else's task), `NoProvider`,
    /// `Unexpected`.
    pub(super) async fn context(
        &self,
        user_id: Uuid,
        task_id: Uuid,
        lineup: Lineup,
    ) -> Result<JobContext, ConductorError> {
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
        let chain = |role| {
            let preferred = lineup.bound(role).or_else(|| prefs.preferred(role));
            self.band.chain(role, preferred)
        };
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
        Ok(JobContext {
            task,
            project,
            tone: prefs.tone,
            threshold: prefs.confidence_threshold,
            chains,
            conductor,
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
        if owed != 0 {
            let _ = self.budgets.settle(job.reservation.id, owed).await;
        }
        let _ = self.budgets.release(job.reservation.id).await;
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
        // designer's while the reviewer is still at work.
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
            // The coder's request goes out first: it heads the critical
            // path, and building the designer's in the same turn of the
            // runtime held it back.
            self.sleeper.yield_now().await;
            let run = self
                .call(
                    job,
                    pool,
                    AgentRole::Designer,
                    prompts::agent_prompt(AgentRole::Designer, &ctx),
                )
                .await;
            // The designer's answer often lands with the coder's: score it
            // once the reviewer's request is on the wire, never before, so
            // it does not hold up the critical path (coder → reviewer →
            // synthesis).
            reviewer_asked.raised().await;
            self.sleeper.yield_now().await;
            let scored = score(&run, None);
            (run, scored)
        };
        let (([coder, reviewer], [coded, review]), (designer, designed)) =
            join(coder_then_reviewer, designer).await;
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
                hold(ReviewKind::Gate, reasons)
            }
            GateDecision::Synthesize { .. } if budget_exhausted => {
                hold(ReviewKind::Gate, vec![ReviewReason::BudgetExhausted])
            }
            GateDecision::Synthesize { .. } => {
                // The first round is stored while the conductor plays, so
                // its bookkeeping stays off the critical path — a moment
                // after the request went out, not right after: a vendor on
                // this machine (a local model server) must get the CPU to
                // take the request, and the OS tends to queue it behind the
                // thread that woke it, so SQLite work right after the send
                // held the request back by its whole length (0.4 ms in the
                // bench). A millisecond is nothing to a call of seconds.
                let stored = async {
                    self.sleeper.sleep(STORE_AFTER_SEND).await;
                    self.store(job, &invocations, &events).await?;
                    pool.settled(tokens_of(&invocations));
                    Ok::<(), ConductorError>(())
                };
                let outputs: Vec<(AgentRole, &str)> =
                    passed.iter().map(|(r, t)| (*r, t.as_str())).collect();
                let prompt = prompts::synthesis_prompt(&ctx, &outputs);
                // The call is polled first, so its request is on its way
                // before the store starts.
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
        self.finish(job, invocations, events, outcome).await
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
        let outcome = first_of(guarded, job.control.halt_requested()).await;
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
        mut events: Vec<EventEnvelope>,
        outcome: Finish,
    ) -> Result<SessionStatus, ConductorError> {
        let now = Utc::now();
        let mut review = None;
        let (to, failure) = match outcome {
            Finish::Halted(why) => {
                let (to, reason) = match why {
                    Halt::Cancelled => (SessionStatus::Cancelled, "cancelled by its owner"),
                    Halt::Interrupted => (SessionStatus::Failed, INTERRUPTED),
                };
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
            ..SessionStep::new(job.session.id, now, &events)
        };
        self.sessions.commit(step).await?;
        Ok(to)
    }

    /// The longest a run can take: coder then reviewer, then the
    /// conductor, each within its deadline, plus a minute for bookkeeping.
    pub fn longest_run(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.agent_timeout * 3)
            .unwrap_or(chrono::Duration::MAX)
            .checked_add(&chrono::Duration::minutes(1))
            .unwrap_or(chrono::Duration::MAX)
    }

    /// Fails the sessions still `executing` long after any run could have
    /// ended — left behind by a server that stopped mid-run — and returns
    /// their reservations to the month. Safe with several instances: a live
    /// run is never that old. Answers how many were failed.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    pub async fn fail_abandoned(
        &self,
        now: chrono::DateTime<Utc>,
    ) -> Result<usize, ConductorError> {
        let why = INTERRUPTED;
        let cutoff = now - self.longest_run();
        let mut failed = 0;
        for session in self.sessions.unfinished().await? {
            // A session set playing again by an approval counts from then.
            let since = session.resumed_at.unwrap_or(session.started_at);
            if session.status != SessionStatus::Executing || since > cutoff {
                continue;
            }
            let events = [status_event(
                &session,
                SessionStatus::Failed,
                Some(why.into()),
            )];
            let step = SessionStep {
                status: Some(StatusMove {
                    from: SessionStatus::Executing,
                    to: SessionStatus::Failed,
                    failure: Some(why),
                }),
                release: session.reservation_id,
                ..SessionStep::new(session.id, now, &events)
            };
            match self.sessions.commit(step).await {
                Ok(()) => failed += 1,
                // It ended on its own meanwhile.
                Err(SessionError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(failed)
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
        let reviews = self.reviews.reviews(user_id, session_id).await?;
        Ok((session, invocations, reviews))
    }
}

/// An event about `session`, by its owner, now.
pub(crate) fn session_event(session: &AiSession, event: DomainEvent) -> EventEnvelope {
    EventEnvelope::new(
        AggregateType::AiSession,
        session.id,
        session.user_id,
        Utc::now(),
        event,
    )
}

/// `session` moves from executing to `to`.
fn status_event(session: &AiSession, to: SessionStatus, reason: Option<String>) -> EventEnvelope {
    session_event(
        session,
        DomainEvent::AiSessionStatusChanged {
            session_id: session.id,
            from: session.status,
            to,
            reason,
        },
    )
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

/// Why a session the server stopped under is failed.
const INTERRUPTED: &str = "interrupted: the server stopped while the band was playing";

/// `Ok` with `a`'s output if it finishes first, else `Err` with `b`'s (`a`
/// is then dropped). `a` is polled first on every wake.
async fn first_of<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> Result<A::Output, B::Output> {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    std::future::poll_fn(move |cx| {
        if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
            return std::task::Poll::Ready(Ok(v));
        }
        b.as_mut().poll(cx).map(Err)
    })
    .await
}

/// The human's decisions on a session, oldest first, as feedback for a
/// retry: each rejection's reason, each comment and each edit, cut to
/// `cap` bytes at a character boundary.
fn feedback_of(decisions: &[crate::reviews::InterventionPoint], cap: usize) -> String {
    use crate::reviews::InterventionType;
    let mut out = String::new();
    for d in decisions {
        let reason = d.reason.trim();
        match d.kind {
            InterventionType::Rejection if !reason.is_empty() => {
                out.push_str(&format!("Rejected: {reason}\n"));
            }
            InterventionType::Rejection => out.push_str("Rejected, with no reason given.\n"),
            InterventionType::Modification | InterventionType::Approval => {
                if !reason.is_empty() {
                    out.push_str(&format!("Comment: {reason}\n"));
                }
                for (role, text) in &d.context.modifications {
                    out.push_str(&format!(
                        "The human edited the {}'s output to:\n{}\n",
                        role.as_str(),
                        text.trim_end()
                    ));
                }
            }
        }
    }
    if out.len() > cap {
        let mut end = cap;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("\n[feedback cut]");
    }
    out.trim_end().to_owned()
}

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
