//! The in-process model behind the `AiProvider` port.
//!
//! The model loads once (on first use, or when the server warms it up at
//! start) and is shared by every user. Generations run on tokio's blocking
//! pool; at most `concurrency` run at once, and the calls that wait take
//! turns user by user ([`FairScheduler`]), at most `queue` per user —
//! beyond that that user's call is refused at once as busy (back-pressure,
//! which the resilience layer never counts against the breaker) rather than
//! piling up memory or delaying everyone else. A caller that gives up
//! (deadline, dropped request) leaves its line, or stops its generation at
//! the next token.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use domain::band::{
    AiProvider, AiRequest, Completion, DeltaSink, MessageRole, Provenance, ProviderError,
    ProviderKind, RateLimitStatus, StopReason, TokenUsage,
};
use tokio::sync::{OnceCell, mpsc};

use crate::outbound::ai::fair::FairScheduler;

use local_model::template::Role;
use local_model::{Engine, Finish, GenerateError, Generated, Prompt, file_name};

/// The provider's name in logs, breakers and provenance.
pub const NAME: &str = "local";

/// How long a refused ("busy") caller is told to wait.
const BUSY_RETRY: Duration = Duration::from_secs(2);

/// Where the model is and how hard it may work.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalModelConfig {
    pub path: PathBuf,
    /// Threads for one generation's matrix products.
    pub threads: usize,
    /// Most tokens (prompt + answer) one call may use.
    pub context: usize,
    /// Generations at once.
    pub concurrency: usize,
    /// Calls of one user that may wait for a free generation slot (the
    /// waiting lines of all users together hold at most this many times
    /// [`crate::outbound::ai::fair::GLOBAL_FACTOR`]).
    pub queue: usize,
    /// See [`Prompt::repeat_penalty`].
    pub repeat_penalty: f32,
}

/// The built-in local model.
pub struct LocalProvider {
    config: LocalModelConfig,
    /// The model file's name: the one model this provider runs.
    file_name: String,
    engine: OnceCell<Result<Arc<Engine>, String>>,
    /// The generation slots, taken in turns by user.
    slots: FairScheduler,
}

impl std::fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalProvider")
            .field("config", &self.config)
            .finish()
    }
}

/// Tells the generation to stop if the caller's future is dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl LocalProvider {
    pub fn new(config: LocalModelConfig) -> Self {
        Self {
            file_name: file_name(&config.path),
            slots: FairScheduler::new(config.concurrency.max(1), config.queue),
            engine: OnceCell::new(),
            config,
        }
    }

    /// The model, loading it on first use (on the blocking pool). A file
    /// that fails to load keeps failing with the same message: re-reading
    /// 100 MB on every call would not fix it.
    ///
    /// # Errors
    /// Why the model cannot be used.
    pub async fn engine(&self) -> Result<Arc<Engine>, ProviderError> {
        let loaded = self
            .engine
            .get_or_init(|| async {
                let c = self.config.clone();
                let started = Instant::now();
                let result = tokio::task::spawn_blocking(move || {
                    Engine::load(&c.path, c.threads, c.context)
                })
                .await;
                match result {
                    Ok(Ok(engine)) => {
                        tracing::info!(
                            model = %engine.version,
                            ms = started.elapsed().as_millis() as u64,
                            "local model loaded"
                        );
                        Ok(Arc::new(engine))
                    }
                    Ok(Err(e)) => {
                        tracing::error!(path = %self.config.path.display(), error = %e, "local model failed to load");
                        Err(format!("the local model cannot be loaded: {e}"))
                    }
                    Err(e) => Err(format!("the local model's loader stopped: {e}")),
                }
            })
            .await;
        match loaded {
            Ok(engine) => Ok(engine.clone()),
            Err(message) => Err(ProviderError::InvalidRequest(message.clone())),
        }
    }

    async fn generate(
        &self,
        request: &AiRequest,
        sink: Option<&dyn DeltaSink>,
    ) -> Result<Completion, ProviderError> {
        let started = Instant::now();
        // The place in line is taken before the model loads, so calls that
        // arrive during the load keep their order and their caps. Both
        // refusals (this user's line full, or all lines together) are busy:
        // the model is healthy, only behind, and a failure here would let
        // a flood open the breaker for every user.
        let ticket = self.slots.enter(request.tenant).map_err(|refused| {
            tracing::debug!(tenant = ?request.tenant, %refused, "local model busy");
            ProviderError::Busy {
                retry_after: Some(BUSY_RETRY),
            }
        })?;
        let engine = self.engine().await?;
        let version = engine.version.clone();
        let slot = ticket.await;
        let cancel = Arc::new(AtomicBool::new(false));
        let _stop = CancelOnDrop(cancel.clone());
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let owned = request.clone();
        let repeat_penalty = self.config.repeat_penalty;
        let job = tokio::task::spawn_blocking(move || {
            // The slot is held until the work is really over, even if the
            // caller went away: the next user's turn starts when this
            // generation has stopped, not before.
            let _held = slot;
            let prompt = prompt_of(&owned, repeat_penalty);
            engine.generate(&prompt, &cancel, &mut |piece| {
                // A closed channel means nobody listens any more; the
                // cancel flag stops the loop.
                let _ = tx.send(piece.to_owned());
            })
        });
        while let Some(piece) = rx.recv().await {
            if let Some(sink) = sink {
                sink.delta(&piece);
            }
        }
        let generated = job
            .await
            .map_err(|e| ProviderError::Server {
                status: 500,
                message: format!("the local model stopped: {e}"),
            })?
            .map_err(|e| match e {
                GenerateError::Context(full) => ProviderError::InvalidRequest(full.to_string()),
                GenerateError::Prompt(m) => ProviderError::InvalidRequest(m),
            })?;
        Ok(completion(request, version, generated, started))
    }
}

