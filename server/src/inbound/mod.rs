//! Inbound adapters: the REST API, cross-site request protection, the
//! session cookie and how static files and responses are sent.

pub mod api;
pub mod body_limit;
pub mod client_addr;
pub mod csrf;
pub mod live;
pub mod request_context;
pub mod security_headers;
pub mod static_files;
