//! EXITON's pure domain: the model, the use cases and the ports (traits) that
//! adapters implement. Nothing here knows about HTTP, SQL, Leptos or tokio, so
//! the same rules hold whether a change arrives from the UI, the REST API or a
//! test.
//!
//! One folder per bounded context: `model` (entities and validated value
//! objects), `ports` (what the context needs from the outside world),
//! `service` (use cases) and `error`.

pub mod accounts;
pub mod api_keys;
pub mod band;
pub mod budgets;
pub mod events;
pub mod notifications;
pub mod pagination;
pub mod progress;
pub mod projects;
pub mod repos;
pub mod reviews;
pub mod sessions;
pub mod tasks;
pub mod validation;

/// Opaque error carried by the `Unexpected` variants: an adapter failure the
/// domain cannot act on (a lost connection, a corrupt row).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub use validation::InvalidField;

/// The use cases, bundled for dependency injection: the server builds one
/// from its adapters and hands it to the REST handlers and, as Leptos
/// context, to the server functions.
#[derive(Clone)]
pub struct Services {
    pub accounts: accounts::AccountService,
    /// API keys for `Authorization: Bearer` access to the REST API.
    pub api_keys: api_keys::ApiKeyService,
    /// The configured AI providers, their locked models and resilience state.
    pub band: band::Band,
    pub budgets: budgets::BudgetService,
    /// Runs the band on tasks.
    pub conductor: sessions::Conductor,
    /// The human's reviews of the band's work.
    pub reviews: reviews::ReviewService,
    /// A project's or task's sessions, for lists.
    pub history: sessions::HistoryService,
    /// Plays sessions in the background: every run goes through it.
    pub runner: std::sync::Arc<dyn sessions::SessionRunner>,
    pub projects: projects::ProjectService,
    /// Each project's git repository.
    pub repos: repos::RepositoryService,
    pub tasks: tasks::TaskService,
    /// Each user's notification inbox.
    pub inbox: notifications::InboxService,
    /// What reactions to events left undone (dead letters).
    pub reactions: events::ReactionService,
}

#[cfg(test)]
mod board_tests;
#[cfg(test)]
mod testing;
