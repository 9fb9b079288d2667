#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;

use super::*;
use crate::accounts::{AuthThrottle, ThrottlePolicy};
use crate::testing::{Memory, PlainHasher};

fn service() -> (AccountService, Arc<Memory>) {
    let mem = Arc::new(Memory::default());
    (
        AccountService::new(
            mem.clone(),
            Arc::new(PlainHasher),
            Arc::new(SignInThrottle::default()),
        ),
        mem,
    )
}

fn service_with(policy: ThrottlePolicy, hasher: Arc<CountingHasher>) -> AccountService {
    AccountService::new(
        Arc::new(Memory::default()),
        hasher,
        Arc::new(AuthThrottle::new(policy)),
    )
}

fn ip(addr: &str) -> ClientKey {
    ClientKey::from_ip(addr.parse::<IpAddr>().unwrap())
}

fn a() -> ClientKey {
    ip("203.0.113.1")
}

fn b() -> ClientKey {
    ip("198.51.100.2")
}

/// [`PlainHasher`] that counts its calls and can play a saturated server.
#[derive(Default)]
struct CountingHasher {
    hashes: AtomicUsize,
    verifies: AtomicUsize,
    busy: AtomicBool,
}

#[async_trait]
impl PasswordHasher for CountingHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, AccountError> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        PlainHasher.hash(password).await
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, AccountError> {
        if self.busy.load(Ordering::SeqCst) {
            return Err(AccountError::Busy {
                retry_after_secs: 2,
            });
        }
        self.verifies.fetch_add(1, Ordering::SeqCst);
        PlainHasher.verify(password, hash).await
    }
}

fn ada() -> SignUp {
    SignUp {
        email: "Ada@Example.com".into(),
        password: "correct horse".into(),
        name: "Ada".into(),
    }
}

#[tokio::test]
async fn sign_up_normalises_email_and_records_event() {
    let (svc, mem) = service();
    let user = svc.sign_up(ada(), &a()).await.unwrap();
    assert_eq!(user.email, "ada@example.com");
    assert_eq!(user.subscription_tier, SubscriptionTier::Free);
    assert_eq!(mem.event_types(), ["UserRegistered"]);
}

#[tokio::test]
async fn duplicate_email_is_refused_without_event() {
    let (svc, mem) = service();
    svc.sign_up(ada(), &a()).await.unwrap();
    let mut again = ada();
    again.email = "ADA@example.com".into();
    assert!(matches!(
        svc.sign_up(again, &a()).await,
        Err(AccountError::EmailTaken)
    ));
    assert_eq!(mem.event_types().len(), 1);
}

