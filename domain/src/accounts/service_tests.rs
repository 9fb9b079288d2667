#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use super::*;
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
    let user = svc.sign_up(ada()).await.unwrap();
    assert_eq!(user.email, "ada@example.com");
    assert_eq!(user.subscription_tier, SubscriptionTier::Free);
    assert_eq!(mem.event_types(), ["UserRegistered"]);
}

#[tokio::test]
async fn duplicate_email_is_refused_without_event() {
    let (svc, mem) = service();
    svc.sign_up(ada()).await.unwrap();
    let mut again = ada();
    again.email = "ADA@example.com".into();
    assert!(matches!(
        svc.sign_up(again).await,
        Err(AccountError::EmailTaken)
    ));
    assert_eq!(mem.event_types().len(), 1);
}

#[tokio::test]
async fn invalid_input_names_the_field() {
    let (svc, _) = service();
    let mut bad = ada();
    bad.password = "short".into();
    match svc.sign_up(bad).await {
        Err(AccountError::InvalidField(f)) => assert_eq!(f.field, "password"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn sign_in_checks_password_and_hides_unknown_emails() {
    let (svc, _) = service();
    svc.sign_up(ada()).await.unwrap();
    assert!(
        svc.sign_in("ada@example.com", "correct horse", "ip")
            .await
            .is_ok()
    );
    assert!(matches!(
        svc.sign_in("ada@example.com", "wrong", "ip").await,
        Err(AccountError::InvalidCredentials)
    ));
    assert!(matches!(
        svc.sign_in("bob@example.com", "correct horse", "ip").await,
        Err(AccountError::InvalidCredentials)
    ));
    assert!(matches!(
        svc.sign_in("not an email", "x", "ip").await,
        Err(AccountError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn repeated_failures_are_throttled_even_with_the_right_password() {
    let (svc, _) = service();
    svc.sign_up(ada()).await.unwrap();
    for _ in 0..5 {
        assert!(matches!(
            svc.sign_in("ada@example.com", "nope", "1.2.3.4").await,
            Err(AccountError::InvalidCredentials)
        ));
    }
    match svc
        .sign_in("ada@example.com", "correct horse", "1.2.3.4")
        .await
    {
        Err(AccountError::TooManyAttempts { retry_after_secs }) => {
            assert!((1..=30).contains(&retry_after_secs))
        }
        other => panic!("unexpected {other:?}"),
    }
    // Another client is not locked out by someone else's guesses.
    assert!(
        svc.sign_in("ada@example.com", "correct horse", "5.6.7.8")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn preferences_are_validated_saved_and_evented() {
    let (svc, mem) = service();
    let user = svc.sign_up(ada()).await.unwrap();
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
