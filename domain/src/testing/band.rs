//! A scripted band and a wired conductor over the in-memory store, for the
//! conductor's and the review workflow's unit tests.
//!
//! Providers answer by role, read from the system prompt (as the server's
//! `band_rig` does), and report the most tokens a real call could use —
//! the whole prompt at one token per byte plus `max_tokens` — so budget
//! assertions are worst-case.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use uuid::Uuid;

use super::Memory;
use super::store::Store;
use crate::accounts::{
    AccountService, AiPreferences, PasswordHash, SignInThrottle, SubscriptionTier, User,
};
use crate::band::{
    AgentRole, AiProvider, AiRequest, Band, BreakerSettings, Completion, DeltaSink, ModelLock,
    Provenance, ProviderError, ProviderKind, RateLimitStatus, Resilience, RetryPolicy, Sleeper,
    StopReason, TokenUsage,
};
use crate::budgets::BudgetService;
use crate::events::EventEnvelope;
use crate::projects::{NewProject, ProjectService};
use crate::reviews::ReviewService;
use crate::sessions::{
    Conductor, ConductorSettings, Intent, IntentAction, LiveRun, RunControl, SessionJob,
    SessionRunner,
};
use crate::tasks::{NewTask, TaskService};

pub const CODER_OK: &str = "```rust src/login.rs\npub fn login(email: &str) -> bool { !email.is_empty() }\n```\nConfidence: 1.0";
pub const REVIEW_OK: &str = "Verdict: approve\nIssues:\n- none\nConfidence: 1.0";
pub const DESIGN_OK: &str = "A centred card with labelled email and password fields and one submit button.\nConfidence: 1.0";
pub const SYNTH_OK: &str = "Use src/login.rs from the coder inside the designer's centred card with labelled fields.\nConfidence: 0.9";
/// A coder answer the gate stops.
pub const CODER_UNSURE: &str = "fn login() { todo!() }\nConfidence: 0.3";

pub fn good_answer(role: AgentRole) -> &'static str {
    match role {
        AgentRole::Coder => CODER_OK,
        AgentRole::Reviewer => REVIEW_OK,
        AgentRole::Designer => DESIGN_OK,
        AgentRole::Conductor | AgentRole::Pm => SYNTH_OK,
    }
}

