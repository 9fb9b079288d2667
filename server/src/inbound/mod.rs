//! Inbound adapters: the REST API, cross-site request protection, the
//! session cookie and how static files and responses are sent.

pub mod api;
pub mod csrf;
pub mod live;
pub mod request_context;
pub mod static_files;
