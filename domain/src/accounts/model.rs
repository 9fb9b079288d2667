//! The user and the value objects that guard sign-up input.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::InvalidField;
use crate::band::{AgentRole, ProviderKind};
use crate::budgets::TokenBudget;
use crate::validation::text;

/// Subscription tier (spec §2.2); decides token limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionTier {
    #[default]
    Free,
    Pro,
    Team,
}

impl SubscriptionTier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Pro => "pro",
            Self::Team => "team",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "free" => Some(Self::Free),
            "pro" => Some(Self::Pro),
            "team" => Some(Self::Team),
            _ => None,
        }
    }
}

/// The tone the band answers in (spec `AIPreferences.tone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Formal,
    Casual,
    #[default]
    Bebop,
}

impl Tone {
    pub const ALL: [Self; 3] = [Self::Formal, Self::Casual, Self::Bebop];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Formal => "formal",
            Self::Casual => "casual",
            Self::Bebop => "bebop",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Per-user AI settings (spec `AIPreferences`, plus the conductor, which
/// the spec fixes to ChatGPT and we let the user choose). `None` means
/// "the best configured provider for the role".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AiPreferences {
    pub default_coder: Option<ProviderKind>,
    pub default_reviewer: Option<ProviderKind>,
    pub default_designer: Option<ProviderKind>,
    pub default_conductor: Option<ProviderKind>,
    pub tone: Tone,
    /// Outputs whose confidence falls below this stop at the human gate.
    pub confidence_threshold: f64,
}

impl AiPreferences {
    /// # Errors
    /// `InvalidField("confidence_threshold")` outside [0, 1].
    pub fn validate(&self) -> Result<(), InvalidField> {
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return Err(InvalidField::new(
                "confidence_threshold",
                "must be between 0 and 1",
            ));
        }
        Ok(())
    }

    /// The user's choice for `role`.
    pub fn preferred(&self, role: AgentRole) -> Option<ProviderKind> {
        match role {
            AgentRole::Coder => self.default_coder,
            AgentRole::Reviewer => self.default_reviewer,
            AgentRole::Designer => self.default_designer,
            AgentRole::Conductor => self.default_conductor,
            AgentRole::Pm => None,
        }
    }
}

impl Default for AiPreferences {
    fn default() -> Self {
        Self {
            default_coder: None,
            default_reviewer: None,
            default_designer: None,
            default_conductor: None,
            tone: Tone::default(),
            confidence_threshold: 0.85,
        }
    }
}

/// A registered user, as the rest of the domain sees it (no password hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub subscription_tier: SubscriptionTier,
    pub ai_preferences: AiPreferences,
    pub created_at: DateTime<Utc>,
}

/// Everything the repository stores at sign-up, in one transaction.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user: User,
    pub password_hash: PasswordHash,
    pub budget: TokenBudget,
}

/// A normalised (trimmed, lower-cased) email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    /// # Errors
    /// `InvalidField("email")` unless the value looks like `local@domain.tld`.
    pub fn new(raw: &str) -> Result<Self, InvalidField> {
        let value = raw.trim().to_lowercase();
        let err = |m: &str| InvalidField::new("email", m);
        if value.is_empty() {
            return Err(err("must not be empty"));
        }
        if value.chars().count() > 255 {
            return Err(err("must be at most 255 characters"));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("must not contain spaces"));
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(err("must be an email address like you@example.com"));
        };
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.');
        if local.is_empty() || !domain_ok {
            return Err(err("must be an email address like you@example.com"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A plaintext password on its way to the hasher; never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// # Errors
    /// `InvalidField("password")` when shorter than 8 or longer than 128 characters.
    pub fn new(raw: &str) -> Result<Self, InvalidField> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(InvalidField::new(
                "password",
                format!("must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(InvalidField::new(
                "password",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// For credentials checked at sign-in, where length rules must not leak
    /// anything: any input is accepted and simply fails to verify.
    pub fn unchecked(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A PHC-format password hash (argon2id); never printed either.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A display name, 1–255 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    /// # Errors
    /// `InvalidField("name")` when empty, too long or containing control characters.
    pub fn new(raw: &str) -> Result<Self, InvalidField> {
        text("name", raw, 255, false, true).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised() {
        assert_eq!(
            Email::new("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn email_refuses_garbage() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "a@.com",
            "a@com.",
        ] {
            let err = Email::new(bad).unwrap_err();
            assert_eq!(err.field, "email", "{bad}");
        }
    }

    #[test]
    fn password_length_rules() {
        assert!(Password::new("short").is_err());
        assert!(Password::new("eight chr").is_ok());
        assert!(Password::new(&"x".repeat(129)).is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let p = Password::new("hunter22hunter22").unwrap();
        assert!(!format!("{p:?}").contains("hunter"));
        let h = PasswordHash::new("$argon2id$secret".into());
        assert!(!format!("{h:?}").contains("secret"));
    }

    #[test]
    fn preferences_validate_threshold() {
        let mut p = AiPreferences::default();
        assert!(p.validate().is_ok());
        p.confidence_threshold = 1.2;
        assert_eq!(p.validate().unwrap_err().field, "confidence_threshold");
        p.confidence_threshold = f64::NAN;
        assert!(p.validate().is_err());
    }

    #[test]
    fn tier_round_trips() {
        for t in [
            SubscriptionTier::Free,
            SubscriptionTier::Pro,
            SubscriptionTier::Team,
        ] {
            assert_eq!(SubscriptionTier::parse(t.as_str()), Some(t));
        }
        assert_eq!(SubscriptionTier::parse("gold"), None);
    }
}
