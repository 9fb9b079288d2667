//! Pure resilience state machines for provider calls (spec §4.4): a circuit
//! breaker per provider and a retry policy with exponential backoff.
//!
//! Nothing here sleeps, spawns or reads a clock: the caller passes `now` as
//! an [`Instant`] and a random number for jitter, so every transition is a
//! plain function of its inputs and can be tested without waiting.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::ProviderError;

/// Where a [`CircuitBreaker`] is in its cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow; consecutive failures are being counted.
    Closed,
    /// Calls are refused until `until`, after which probes are let through.
    Open { until: Instant },
    /// The cool-down is over: up to `half_open_max_calls` probes may run;
    /// `probes` is how many have been handed out.
    HalfOpen { probes: u32 },
}

impl BreakerState {
    /// A stable name for logs and the console.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open { .. } => "open",
            Self::HalfOpen { .. } => "half_open",
        }
    }
}

/// Leave to make one call through the breaker. Report its outcome with
/// [`CircuitBreaker::record_success`] or [`CircuitBreaker::record_failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a permit is granted for a call whose outcome must be recorded"]
pub struct Permit {
    probe: bool,
}

impl Permit {
    /// Whether this call is a half-open probe: its outcome decides whether
    /// the breaker closes or opens again.
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

/// The breaker refused a call; the caller should fail over to another
/// provider rather than wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker open")]
pub struct OpenUntil {
    /// When the breaker will next let a call through. While half-open probes
    /// are outstanding this is the moment of refusal: a retry is possible as
    /// soon as a probe reports back.
    pub until: Instant,
}

impl OpenUntil {
    /// How long from `now` until a call may be allowed again.
    pub fn retry_in(&self, now: Instant) -> Duration {
        self.until.saturating_duration_since(now)
    }
}

/// What the console shows about one provider's breaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerSnapshot {
    /// `closed`, `open` or `half_open`.
    pub state: String,
    pub consecutive_failures: u32,
    /// The last error recorded with [`CircuitBreaker::record_error`].
    pub last_error: Option<String>,
    /// Milliseconds until an open breaker lets a probe through.
    pub retry_in_ms: Option<u64>,
}

/// A circuit breaker (spec §4.4): after `failure_threshold` consecutive
/// failures it opens for `cool_down`, then lets `half_open_max_calls` probes
/// through; a successful probe closes it, a failed one re-opens it for the
/// same cool-down.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    state: BreakerState,
    failure_threshold: u32,
    cool_down: Duration,
    half_open_max_calls: u32,
    consecutive_failures: u32,
    last_error: Option<String>,
}

impl Default for CircuitBreaker {
    /// The spec's defaults: 5 failures, 60 s cool-down, one probe.
    fn default() -> Self {
        Self::new(5, Duration::from_secs(60), 1)
    }
}

impl CircuitBreaker {
    /// A closed breaker. A threshold or probe count of 0 is treated as 1:
    /// a breaker that never opens, or never probes, would never recover.
    pub fn new(failure_threshold: u32, cool_down: Duration, half_open_max_calls: u32) -> Self {
        Self {
            state: BreakerState::Closed,
            failure_threshold: failure_threshold.max(1),
            cool_down,
            half_open_max_calls: half_open_max_calls.max(1),
            consecutive_failures: 0,
            last_error: None,
        }
    }

    /// The current state (without applying any cool-down that has elapsed;
    /// [`Self::allow`] does that).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Failures since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Asks to make a call at `now`.
    ///
    /// # Errors
    /// [`OpenUntil`] while the breaker is open, or while it is half-open and
    /// all its probes are out.
    pub fn allow(&mut self, now: Instant) -> Result<Permit, OpenUntil> {
        match self.state {
            BreakerState::Closed => Ok(Permit { probe: false }),
            BreakerState::Open { until } if now < until => Err(OpenUntil { until }),
            BreakerState::Open { .. } => {
                self.state = BreakerState::HalfOpen { probes: 1 };
                Ok(Permit { probe: true })
            }
            BreakerState::HalfOpen { probes } if probes < self.half_open_max_calls => {
                self.state = BreakerState::HalfOpen { probes: probes + 1 };
                Ok(Permit { probe: true })
            }
            BreakerState::HalfOpen { .. } => Err(OpenUntil { until: now }),
        }
    }

    /// A call succeeded: the provider works, so the breaker closes.
    ///
    /// A success reported while open comes from a call started before the
    /// breaker opened; the newer failures outweigh it, so it is ignored.
    pub fn record_success(&mut self, _now: Instant) {
        if matches!(self.state, BreakerState::Open { .. }) {
            return;
        }
        self.state = BreakerState::Closed;
        self.consecutive_failures = 0;
    }

