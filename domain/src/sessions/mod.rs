//! AI sessions (spec `AISession`, `AgentInvocation`): one run of the band on
//! a task, its status machine and the record of every agent call. Status
//! changes are conditional ("from → to"), so two actors racing on one
//! session — two tabs, a retry, a restart — cannot both move it.

pub mod concurrency;
mod error;
pub mod gate;
mod model;
mod ports;
pub mod prompts;

pub use crate::band::Attempt;
pub use error::SessionError;
pub use gate::{Assessment, GateDecision, ReviewReason};
pub use model::{
    AgentInvocation, AiSession, Intent, IntentAction, InvocationRecord, SessionStatus,
};
pub use ports::SessionRepository;