/// What a scripted provider does for one call.
#[derive(Clone)]
pub enum Step {
    Answer(&'static str),
    Fail(ProviderError),
    /// Never answers (until its future is dropped).
    Hang,
}

type Script = dyn Fn(AgentRole) -> Step + Send + Sync;

/// One call a scripted provider received.
#[derive(Debug, Clone)]
pub struct Call {
    pub role: AgentRole,
    /// The user message(s): the task, the feedback, earlier outputs.
    pub prompt: String,
}

pub struct Scripted {
    pub kind: ProviderKind,
    script: Box<Script>,
    pub calls: Mutex<Vec<Call>>,
    /// Hanging calls whose future was dropped (cut by a halt or deadline).
    pub dropped: Arc<AtomicUsize>,
    /// Hanging calls in flight: a test halts once they are.
    pub hanging: AtomicUsize,
}

/// Counts a hanging call's future dropped.
struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Scripted {
    pub fn new(
        kind: ProviderKind,
        script: impl Fn(AgentRole) -> Step + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            kind,
            script: Box::new(script),
            calls: Mutex::new(Vec::new()),
            dropped: Arc::default(),
            hanging: AtomicUsize::new(0),
        })
    }

    /// Answers every role well.
    pub fn good(kind: ProviderKind) -> Arc<Self> {
        Self::new(kind, |role| Step::Answer(good_answer(role)))
    }

    pub fn roles(&self) -> Vec<AgentRole> {
        self.calls.lock().unwrap().iter().map(|c| c.role).collect()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

pub fn role_of(request: &AiRequest) -> AgentRole {
    let system = request.system.as_deref().unwrap_or_default();
    [
        ("You are the coder", AgentRole::Coder),
        ("You are the reviewer", AgentRole::Reviewer),
        ("You are the designer", AgentRole::Designer),
        ("You are the conductor", AgentRole::Conductor),
    ]
    .into_iter()
    .find(|(needle, _)| system.contains(needle))
    .map(|(_, role)| role)
    .expect("a band system prompt")
}

/// The most a real call could be charged.
pub fn worst_case_usage(request: &AiRequest) -> TokenUsage {
    let prompt: usize = request.system.as_deref().map_or(0, str::len)
        + request
            .messages
            .iter()
            .map(|m| m.content.len())
            .sum::<usize>();
    TokenUsage {
        input: prompt as u64,
        output: u64::from(request.max_tokens),
        cached: 0,
    }
}

#[async_trait]
impl AiProvider for Scripted {
    fn kind(&self) -> ProviderKind {
        self.kind
    }

    fn name(&self) -> &str {
        self.kind.as_str()
    }

    async fn complete(&self, request: &AiRequest) -> Result<Completion, ProviderError> {
        let role = role_of(request);
        self.calls.lock().unwrap().push(Call {
            role,
            prompt: request
                .messages
                .iter()
                .map(|m| m.content.as_str())
                .collect(),
        });
        match (self.script)(role) {
            Step::Answer(text) => Ok(Completion {
                content: text.to_owned(),
                stop_reason: StopReason::Complete,
                usage: worst_case_usage(request),
                latency_ms: 1,
                provenance: Provenance {
                    agent: self.kind,
                    provider: self.kind.as_str().to_owned(),
                    model_version: request.model.clone(),
                    timestamp: Utc::now(),
                    temperature: request.temperature,
                    max_tokens: request.max_tokens,
                },
                mean_logprob: None,
            }),
            Step::Fail(e) => Err(e),
            Step::Hang => {
                let _counted = CountDrop(self.dropped.clone());
                self.hanging.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
                Err(ProviderError::Timeout)
            }
        }
    }

    async fn stream(
        &self,
        request: &AiRequest,
        sink: &dyn DeltaSink,
    ) -> Result<Completion, ProviderError> {
        let completion = self.complete(request).await?;
        sink.delta(&completion.content);
        Ok(completion)
    }

    async fn health(&self) -> Result<(), ProviderError> {
        Ok(())
    }

    fn rate_limit_status(&self) -> RateLimitStatus {
        RateLimitStatus::default()
    }
}

/// Retries without waiting: the retry policy is tested elsewhere.
pub struct NoWait;

#[async_trait]
impl Sleeper for NoWait {
    async fn sleep(&self, _: Duration) {}
}

/// Real waits, for the agents' deadlines (a sleeper that did not wait
/// would cut every call at once).
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    async fn yield_now(&self) {
        tokio::task::yield_now().await;
    }
}

/// Plays jobs on tokio and keeps their controls, as the server's runner
/// does, so a cancel can find and halt a live run.
#[derive(Default)]
pub struct Runner {
    conductor: Mutex<Option<Conductor>>,
    runs: Arc<Mutex<HashMap<Uuid, Arc<RunControl>>>>,
    handles: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Runner {
    pub fn new(conductor: Conductor) -> Arc<Self> {
        Arc::new(Self {
            conductor: Mutex::new(Some(conductor)),
            ..Self::default()
        })
    }

    /// Waits for every launched run to end.
    pub async fn drain(&self) {
        let handles: Vec<_> = std::mem::take(&mut *self.handles.lock().unwrap());
        for h in handles {
            h.await.unwrap();
        }
    }
}

#[async_trait]
impl SessionRunner for Runner {
    fn launch(&self, job: SessionJob) {
        let conductor = self.conductor.lock().unwrap().clone().unwrap();
        let control = job.control();
        let id = job.session_id();
        self.runs.lock().unwrap().insert(id, control.clone());
        let runs = self.runs.clone();
        let handle = tokio::spawn(async move {
            let _ = conductor.run(job).await;
            runs.lock().unwrap().remove(&id);
            control.end();
        });
        self.handles.lock().unwrap().push(handle);
    }

    fn live(&self, user_id: Option<Uuid>) -> Vec<LiveRun> {
        self.runs
            .lock()
            .unwrap()
            .values()
            .map(|c| c.snapshot())
            .filter(|r| user_id.is_none_or(|u| u == r.user_id))
            .collect()
    }

    fn control(&self, session_id: Uuid) -> Option<Arc<RunControl>> {
        self.runs.lock().unwrap().get(&session_id).cloned()
    }

