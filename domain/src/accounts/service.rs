//! Account use cases: sign up, sign in, look up.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use uuid::Uuid;

use super::{
    AccountError, AiPreferences, ClientKey, Email, NewUser, Password, PasswordHash, PasswordHasher,
    SignInThrottle, SubscriptionTier, User, UserName, UserRepository,
};
use crate::budgets::TokenBudget;
use crate::events::{AggregateType, DomainEvent, EventEnvelope};

/// Raw sign-up input, validated by [`AccountService::sign_up`].
#[derive(Debug, Clone)]
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub name: String,
}

#[derive(Clone)]
pub struct AccountService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    /// A real hash of a random password, verified against when the email is
    /// unknown so that sign-in takes as long whether or not the account exists.
    decoy: Arc<OnceLock<PasswordHash>>,
    throttle: Arc<SignInThrottle>,
}

impl AccountService {
    pub fn new(
        users: Arc<dyn UserRepository>,
        hasher: Arc<dyn PasswordHasher>,
        throttle: Arc<SignInThrottle>,
    ) -> Self {
        Self {
            users,
            hasher,
            decoy: Arc::new(OnceLock::new()),
            throttle,
        }
    }

    /// Registers a user on the free tier with a fresh token budget.
    /// `client` identifies the caller so that sign-ups are limited per client.
    ///
    /// # Errors
    /// `TooManyAttempts` once `client` has used up its sign-ups for now,
    /// `InvalidField` naming the bad field, `EmailTaken`, `Busy` or
    /// `Unexpected`.
    pub async fn sign_up(&self, input: SignUp, client: &ClientKey) -> Result<User, AccountError> {
        // Every attempt counts, whatever its outcome: `EmailTaken` tells
        // whether an address has an account, so failed attempts are the ones
        // worth limiting. Counted before hashing, which is the costly part.
        self.throttle
            .sign_up_attempt(client, Instant::now())
            .map_err(too_many_attempts)?;
        let email = Email::new(&input.email)?;
        let name = UserName::new(&input.name)?;
        let password = Password::new(&input.password)?;
        let password_hash = self.hasher.hash(&password).await?;
        let now = Utc::now();
        let tier = SubscriptionTier::Free;
        let user = User {
            id: Uuid::new_v4(),
            email: email.as_str().to_owned(),
            name: Some(name.into_inner()),
            subscription_tier: tier,
            ai_preferences: AiPreferences::default(),
            created_at: now,
        };
        let event = EventEnvelope::new(
            AggregateType::User,
            user.id,
            user.id,
            now,
            DomainEvent::UserRegistered {
                email: user.email.clone(),
                tier,
            },
        );
        let new_user = NewUser {
            budget: TokenBudget::fresh(user.id, tier, now),
            user,
            password_hash,
        };
        self.users.create(&new_user, &event).await?;
        Ok(new_user.user)
    }

    /// Checks credentials. `client` identifies the caller so that failures
    /// are throttled per email and client, and per client across emails.
    ///
    /// # Errors
    /// `InvalidCredentials` for an unknown email or a wrong password (same
    /// error, similar timing), `TooManyAttempts` while locked out, `Busy`,
    /// `Unexpected` otherwise.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client: &ClientKey,
    ) -> Result<User, AccountError> {
        let attempt = self
            .throttle
            .begin_sign_in(email, client, Instant::now())
            .map_err(too_many_attempts)?;
        let result = self.check_credentials(email, password).await;
        match &result {
            Ok(_) => attempt.succeeded(),
            Err(AccountError::InvalidCredentials) => attempt.failed(Instant::now()),
            Err(_) => attempt.undecided(),
        }
        result
    }

    async fn check_credentials(&self, email: &str, password: &str) -> Result<User, AccountError> {
        let password = Password::unchecked(password);
        let found = match Email::new(email) {
            Ok(email) => self.users.find_credentials(&email).await?,
            Err(_) => None,
        };
        match found {
            Some((user, hash)) => {
                if self.hasher.verify(&password, &hash).await? {
                    Ok(user)
                } else {
                    Err(AccountError::InvalidCredentials)
                }
            }
            None => {
                let decoy = self.decoy_hash().await?;
                // The result is irrelevant: this only spends the same time.
                let _ = self.hasher.verify(&password, &decoy).await?;
                Err(AccountError::InvalidCredentials)
            }
        }
    }

    /// # Errors
    /// `NotFound` when the user no longer exists, `Unexpected` otherwise.
    pub async fn get(&self, id: Uuid) -> Result<User, AccountError> {
        self.users.find(id).await?.ok_or(AccountError::NotFound)
    }

    /// Saves the user's AI preferences after validating them.
    ///
    /// # Errors
    /// `InvalidField`, `NotFound`, `Unexpected`.
    pub async fn update_preferences(
        &self,
        id: Uuid,
        preferences: AiPreferences,
    ) -> Result<User, AccountError> {
        preferences.validate()?;
        let mut user = self.get(id).await?;
        if user.ai_preferences == preferences {
            return Ok(user);
        }
        let event = EventEnvelope::new(
            AggregateType::User,
            id,
            id,
            Utc::now(),
            DomainEvent::AiPreferencesChanged {
                preferences: preferences.clone(),
            },
        );
        self.users
            .update_preferences(id, &preferences, &event)
            .await?;
        user.ai_preferences = preferences;
        Ok(user)
    }

    async fn decoy_hash(&self) -> Result<PasswordHash, AccountError> {
        if let Some(hash) = self.decoy.get() {
            return Ok(hash.clone());
        }
        let hash = self
            .hasher
            .hash(&Password::unchecked(&Uuid::new_v4().to_string()))
            .await?;
        Ok(self.decoy.get_or_init(|| hash).clone())
    }
}

/// Whole seconds, rounded up so a client that waits exactly this long is
/// not refused again; never 0, which would invite an immediate retry.
fn too_many_attempts(wait: Duration) -> AccountError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    AccountError::TooManyAttempts {
        retry_after_secs: secs.max(1),
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
