//! A session's life around its run: retry (a new session with the
//! human's feedback), cancel, the sweep for sessions a stopped server left
//! playing, and the session as its owner sees it.

use chrono::Utc;
use uuid::Uuid;

use super::conductor::status_event;
use super::runner::{CANCEL_WAIT, Halt, SessionRunner};
use super::{
    AgentInvocation, AiSession, Conductor, ConductorError, Lineup, ReviewRequest, SessionError,
    SessionStatus, SessionStep, Started, StatusMove,
};

impl Conductor {
    /// Runs a failed, cancelled or rejected session again, as a new
    /// session linked to it (`retry_of`) with the same intent. The human's
    /// rejection reasons, comments and edits on it go to the band as
    /// feedback in every prompt.
    ///
    /// # Errors
    /// `SessionNotFound`, `NotRetryable` for a session that is playing, at
    /// the gate or completed, `TaskNotFound` when its task is gone, and
    /// whatever starting a session can answer.
    pub async fn retry(&self, user_id: Uuid, session_id: Uuid) -> Result<Started, ConductorError> {
        let (old, _) = self
            .sessions
            .find(user_id, session_id)
            .await?
            .ok_or(ConductorError::SessionNotFound)?;
        if !matches!(old.status, SessionStatus::Failed | SessionStatus::Cancelled) {
            return Err(ConductorError::NotRetryable { status: old.status });
        }
        let task_id = old.task_id.ok_or(ConductorError::TaskNotFound)?;
        let filter = crate::reviews::InterventionFilter {
            session_id: Some(old.id),
            ..Default::default()
        };
        let mut decisions = self.reviews.interventions(user_id, &filter, 20).await?;
        decisions.reverse();
        let feedback = feedback_of(&decisions, self.settings.passthrough_bytes);
        self.begin(
            user_id,
            task_id,
            old.intent,
            Lineup::default(),
            Some((old.id, feedback)),
        )
        .await
    }

    /// Cancels the run of `session_id`: its provider calls are dropped, what
    /// they used is settled, the rest of the reservation is released, and
    /// the session becomes `cancelled` (with its event). Cancelling a
    /// cancelled session again answers `cancelled`.
    ///
    /// A run in progress on this instance is halted through `runner` and
    /// records itself; a session `executing` with no run here (playing on
    /// another instance, or left by a stopped server) is moved here, its
    /// reservation released — a run elsewhere then finds its next step
    /// refused and charges what it spent through a reservation of its own.
    ///
    /// # Errors
    /// `SessionNotFound`, `NotRunning` for a session at the gate or ended
    /// otherwise, `Unexpected`.
    pub async fn cancel(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        runner: &dyn SessionRunner,
    ) -> Result<SessionStatus, ConductorError> {
        let (session, _) = self
            .sessions
            .find(user_id, session_id)
            .await?
            .ok_or(ConductorError::SessionNotFound)?;
        match session.status {
            SessionStatus::Cancelled => return Ok(SessionStatus::Cancelled),
            SessionStatus::Executing | SessionStatus::Pending => {}
            status => return Err(ConductorError::NotRunning { status }),
        }
        if let Some(control) = runner.control(session_id) {
            control.halt(Halt::Cancelled);
            // The halted run drops its calls at once and records itself
            // with one commit; wait for it so the answer is the outcome.
            let _ = super::concurrency::with_deadline(
                control.ended(),
                CANCEL_WAIT,
                self.sleeper.as_ref(),
            )
            .await;
        } else {
            let (to, why) = Halt::Cancelled.outcome();
            let events = [status_event(&session, to, Some(why.into()))];
            let step = SessionStep {
                status: Some(StatusMove {
                    from: session.status,
                    to,
                    failure: Some(why),
                }),
                release: session.reservation_id,
                ..SessionStep::new(session.id, Utc::now(), &events)
            };
            match self.sessions.commit(step).await {
                Ok(()) | Err(SessionError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let (now, _) = self
            .sessions
            .find(user_id, session_id)
            .await?
            .ok_or(ConductorError::SessionNotFound)?;
        match now.status {
            SessionStatus::Cancelled => Ok(SessionStatus::Cancelled),
            // It reached its end before the cancel did.
            status => Err(ConductorError::NotRunning { status }),
        }
    }

    /// The longest a run can take: coder then reviewer, then the
    /// conductor, each within its deadline, plus a minute for bookkeeping.
    pub fn longest_run(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.agent_timeout * 3)
            .unwrap_or(chrono::Duration::MAX)
            .checked_add(&chrono::Duration::minutes(1))
            .unwrap_or(chrono::Duration::MAX)
    }

    /// Fails the sessions still `executing` long after any run could have
    /// ended — left behind by a server that stopped mid-run — and returns
    /// their reservations to the month. Safe with several instances: a live
    /// run is never that old. Answers how many were failed.
    ///
    /// # Errors
    /// `Unexpected` on storage failure.
    pub async fn fail_abandoned(
        &self,
        now: chrono::DateTime<Utc>,
    ) -> Result<usize, ConductorError> {
        let (_, why) = Halt::Interrupted.outcome();
        let cutoff = now - self.longest_run();
        let mut failed = 0;
        for session in self.sessions.unfinished().await? {
            // A session set playing again by an approval counts from then.
            let since = session.resumed_at.unwrap_or(session.started_at);
            if session.status != SessionStatus::Executing || since > cutoff {
                continue;
            }
            let events = [status_event(
                &session,
                SessionStatus::Failed,
                Some(why.into()),
            )];
            let step = SessionStep {
                status: Some(StatusMove {
                    from: SessionStatus::Executing,
                    to: SessionStatus::Failed,
                    failure: Some(why),
                }),
                release: session.reservation_id,
                ..SessionStep::new(session.id, now, &events)
            };
            match self.sessions.commit(step).await {
                Ok(()) => failed += 1,
                // It ended on its own meanwhile.
                Err(SessionError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(failed)
    }

    /// The session with its invocations and review requests, if it belongs
    /// to `user_id`.
    ///
    /// # Errors
    /// `SessionNotFound`, `Unexpected`.
    pub async fn session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<(AiSession, Vec<AgentInvocation>, Vec<ReviewRequest>), ConductorError> {
        let (session, invocations) = self
            .sessions
            .find(user_id, session_id)
            .await?
            .ok_or(ConductorError::SessionNotFound)?;
        let reviews = self.reviews.reviews(user_id, session_id).await?;
        Ok((session, invocations, reviews))
    }
}

/// The human's decisions on a session, oldest first, as feedback for a
/// retry: each rejection's reason, each comment and each edit, cut to
/// `cap` bytes at a character boundary.
fn feedback_of(decisions: &[crate::reviews::InterventionPoint], cap: usize) -> String {
    use crate::reviews::InterventionType;
    let mut out = String::new();
    for d in decisions {
        let reason = d.reason.trim();
        match d.kind {
            InterventionType::Rejection if !reason.is_empty() => {
                out.push_str(&format!("Rejected: {reason}\n"));
            }
            InterventionType::Rejection => out.push_str("Rejected, with no reason given.\n"),
            InterventionType::Modification | InterventionType::Approval => {
                if !reason.is_empty() {
                    out.push_str(&format!("Comment: {reason}\n"));
                }
                for (role, text) in &d.context.modifications {
                    out.push_str(&format!(
                        "The human edited the {}'s output to:\n{}\n",
                        role.as_str(),
                        text.trim_end()
                    ));
                }
            }
        }
    }
    if out.len() > cap {
        let mut end = cap;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("\n[feedback cut]");
    }
    out.trim_end().to_owned()
}
