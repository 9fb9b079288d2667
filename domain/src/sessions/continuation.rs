//! The job an approval at the gate sets going (spec §5.3): the conductor's
//! synthesis of the first round's outputs with the human's edits, a plan
//! sized to the user's tier and a reservation of the one call's bound,
//! which the review workflow takes in the decision's transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::plan::TokenPlan;
use super::prompts;
use super::{
    AgentInvocation, AiSession, Conductor, ConductorError, Lineup, SessionJob, SessionStatus,
};
use crate::band::AgentRole;
use crate::budgets::{BudgetError, Reservation};
use crate::reviews::Decision;

impl Conductor {
    /// The synthesis an approval at the gate sets going: the first round's
    /// outputs with the human's edits, a plan sized to the user's tier and
    /// a reservation of the one call's bound (taken in the decision's
    /// transaction).
    pub(crate) async fn continuation(
        &self,
        session: &AiSession,
        outputs: &[AgentInvocation],
        decision: &Decision,
        now: DateTime<Utc>,
    ) -> Result<SessionJob, ConductorError> {
        let task_id = session.task_id.ok_or(ConductorError::TaskNotFound)?;
        let context = self
            .context(session.user_id, task_id, Lineup::default())
            .await?;
        let budget = self.budgets.current(session.user_id).await?;
        // The synthesis works on the agents' outputs, which already answer
        // the repository; it is not shown the code again.
        let ctx = context.prompt(&session.intent, "", "");
        let plan = TokenPlan::fit(
            &ctx,
            budget.max_session_tokens,
            self.settings.max_tokens,
            self.settings.passthrough_bytes,
        );
        let edits = match decision {
            Decision::Modify { outputs, .. } => outputs.clone(),
            _ => BTreeMap::new(),
        };
        let inputs: Vec<(AgentRole, String)> = outputs
            .iter()
            .map(|o| {
                let text = edits.get(&o.role).unwrap_or(&o.response.content);
                (o.role, plan.pass_on(text).into_owned())
            })
            .collect();
        let outputs: Vec<(AgentRole, &str)> =
            inputs.iter().map(|(r, t)| (*r, t.as_str())).collect();
        let bound = plan.call_bound(
            &prompts::system_prompt(AgentRole::Conductor, context.tone),
            &prompts::synthesis_prompt(&ctx, &outputs),
        );
        if bound > budget.remaining() {
            return Err(ConductorError::Budget(BudgetError::MonthlyLimitExceeded {
                requested: bound,
                remaining: budget.remaining(),
                resets_at: budget.resets_at,
            }));
        }
        let mut resumed = session.clone();
        resumed.status = SessionStatus::Executing;
        resumed.resumed_at = Some(now);
        let reservation = Reservation {
            id: Uuid::new_v4(),
            budget_id: budget.id,
            user_id: session.user_id,
            session_id: Some(session.id),
            amount: bound,
        };
        resumed.reservation_id = Some(reservation.id);
        Ok(SessionJob::new(
            resumed,
            reservation,
            plan,
            context,
            Some(inputs),
            String::new(),
            String::new(),
        ))
    }
}
