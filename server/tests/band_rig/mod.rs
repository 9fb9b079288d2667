//! The scripted band shared by the conductor and review-workflow tests:
//! providers that answer by role (read from the system prompt) and report
//! the most tokens a real call could use (its whole prompt, one token per
//! byte, plus `max_tokens`), so budget assertions are worst-case; and a rig
//! with a signed-up user, a project and a task over the real database.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::common::{Client, TestApp};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use domain::band::{
    AgentRole, AiProvider, AiRequest, Band, BreakerSettings, Completion, DeltaSink, ModelLock,
    Provenance, ProviderError, ProviderKind, RateLimitStatus, Resilience, RetryPolicy, Sleeper,
    StopReason, TokenUsage,
};
use domain::reviews::ReviewService;
use domain::sessions::{
    AgentInvocation, AiSession, Conductor, ConductorSettings, Intent, IntentAction, ReviewRequest,
    SessionStatus,
};
use server::outbound::ai::TokioSleeper;
use server::outbound::db::{SeaOrmReviewStore, SeaOrmSessionRepository, read_events};
use uuid::Uuid;

pub const CODER_OK: &str = "```rust src/login.rs\npub fn login(email: &str) -> bool { !email.is_empty() }\n```\nConfidence: 1.0";
pub const REVIEW_OK: &str = "Verdict: approve\nIssues:\n- none\nConfidence: 1.0";
pub const DESIGN_OK: &str = "A centred card with labelled email and password fields and one submit button.\nConfidence: 1.0";
pub const SYNTH_OK: &str = "Use src/login.rs from the coder inside the designer's centred card with labelled fields.\nConfidence: 0.9";

/// What a scripted provider does for one call.
#[derive(Clone)]
pub enum Step {
    Answer(&'static str),
    Fail(ProviderError),
    /// The stream breaks after the provider has charged a whole call.
    Cut,
    /// Never answers.
    Hang,
}

pub type Script = dyn Fn(AgentRole) -> Step + Send + Sync;

pub struct Scripted {
    pub kind: ProviderKind,
    pub script: Box<Script>,
    pub calls: Mutex<Vec<AgentRole>>,
    /// Hanging calls whose future was dropped (cut by a halt or deadline).
    pub dropped: Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts a hanging call's future dropped.
struct CountDrop(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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
        })
    }

    /// Answers every role well.
    pub fn good(kind: ProviderKind) -> Arc<Self> {
        Self::new(kind, |role| Step::Answer(good_answer(role)))
    }

    pub fn calls(&self) -> Vec<AgentRole> {
        self.calls.lock().unwrap().clone()
    }
}

pub fn good_answer(role: AgentRole) -> &'static str {
    match role {
        AgentRole::Coder => CODER_OK,
        AgentRole::Reviewer => REVIEW_OK,
        AgentRole::Designer => DESIGN_OK,
        _ => SYNTH_OK,
    }
}

/// A good answer padded past any passthrough slot.
pub fn long_answer(role: AgentRole) -> &'static str {
    let text = format!("{}\n// {}", good_answer(role), "padding ".repeat(2_000));
    Box::leak(text.into_boxed_str())
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
        self.calls.lock().unwrap().push(role);
        let usage = worst_case_usage(request);
        match (self.script)(role) {
            Step::Answer(text) => Ok(Completion {
                content: text.to_owned(),
                stop_reason: StopReason::Complete,
                usage,
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
            Step::Cut => Err(ProviderError::StreamInterrupted {
                reason: "connection reset".into(),
                partial: "```rust src/lo".into(),
                usage,
            }),
            Step::Hang => {
                let _counted = CountDrop(self.dropped.clone());
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Err(ProviderError::Timeout)
            }
        }
    }

    async fn stream(
        &self,
        request: &AiRequest,
        sink: &dyn DeltaSink,
    ) -> Result<Completion, ProviderError> {
        // Streams its answer in three pieces, as a vendor would in deltas.
        let completion = self.complete(request).await?;
        let text = &completion.content;
        let cuts = [0, text.len() / 3, 2 * text.len() / 3, text.len()].map(|i| {
            (i..=text.len())
                .find(|j| text.is_char_boundary(*j))
                .unwrap_or(text.len())
        });
        for w in cuts.windows(2) {
            sink.delta(&text[w[0]..w[1]]);
        }
        Ok(completion)
    }

    async fn health(&self) -> Result<(), ProviderError> {
        Ok(())
    }

    fn rate_limit_status(&self) -> RateLimitStatus {
        RateLimitStatus::default()
    }
}

/// Retries without waiting: the policy is tested elsewhere.
pub struct NoWait;

#[async_trait]
impl Sleeper for NoWait {
    async fn sleep(&self, _: Duration) {}
}

