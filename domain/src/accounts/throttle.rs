//! Sign-in throttling: after a few failures for the same email from the same
//! client, further attempts are refused for a growing lock-out. Kept in the
//! domain so the UI and the REST API share one policy.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed inside [`ThrottlePolicy::window`] before locking.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub free_attempts: u32,
    pub window: Duration,
    pub first_lockout: Duration,
    pub max_lockout: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_attempts: 5,
            window: Duration::from_secs(15 * 60),
            first_lockout: Duration::from_secs(30),
            max_lockout: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    first_failure: Instant,
    locked_until: Option<Instant>,
}

/// In-memory failure counter keyed by (email, client).
#[derive(Debug, Default)]
pub struct SignInThrottle {
    policy: ThrottlePolicy,
    entries: Mutex<HashMap<String, Entry>>,
}

impl SignInThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while `key` is locked out.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(key).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failure; locks the key once the free attempts are used up,
    /// doubling the lock-out with each further failure.
    pub fn failed(&self, key: &str, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Bound memory: forget keys whose window and lock-out are long over.
        if entries.len() > 10_000 {
            let window = self.policy.window;
            entries.retain(|_, e| {
                now.duration_since(e.first_failure) < window
                    || e.locked_until.is_some_and(|u| u > now)
            });
        }
        let entry = entries.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            first_failure: now,
            locked_until: None,
        });
        let window_over = now.duration_since(entry.first_failure) > self.policy.window;
        let unlocked = entry.locked_until.is_none_or(|u| u <= now);
        if window_over && unlocked {
            *entry = Entry {
                failures: 0,
                first_failure: now,
                locked_until: None,
            };
        }
        entry.failures += 1;
        if entry.failures >= self.policy.free_attempts {
            let extra = entry.failures - self.policy.free_attempts;
            let factor = 1u32.checked_shl(extra.min(16)).unwrap_or(u32::MAX);
            let lockout = self
                .policy
                .first_lockout
                .saturating_mul(factor)
                .min(self.policy.max_lockout);
            entry.locked_until = Some(now + lockout);
        }
    }

    /// Forgets the key after a successful sign-in.
    pub fn succeeded(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_free_attempts_and_grows() {
        let t = SignInThrottle::new(ThrottlePolicy::default());
        let now = Instant::now();
        for _ in 0..4 {
            t.failed("k", now);
            assert!(t.check("k", now).is_ok());
        }
        t.failed("k", now);
        assert_eq!(t.check("k", now), Err(Duration::from_secs(30)));
        assert!(t.check("other", now).is_ok());
        let later = now + Duration::from_secs(31);
        assert!(t.check("k", later).is_ok());
        t.failed("k", later);
        assert_eq!(t.check("k", later), Err(Duration::from_secs(60)));
    }

    #[test]
    fn success_resets() {
        let t = SignInThrottle::new(ThrottlePolicy::default());
        let now = Instant::now();
        for _ in 0..5 {
            t.failed("k", now);
        }
        t.succeeded("k");
        assert!(t.check("k", now).is_ok());
    }

    #[test]
    fn lockout_is_capped() {
        let t = SignInThrottle::new(ThrottlePolicy::default());
        let now = Instant::now();
        for _ in 0..40 {
            t.failed("k", now);
        }
        assert_eq!(t.check("k", now), Err(Duration::from_secs(15 * 60)));
    }
}