    async fn shutdown(&self, _grace: Duration) -> usize {
        0
    }
}

/// A conductor and review workflow over the in-memory store, with a user
/// (free tier), a project and a task.
pub struct Rig {
    pub memory: Arc<Memory>,
    pub store: Arc<Store>,
    pub conductor: Conductor,
    pub reviews: ReviewService,
    pub user: Uuid,
    pub task: Uuid,
}

impl Rig {
    /// Hands every session and review event stored so far to the
    /// task-progress reaction, in order — again each time (the reaction
    /// is idempotent, and that is tested this way too).
    pub async fn react_progress(&self) {
        let events = self.store.state.lock().unwrap().events.clone();
        self.react_progress_to(&events).await;
    }

    /// Hands `events` to the task-progress reaction in the order given.
    pub async fn react_progress_to(&self, events: &[EventEnvelope]) {
        use crate::events::{Reaction, StoredEvent};
        let reaction =
            crate::progress::TaskProgressReaction::new(self.store.clone(), self.memory.clone());
        for (sequence, envelope) in (1..).zip(events) {
            if reaction.wants(&envelope.event) {
                let stored = StoredEvent {
                    sequence,
                    project_id: None,
                    request_id: None,
                    envelope: envelope.clone(),
                };
                reaction.handle(&stored).await.unwrap();
            }
        }
    }

    /// The task as stored now.
    pub fn task(&self) -> crate::tasks::Task {
        self.memory.tasks.lock().unwrap()[&self.task].clone()
    }
}

pub async fn rig(providers: Vec<Arc<Scripted>>) -> Rig {
    rig_with(providers, AiPreferences::default()).await
}

pub async fn rig_with(providers: Vec<Arc<Scripted>>, preferences: AiPreferences) -> Rig {
    let providers = providers
        .into_iter()
        .map(|p| p as Arc<dyn AiProvider>)
        .collect();
    rig_of(providers, preferences).await
}

/// As [`rig_with`], for providers of any kind.
pub async fn rig_of(providers: Vec<Arc<dyn AiProvider>>, preferences: AiPreferences) -> Rig {
    let memory = Arc::new(Memory::default());
    let store = Store::new();
    let user = User {
        id: Uuid::new_v4(),
        email: "conductor@example.com".into(),
        name: Some("Conductor".into()),
        subscription_tier: SubscriptionTier::Free,
        ai_preferences: preferences,
        created_at: Utc::now(),
    };
    memory.users.lock().unwrap().insert(
        user.email.clone(),
        (user.clone(), PasswordHash::new("plain:unused".into())),
    );
    store.open_budget(user.id, SubscriptionTier::Free);
    let projects = ProjectService::new(memory.clone());
    let tasks = TaskService::new(memory.clone(), memory.clone());
    let project = projects
        .create(
            user.id,
            NewProject {
                name: "Blue Bebop".into(),
                description: None,
            },
        )
        .await
        .unwrap();
    let task = tasks
        .create(
            user.id,
            project.id,
            NewTask {
                title: "Login form".into(),
                description: Some("Email and password, accessible.".into()),
                status: None,
            },
        )
        .await
        .unwrap();
    let resilience = Resilience::new(
        RetryPolicy::default(),
        BreakerSettings::default(),
        Arc::new(NoWait),
        Arc::new(|| 0.5),
    );
    let band = Band::new(providers, ModelLock::default(), Arc::new(resilience));
    let conductor = Conductor {
        sessions: store.clone(),
        reviews: store.clone(),
        accounts: AccountService::new(
            memory.clone(),
            Arc::new(super::PlainHasher),
            Arc::new(SignInThrottle::default()),
        ),
        projects,
        tasks,
        budgets: BudgetService::new(store.clone()),
        band,
        sleeper: Arc::new(TokioSleeper),
        live: None,
        code: None,
        settings: ConductorSettings {
            agent_timeout: Duration::from_secs(5),
            ..ConductorSettings::default()
        },
    };
    Rig {
        reviews: ReviewService::new(conductor.clone()),
        conductor,
        memory,
        store,
        user: user.id,
        task: task.id,
    }
}

pub fn intent() -> Intent {
    Intent::new(
        IntentAction::GenerateCode,
        "Use the existing session cookie.",
        &["Accessible".into()],
    )
    .unwrap()
}