    /// A call failed. Opens the breaker at the threshold, and re-opens it at
    /// once when a half-open probe fails.
    pub fn record_failure(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        match self.state {
            BreakerState::Closed if self.consecutive_failures >= self.failure_threshold => {
                self.open(now);
            }
            BreakerState::HalfOpen { .. } => self.open(now),
            // A late failure while open must not extend the cool-down, or a
            // burst of in-flight calls would keep the breaker open forever.
            BreakerState::Closed | BreakerState::Open { .. } => {}
        }
    }

    /// Records a failed call with its error, kept for the console.
    ///
    /// `InvalidRequest` is our own mistake, not the provider's health, so it
    /// is remembered but does not count towards opening the breaker.
    ///
    /// Back-pressure ([`ProviderError::is_back_pressure`]: a shared provider
    /// refusing one more call from a user whose waiting line is full) is not
    /// recorded at all: it proves neither health nor failure, and counting
    /// it would let one user's flood open the breaker for every user.
    ///
    /// Neither counts as a half-open probe's verdict, so the probe is handed
    /// back: kept out, it would leave the breaker refusing every call with
    /// no probe ever able to close it.
    pub fn record_error(&mut self, now: Instant, error: &ProviderError) {
        if error.is_back_pressure() {
            self.return_probe();
            return;
        }
        self.last_error = Some(error.to_string());
        if matches!(error, ProviderError::InvalidRequest(_)) {
            self.return_probe();
        } else {
            self.record_failure(now);
        }
    }

    /// A probe's call ended without saying whether the provider works.
    fn return_probe(&mut self) {
        if let BreakerState::HalfOpen { probes } = self.state {
            self.state = BreakerState::HalfOpen {
                probes: probes.saturating_sub(1),
            };
        }
    }

    /// The console's view of the breaker at `now`.
    pub fn snapshot(&self, now: Instant) -> BreakerSnapshot {
        let retry_in_ms = match self.state {
            BreakerState::Open { until } => {
                let ms = until.saturating_duration_since(now).as_millis();
                Some(u64::try_from(ms).unwrap_or(u64::MAX))
            }
            _ => None,
        };
        BreakerSnapshot {
            state: self.state.name().to_owned(),
            consecutive_failures: self.consecutive_failures,
            last_error: self.last_error.clone(),
            retry_in_ms,
        }
    }

    fn open(&mut self, now: Instant) {
        // `checked_add` only fails for absurd cool-downs; then never reopen
        // before the far future we can represent.
        let until = now.checked_add(self.cool_down).unwrap_or(now);
        self.state = BreakerState::Open { until };
    }
}

