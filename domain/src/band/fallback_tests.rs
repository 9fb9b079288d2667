use std::collections::VecDeque;

use chrono::Utc;

use super::*;
use crate::band::{ChatMessage, Provenance, ProviderKind, RateLimitStatus, StopReason};

/// A provider that plays back scripted results and records the models asked for.
struct Scripted {
    name: &'static str,
    script: Mutex<VecDeque<Result<&'static str, ProviderError>>>,
    /// Deltas sent before a scripted `StreamInterrupted`.
    partial: &'static str,
    models: Mutex<Vec<String>>,
}

impl Scripted {
    fn new(name: &'static str, script: Vec<Result<&'static str, ProviderError>>) -> Arc<Self> {
        Arc::new(Self {
            name,
            script: Mutex::new(script.into()),
            partial: "",
            models: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> usize {
        self.models.lock().unwrap().len()
    }

    fn next(&self, request: &AiRequest) -> Result<Completion, ProviderError> {
        self.models.lock().unwrap().push(request.model.clone());
        let step = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Err(ProviderError::Timeout));
        step.map(|text| Completion {
            content: text.to_owned(),
            stop_reason: StopReason::Complete,
            usage: TokenUsage {
                input: 10,
                output: 5,
                cached: 0,
            },
            latency_ms: 3,
            provenance: Provenance {
                agent: ProviderKind::Claude,
                provider: self.name.to_owned(),
                model_version: request.model.clone(),
                timestamp: Utc::now(),
                temperature: request.temperature,
                max_tokens: request.max_tokens,
            },
            mean_logprob: None,
        })
    }
}

#[async_trait]
impl AiProvider for Scripted {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Claude
    }
    fn name(&self) -> &str {
        self.name
    }
    async fn complete(&self, request: &AiRequest) -> Result<Completion, ProviderError> {
        self.next(request)
    }
    async fn stream(
        &self,
        request: &AiRequest,
        sink: &dyn DeltaSink,
    ) -> Result<Completion, ProviderError> {
        let result = self.next(request);
        match &result {
            Ok(c) => sink.delta(&c.content),
            Err(ProviderError::StreamInterrupted { .. }) if !self.partial.is_empty() => {
                sink.delta(self.partial)
            }
            Err(_) => {}
        }
        result
    }
    async fn health(&self) -> Result<(), ProviderError> {
        Ok(())
    }
    fn rate_limit_status(&self) -> RateLimitStatus {
        RateLimitStatus::default()
    }
}

#[derive(Default)]
struct RecordingSleeper(Mutex<Vec<Duration>>);

#[async_trait]
impl Sleeper for RecordingSleeper {
    async fn sleep(&self, duration: Duration) {
        self.0.lock().unwrap().push(duration);
    }
}

#[derive(Default)]
struct Viewer {
    text: Mutex<String>,
    restarts: Mutex<Vec<String>>,
}

impl DeltaSink for Viewer {
    fn delta(&self, text: &str) {
        self.text.lock().unwrap().push_str(text);
    }
    fn restart(&self, reason: &str) {
        self.text.lock().unwrap().clear();
        self.restarts.lock().unwrap().push(reason.to_owned());
    }
}

fn resilience(threshold: u32) -> (Resilience, Arc<RecordingSleeper>) {
    let sleeper = Arc::new(RecordingSleeper::default());
    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(10),
        jitter: false,
    };
    let breaker = BreakerSettings {
        failure_threshold: threshold,
        cool_down: Duration::from_secs(60),
        half_open_max_calls: 1,
    };
    (
        Resilience::new(policy, breaker, sleeper.clone(), Arc::new(|| 0.5)),
        sleeper,
    )
}

fn link(p: &Arc<Scripted>, model: &str) -> ChainLink {
    ChainLink {
        provider: p.clone(),
        model: model.to_owned(),
    }
}

fn request() -> AiRequest {
    AiRequest {
        model: "overridden".into(),
        system: None,
        messages: vec![ChatMessage::user("hi")],
        temperature: 0.2,
        max_tokens: 100,
        tenant: None,
    }
}

fn busy() -> ProviderError {
    ProviderError::Busy {
        retry_after: Some(Duration::from_secs(2)),
    }
}

