//! Sign-in and sign-up throttling, kept in the domain so the UI and the REST
//! API share one policy. Three independent limits, each against a different
//! attack:
//!
//! * per (email, client): a few failed sign-ins, then a growing lock-out.
//!   Stops guessing one account's password. Keyed by client too, so nobody
//!   can lock a user out of their own account from elsewhere.
//! * per client, any email: a cap on failed sign-ins per window. Stops
//!   password spraying (one or two common passwords against many accounts),
//!   which never trips the per-email limit.
//! * per client: a cap on sign-up attempts per window. Stops account farming,
//!   and the "email taken" answer is an oracle for which addresses have an
//!   account, so every attempt counts, successful or not.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::ClientKey;

/// The numbers behind the three limits. `Default` is the production policy;
/// tests lower the numbers to reach the limits quickly.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failed sign-ins for one (email, client) inside `window` before it is
    /// locked out.
    pub free_attempts: u32,
    /// How long failures for one (email, client) are remembered.
    pub window: Duration,
    /// The first lock-out of an (email, client); it doubles with each
    /// further failure.
    pub first_lockout: Duration,
    /// The longest lock-out of an (email, client).
    pub max_lockout: Duration,
    /// Failed sign-ins, for any emails, one client may make per
    /// `client_window`; further sign-ins from it are refused until the
    /// window ends.
    pub client_failures: u32,
    /// The window for `client_failures`, starting at the first failure.
    pub client_window: Duration,
    /// Sign-up attempts (successful or not) one client may make per
    /// `sign_up_window`.
    pub sign_ups_per_client: u32,
    /// The window for `sign_ups_per_client`, starting at the first attempt.
    pub sign_up_window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_attempts: 5,
            window: Duration::from_secs(15 * 60),
            first_lockout: Duration::from_secs(30),
            max_lockout: Duration::from_secs(15 * 60),
            client_failures: 30,
            client_window: Duration::from_secs(15 * 60),
            sign_ups_per_client: 10,
            sign_up_window: Duration::from_secs(60 * 60),
        }
    }
}

/// Past this many entries a table sweeps out the expired ones.
const SWEEP_FROM: usize = 10_000;
/// Sweeps are O(entries) under the lock: at most one per this interval, so a
/// table full of live entries is not rescanned on every request.
const SWEEP_GAP: Duration = Duration::from_secs(1);
/// Hard cap per table. Without it, an attacker with many addresses (one IPv6
/// /48 holds 65,536 /64s) could grow the tables without limit within one
/// window. When full, new keys go untracked until entries expire: failing
/// open for them costs little, since whoever can fill the table already has
/// that many fresh budgets.
const MAX_ENTRIES: usize = 100_000;
/// Emails are at most 255 characters, so a longer input can never match an
/// account; keying on a prefix keeps one entry's size bounded whatever the
/// request body holds.
const MAX_EMAIL_KEY_CHARS: usize = 256;

/// A map that forgets expired entries once it grows and stops at a hard cap.
#[derive(Debug)]
struct Table<K, V> {
    entries: HashMap<K, V>,
    swept_at: Option<Instant>,
}

impl<K: Eq + Hash, V> Default for Table<K, V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            swept_at: None,
        }
    }
}

impl<K: Eq + Hash, V> Table<K, V> {
    /// The entry for `key`, created with `fresh` if missing; `None` when the
    /// table is full of live entries.
    fn entry(
        &mut self,
        key: K,
        now: Instant,
        live: impl Fn(&V) -> bool,
        fresh: impl FnOnce() -> V,
    ) -> Option<&mut V> {
        if !self.entries.contains_key(&key) {
            let may_sweep = self
                .swept_at
                .is_none_or(|at| now.saturating_duration_since(at) >= SWEEP_GAP);
            if self.entries.len() >= SWEEP_FROM && may_sweep {
                self.entries.retain(|_, v| live(v));
                self.swept_at = Some(now);
            }
            if self.entries.len() >= MAX_ENTRIES {
                return None;
            }
        }
        Some(self.entries.entry(key).or_insert_with(fresh))
    }
}