/// The engine's view of a request.
fn prompt_of(request: &AiRequest, repeat_penalty: f32) -> Prompt<'_> {
    Prompt {
        system: request.system.as_deref(),
        messages: request
            .messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    MessageRole::User => Role::User,
                    MessageRole::Assistant => Role::Assistant,
                };
                (role, m.content.as_str())
            })
            .collect(),
        temperature: request.temperature,
        max_tokens: request.max_tokens,
        seed: rand::random(),
        repeat_penalty,
    }
}

fn completion(
    request: &AiRequest,
    model_version: String,
    generated: Generated,
    started: Instant,
) -> Completion {
    Completion {
        content: generated.text,
        stop_reason: match generated.finish {
            Finish::Stop => StopReason::Complete,
            Finish::Length => StopReason::MaxTokens,
            Finish::Cancelled => StopReason::Other("cancelled".into()),
        },
        usage: TokenUsage {
            input: generated.prompt_tokens as u64,
            output: generated.output_tokens as u64,
            cached: 0,
        },
        latency_ms: started.elapsed().as_millis() as u64,
        provenance: Provenance {
            agent: ProviderKind::Local,
            provider: NAME.to_owned(),
            model_version,
            timestamp: Utc::now(),
            temperature: request.temperature,
            max_tokens: request.max_tokens,
        },
        mean_logprob: generated.mean_logprob,
    }
}

#[async_trait]
impl AiProvider for LocalProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Local
    }

    fn name(&self) -> &str {
        NAME
    }

    async fn complete(&self, request: &AiRequest) -> Result<Completion, ProviderError> {
        self.generate(request, None).await
    }

    async fn stream(
        &self,
        request: &AiRequest,
        sink: &dyn DeltaSink,
    ) -> Result<Completion, ProviderError> {
        self.generate(request, Some(sink)).await
    }

    async fn health(&self) -> Result<(), ProviderError> {
        self.engine().await.map(|_| ())
    }

    fn fixed_model(&self) -> Option<&str> {
        Some(&self.file_name)
    }

    /// A local model has no vendor limits; "busy" shows up as refusals.
    fn rate_limit_status(&self) -> RateLimitStatus {
        RateLimitStatus::default()
    }
}
