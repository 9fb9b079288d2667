//! Graceful degradation (spec §1.3, §4.4): a call walks the role's fallback
//! chain (e.g. Claude → GPT → local). On each link it honours the provider's
//! circuit breaker, retries transient errors with backoff that respects
//! `retry-after`, and fails over to the next link when the provider is
//! refusing, broken, or its stream was cut mid-way. Every attempt is kept
//! with its real usage, so a failed-over stream is billed and shown
//! truthfully — and a streaming viewer is told to discard the partial text
//! of a failed attempt instead of seeing two answers spliced together.
//!
//! A provider answering busy (back-pressure from a shared provider pacing
//! one user) is never held against its breaker: the call fails over to the
//! next link, or on the last link waits and retries within the policy.
//!
//! Waiting is a port (`Sleeper`) and jitter an injected source, so the whole
//! policy is tested without real time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    AiProvider, AiRequest, Attempt, BreakerSnapshot, CircuitBreaker, Completion, DeltaSink,
    ProviderError, RetryPolicy, TokenUsage,
};

/// Waits; the server implements it with the runtime's timer.
#[async_trait]
pub trait Sleeper: Send + Sync {
    async fn sleep(&self, duration: Duration);

    /// Lets the tasks that are ready run before this one goes on — a
    /// request just handed to its connection gets written first. By
    /// default one pause that wakes itself; a runtime may do better (tokio
    /// runs every ready task first).
    async fn yield_now(&self) {
        let mut paused = false;
        std::future::poll_fn(|cx| {
            if paused {
                return std::task::Poll::Ready(());
            }
            paused = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        })
        .await;
    }
}

/// One step of a fallback chain: a provider and the model locked for it.
#[derive(Clone)]
pub struct ChainLink {
    pub provider: Arc<dyn AiProvider>,
    pub model: String,
}

/// Breaker settings, one breaker per provider name.
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    pub failure_threshold: u32,
    pub cool_down: Duration,
    pub half_open_max_calls: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(60),
            half_open_max_calls: 1,
        }
    }
}

/// The result of a chain call: the completion (or the last error) and
/// every attempt made, in order.
#[derive(Debug)]
pub struct ChainOutcome {
    pub result: Result<Completion, ProviderError>,
    pub attempts: Vec<Attempt>,
}

/// Shared across the application: the breakers must see every call.
pub struct Resilience {
    policy: RetryPolicy,
    breaker: BreakerSettings,
    breakers: Mutex<HashMap<String, CircuitBreaker>>,
    sleeper: Arc<dyn Sleeper>,
    jitter: Arc<dyn Fn() -> f64 + Send + Sync>,
}

impl Resilience {
    pub fn new(
        policy: RetryPolicy,
        breaker: BreakerSettings,
        sleeper: Arc<dyn Sleeper>,
        jitter: Arc<dyn Fn() -> f64 + Send + Sync>,
    ) -> Self {
        Self {
            policy,
            breaker,
            breakers: Mutex::new(HashMap::new()),
            sleeper,
            jitter,
        }
    }

    /// Calls along `chain` until one link answers. With a `sink` the calls
    /// stream; otherwise they complete.
    pub async fn call(
        &self,
        chain: &[ChainLink],
        request: &AiRequest,
        sink: Option<&dyn DeltaSink>,
    ) -> ChainOutcome {
        self.call_guarded(chain, request, sink, &|_| true).await
    }