#[tokio::test]
async fn first_link_answers_with_its_locked_model() {
    let (r, sleeper) = resilience(5);
    let claude = Scripted::new("anthropic", vec![Ok("done")]);
    let out = r.call(&[link(&claude, "claude-x")], &request(), None).await;
    assert_eq!(out.result.unwrap().content, "done");
    assert_eq!(out.attempts.len(), 1);
    assert_eq!(*claude.models.lock().unwrap(), ["claude-x"]);
    assert!(sleeper.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_providers_wait() {
    let (r, sleeper) = resilience(5);
    let claude = Scripted::new(
        "anthropic",
        vec![
            Err(ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(2)),
            }),
            Ok("second time lucky"),
        ],
    );
    let out = r.call(&[link(&claude, "m")], &request(), None).await;
    assert_eq!(out.result.unwrap().content, "second time lucky");
    assert_eq!(out.attempts.len(), 2);
    assert!(
        out.attempts[0]
            .error
            .as_deref()
            .unwrap()
            .contains("rate limited")
    );
    assert_eq!(
        *sleeper.0.lock().unwrap(),
        [Duration::from_secs(2)],
        "never sooner than asked"
    );
}

#[tokio::test]
async fn a_stream_cut_midway_fails_over_and_keeps_both_attempts() {
    let (r, sleeper) = resilience(5);
    let claude = Arc::new(Scripted {
        partial: "Hello, I am half",
        ..Arc::into_inner(Scripted::new(
            "anthropic",
            vec![Err(ProviderError::StreamInterrupted {
                reason: "connection reset".into(),
                partial: "Hello, I am half".into(),
                usage: TokenUsage {
                    input: 30,
                    output: 4,
                    cached: 0,
                },
            })],
        ))
        .unwrap()
    });
    let gpt = Scripted::new("openai", vec![Ok("A whole answer")]);
    let viewer = Viewer::default();
    let out = r
        .call(
            &[link(&claude, "c"), link(&gpt, "g")],
            &request(),
            Some(&viewer),
        )
        .await;
    assert_eq!(out.result.unwrap().content, "A whole answer");
    assert_eq!(out.attempts.len(), 2);
    assert_eq!(
        out.attempts[0].usage.output, 4,
        "the broken attempt's real usage is kept"
    );
    assert_eq!(out.attempts[1].provider, "openai");
    assert_eq!(
        *viewer.text.lock().unwrap(),
        "A whole answer",
        "no spliced half-answer"
    );
    assert_eq!(viewer.restarts.lock().unwrap().len(), 1);
    assert!(
        sleeper.0.lock().unwrap().is_empty(),
        "a broken stream fails over at once"
    );
    assert_eq!(claude.calls(), 1);
}

#[tokio::test]
async fn refused_credentials_fail_over_without_retrying() {
    let (r, _) = resilience(5);
    let claude = Scripted::new("anthropic", vec![Err(ProviderError::Unauthorized)]);
    let local = Scripted::new("ollama", vec![Ok("local answer")]);
    let out = r
        .call(&[link(&claude, "c"), link(&local, "l")], &request(), None)
        .await;
    assert_eq!(out.result.unwrap().content, "local answer");
    assert_eq!(claude.calls(), 1);
}

#[tokio::test]
async fn when_everything_fails_the_last_error_and_all_attempts_are_reported() {
    let (r, sleeper) = resilience(50);
    let claude = Scripted::new(
        "anthropic",
        vec![
            Err(ProviderError::Overloaded { retry_after: None }),
            Err(ProviderError::Overloaded { retry_after: None }),
            Err(ProviderError::Overloaded { retry_after: None }),
        ],
    );
    let gpt = Scripted::new(
        "openai",
        vec![Err(ProviderError::Server {
            status: 500,
            message: "boom".into(),
        })],
    );
    let out = r
        .call(&[link(&claude, "c"), link(&gpt, "g")], &request(), None)
        .await;
    // Overloaded: 3 tries with backoff 100 ms, 200 ms; then the 500 is retried too.
    assert_eq!(claude.calls(), 3);
    assert!(matches!(
        out.result,
        Err(ProviderError::Timeout) | Err(ProviderError::Server { .. })
    ));
    assert!(out.attempts.len() >= 4);
    assert_eq!(
        sleeper.0.lock().unwrap()[..2],
        [Duration::from_millis(100), Duration::from_millis(200)]
    );
    assert!(out.attempts.iter().all(|a| a.error.is_some()));
}

