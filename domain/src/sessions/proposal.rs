//! The coder's proposal made real (issue 18): on a project with a linked
//! repository, the files and diffs the coder proposed become a commit on
//! the task's branch, built on the session's base commit without touching
//! any work tree. A proposal that does not apply stops at the gate with
//! the reason, never silently dropped.

use super::{AiSession, ConductorError, SessionJob};
use crate::band::CoderOutput;
use crate::repos::{ChangeRequest, ProposedEdit, RepoError, SessionChange};

impl super::Conductor {
    /// What becomes of the coder's `output` for `job`'s session: `None`
    /// when there is nothing to build (no repository, no proposed file).
    ///
    /// # Errors
    /// `Unexpected` when the repository cannot be read or written at all.
    pub(super) async fn propose(
        &self,
        job: &SessionJob,
        output: Option<&CoderOutput>,
    ) -> Result<Option<SessionChange>, ConductorError> {
        let (Some(repos), Some(code), Some(output)) = (&self.code, &job.session.code, output)
        else {
            return Ok(None);
        };
        let edits = ProposedEdit::from_coder(output);
        if edits.is_empty() {
            return Ok(None);
        }
        let request = ChangeRequest {
            base_commit: code.commit.clone(),
            task_title: job.task_title.clone(),
            short_id: short_id(&job.session),
            message: commit_message(&job.task_title, &job.session),
            edits,
        };
        match repos
            .propose(job.session.user_id, job.session.project_id, &request)
            .await
        {
            Ok(made) => Ok(Some(SessionChange::Proposed(made))),
            Err(RepoError::Unexpected(e)) => Err(ConductorError::Unexpected(e)),
            Err(RepoError::ProposalRefused(why)) => Ok(Some(SessionChange::Refused { why })),
            // Unlinked or archived meanwhile: the human should know.
            Err(other) => Ok(Some(SessionChange::Refused {
                why: other.to_string(),
            })),
        }
    }
}

/// The session's first eight hex digits: enough to tell its branch apart.
fn short_id(session: &AiSession) -> String {
    session.id.simple().to_string().chars().take(8).collect()
}

/// The proposal's commit message: the task, and the session as a trailer
/// (which also finds the commit again once it lands).
fn commit_message(task_title: &str, session: &AiSession) -> String {
    format!(
        "{task_title}\n\nProposed by EXITON's band; waiting for a human's review.\n\nExiton-Session: {}\n",
        session.id
    )
}