/// When to retry a failed provider call: exponential backoff with optional
/// full jitter, honouring the provider's `retry-after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in total, the first call included.
    pub max_attempts: u32,
    /// The backoff before the second attempt (before jitter).
    pub base_delay: Duration,
    /// No wait is ever longer than this.
    pub max_delay: Duration,
    /// Full jitter (a uniform wait in `[0, backoff]`), which spreads the
    /// retries of parallel agents hitting the same rate limit.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt, after attempt number `attempt`
    /// (1-based) failed with `error`; `rand01` is a uniform random number in
    /// `[0, 1]` used for jitter.
    ///
    /// `None` means do not retry: the error is not transient, the attempts
    /// are used up, or the provider asked for a longer wait than `max_delay`
    /// (retrying sooner would only earn another refusal, so the caller
    /// should fail over instead).
    pub fn delay_for(&self, attempt: u32, error: &ProviderError, rand01: f64) -> Option<Duration> {
        let attempt = attempt.max(1);
        if !error.is_transient() || attempt >= self.max_attempts {
            return None;
        }
        let factor = 2u32.saturating_pow(attempt - 1);
        let backoff = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let mut delay = if self.jitter {
            let r = if rand01.is_finite() {
                rand01.clamp(0.0, 1.0)
            } else {
                1.0
            };
            backoff.mul_f64(r)
        } else {
            backoff
        };
        if let Some(asked) = error.retry_after() {
            if asked > self.max_delay {
                return None;
            }
            delay = delay.max(asked);
        }
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(60);

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(3, COOL, 2)
    }

    fn trip(b: &mut CircuitBreaker, now: Instant) {
        for _ in 0..3 {
            let _ = b.allow(now);
            b.record_failure(now);
        }
    }

    #[test]
    fn closed_allows_calls_and_counts_failures() {
        let now = Instant::now();
        let mut b = breaker();
        assert!(!b.allow(now).unwrap().is_probe());
        b.record_failure(now);
        b.record_failure(now);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.consecutive_failures(), 2);
    }

    #[test]
    fn success_resets_the_failure_count() {
        let now = Instant::now();
        let mut b = breaker();
        b.record_failure(now);
        b.record_failure(now);
        b.record_success(now);
        b.record_failure(now);
        b.record_failure(now);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let now = Instant::now();
        let mut b = breaker();
        trip(&mut b, now);
        assert_eq!(b.state(), BreakerState::Open { until: now + COOL });
    }

    #[test]
    fn open_refuses_until_the_cool_down_ends() {
        let now = Instant::now();
        let mut b = breaker();
        trip(&mut b, now);
        let refused = b.allow(now + Duration::from_secs(59)).unwrap_err();
        assert_eq!(refused.until, now + COOL);
        assert_eq!(
            refused.retry_in(now + Duration::from_secs(59)),
            Duration::from_secs(1)
        );
        assert!(b.allow(now + COOL).unwrap().is_probe());
        assert!(matches!(b.state(), BreakerState::HalfOpen { probes: 1 }));
    }

    #[test]
    fn half_open_allows_only_limited_probes() {
        let now = Instant::now();
        let mut b = breaker();
        trip(&mut b, now);
        let later = now + COOL;
        assert!(b.allow(later).unwrap().is_probe());
        assert!(b.allow(later).unwrap().is_probe());
        let refused = b.allow(later).unwrap_err();
        assert_eq!(refused.until, later);
    }

    #[test]
    fn successful_probe_closes() {
        let now = Instant::now();
        let mut b = breaker();
        trip(&mut b, now);
        let later = now + COOL;
        let _ = b.allow(later).unwrap();
        b.record_success(later);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.consecutive_failures(), 0);
        assert!(!b.allow(later).unwrap().is_probe());
    }

    #[test]
    fn failed_probe_reopens_with_the_same_cool_down() {
        let now = Instant::now();
        let mut b = breaker();
        trip(&mut b, now);
        let later = now + COOL + Duration::from_secs(5);
        let _ = b.allow(later).unwrap();
        b.record_failure(later);
        assert_eq!(
            b.state(),
            BreakerState::Open {
                until: later + COOL
            }
        );
        assert!(b.allow(later + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn late_results_while_open_change_nothing() {
        let now = Instant::now();
        let mut b = breaker();
        trip(&mut b, now);
        b.record_success(now + Duration::from_secs(1));
        b.record_failure(now + Duration::from_secs(2));
        assert_eq!(b.state(), BreakerState::Open { until: now + COOL });
    }

    #[test]
    fn zero_threshold_and_probes_are_treated_as_one() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(0, COOL, 0);
        b.record_failure(now);
        assert!(matches!(b.state(), BreakerState::Open { .. }));
        assert!(b.allow(now + COOL).is_ok());
        assert!(b.allow(now + COOL).is_err());
    }

    #[test]
    fn default_matches_the_spec() {
        let now = Instant::now();
        let mut b = CircuitBreaker::default();
        for _ in 0..4 {
            b.record_failure(now);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.record_failure(now);
        assert_eq!(
            b.state(),
            BreakerState::Open {
                until: now + Duration::from_secs(60)
            }
        );
    }

    #[test]
    fn snapshot_reports_state_failures_error_and_retry_time() {
        let now = Instant::now();
        let mut b = breaker();
        assert_eq!(
            b.snapshot(now),
            BreakerSnapshot {
                state: "closed".into(),
                consecutive_failures: 0,
                last_error: None,
                retry_in_ms: None,
            }
        );
        for _ in 0..3 {
            b.record_error(now, &ProviderError::Timeout);
        }
        let snap = b.snapshot(now + Duration::from_secs(20));
        assert_eq!(snap.state, "open");
        assert_eq!(snap.consecutive_failures, 3);
        assert_eq!(snap.last_error.as_deref(), Some("provider timed out"));
        assert_eq!(snap.retry_in_ms, Some(40_000));
        let _ = b.allow(now + COOL).unwrap();
        assert_eq!(b.snapshot(now + COOL).state, "half_open");
    }

    #[test]
    fn invalid_requests_do_not_trip_the_breaker() {
        let now = Instant::now();
        let mut b = breaker();
        for _ in 0..5 {
            b.record_error(now, &ProviderError::InvalidRequest("bad".into()));
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.snapshot(now).last_error.is_some());
    }

    #[test]
    fn busy_answers_never_count_against_the_breaker() {
        let now = Instant::now();
        let mut b = breaker();
        let busy = ProviderError::Busy {
            retry_after: Some(Duration::from_secs(2)),
        };
        for _ in 0..50 {
            let _ = b.allow(now).unwrap();
            b.record_error(now, &busy);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.consecutive_failures(), 0);
        assert_eq!(b.snapshot(now).last_error, None, "busy is not an error");
        // Nor does it hide real failures around it.
        b.record_failure(now);
        b.record_error(now, &busy);
        b.record_failure(now);
        assert_eq!(b.consecutive_failures(), 2);
    }

    #[test]
    fn a_probe_answered_busy_or_invalid_is_handed_back() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(3, COOL, 1);
        trip(&mut b, now);
        let later = now + COOL;
        assert!(b.allow(later).unwrap().is_probe());
        b.record_error(
            later,
            &ProviderError::Busy {
                retry_after: Some(Duration::from_secs(2)),
            },
        );
        assert_eq!(b.state(), BreakerState::HalfOpen { probes: 0 });
        assert!(
            b.allow(later).unwrap().is_probe(),
            "the probe is free again"
        );
        b.record_error(later, &ProviderError::InvalidRequest("bad".into()));
        assert!(b.allow(later).unwrap().is_probe());
        b.record_success(later);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    fn policy(jitter: bool) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            jitter,
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = policy(false);
        let e = ProviderError::Timeout;
        assert_eq!(p.delay_for(1, &e, 0.5), Some(Duration::from_secs(1)));
        assert_eq!(p.delay_for(2, &e, 0.5), Some(Duration::from_secs(2)));
        assert_eq!(p.delay_for(3, &e, 0.5), Some(Duration::from_secs(4)));
        assert_eq!(p.delay_for(4, &e, 0.5), Some(Duration::from_secs(8)));
        let long = RetryPolicy {
            max_attempts: 100,
            ..p
        };
        assert_eq!(long.delay_for(40, &e, 0.5), Some(Duration::from_secs(10)));
        assert_eq!(long.delay_for(0, &e, 0.5), Some(Duration::from_secs(1)));
    }

    #[test]
    fn full_jitter_scales_by_the_random_number() {
        let p = policy(true);
        let e = ProviderError::Timeout;
        assert_eq!(p.delay_for(3, &e, 0.0), Some(Duration::ZERO));
        assert_eq!(p.delay_for(3, &e, 0.25), Some(Duration::from_secs(1)));
        assert_eq!(p.delay_for(3, &e, 1.0), Some(Duration::from_secs(4)));
        // Out-of-range and non-finite inputs stay within [0, backoff].
        assert_eq!(p.delay_for(3, &e, 7.0), Some(Duration::from_secs(4)));
        assert_eq!(p.delay_for(3, &e, -1.0), Some(Duration::ZERO));
        assert_eq!(p.delay_for(3, &e, f64::NAN), Some(Duration::from_secs(4)));
    }

    #[test]
    fn gives_up_when_attempts_are_exhausted() {
        let p = policy(false);
        assert!(p.delay_for(4, &ProviderError::Timeout, 0.5).is_some());
        assert_eq!(p.delay_for(5, &ProviderError::Timeout, 0.5), None);
        assert_eq!(p.delay_for(9, &ProviderError::Timeout, 0.5), None);
    }

    #[test]
    fn never_retries_permanent_errors() {
        let p = policy(false);
        assert_eq!(p.delay_for(1, &ProviderError::Unauthorized, 0.5), None);
        assert_eq!(
            p.delay_for(1, &ProviderError::InvalidRequest("x".into()), 0.5),
            None
        );
    }

    #[test]
    fn never_waits_less_than_the_provider_asked() {
        let p = policy(true);
        let e = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(p.delay_for(1, &e, 0.0), Some(Duration::from_secs(7)));
        // A longer backoff still wins over a shorter retry-after.
        let p = policy(false);
        let e = ProviderError::Overloaded {
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(p.delay_for(4, &e, 1.0), Some(Duration::from_secs(8)));
    }

    #[test]
    fn retry_after_beyond_max_delay_means_fail_over() {
        let p = policy(false);
        let e = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(11)),
        };
        assert_eq!(p.delay_for(1, &e, 0.5), None);
        let at_cap = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(10)),
        };
        assert_eq!(p.delay_for(1, &at_cap, 0.5), Some(Duration::from_secs(10)));
    }

    #[test]
    fn single_attempt_policy_never_retries() {
        let p = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay_for(1, &ProviderError::Timeout, 0.5), None);
    }
}