#[tokio::test]
async fn an_open_circuit_skips_the_provider_until_reset() {
    let (r, _) = resilience(1);
    let claude = Scripted::new("anthropic", vec![Err(ProviderError::Unauthorized)]);
    let gpt = Scripted::new("openai", vec![Ok("one"), Ok("two"), Ok("three")]);
    let chain = [link(&claude, "c"), link(&gpt, "g")];
    assert!(r.call(&chain, &request(), None).await.result.is_ok());
    // The breaker opened on the first failure: Claude is not called again.
    let out = r.call(&chain, &request(), None).await;
    assert_eq!(out.result.unwrap().content, "two");
    assert_eq!(claude.calls(), 1);
    assert!(
        out.attempts[0]
            .error
            .as_deref()
            .unwrap()
            .contains("circuit open")
    );
    let snapshot = r.snapshot();
    assert_eq!(snapshot[0].0, "anthropic");
    assert_eq!(snapshot[0].1.state, "open");
    assert!(snapshot[0].1.last_error.is_some());
    r.reset("anthropic");
    let _ = r.call(&chain, &request(), None).await;
    assert_eq!(
        claude.calls(),
        2,
        "after a manual reset the provider is tried again"
    );
}

#[tokio::test]
async fn an_empty_chain_says_so() {
    let (r, _) = resilience(5);
    let out = r.call(&[], &request(), None).await;
    assert!(matches!(out.result, Err(ProviderError::Unreachable(_))));
    assert!(out.attempts.is_empty());
}

#[tokio::test]
async fn a_busy_provider_never_opens_its_breaker() {
    // One user's flood keeps the shared model answering busy: with a
    // threshold of 2, eight calls of three busy attempts each would have
    // opened the breaker for everyone many times over.
    let (r, sleeper) = resilience(2);
    let local = Scripted::new("local", (0..24).map(|_| Err(busy())).collect());
    let chain = [link(&local, "l")];
    for _ in 0..8 {
        let out = r.call(&chain, &request(), None).await;
        assert_eq!(out.result.unwrap_err(), busy());
        assert_eq!(out.attempts.len(), 3, "retried within the policy");
    }
    assert_eq!(local.calls(), 24, "never skipped as an open circuit");
    let snapshot = r.snapshot();
    assert_eq!(snapshot[0].1.state, "closed");
    assert_eq!(snapshot[0].1.consecutive_failures, 0);
    assert_eq!(snapshot[0].1.last_error, None);
    // On the last link it waits as long as the provider asked.
    assert!(
        sleeper
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|d| *d == Duration::from_secs(2))
    );
    // Another user's call (the provider has room for it) goes through the
    // same breaker, which has not opened.
    let local = Scripted::new("local", vec![Ok("yours")]);
    let out = r.call(&[link(&local, "l")], &request(), None).await;
    assert_eq!(out.result.unwrap().content, "yours");
}

#[tokio::test]
async fn a_busy_provider_fails_over_at_once_to_the_next_link() {
    let (r, sleeper) = resilience(1);
    let local = Scripted::new("local", vec![Err(busy()), Err(busy())]);
    let gpt = Scripted::new("openai", vec![Ok("from gpt"), Ok("again")]);
    let chain = [link(&local, "l"), link(&gpt, "g")];
    let out = r.call(&chain, &request(), None).await;
    assert_eq!(out.result.unwrap().content, "from gpt");
    assert_eq!(
        local.calls(),
        1,
        "no retry while another provider can answer"
    );
    assert!(sleeper.0.lock().unwrap().is_empty(), "and no wait");
    assert_eq!(
        out.attempts[0].error.as_deref(),
        Some("provider busy: too many calls are waiting for it")
    );
    // With a threshold of 1 a counted failure would have opened it: the
    // busy provider is still tried first on the next call.
    let out = r.call(&chain, &request(), None).await;
    assert_eq!(out.result.unwrap().content, "again");
    assert_eq!(local.calls(), 2);
    assert!(r.snapshot().iter().all(|(_, b)| b.state == "closed"));
}

#[tokio::test]
async fn a_busy_last_link_is_waited_for_and_then_answers() {
    let (r, sleeper) = resilience(1);
    let local = Scripted::new("local", vec![Err(busy()), Ok("after a wait")]);
    let out = r.call(&[link(&local, "l")], &request(), None).await;
    assert_eq!(out.result.unwrap().content, "after a wait");
    assert_eq!(*sleeper.0.lock().unwrap(), [Duration::from_secs(2)]);
}