pub struct Rig {
    pub app: TestApp,
    /// Signed in as `user`.
    pub client: Client,
    pub conductor: Conductor,
    /// The review workflow over the same conductor.
    pub reviews: ReviewService,
    pub user: Uuid,
    pub task: Uuid,
}

pub async fn rig(url: &str, providers: Vec<Arc<Scripted>>) -> Rig {
    let app = TestApp::new(url).await;
    let mut c = app.client();
    let user = c.sign_up("conductor@example.com").await;
    let project = c.create_project("Blue Bebop").await;
    let task = c
        .create_task(
            project["id"].as_str().unwrap(),
            "Login form",
            "Email and password, accessible.",
        )
        .await;
    let resilience = Resilience::new(
        RetryPolicy::default(),
        BreakerSettings::default(),
        Arc::new(NoWait),
        Arc::new(|| 0.5),
    );
    let band = Band::new(
        providers
            .into_iter()
            .map(|p| p as Arc<dyn AiProvider>)
            .collect(),
        ModelLock::default(),
        Arc::new(resilience),
    );
    let s = &app.services;
    let conductor = Conductor {
        sessions: Arc::new(SeaOrmSessionRepository::new(app.db.clone())),
        reviews: Arc::new(SeaOrmReviewStore::new(app.db.clone())),
        accounts: s.accounts.clone(),
        projects: s.projects.clone(),
        tasks: s.tasks.clone(),
        budgets: s.budgets.clone(),
        band,
        sleeper: Arc::new(TokioSleeper),
        live: None,
        code: None,
        settings: ConductorSettings {
            agent_timeout: Duration::from_secs(2),
            ..ConductorSettings::default()
        },
    };
    Rig {
        user: Uuid::parse_str(user["id"].as_str().unwrap()).unwrap(),
        task: Uuid::parse_str(task["id"].as_str().unwrap()).unwrap(),
        reviews: ReviewService::new(conductor.clone()),
        conductor,
        client: c,
        app,
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

pub struct Played {
    pub status: SessionStatus,
    pub session: AiSession,
    pub calls: Vec<AgentInvocation>,
    pub reviews: Vec<ReviewRequest>,
    pub reserved: i64,
}

impl Played {
    pub fn call(&self, role: AgentRole) -> &AgentInvocation {
        self.calls
            .iter()
            .find(|c| c.role == role)
            .unwrap_or_else(|| panic!("no {role:?} invocation"))
    }

    pub fn has(&self, role: AgentRole) -> bool {
        self.calls.iter().any(|c| c.role == role)
    }
}

/// Starts and runs one session to its end.
pub async fn play(rig: &Rig) -> Played {
    let started = rig
        .conductor
        .start(rig.user, rig.task, intent())
        .await
        .unwrap();
    assert_eq!(started.session.status, SessionStatus::Executing);
    let reserved = rig
        .app
        .services
        .budgets
        .current(rig.user)
        .await
        .unwrap()
        .reserved_tokens;
    assert!(reserved > 0, "the whole task is reserved before fan-out");
    let status = rig.conductor.run(started.job).await.unwrap();
    let (session, calls, reviews) = rig
        .conductor
        .session(rig.user, started.session.id)
        .await
        .unwrap();
    assert_eq!(session.status, status);
    Played {
        status,
        session,
        calls,
        reviews,
        reserved,
    }
}

/// The ledger after a session: nothing still reserved, and exactly the
/// invocations' tokens used — never more than was reserved.
pub async fn assert_ledger_settled(rig: &Rig, played: &Played) {
    let budget = rig.app.services.budgets.current(rig.user).await.unwrap();
    let charged: i64 = played.calls.iter().map(|c| c.tokens_used).sum();
    assert_eq!(budget.reserved_tokens, 0, "the remainder was released");
    assert_eq!(budget.used_this_month, charged);
    assert_eq!(played.session.total_tokens_used, charged);
    assert!(
        charged <= played.reserved,
        "spent {charged} of a {} reservation",
        played.reserved
    );
}

pub async fn event_types(rig: &Rig, session: Uuid) -> Vec<String> {
    read_events(&rig.app.db, rig.user)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.aggregate_id == session)
        .map(|e| e.event_type)
        .collect()
}

/// Lets the rig's user play several sessions at once (the team tier's ten,
/// spec §6.2) while the budget keeps the free tier's token limits, which
/// the budget assertions count on.
pub async fn several_at_once(rig: &Rig) {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
    rig.app.services.budgets.current(rig.user).await.unwrap();
    entity::token_budgets::Entity::update_many()
        .col_expr(entity::token_budgets::Column::Tier, Expr::value("team"))
        .filter(entity::token_budgets::Column::UserId.eq(rig.user))
        .exec(&rig.app.db)
        .await
        .unwrap();
}