    /// As [`Self::call`], but before any attempt that follows one which
    /// spent tokens (a stream cut mid-way), `may_continue(tokens spent so
    /// far)` must agree: a caller holding a token reservation uses it to
    /// make sure the next attempt is still covered. When it refuses, the
    /// call ends with [`ProviderError::BudgetExhausted`].
    pub async fn call_guarded(
        &self,
        chain: &[ChainLink],
        request: &AiRequest,
        sink: Option<&dyn DeltaSink>,
        may_continue: &(dyn Fn(u64) -> bool + Sync),
    ) -> ChainOutcome {
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut last_error =
            ProviderError::Unreachable("no provider configured for this role".into());
        for (index, link) in chain.iter().enumerate() {
            let name = link.provider.name().to_owned();
            let has_next = index + 1 < chain.len();
            let request = AiRequest {
                model: link.model.clone(),
                ..request.clone()
            };
            let mut tries: u32 = 0;
            loop {
                let spent: u64 = attempts.iter().map(|a| a.usage.total()).sum();
                if spent > 0 && !may_continue(spent) {
                    return ChainOutcome {
                        result: Err(ProviderError::BudgetExhausted),
                        attempts,
                    };
                }
                if let Err(open) = self.with_breaker(&name, |b| b.allow(Instant::now())) {
                    let wait = open.retry_in(Instant::now()).as_secs();
                    attempts.push(skipped(
                        &name,
                        &link.model,
                        format!("circuit open; retry in {wait} s"),
                    ));
                    last_error = ProviderError::Unreachable(format!("{name}: circuit open"));
                    break;
                }
                tries += 1;
                let started = Instant::now();
                let counted = CountingSink::new(sink);
                let result = match sink {
                    Some(_) => link.provider.stream(&request, &counted).await,
                    None => link.provider.complete(&request).await,
                };
                let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                match result {
                    Ok(completion) => {
                        self.with_breaker(&name, |b| b.record_success(Instant::now()));
                        attempts.push(Attempt {
                            provider: name,
                            model: link.model.clone(),
                            usage: completion.usage,
                            error: None,
                            latency_ms: completion.latency_ms,
                        });
                        return ChainOutcome {
                            result: Ok(completion),
                            attempts,
                        };
                    }
                    Err(error) => {
                        // Back-pressure (busy) is left out of the count there.
                        self.with_breaker(&name, |b| b.record_error(Instant::now(), &error));
                        let usage = match &error {
                            ProviderError::StreamInterrupted { usage, .. } => *usage,
                            _ => TokenUsage::default(),
                        };
                        attempts.push(Attempt {
                            provider: name.clone(),
                            model: link.model.clone(),
                            usage,
                            error: Some(error.to_string()),
                            latency_ms,
                        });
                        if let Some(sink) = sink
                            && counted.sent() > 0
                        {
                            sink.restart(&format!("{name} failed: {error}"));
                        }
                        // A busy provider (back-pressure) is left for the
                        // next link if there is one: another provider can
                        // answer now. On the last link it is waited for, as
                        // it asked, within the policy's attempts.
                        let retry = if fail_over_at_once(&error)
                            || (has_next && error.is_back_pressure())
                        {
                            None
                        } else {
                            self.policy.delay_for(tries, &error, (self.jitter)())
                        };
                        last_error = error;
                        match retry {
                            Some(delay) => self.sleeper.sleep(delay).await,
                            None => break,
                        }
                    }
                }
            }
        }
        ChainOutcome {
            result: Err(last_error),
            attempts,
        }
    }

    /// Every provider's breaker, for the console.
    pub fn snapshot(&self) -> Vec<(String, BreakerSnapshot)> {
        let now = Instant::now();
        let breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<_> = breakers
            .iter()
            .map(|(n, b)| (n.clone(), b.snapshot(now)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Closes a provider's breaker by hand (the console's "reset").
    pub fn reset(&self, provider: &str) {
        let mut breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        breakers.remove(provider);
    }

    fn with_breaker<T>(&self, name: &str, f: impl FnOnce(&mut CircuitBreaker) -> T) -> T {
        let mut breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        let settings = self.breaker;
        let breaker = breakers.entry(name.to_owned()).or_insert_with(|| {
            CircuitBreaker::new(
                settings.failure_threshold,
                settings.cool_down,
                settings.half_open_max_calls,
            )
        });
        f(breaker)
    }
}

/// Errors where waiting on the same provider helps nobody: a broken stream
/// or a deadline already spent should move to the next provider now, and a
/// refused key or request will not improve with time.
fn fail_over_at_once(error: &ProviderError) -> bool {
    matches!(
        error,
        ProviderError::StreamInterrupted { .. }
            | ProviderError::Timeout
            | ProviderError::Unauthorized
            | ProviderError::InvalidRequest(_)
            | ProviderError::Malformed(_)
    )
}

fn skipped(provider: &str, model: &str, reason: String) -> Attempt {
    Attempt {
        provider: provider.to_owned(),
        model: model.to_owned(),
        usage: TokenUsage::default(),
        error: Some(reason),
        latency_ms: 0,
    }
}

/// Forwards deltas and counts them, to know whether a failed attempt had
/// already shown text that must be retracted.
struct CountingSink<'a> {
    inner: Option<&'a dyn DeltaSink>,
    sent: AtomicUsize,
}

impl<'a> CountingSink<'a> {
    fn new(inner: Option<&'a dyn DeltaSink>) -> Self {
        Self {
            inner,
            sent: AtomicUsize::new(0),
        }
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }
}

impl DeltaSink for CountingSink<'_> {
    fn delta(&self, text: &str) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if let Some(inner) = self.inner {
            inner.delta(text);
        }
    }
}

#[cfg(test)]
#[path = "fallback_tests.rs"]
mod tests;
