//! Inbound adapters: the REST API, cross-site request protection, the
//! session cookie and how static files and responses are sent, and the
//! reactions that consume the event bus.

pub mod api;
pub mod body_limit;
pub mod client_addr;
pub mod csrf;
pub mod live;
pub mod reactions;
pub mod request_context;
pub mod security_headers;
pub mod static_files;
