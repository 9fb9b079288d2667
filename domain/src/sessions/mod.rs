//! AI sessions (spec `AISession`, `AgentInvocation`): one run of the band on
//! a task, its status machine and the record of every agent call. Status
//! changes are conditional ("from → to"), so two actors racing on one
//! session — two tabs, a retry, a restart — cannot both move it.

mod code;
pub mod concurrency;
mod conductor;
#[cfg(test)]
mod conductor_tests;
mod continuation;
mod error;
pub mod gate;
mod history;
mod lifecycle;
mod line_diff;
mod live;
mod model;
mod plan;
mod play;
mod ports;
pub mod prompts;
mod runner;
mod scoring;

pub use crate::band::Attempt;
pub(crate) use conductor::session_event;
pub use conductor::{Conductor, ConductorError, ConductorSettings, SessionJob, Started};
pub use error::SessionError;
pub use gate::{Assessment, GateDecision, ReviewReason};
pub use history::{HistoryError, HistoryService, SessionHistory, SessionScope};
pub use line_diff::{DiffLine, LineChange, line_diff};
pub use live::LiveTap;
pub use model::{
    AgentInvocation, AiSession, Intent, IntentAction, InvocationRecord, Lineup, SessionStatus,
};
pub use ports::{SessionRepository, SessionStep, StatusMove};
// The review model, where sessions meet it: a session's steps create
// review requests.
pub use crate::reviews::{ReviewKind, ReviewRequest, ReviewStatus};
pub use runner::{
    AgentProgress, AgentState, CANCEL_WAIT, Halt, LiveRun, RunControl, SessionRunner,
};
