//! One module per page.

pub mod auth;
pub mod band;
pub mod board;
pub mod not_found;
pub mod projects;
pub mod repository;
pub mod reviews;
pub mod settings;
