//! `SeaORM` entities for every EXITON table, one module per table.
//!
//! Shaped like `sea-orm-cli generate entity` output so they can be regenerated
//! and diffed against the `migration` crate. String enums stay plain `String`s
//! here; mapping to domain types is the DB adapter's job.

pub mod agent_invocations;
pub mod ai_sessions;
pub mod api_keys;
pub mod bus_cursors;
pub mod dead_letters;
pub mod events;
pub mod human_intervention_points;
pub mod human_reviews;
pub mod model_version_log;
pub mod notifications;
pub mod project_repositories;
pub mod projects;
pub mod reaction_receipts;
pub mod review_requests;
pub mod tasks;
pub mod token_budgets;
pub mod token_reservations;
pub mod tower_sessions;
pub mod users;

pub mod prelude {
    //! `Entity as TableName` aliases, as `sea-orm-cli` generates them.

    pub use super::agent_invocations::Entity as AgentInvocations;
    pub use super::ai_sessions::Entity as AiSessions;
    pub use super::api_keys::Entity as ApiKeys;
    pub use super::bus_cursors::Entity as BusCursors;
    pub use super::dead_letters::Entity as DeadLetters;
    pub use super::events::Entity as Events;
    pub use super::human_intervention_points::Entity as HumanInterventionPoints;
    pub use super::human_reviews::Entity as HumanReviews;
    pub use super::model_version_log::Entity as ModelVersionLog;
    pub use super::notifications::Entity as Notifications;
    pub use super::project_repositories::Entity as ProjectRepositories;
    pub use super::projects::Entity as Projects;
    pub use super::reaction_receipts::Entity as ReactionReceipts;
    pub use super::review_requests::Entity as ReviewRequests;
    pub use super::tasks::Entity as Tasks;
    pub use super::token_budgets::Entity as TokenBudgets;
    pub use super::token_reservations::Entity as TokenReservations;
    pub use super::tower_sessions::Entity as TowerSessions;
    pub use super::users::Entity as Users;
}
