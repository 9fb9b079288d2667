//! Which provider plays which role, and why (the settings page and the
//! conductor ask the same question). A role uses the user's choice when that
//! provider is configured; otherwise the best configured provider in the
//! role's default order. The fallback chain is that choice followed by the
//! rest of the order, with the local model always last so the band degrades
//! gracefully down to a provider that needs no network.

use serde::{Deserialize, Serialize};

use super::{AgentRole, ProviderKind};
use crate::accounts::AiPreferences;

/// The providers this server has credentials (or a host) for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub available: Vec<ProviderKind>,
    /// Whether the built-in local model is among them (it needs no key and
    /// no server, so it is what plays when nothing else is configured).
    #[serde(default)]
    pub builtin_local: bool,
}

impl Catalog {
    pub fn has(&self, kind: ProviderKind) -> bool {
        self.available.contains(&kind)
    }
}

/// The roles a user binds.
pub const BOUND_ROLES: [AgentRole; 4] = [
    AgentRole::Coder,
    AgentRole::Reviewer,
    AgentRole::Designer,
    AgentRole::Conductor,
];

/// A role's provider and the reason, in words for the settings page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub role: AgentRole,
    pub provider: Option<ProviderKind>,
    pub reason: String,
}

/// Best first, per role: Claude leads for code and review, Gemini for
/// design (spec `AIPreferences`), GPT conducts (spec §3.1); local is last.
pub fn default_order(role: AgentRole) -> [ProviderKind; 4] {
    use ProviderKind::{Claude, Gemini, Gpt, Local};
    match role {
        AgentRole::Designer => [Gemini, Claude, Gpt, Local],
        AgentRole::Conductor => [Gpt, Claude, Gemini, Local],
        AgentRole::Coder | AgentRole::Reviewer | AgentRole::Pm => [Claude, Gpt, Gemini, Local],
    }
}

/// The providers to try for `role`, in order: the preferred one (if
/// configured), then the role's default order — only configured ones.
pub fn chain(
    role: AgentRole,
    preferred: Option<ProviderKind>,
    catalog: &Catalog,
) -> Vec<ProviderKind> {
    let mut order: Vec<ProviderKind> = preferred.into_iter().collect();
    order.extend(
        default_order(role)
            .into_iter()
            .filter(|k| Some(*k) != preferred),
    );
    order.retain(|k| catalog.has(*k));
    order
}

/// Resolves one role.
pub fn resolve(role: AgentRole, preferred: Option<ProviderKind>, catalog: &Catalog) -> Binding {
    let provider = chain(role, preferred, catalog).first().copied();
    let only_local = !catalog.available.iter().any(|k| *k != ProviderKind::Local);
    let reason = match (preferred, provider) {
        (_, None) => "no AI provider is configured: set ANTHROPIC_API_KEY, OPENAI_API_KEY, GEMINI_API_KEY or OLLAMA_HOST, or install the built-in local model (scripts/fetch-model)".to_owned(),
        (_, Some(ProviderKind::Local)) if only_local && catalog.builtin_local => {
            "no remote provider is configured (set ANTHROPIC_API_KEY, OPENAI_API_KEY or GEMINI_API_KEY): the built-in local model plays; it is small, so expect its answers to stop at your review".to_owned()
        }
        (Some(p), Some(chosen)) if p == chosen => "your choice".to_owned(),
        (Some(p), Some(chosen)) => format!(
            "you chose {}, which is not configured (set {}); using {} instead",
            p.label(),
            p.setting(),
            chosen.label()
        ),
        (None, Some(_)) => format!("the best configured provider for the {} role", role.as_str()),
    };
    Binding {
        role,
        provider,
        reason,
    }
}

/// Every bound role for a user.
pub fn bindings(preferences: &AiPreferences, catalog: &Catalog) -> Vec<Binding> {
    BOUND_ROLES
        .into_iter()
        .map(|role| resolve(role, preferences.preferred(role), catalog))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProviderKind::{Claude, Gemini, Gpt, Local};

    fn catalog(kinds: &[ProviderKind]) -> Catalog {
        Catalog {
            available: kinds.to_vec(),
            builtin_local: false,
        }
    }

    #[test]
    fn preference_wins_when_configured() {
        let b = resolve(AgentRole::Coder, Some(Gpt), &catalog(&[Claude, Gpt]));
        assert_eq!(b.provider, Some(Gpt));
        assert_eq!(b.reason, "your choice");
    }

    #[test]
    fn unconfigured_preference_falls_back_and_says_how_to_fix_it() {
        let b = resolve(AgentRole::Coder, Some(Claude), &catalog(&[Gpt, Local]));
        assert_eq!(b.provider, Some(Gpt));
        assert!(b.reason.contains("ANTHROPIC_API_KEY"), "{}", b.reason);
        assert!(b.reason.contains("GPT"), "{}", b.reason);
    }

    #[test]
    fn defaults_follow_the_role() {
        let all = catalog(&[Claude, Gpt, Gemini, Local]);
        assert_eq!(
            resolve(AgentRole::Designer, None, &all).provider,
            Some(Gemini)
        );
        assert_eq!(
            resolve(AgentRole::Conductor, None, &all).provider,
            Some(Gpt)
        );
        assert_eq!(
            resolve(AgentRole::Reviewer, None, &all).provider,
            Some(Claude)
        );
        assert!(
            resolve(AgentRole::Reviewer, None, &all)
                .reason
                .contains("reviewer")
        );
    }

    #[test]
    fn chains_put_the_choice_first_and_local_last() {
        let all = catalog(&[Local, Gemini, Gpt, Claude]);
        assert_eq!(
            chain(AgentRole::Coder, Some(Gemini), &all),
            [Gemini, Claude, Gpt, Local]
        );
        assert_eq!(
            chain(AgentRole::Coder, Some(Local), &all),
            [Local, Claude, Gpt, Gemini]
        );
        assert_eq!(
            chain(AgentRole::Designer, None, &catalog(&[Local, Claude])),
            [Claude, Local]
        );
    }

    #[test]
    fn the_builtin_model_plays_everything_when_nothing_remote_is_configured() {
        let offline = Catalog {
            available: vec![Local],
            builtin_local: true,
        };
        for b in bindings(&AiPreferences::default(), &offline) {
            assert_eq!(b.provider, Some(Local));
            assert!(b.reason.contains("built-in local model"), "{}", b.reason);
        }
        // With a remote provider too, local is only the last resort.
        let mixed = Catalog {
            available: vec![Claude, Local],
            builtin_local: true,
        };
        assert_eq!(chain(AgentRole::Designer, None, &mixed), [Claude, Local]);
        assert!(
            !resolve(AgentRole::Coder, None, &mixed)
                .reason
                .contains("built-in")
        );
    }

    #[test]
    fn nothing_configured_is_explained() {
        let b = resolve(AgentRole::Coder, Some(Claude), &Catalog::default());
        assert_eq!(b.provider, None);
        assert!(b.reason.contains("no AI provider is configured"));
        let all = bindings(&AiPreferences::default(), &Catalog::default());
        assert_eq!(all.len(), 4);
    }
}
