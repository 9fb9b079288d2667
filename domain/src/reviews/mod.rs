//! Human reviews (spec §5.3): the requests the gate and the synthesis
//! leave for a human, the decisions taken on them (approve, modify,
//! reject, or expiry) with their effects, and the intervention log with
//! its statistics (spec §5.2). Sessions create review requests; this
//! context decides them.

mod error;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;
mod stats;

pub use error::ReviewError;
pub use model::{
    Decision, HumanDecision, InterventionContext, InterventionFilter, InterventionPoint,
    InterventionType, ReviewKind, ReviewRequest, ReviewStatus, SuggestedOutput, output_hash,
    output_role,
};
pub use ports::{DecisionStep, ReviewRecord, ReviewStore};
pub use service::{Decided, NextAction, ReviewDetail, ReviewService, main_output};
pub use stats::{ApprovalRate, InterventionStats, intervention_stats};
