//! Outbound adapters: the technology behind the domain's ports.

pub mod ai;
pub mod db;
pub mod hashing;
