//! EXITON's server: configuration, wiring, and the inbound (HTTP) and
//! outbound (database, hashing) adapters around the pure `domain` crate.

pub mod config;
pub mod inbound;
pub mod outbound;
pub mod runner;
pub mod serve;
pub mod startup;
pub mod state;
pub mod telemetry;
