//! The band's registry: the configured providers, the model version locked
//! for each provider and role (spec §6.3), and the shared resilience state.
//! The conductor asks it for a role's chain; the console asks it for each
//! provider's health.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::binding::{self, BOUND_ROLES, Catalog};
use super::{
    AgentRole, AiProvider, BreakerSnapshot, ChainLink, ProviderKind, RateLimitStatus, Resilience,
};

/// Model versions per provider and role, e.g. `claude → coder →
/// claude-sonnet-4-5-20250929`. Deterministic behaviour across deployments
/// depends on these never changing silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelLock {
    pub versions: BTreeMap<ProviderKind, BTreeMap<AgentRole, String>>,
}

impl Default for ModelLock {
    /// The spec's table (§6.3), completed so every provider can play every
    /// role; the local default is an Ollama model tag.
    fn default() -> Self {
        let per_role = |coder: &str, reviewer: &str, designer: &str, conductor: &str| {
            BTreeMap::from([
                (AgentRole::Coder, coder.to_owned()),
                (AgentRole::Reviewer, reviewer.to_owned()),
                (AgentRole::Designer, designer.to_owned()),
                (AgentRole::Conductor, conductor.to_owned()),
            ])
        };
        let claude = "claude-sonnet-4-5-20250929";
        let gpt = "gpt-4-turbo-2024-04-09";
        let gemini = "gemini-2.0-flash-exp";
        let local = "llama3.2";
        Self {
            versions: BTreeMap::from([
                (
                    ProviderKind::Claude,
                    per_role(claude, claude, claude, claude),
                ),
                (ProviderKind::Gpt, per_role(gpt, gpt, gpt, gpt)),
                (
                    ProviderKind::Gemini,
                    per_role(gemini, gemini, gemini, gemini),
                ),
                (ProviderKind::Local, per_role(local, local, local, local)),
            ]),
        }
    }
}

impl ModelLock {
    /// The locked model for `kind` playing `role`.
    pub fn model(&self, kind: ProviderKind, role: AgentRole) -> Option<&str> {
        self.versions.get(&kind)?.get(&role).map(String::as_str)
    }

    /// Locks `model` for `kind`, for one role or (with `None`) every role.
    pub fn set(&mut self, kind: ProviderKind, role: Option<AgentRole>, model: &str) {
        let roles = self.versions.entry(kind).or_default();
        match role {
            Some(role) => {
                roles.insert(role, model.to_owned());
            }
            None => {
                for role in BOUND_ROLES {
                    roles.insert(role, model.to_owned());
                }
            }
        }
    }

    /// What changed from `previous`, one line per provider and role, for
    /// the version log and the server log.
    pub fn changes_since(&self, previous: &ModelLock) -> Vec<String> {
        let mut changes = Vec::new();
        for kind in ProviderKind::ALL {
            for role in BOUND_ROLES {
                let (old, new) = (previous.model(kind, role), self.model(kind, role));
                if old != new {
                    changes.push(format!(
                        "{} {}: {} → {}",
                        kind.as_str(),
                        role.as_str(),
                        old.unwrap_or("none"),
                        new.unwrap_or("none")
                    ));
                }
            }
        }
        changes
    }
}

/// One provider's health, for the console.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderStatus {
    pub kind: ProviderKind,
    pub name: String,
    pub models: BTreeMap<AgentRole, String>,
    pub circuit: BreakerSnapshot,
    pub rate_limit: RateLimitStatus,
}

/// The configured providers, their locked models and the resilience state.
#[derive(Clone)]
pub struct Band {
    providers: Vec<(ProviderKind, Arc<dyn AiProvider>)>,
    lock: ModelLock,
    resilience: Arc<Resilience>,
}

impl Band {
    pub fn new(
        providers: Vec<Arc<dyn AiProvider>>,
        lock: ModelLock,
        resilience: Arc<Resilience>,
    ) -> Self {
        Self {
            providers: providers.into_iter().map(|p| (p.kind(), p)).collect(),
            lock,
            resilience,
        }
    }

