//! Inbound adapters: the REST API, cross-site request protection and the
//! session cookie.

pub mod api;
pub mod csrf;
pub mod live;
pub mod request_context;