/// Failures of one (email, client) and its lock-out.
#[derive(Debug, Clone, Copy)]
struct Lockout {
    failures: u32,
    first_failure: Instant,
    locked_until: Option<Instant>,
}

impl Lockout {
    fn fresh(now: Instant) -> Self {
        Self {
            failures: 0,
            first_failure: now,
            locked_until: None,
        }
    }

    fn live(&self, now: Instant, window: Duration) -> bool {
        now.saturating_duration_since(self.first_failure) < window
            || self.locked_until.is_some_and(|u| u > now)
    }
}

/// A fixed-window count: `count` events since `start`.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

impl Window {
    fn fresh(now: Instant) -> Self {
        Self {
            start: now,
            count: 0,
        }
    }

    fn live(&self, now: Instant, length: Duration) -> bool {
        now.saturating_duration_since(self.start) < length
    }
}

/// Counts one event for `key` unless `limit` is already reached in the
/// current window, in one step under the lock so that concurrent requests
/// cannot all pass a check before any of them is counted. `Ok` carries the
/// window the event was counted in (`None` if the table is full and the key
/// untracked), `Err` the wait until the window ends.
fn take<K: Eq + Hash>(
    table: &Mutex<Table<K, Window>>,
    key: K,
    now: Instant,
    limit: u32,
    length: Duration,
) -> Result<Option<Instant>, Duration> {
    let mut table = lock(table);
    let Some(window) = table.entry(key, now, |w| w.live(now, length), || Window::fresh(now)) else {
        return Ok(None);
    };
    if !window.live(now, length) {
        *window = Window::fresh(now);
    }
    if window.count >= limit {
        return Err((window.start + length).saturating_duration_since(now));
    }
    window.count += 1;
    Ok(Some(window.start))
}

/// A poisoned lock only means another request panicked mid-update; the
/// counters are still usable, and refusing every sign-in would be worse.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

type PairKey = (String, ClientKey);

/// In-memory counters for the three limits (see the module docs). One per
/// process: with several instances each enforces the policy on its own.
#[derive(Debug)]
pub struct AuthThrottle {
    policy: ThrottlePolicy,
    pairs: Mutex<Table<PairKey, Lockout>>,
    client_failures: Mutex<Table<ClientKey, Window>>,
    sign_ups: Mutex<Table<ClientKey, Window>>,
}

/// The throttle's name from before it also covered sign-ups.
pub type SignInThrottle = AuthThrottle;

impl Default for AuthThrottle {
    fn default() -> Self {
        Self::new(ThrottlePolicy::default())
    }
}

