//! The session runner on tokio (the `SessionRunner` port): every run the
//! product starts — from the API or the UI, a new session or a continuation
//! after an approval — is played here, in a tracing span of its own that
//! carries the session and the request that started it, with the request's
//! ids kept for the events it appends.
//!
//! On shutdown, runs get a bounded time to end on their own; the rest are
//! halted as interrupted (their calls cut, what they spent settled, the
//! session failed with the reason) and given a moment to record that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use domain::events::{DomainEvent, StoredEvent};
use domain::sessions::{
    Conductor, Halt, LiveRun, RunControl, SessionJob, SessionRunner, SessionStatus,
};
use tokio::sync::broadcast;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::inbound::request_context;

/// How long halted runs get to record themselves at shutdown.
const RECORD_GRACE: Duration = Duration::from_secs(5);

/// Plays sessions on tokio and keeps track of the live ones.
#[derive(Clone)]
pub struct TokioRunner {
    conductor: Conductor,
    live: Arc<Mutex<HashMap<Uuid, Arc<RunControl>>>>,
    tasks: TaskTracker,
}

impl TokioRunner {
    pub fn new(conductor: Conductor) -> Self {
        Self {
            conductor,
            live: Arc::default(),
            tasks: TaskTracker::new(),
        }
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<RunControl>>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl SessionRunner for TokioRunner {
    /// Waits up to `grace` for the live runs to end, then halts the rest as
    /// interrupted and waits briefly for them to be recorded.
    async fn shutdown(&self, grace: Duration) -> usize {
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_ok() {
            return 0;
        }
        let halted: Vec<Arc<RunControl>> = self.runs().values().cloned().collect();
        for control in &halted {
            control.halt(Halt::Interrupted);
        }
        if tokio::time::timeout(RECORD_GRACE, self.tasks.wait())
            .await
            .is_err()
        {
            // What is left is failed by `fail_abandoned` on a later start.
            tracing::warn!(
                runs = self.runs().len(),
                "runs did not record their interruption in time"
            );
        }
        halted.len()
    }

    fn launch(&self, job: SessionJob) {
        let control = job.control();
        let session_id = job.session_id();
        let ids = request_context::current().unwrap_or_default();
        let span = tracing::info_span!(
            "session_run",
            session = %session_id,
            request_id = ids.request_id.as_deref().unwrap_or(""),
        );
        self.runs().insert(session_id, control.clone());
        let ended = Ended {
            live: self.live.clone(),
            control,
        };
        let conductor = self.conductor.clone();
        let run = async move {
            // Dropped however the run ends, a panic included.
            let _ended = ended;
            match conductor.run(job).await {
                Ok(status) => tracing::info!(status = status.as_str(), "run ended"),
                Err(e) => {
                    tracing::error!(error = %e, cause = ?std::error::Error::source(&e), "run failed")
                }
            }
        };
        self.tasks
            .spawn(request_context::scoped(ids, run).instrument(span));
    }

    fn live(&self, user_id: Option<Uuid>) -> Vec<LiveRun> {
        let mut runs: Vec<LiveRun> = self
            .runs()
            .values()
            .filter(|c| user_id.is_none_or(|u| c.user_id() == u))
            .map(|c| c.snapshot())
            .collect();
        // Longest-running first.
        runs.sort_by_key(|r| std::cmp::Reverse(r.elapsed_ms));
        runs
    }

    fn control(&self, session_id: Uuid) -> Option<Arc<RunControl>> {
        self.runs().get(&session_id).cloned()
    }
}

/// Halts this instance's run of every session cancelled anywhere.
///
/// A cancel made on an instance that does not play the run records the
/// session as cancelled at once (the conductor's `cancel`). Its event
/// reaches every instance's live feed, and the instance playing the run
/// cuts its calls in flight here rather than at its next step; the run
/// then finds the session cancelled and pays what its calls used through
/// a reservation of its own. A feed that lagged past a cancel leaves that
/// run to find out at its next step, as before.
pub fn follow_cancels(
    runner: Arc<dyn SessionRunner>,
    mut events: broadcast::Receiver<Arc<StoredEvent>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let DomainEvent::AiSessionStatusChanged {
                        session_id,
                        to: SessionStatus::Cancelled,
                        ..
                    } = &event.envelope.event
                        && let Some(control) = runner.control(*session_id)
                    {
                        tracing::info!(session = %session_id, "cancelled elsewhere; halting the run");
                        control.halt(Halt::Cancelled);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

/// Takes a run off the live list and marks it ended.
struct Ended {
    live: Arc<Mutex<HashMap<Uuid, Arc<RunControl>>>>,
    control: Arc<RunControl>,
}

impl Drop for Ended {
    fn drop(&mut self) {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.control.session_id());
        self.control.end();
    }
}
