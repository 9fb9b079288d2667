//! The session runner (issue 17): one owner for every background run.
//!
//! A started session's job goes to the [`SessionRunner`] port; the server's
//! adapter plays it on tokio, in a tracing span of its own, keeping the
//! request's ids. Each run carries a [`RunControl`]: the conductor writes
//! its progress there (each agent's state, tokens so far) and watches it for
//! a halt — a cancel by the owner, or the server shutting down — on which
//! the in-flight provider calls are dropped and the session is recorded
//! with exactly what was spent.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::concurrency::Signal;
use super::{SessionJob, SessionStatus};
use crate::band::AgentRole;

/// Where one agent of a live run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Not called yet.
    Waiting,
    /// Its call is in flight.
    Calling,
    /// It answered.
    Done,
    /// Every provider of its chain failed.
    Failed,
}

/// One agent of a live run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProgress {
    pub role: AgentRole,
    pub state: AgentState,
}

/// A run in progress, as the runner lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRun {
    pub session_id: Uuid,
    pub task_id: Option<Uuid>,
    pub user_id: Uuid,
    /// The agents called so far or waiting, in the order they were asked.
    pub agents: Vec<AgentProgress>,
    pub elapsed_ms: u64,
    /// Tokens the finished calls used (settled when the run's step lands).
    pub tokens_used: i64,
}

/// Why a run was stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Halt {
    /// Its owner cancelled it: the session becomes `cancelled`.
    Cancelled,
    /// The server is shutting down: the session is failed as interrupted.
    Interrupted,
}

impl Halt {
    /// The status a halted session ends in, and the reason recorded.
    pub fn outcome(self) -> (SessionStatus, &'static str) {
        match self {
            Self::Cancelled => (SessionStatus::Cancelled, "cancelled by its owner"),
            Self::Interrupted => (
                SessionStatus::Failed,
                "interrupted: the server stopped while the band was playing",
            ),
        }
    }
}

/// Shared between a run (which reports progress and watches for a halt)
/// and its runner (which lists and stops it).
#[derive(Debug)]
pub struct RunControl {
    session_id: Uuid,
    task_id: Option<Uuid>,
    user_id: Uuid,
    started: Instant,
    halt: Signal,
    why: Mutex<Option<Halt>>,
    ended: Signal,
    agents: Mutex<Vec<AgentProgress>>,
    tokens: AtomicI64,
}

impl RunControl {
    pub fn new(session_id: Uuid, task_id: Option<Uuid>, user_id: Uuid) -> Self {
        Self {
            session_id,
            task_id,
            user_id,
            started: Instant::now(),
            halt: Signal::default(),
            why: Mutex::new(None),
            ended: Signal::default(),
            agents: Mutex::new(Vec::new()),
            tokens: AtomicI64::new(0),
        }
    }

    pub fn session_id(&self) -> Uuid {
        self.session_id
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    /// Asks the run to stop; the first reason wins. Harmless when repeated
    /// or after the run ended.
    pub fn halt(&self, why: Halt) {
        {
            let mut slot = self.why.lock().unwrap_or_else(PoisonError::into_inner);
            slot.get_or_insert(why);
        }
        self.halt.raise();
    }

    /// Why the run was asked to stop, if it was.
    pub fn halted(&self) -> Option<Halt> {
        *self.why.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the run is asked to stop; answers why.
    pub async fn halt_requested(&self) -> Halt {
        self.halt.raised().await;
        self.halted().unwrap_or(Halt::Cancelled)
    }

    /// Marks the run over (its outcome is stored). The runner calls this
    /// when the run's future returns.
    pub fn end(&self) {
        self.ended.raise();
    }

    /// Waits until the run is over.
    pub async fn ended(&self) {
        self.ended.raised().await;
    }

    pub fn is_ended(&self) -> bool {
        self.ended.is_raised()
    }

    /// The agent `role` moved to `state`.
    pub fn agent(&self, role: AgentRole, state: AgentState) {
        let mut agents = self.agents.lock().unwrap_or_else(PoisonError::into_inner);
        match agents.iter_mut().find(|a| a.role == role) {
            Some(a) => a.state = state,
            None => agents.push(AgentProgress { role, state }),
        }
    }

    /// A call finished having used `tokens`.
    pub fn spent(&self, tokens: i64) {
        self.tokens.fetch_add(tokens, Ordering::Relaxed);
    }

    /// What the runner shows of this run now.
    pub fn snapshot(&self) -> LiveRun {
        LiveRun {
            session_id: self.session_id,
            task_id: self.task_id,
            user_id: self.user_id,
            agents: self
                .agents
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            tokens_used: self.tokens.load(Ordering::Relaxed),
        }
    }
}

/// Plays sessions in the background and keeps track of them (port; the
/// server's adapter runs them on tokio).
#[async_trait::async_trait]
pub trait SessionRunner: Send + Sync {
    /// Plays `job` in the background until it ends or is halted.
    fn launch(&self, job: SessionJob);

    /// The runs in progress on this instance: every user's, or one's.
    fn live(&self, user_id: Option<Uuid>) -> Vec<LiveRun>;

    /// The control of the run of `session_id` on this instance, if one is
    /// in progress here.
    fn control(&self, session_id: Uuid) -> Option<std::sync::Arc<RunControl>>;

    /// Stops taking runs, lets the live ones end within `grace`, then
    /// halts the rest as interrupted. Answers how many were halted.
    async fn shutdown(&self, grace: Duration) -> usize;
}

/// How long a cancel waits for the halted run to record itself before it
/// answers anyway: dropping the calls is immediate, the record one commit.
pub const CANCEL_WAIT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_keeps_each_agent_once_in_asking_order() {
        let c = RunControl::new(Uuid::new_v4(), None, Uuid::new_v4());
        c.agent(AgentRole::Coder, AgentState::Calling);
        c.agent(AgentRole::Designer, AgentState::Calling);
        c.agent(AgentRole::Coder, AgentState::Done);
        c.spent(120);
        c.spent(30);
        let s = c.snapshot();
        assert_eq!(
            s.agents,
            vec![
                AgentProgress {
                    role: AgentRole::Coder,
                    state: AgentState::Done
                },
                AgentProgress {
                    role: AgentRole::Designer,
                    state: AgentState::Calling
                },
            ]
        );
        assert_eq!(s.tokens_used, 150);
    }

    #[test]
    fn the_first_halt_reason_wins_and_repeats_are_harmless() {
        let c = RunControl::new(Uuid::new_v4(), None, Uuid::new_v4());
        assert_eq!(c.halted(), None);
        c.halt(Halt::Cancelled);
        c.halt(Halt::Interrupted);
        assert_eq!(c.halted(), Some(Halt::Cancelled));
        let why = futures_lite_block_on(c.halt_requested());
        assert_eq!(why, Halt::Cancelled);
    }

    /// Polls a future that is ready at once.
    fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("not ready"),
        }
    }
}
