//! Outbound adapters: the technology behind the domain's ports.

pub mod ai;
pub mod bus;
pub mod db;
pub mod git;
pub mod hashing;
pub mod random;
pub mod secrets;
