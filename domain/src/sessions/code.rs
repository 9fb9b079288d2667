//! A session's code (issue 18). Before it starts, what the band is shown
//! of the project's repository: its map and the files most relevant to the
//! task, at the base branch's tip. Once the coder answers, the files and
//! diffs it proposed become a commit on the task's branch, built on that
//! base commit without touching any work tree; a proposal that does not
//! apply stops at the gate with the reason, never silently dropped.

use uuid::Uuid;

use super::conductor::JobContext;
use super::{AiSession, ConductorError, Intent, SessionJob};
use crate::band::CoderOutput;
use crate::repos::{ChangeRequest, ProposedEdit, RepoError, SessionChange};

/// The most file text a session's prompts carry.
const CODE_BYTES_MAX: usize = 48 * 1024;
/// The most entries of the repository's map a prompt lists.
const CODE_MAP_ENTRIES: usize = 200;

impl super::Conductor {
    /// What the band is shown of the project's repository, if one is
    /// linked: ranked against the task's words, within a twelfth of the
    /// session's token limit (every prompt carries it), at most 48 KiB.
    pub(super) async fn code_context(
        &self,
        user_id: Uuid,
        context: &JobContext,
        intent: &Intent,
        session_tokens: i64,
    ) -> Result<Option<crate::repos::CodeContext>, ConductorError> {
        let Some(repos) = &self.code else {
            return Ok(None);
        };
        let ask = crate::repos::ContextAsk {
            text: format!(
                "{}\n{}\n{}",
                context.task.title, context.task.description, intent.context
            ),
            budget_bytes: usize::try_from(session_tokens / 12)
                .unwrap_or(0)
                .min(CODE_BYTES_MAX),
            map_cap: CODE_MAP_ENTRIES,
        };
        repos
            .context(user_id, context.project.id, &ask)
            .await
            .map_err(|e| match e {
                crate::repos::RepoError::Unexpected(e) => ConductorError::Unexpected(e),
                crate::repos::RepoError::ProjectNotFound => ConductorError::TaskNotFound,
                other => ConductorError::Repository(other.to_string()),
            })
    }

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