    pub fn catalog(&self) -> Catalog {
        Catalog {
            available: self.providers.iter().map(|(k, _)| *k).collect(),
            builtin_local: self
                .providers
                .iter()
                .any(|(_, p)| p.fixed_model().is_some()),
        }
    }

    pub fn lock(&self) -> &ModelLock {
        &self.lock
    }

    pub fn resilience(&self) -> &Resilience {
        &self.resilience
    }

    /// The chain a role's calls walk: the user's choice, then the role's
    /// default order, local last — each with its locked model. Several
    /// providers of one kind (Ollama and the built-in model are both local)
    /// follow each other in the order they were configured.
    pub fn chain(&self, role: AgentRole, preferred: Option<ProviderKind>) -> Vec<ChainLink> {
        binding::chain(role, preferred, &self.catalog())
            .into_iter()
            .flat_map(|kind| self.providers.iter().filter(move |(k, _)| *k == kind))
            .filter_map(|(kind, provider)| {
                let model = match provider.fixed_model() {
                    Some(model) => model.to_owned(),
                    None => self.lock.model(*kind, role)?.to_owned(),
                };
                Some(ChainLink {
                    provider: provider.clone(),
                    model,
                })
            })
            .collect()
    }

    /// Closes a configured provider's circuit by hand (the console's reset);
    /// `false` when no configured provider has that name.
    pub fn reset(&self, provider: &str) -> bool {
        let known = self.providers.iter().any(|(_, p)| p.name() == provider);
        if known {
            self.resilience.reset(provider);
        }
        known
    }

    /// Every configured provider's circuit and rate limits.
    pub fn status(&self) -> Vec<ProviderStatus> {
        let circuits = self.resilience.snapshot();
        self.providers
            .iter()
            .map(|(kind, provider)| {
                let circuit = circuits
                    .iter()
                    .find(|(name, _)| name == provider.name())
                    .map(|(_, s)| s.clone())
                    .unwrap_or_else(|| BreakerSnapshot {
                        state: "closed".to_owned(),
                        consecutive_failures: 0,
                        last_error: None,
                        retry_in_ms: None,
                    });
                ProviderStatus {
                    kind: *kind,
                    name: provider.name().to_owned(),
                    models: match provider.fixed_model() {
                        Some(model) => BOUND_ROLES
                            .into_iter()
                            .map(|role| (role, model.to_owned()))
                            .collect(),
                        None => self.lock.versions.get(kind).cloned().unwrap_or_default(),
                    },
                    circuit,
                    rate_limit: provider.rate_limit_status(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_lock_follows_the_spec_and_covers_every_role() {
        let lock = ModelLock::default();
        assert_eq!(
            lock.model(ProviderKind::Claude, AgentRole::Coder),
            Some("claude-sonnet-4-5-20250929")
        );
        assert_eq!(
            lock.model(ProviderKind::Gpt, AgentRole::Conductor),
            Some("gpt-4-turbo-2024-04-09")
        );
        assert_eq!(
            lock.model(ProviderKind::Gemini, AgentRole::Designer),
            Some("gemini-2.0-flash-exp")
        );
        for kind in ProviderKind::ALL {
            for role in BOUND_ROLES {
                assert!(lock.model(kind, role).is_some(), "{kind:?} {role:?}");
            }
        }
    }

    #[test]
    fn overrides_and_changes_are_reported_per_role() {
        let before = ModelLock::default();
        let mut after = before.clone();
        after.set(
            ProviderKind::Claude,
            Some(AgentRole::Coder),
            "claude-opus-4-1",
        );
        after.set(ProviderKind::Local, None, "qwen2.5-coder");
        let changes = after.changes_since(&before);
        assert_eq!(changes.len(), 5);
        assert!(
            changes
                .contains(&"claude coder: claude-sonnet-4-5-20250929 → claude-opus-4-1".to_owned())
        );
        assert!(changes.iter().filter(|c| c.starts_with("local ")).count() == 4);
        assert!(after.changes_since(&after).is_empty());
    }
}
