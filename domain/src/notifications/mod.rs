//! The notification inbox (issue 17): what a user should know about without
//! watching — a review waiting for them, a review that expired, a session
//! that ended — kept per user until read. Filled by a reaction to events
//! ([`InboxReaction`]), read and marked through [`InboxService`].

mod error;
mod model;
mod ports;
mod reaction;
mod service;

pub use error::NotificationError;
pub use model::{Notification, NotificationKind};
pub use ports::NotificationRepository;
pub use reaction::InboxReaction;
pub use service::InboxService;
