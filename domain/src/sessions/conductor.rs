//! The conductor use case (spec §3.1): run the band on a task.
//!
//! This file holds the conductor, its settings and errors, and the start
//! of a session: `start` checks ownership, binds each role to its fallback
//! chain from the user's preferences, sizes the token plan to the user's
//! tier, reserves the whole task's upper bound and stores the session with
//! its `AISessionStarted` event — unless the user already plays as many
//! sessions as the tier allows. The job then goes to the runner, which
//! plays it (`play.rs`: first round, scoring, gate, synthesis). Retry,
//! cancel and the sweep for abandoned sessions are in `lifecycle.rs`; the
//! synthesis an approval sets going in `continuation.rs`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::plan::TokenPlan;
use super::prompts::PromptContext;
use super::runner::RunControl;
use super::{AiSession, Intent, Lineup, SessionError, SessionRepository, SessionStatus};
use crate::accounts::{AccountError, AccountService, Tone};
use crate::band::{AgentRole, Band, ChainLink, ProviderKind, Sleeper};
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
    /// The project's repository cannot be read as linked (its base branch
    /// is gone, say).
    #[error("{0}")]
    Repository(String),
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
    /// The repository block of every prompt (empty: no repository).
    pub(super) code: String,
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

impl JobContext {
    /// What every prompt of a run on this context is about.
    pub(super) fn prompt<'a>(
        &'a self,
        intent: &'a Intent,
        feedback: &'a str,
        code: &'a str,
    ) -> PromptContext<'a> {
        PromptContext {
            project_name: &self.project.name,
            task_title: &self.task.title,
            task_description: &self.task.description,
            intent,
            tone: self.tone,
            feedback,
            code,
        }
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
    /// A job for `session` over what [`Conductor::context`] found.
    pub(super) fn new(
        session: AiSession,
        reservation: Reservation,
        plan: TokenPlan,
        context: JobContext,
        synthesis_inputs: Option<Vec<(AgentRole, String)>>,
        feedback: String,
        code: String,
    ) -> Self {
        Self {
            control: Arc::new(RunControl::new(
                session.id,
                session.task_id,
                session.user_id,
            )),
            session,
            reservation,
            plan,
            project_name: context.project.name,
            task_title: context.task.title,
            task_description: context.task.description,
            tone: context.tone,
            threshold: context.threshold,
            chains: context.chains,
            synthesis_inputs,
            feedback,
            code,
        }
    }

    pub(super) fn ctx(&self) -> PromptContext<'_> {
        PromptContext {
            project_name: &self.project_name,
            task_title: &self.task_title,
            task_description: &self.task_description,
            intent: &self.session.intent,
            tone: self.tone,
            feedback: &self.feedback,
            code: &self.code,
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
    pub(super) fn of(&self, role: AgentRole) -> &[ChainLink] {
        match role {
            AgentRole::Coder => &self.coder,
            AgentRole::Designer => &self.designer,
            AgentRole::Reviewer => &self.reviewer,
            AgentRole::Conductor | AgentRole::Pm => &self.conductor,
        }
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
    /// The projects' repositories, which a session reads its context from
    /// (none: the band sees only the task).
    pub code: Option<crate::repos::RepositoryService>,
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
    pub(super) async fn begin(
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
        let context = self.context(user_id, task_id, lineup).await?;
        let (retry_of, feedback) = retry.map_or((None, String::new()), |(id, f)| (Some(id), f));
        let (project_id, task_id) = (context.project.id, context.task.id);

        let session_id = Uuid::new_v4();
        let budget = self.budgets.current(user_id).await?;
        let code = self
            .code_context(user_id, &context, &intent, budget.max_session_tokens)
            .await?;
        let code_text = code
            .as_ref()
            .map(super::prompts::code_block)
            .unwrap_or_default();
        let plan = TokenPlan::fit(
            &context.prompt(&intent, &feedback, &code_text),
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
            project_id,
            task_id: Some(task_id),
            user_id,
            conductor: context.conductor,
            status: SessionStatus::Executing,
            intent: intent.clone(),
            total_tokens_used: 0,
            reservation_id: Some(reservation.id),
            failure: None,
            resumed_at: None,
            retry_of,
            code: code.as_ref().map(crate::repos::CodeContext::provenance),
            change: None,
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
                project_id,
                task_id: Some(task_id),
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
            job: SessionJob::new(
                session.clone(),
                reservation,
                plan,
                context,
                None,
                feedback,
                code_text,
            ),
            session,
            estimated_completion_seconds,
        })
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
pub(super) fn status_event(
    session: &AiSession,
    to: SessionStatus,
    reason: Option<String>,
) -> EventEnvelope {
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