impl AuthThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            pairs: Mutex::default(),
            client_failures: Mutex::default(),
            sign_ups: Mutex::default(),
        }
    }

    pub fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    /// Admits a sign-in for `email` from `client`, or `Err(wait)` while
    /// either that pair or the client as a whole is locked out. The attempt
    /// is counted against the client straight away, as if it will fail, so
    /// that a burst of concurrent guesses cannot all slip in before the
    /// first failure is recorded; [`SignInAttempt`] settles it.
    pub(crate) fn begin_sign_in(
        &self,
        email: &str,
        client: &ClientKey,
        now: Instant,
    ) -> Result<SignInAttempt<'_>, Duration> {
        let pair = pair_key(email, client);
        self.check_pair(&pair, now)?;
        let window = take(
            &self.client_failures,
            *client,
            now,
            self.policy.client_failures,
            self.policy.client_window,
        )?;
        Ok(SignInAttempt {
            throttle: self,
            pair,
            client: *client,
            window,
        })
    }

    /// Counts a sign-up attempt from `client`, or `Err(wait)` once it has
    /// used up its attempts for the window.
    pub(crate) fn sign_up_attempt(&self, client: &ClientKey, now: Instant) -> Result<(), Duration> {
        take(
            &self.sign_ups,
            *client,
            now,
            self.policy.sign_ups_per_client,
            self.policy.sign_up_window,
        )
        .map(drop)
    }

    fn check_pair(&self, key: &PairKey, now: Instant) -> Result<(), Duration> {
        match lock(&self.pairs)
            .entries
            .get(key)
            .and_then(|e| e.locked_until)
        {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failure; locks the pair once the free attempts are used up,
    /// doubling the lock-out with each further failure.
    fn pair_failed(&self, key: PairKey, now: Instant) {
        let policy = &self.policy;
        let mut pairs = lock(&self.pairs);
        let Some(entry) = pairs.entry(
            key,
            now,
            |e| e.live(now, policy.window),
            || Lockout::fresh(now),
        ) else {
            return;
        };
        let window_over = now.saturating_duration_since(entry.first_failure) > policy.window;
        let unlocked = entry.locked_until.is_none_or(|u| u <= now);
        if window_over && unlocked {
            *entry = Lockout::fresh(now);
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures >= policy.free_attempts {
            let extra = entry.failures - policy.free_attempts;
            let factor = 1u32.checked_shl(extra.min(16)).unwrap_or(u32::MAX);
            let lockout = policy
                .first_lockout
                .saturating_mul(factor)
                .min(policy.max_lockout);
            entry.locked_until = Some(now + lockout);
        }
    }

    /// Gives back an attempt counted in `window` that did not fail: the
    /// client limit is on failures only.
    fn refund_client(&self, client: &ClientKey, window: Option<Instant>) {
        let Some(start) = window else { return };
        let mut table = lock(&self.client_failures);
        // Only the window it was taken from: a new window owes nothing.
        if let Some(w) = table.entries.get_mut(client)
            && w.start == start
        {
            w.count = w.count.saturating_sub(1);
        }
    }
}

/// One admitted sign-in, to be settled with its outcome. Dropped unsettled
/// (the request was cancelled mid-check), it stays counted as a failure
/// against the client, so cancelling is no way around the limit.
#[must_use = "settle the attempt with its outcome"]
pub(crate) struct SignInAttempt<'a> {
    throttle: &'a AuthThrottle,
    pair: PairKey,
    client: ClientKey,
    window: Option<Instant>,
}

impl SignInAttempt<'_> {
    /// Wrong email or password: counts against the pair and the client.
    pub(crate) fn failed(self, now: Instant) {
        self.throttle.pair_failed(self.pair, now);
    }

    /// Right password: forgets the pair's failures and does not count
    /// against the client. The client's earlier failures stand, or a
    /// sprayer could reset them by signing in to an account of their own.
    pub(crate) fn succeeded(self) {
        lock(&self.throttle.pairs).entries.remove(&self.pair);
        self.throttle.refund_client(&self.client, self.window);
    }

    /// No verdict on the password (the server was busy or failed): counts
    /// against nothing.
    pub(crate) fn undecided(self) {
        self.throttle.refund_client(&self.client, self.window);
    }
}