#[tokio::test]
async fn invalid_input_names_the_field() {
    let (svc, _) = service();
    let mut bad = ada();
    bad.password = "short".into();
    match svc.sign_up(bad, &a()).await {
        Err(AccountError::InvalidField(f)) => assert_eq!(f.field, "password"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn sign_in_checks_password_and_hides_unknown_emails() {
    let (svc, _) = service();
    svc.sign_up(ada(), &a()).await.unwrap();
    assert!(
        svc.sign_in("ada@example.com", "correct horse", &a())
            .await
            .is_ok()
    );
    assert!(matches!(
        svc.sign_in("ada@example.com", "wrong", &a()).await,
        Err(AccountError::InvalidCredentials)
    ));
    assert!(matches!(
        svc.sign_in("bob@example.com", "correct horse", &a()).await,
        Err(AccountError::InvalidCredentials)
    ));
    assert!(matches!(
        svc.sign_in("not an email", "x", &a()).await,
        Err(AccountError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn repeated_failures_are_throttled_even_with_the_right_password() {
    let (svc, _) = service();
    svc.sign_up(ada(), &a()).await.unwrap();
    for _ in 0..5 {
        assert!(matches!(
            svc.sign_in("ada@example.com", "nope", &a()).await,
            Err(AccountError::InvalidCredentials)
        ));
    }
    match svc.sign_in("ada@example.com", "correct horse", &a()).await {
        Err(AccountError::TooManyAttempts { retry_after_secs }) => {
            assert!((1..=30).contains(&retry_after_secs))
        }
        other => panic!("unexpected {other:?}"),
    }
    // Another client is not locked out by someone else's guesses.
    assert!(
        svc.sign_in("ada@example.com", "correct horse", &b())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn preferences_are_validated_saved_and_evented() {
    let (svc, mem) = service();
    let user = svc.sign_up(ada(), &a()).await.unwrap();
    let mut prefs = AiPreferences {
        default_coder: Some(crate::band::ProviderKind::Gpt),
        confidence_threshold: 0.9,
        ..AiPreferences::default()
    };
    let saved = svc
        .update_preferences(user.id, prefs.clone())
        .await
        .unwrap();
    assert_eq!(saved.ai_preferences, prefs);
    assert_eq!(
        svc.get(user.id)
            .await
            .unwrap()
            .ai_preferences
            .confidence_threshold,
        0.9
    );
    // The same preferences again change nothing and record nothing.
    svc.update_preferences(user.id, prefs.clone())
        .await
        .unwrap();
    assert_eq!(
        mem.event_types(),
        ["UserRegistered", "AIPreferencesChanged"]
    );
    prefs.confidence_threshold = -0.1;
    match svc.update_preferences(user.id, prefs).await {
        Err(AccountError::InvalidField(f)) => assert_eq!(f.field, "confidence_threshold"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn one_clients_lockout_never_refuses_the_right_password_from_another() {
    let (svc, _) = service();
    svc.sign_up(ada(), &a()).await.unwrap();
    // Client A keeps guessing well past its lock-out.
    for _ in 0..20 {
        let refused = svc.sign_in("ada@example.com", "nope", &a()).await;
        assert!(matches!(
            refused,
            Err(AccountError::InvalidCredentials | AccountError::TooManyAttempts { .. })
        ));
    }
    assert!(matches!(
        svc.sign_in("ada@example.com", "nope", &a()).await,
        Err(AccountError::TooManyAttempts { .. })
    ));
    // Ada, from B, is let in every time.
    for _ in 0..3 {
        let user = svc
            .sign_in("ada@example.com", "correct horse", &b())
            .await
            .unwrap();
        assert_eq!(user.email, "ada@example.com");
    }
}

#[tokio::test]
async fn spraying_many_emails_from_one_client_locks_that_client_out() {
    let hasher = Arc::new(CountingHasher::default());
    let policy = ThrottlePolicy {
        client_failures: 3,
        ..ThrottlePolicy::default()
    };
    let svc = service_with(policy, hasher.clone());
    svc.sign_up(ada(), &b()).await.unwrap();
    // One guess per account never trips the per-email limit...
    for email in ["bob@example.com", "cy@example.com", "di@example.com"] {
        assert!(matches!(
            svc.sign_in(email, "Summer2024!", &a()).await,
            Err(AccountError::InvalidCredentials)
        ));
    }
    // ...but the client as a whole is refused now, even with a right
    // password, and without spending a hash on it.
    let verifies = hasher.verifies.load(Ordering::SeqCst);
    match svc.sign_in("ada@example.com", "correct horse", &a()).await {
        Err(AccountError::TooManyAttempts { retry_after_secs }) => {
            assert!(
                (14 * 60..=15 * 60).contains(&retry_after_secs),
                "{retry_after_secs}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(hasher.verifies.load(Ordering::SeqCst), verifies);
    // Other clients, and the IPv4-mapped form of another address, are fine.
    assert!(
        svc.sign_in("ada@example.com", "correct horse", &b())
            .await
            .is_ok()
    );
    assert!(
        svc.sign_in(
            "ada@example.com",
            "correct horse",
            &ip("::ffff:198.51.100.2")
        )
        .await
        .is_ok()
    );
    // The mapped form of A is A.
    assert!(matches!(
        svc.sign_in(
            "ada@example.com",
            "correct horse",
            &ip("::ffff:203.0.113.1")
        )
        .await,
        Err(AccountError::TooManyAttempts { .. })
    ));
}

#[tokio::test]
async fn successful_sign_ins_do_not_count_against_the_client() {
    let policy = ThrottlePolicy {
        client_failures: 2,
        ..ThrottlePolicy::default()
    };
    let svc = service_with(policy, Arc::default());
    svc.sign_up(ada(), &a()).await.unwrap();
    for _ in 0..5 {
        assert!(
            svc.sign_in("ada@example.com", "correct horse", &a())
                .await
                .is_ok()
        );
    }
    assert!(matches!(
        svc.sign_in("bob@example.com", "x", &a()).await,
        Err(AccountError::InvalidCredentials)
    ));
    assert!(
        svc.sign_in("ada@example.com", "correct horse", &a())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn busy_hasher_is_reported_and_counts_against_nobody() {
    let hasher = Arc::new(CountingHasher::default());
    let policy = ThrottlePolicy {
        free_attempts: 1,
        client_failures: 1,
        ..ThrottlePolicy::default()
    };
    let svc = service_with(policy, hasher.clone());
    svc.sign_up(ada(), &a()).await.unwrap();
    hasher.busy.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        match svc.sign_in("ada@example.com", "nope", &a()).await {
            Err(
                e @ AccountError::Busy {
                    retry_after_secs: 2,
                },
            ) => assert_eq!(
                e.to_string(),
                "the server is busy checking passwords; try again in 2 s"
            ),
            other => panic!("unexpected {other:?}"),
        }
    }
    hasher.busy.store(false, Ordering::SeqCst);
    assert!(
        svc.sign_in("ada@example.com", "correct horse", &a())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn sign_ups_are_limited_per_client_whatever_their_outcome() {
    let hasher = Arc::new(CountingHasher::default());
    let policy = ThrottlePolicy {
        sign_ups_per_client: 3,
        ..ThrottlePolicy::default()
    };
    let svc = service_with(policy, hasher.clone());
    svc.sign_up(ada(), &a()).await.unwrap();
    assert!(matches!(
        svc.sign_up(ada(), &a()).await,
        Err(AccountError::EmailTaken)
    ));
    let mut bad = ada();
    bad.email = "nonsense".into();
    assert!(matches!(
        svc.sign_up(bad, &a()).await,
        Err(AccountError::InvalidField(_))
    ));
    // The fourth attempt is refused before the password is hashed, so an
    // attacker can neither probe which emails exist nor burn CPU.
    let hashes = hasher.hashes.load(Ordering::SeqCst);
    let mut grace = ada();
    grace.email = "grace@example.com".into();
    match svc.sign_up(grace.clone(), &a()).await {
        Err(e @ AccountError::TooManyAttempts { retry_after_secs }) => {
            assert!(
                (59 * 60..=60 * 60).contains(&retry_after_secs),
                "{retry_after_secs}"
            );
            assert!(e.to_string().starts_with("too many attempts"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(hasher.hashes.load(Ordering::SeqCst), hashes);
    // Another client (another /64, for IPv6) is unaffected.
    assert!(svc.sign_up(grace, &ip("2001:db8::1")).await.is_ok());
}

#[tokio::test]
async fn callers_without_an_address_share_one_budget() {
    let policy = ThrottlePolicy {
        sign_ups_per_client: 1,
        ..ThrottlePolicy::default()
    };
    let svc = service_with(policy, Arc::default());
    svc.sign_up(ada(), &ClientKey::unknown()).await.unwrap();
    let mut grace = ada();
    grace.email = "grace@example.com".into();
    assert!(matches!(
        svc.sign_up(grace, &ClientKey::unknown()).await,
        Err(AccountError::TooManyAttempts { .. })
    ));
}

#[test]
fn retry_after_rounds_up_and_is_never_zero() {
    let secs = |d| match too_many_attempts(d) {
        AccountError::TooManyAttempts { retry_after_secs } => retry_after_secs,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(secs(Duration::ZERO), 1);
    assert_eq!(secs(Duration::from_millis(1)), 1);
    assert_eq!(secs(Duration::from_secs(30)), 30);
    assert_eq!(secs(Duration::from_millis(29_001)), 30);
}
