//! Live viewing of a run: the port through which the conductor hands the
//! agents' token deltas to whoever watches (the WebSocket hub). Deltas are
//! not events — they are not stored, and a viewer that misses some still
//! gets the whole output with the `AgentInvoked` event — so this is a
//! fire-and-forget tap, not part of the event log.

use uuid::Uuid;

use crate::band::{AgentRole, DeltaSink};

/// Receives the deltas of agents' streaming calls.
pub trait LiveTap: Send + Sync {
    /// Whether anyone watches `user_id`'s sessions now. Calls stream only
    /// then: streaming costs more than one plain answer, for nobody.
    fn watching(&self, user_id: Uuid) -> bool;

    /// `text` came in for `role` in `session_id`.
    fn delta(&self, user_id: Uuid, session_id: Uuid, role: AgentRole, text: &str);

    /// The deltas sent so far for `role` belong to a failed attempt.
    fn restart(&self, user_id: Uuid, session_id: Uuid, role: AgentRole, reason: &str);
}

/// One agent's call, as a [`DeltaSink`] that feeds a [`LiveTap`].
pub(super) struct AgentSink<'a> {
    pub tap: &'a dyn LiveTap,
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub role: AgentRole,
}

impl DeltaSink for AgentSink<'_> {
    fn delta(&self, text: &str) {
        self.tap
            .delta(self.user_id, self.session_id, self.role, text);
    }

    fn restart(&self, reason: &str) {
        self.tap
            .restart(self.user_id, self.session_id, self.role, reason);
    }
}