/// The pair's key: the email as typed, normalised like [`super::Email`] and
/// bounded in length.
fn pair_key(email: &str, client: &ClientKey) -> PairKey {
    let email: String = email.trim().chars().take(MAX_EMAIL_KEY_CHARS).collect();
    (email.to_lowercase(), *client)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;

    fn ip(last: u8) -> ClientKey {
        ClientKey::from_ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, last)))
    }

    fn fail(t: &AuthThrottle, email: &str, client: &ClientKey, now: Instant) {
        t.begin_sign_in(email, client, now).unwrap().failed(now);
    }

    fn wait(t: &AuthThrottle, email: &str, client: &ClientKey, now: Instant) -> Option<Duration> {
        t.begin_sign_in(email, client, now)
            .map(SignInAttempt::undecided)
            .err()
    }

    #[test]
    fn pair_locks_after_free_attempts_and_grows() {
        let t = AuthThrottle::default();
        let now = Instant::now();
        for _ in 0..4 {
            fail(&t, "k@x.io", &ip(1), now);
            assert_eq!(wait(&t, "k@x.io", &ip(1), now), None);
        }
        fail(&t, "k@x.io", &ip(1), now);
        assert_eq!(
            wait(&t, "k@x.io", &ip(1), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(wait(&t, "other@x.io", &ip(1), now), None);
        assert_eq!(wait(&t, "k@x.io", &ip(2), now), None);
        let later = now + Duration::from_secs(31);
        assert_eq!(wait(&t, "k@x.io", &ip(1), later), None);
        fail(&t, "k@x.io", &ip(1), later);
        assert_eq!(
            wait(&t, "k@x.io", &ip(1), later),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn pair_key_ignores_case_and_spaces() {
        let t = AuthThrottle::default();
        let now = Instant::now();
        for _ in 0..5 {
            fail(&t, " Ada@Example.com ", &ip(1), now);
        }
        assert!(wait(&t, "ada@example.com", &ip(1), now).is_some());
    }

    #[test]
    fn success_resets_the_pair() {
        let t = AuthThrottle::default();
        let now = Instant::now();
        for _ in 0..4 {
            fail(&t, "k@x.io", &ip(1), now);
        }
        t.begin_sign_in("k@x.io", &ip(1), now).unwrap().succeeded();
        for _ in 0..4 {
            fail(&t, "k@x.io", &ip(1), now);
        }
        assert_eq!(wait(&t, "k@x.io", &ip(1), now), None);
    }

    #[test]
    fn pair_lockout_is_capped() {
        let t = AuthThrottle::default();
        let now = Instant::now();
        for _ in 0..40 {
            t.pair_failed(pair_key("k@x.io", &ip(1)), now);
        }
        assert_eq!(
            wait(&t, "k@x.io", &ip(1), now),
            Some(Duration::from_secs(15 * 60))
        );
    }

    #[test]
    fn client_is_locked_after_failures_across_emails_until_the_window_ends() {
        let t = AuthThrottle::new(ThrottlePolicy {
            client_failures: 3,
            ..ThrottlePolicy::default()
        });
        let now = Instant::now();
        for (i, email) in ["a@x.io", "b@x.io", "c@x.io"].into_iter().enumerate() {
            fail(&t, email, &ip(1), now + Duration::from_secs(i as u64));
        }
        let at = now + Duration::from_secs(60);
        assert_eq!(
            wait(&t, "fresh@x.io", &ip(1), at),
            Some(Duration::from_secs(14 * 60))
        );
        assert_eq!(wait(&t, "fresh@x.io", &ip(2), at), None);
        let rolled = now + Duration::from_secs(15 * 60);
        assert_eq!(wait(&t, "fresh@x.io", &ip(1), rolled), None);
    }

    #[test]
    fn client_limit_counts_only_failures() {
        let t = AuthThrottle::new(ThrottlePolicy {
            client_failures: 2,
            ..ThrottlePolicy::default()
        });
        let now = Instant::now();
        for _ in 0..10 {
            t.begin_sign_in("mine@x.io", &ip(1), now)
                .unwrap()
                .succeeded();
            t.begin_sign_in("mine@x.io", &ip(1), now)
                .unwrap()
                .undecided();
        }
        fail(&t, "a@x.io", &ip(1), now);
        // A success in between does not wipe the earlier failure.
        t.begin_sign_in("mine@x.io", &ip(1), now)
            .unwrap()
            .succeeded();
        fail(&t, "b@x.io", &ip(1), now);
        assert!(wait(&t, "mine@x.io", &ip(1), now).is_some());
    }

    #[test]
    fn concurrent_sign_ins_cannot_overshoot_the_client_limit() {
        let t = AuthThrottle::new(ThrottlePolicy {
            client_failures: 3,
            ..ThrottlePolicy::default()
        });
        let now = Instant::now();
        let in_flight: Vec<_> = (0..3)
            .map(|i| t.begin_sign_in(&format!("{i}@x.io"), &ip(1), now).unwrap())
            .collect();
        assert!(t.begin_sign_in("3@x.io", &ip(1), now).is_err());
        drop(in_flight);
        // Dropped unsettled, they still count.
        assert!(t.begin_sign_in("3@x.io", &ip(1), now).is_err());
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64() {
        let t = AuthThrottle::new(ThrottlePolicy {
            client_failures: 2,
            ..ThrottlePolicy::default()
        });
        let now = Instant::now();
        let addr = |s: &str| ClientKey::from(s.parse::<Ipv6Addr>().unwrap());
        fail(&t, "a@x.io", &addr("2001:db8:1:2::1"), now);
        fail(&t, "b@x.io", &addr("2001:db8:1:2::2"), now);
        assert!(wait(&t, "c@x.io", &addr("2001:db8:1:2:ffff::9"), now).is_some());
        assert_eq!(wait(&t, "c@x.io", &addr("2001:db8:1:3::1"), now), None);
    }

    #[test]
    fn sign_ups_are_limited_per_client_per_window() {
        let t = AuthThrottle::new(ThrottlePolicy {
            sign_ups_per_client: 2,
            ..ThrottlePolicy::default()
        });
        let now = Instant::now();
        assert_eq!(t.sign_up_attempt(&ip(1), now), Ok(()));
        assert_eq!(
            t.sign_up_attempt(&ip(1), now + Duration::from_secs(600)),
            Ok(())
        );
        assert_eq!(
            t.sign_up_attempt(&ip(1), now + Duration::from_secs(900)),
            Err(Duration::from_secs(45 * 60))
        );
        assert_eq!(t.sign_up_attempt(&ip(2), now), Ok(()));
        assert_eq!(
            t.sign_up_attempt(&ip(1), now + Duration::from_secs(3600)),
            Ok(())
        );
    }

    #[test]
    fn unknown_clients_are_limited_together() {
        let t = AuthThrottle::new(ThrottlePolicy {
            sign_ups_per_client: 1,
            ..ThrottlePolicy::default()
        });
        let now = Instant::now();
        assert_eq!(t.sign_up_attempt(&ClientKey::unknown(), now), Ok(()));
        assert!(t.sign_up_attempt(&ClientKey::unknown(), now).is_err());
    }

    #[test]
    fn pair_keys_are_bounded_in_length() {
        let long = "a".repeat(100_000);
        assert_eq!(
            pair_key(&long, &ip(1)).0.chars().count(),
            MAX_EMAIL_KEY_CHARS
        );
    }

    #[test]
    fn tables_sweep_expired_entries_and_stop_at_the_cap() {
        let window = Duration::from_secs(10);
        let mut table: Table<u32, Window> = Table::default();
        let now = Instant::now();
        let put = |table: &mut Table<u32, Window>, key: u32, at: Instant| {
            table
                .entry(key, at, |w| w.live(at, window), || Window::fresh(at))
                .is_some()
        };
        for key in 0..SWEEP_FROM as u32 {
            assert!(put(&mut table, key, now));
        }
        // Once the old entries have expired, the next new key sweeps them.
        let later = now + window;
        assert!(put(&mut table, u32::MAX, later));
        assert_eq!(table.entries.len(), 1);

        // A table full of live entries refuses new keys but keeps old ones.
        for key in 0..MAX_ENTRIES as u32 - 1 {
            assert!(put(&mut table, key, later));
        }
        assert_eq!(table.entries.len(), MAX_ENTRIES);
        assert!(!put(&mut table, u32::MAX - 1, later));
        assert!(put(&mut table, 7, later));
        // After they expire (and the sweep interval passed), there is room.
        assert!(put(&mut table, u32::MAX - 1, later + window + SWEEP_GAP));
        assert_eq!(table.entries.len(), 1);
    }

    #[test]
    fn full_tables_fail_open_for_new_clients() {
        let t = AuthThrottle::new(ThrottlePolicy {
            sign_ups_per_client: 1,
            ..ThrottlePolicy::default()
        });
        let now = Instant::now();
        {
            let mut table = lock(&t.sign_ups);
            for i in 0..MAX_ENTRIES as u128 {
                table.entries.insert(
                    ClientKey::from(Ipv6Addr::from_bits(i << 64)),
                    Window::fresh(now),
                );
            }
            table.swept_at = Some(now);
        }
        assert_eq!(t.sign_up_attempt(&ip(1), now), Ok(()));
        assert_eq!(t.sign_up_attempt(&ip(1), now), Ok(()));
        assert_eq!(lock(&t.sign_ups).entries.len(), MAX_ENTRIES);
    }
}
