//! The human review workflow (spec §5.3): the human is the conductor.
//!
//! A review request shows the outputs under decision — the first round at
//! the gate, the synthesis for final approval — and a hash of exactly
//! those. A decision is taken against that hash and written, with all its
//! effects, in one transaction that begins by moving the review out of its
//! open states; so a double click, two tabs or a retry after a timeout
//! produce one effect, and the loser of a race for the *same* decision is
//! answered as if it had won (a replay), never with a second effect.
//!
//! Effects, by kind of review and decision:
//! - **gate, approved or modified**: the session plays on — the synthesis
//!   of the first round (with the human's edits) is reserved for in the
//!   same transaction, then run; it ends at a final-approval review;
//! - **final approval, approved or modified**: the session completes and
//!   its task moves to done;
//! - **rejected** (a reason is required) or **expired**: the session fails.
//!
//! Every decision logs an intervention point (spec §5.2) for learning.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Decision, DecisionStep, HumanDecision, InterventionContext, InterventionFilter,
    InterventionPoint, InterventionType, ReviewError, ReviewKind, ReviewRequest, ReviewStatus,
    SuggestedOutput, output_hash,
};
use super::{InterventionStats, intervention_stats};
use crate::InvalidField;
use crate::band::AgentRole;
use crate::budgets::BudgetError;
use crate::events::DomainEvent;
use crate::sessions::{
    AgentInvocation, AiSession, Conductor, SessionError, SessionJob, SessionStatus, StatusMove,
    session_event,
};

/// A review as the reviewer sees it.
#[derive(Debug, Clone)]
pub struct ReviewDetail {
    pub review: ReviewRequest,
    pub decision: Option<HumanDecision>,
    pub session: AiSession,
    /// The outputs under decision, in the order they were made.
    pub outputs: Vec<AgentInvocation>,
    /// The hash a decision must carry: what [`Self::outputs`] hold.
    pub output_hash: String,
    /// Every call of the session, for context.
    pub invocations: Vec<AgentInvocation>,
}

/// What the decision set going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextAction {
    /// The conductor synthesises; a final approval follows.
    Synthesis,
    /// The session is complete and its task done.
    Completed,
    /// The session stopped (rejected).
    Stopped,
}

impl NextAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Synthesis => "synthesis",
            Self::Completed => "completed",
            Self::Stopped => "stopped",
        }
    }
}

/// The outcome of a decision.
pub struct Decided {
    pub review_id: Uuid,
    pub session_id: Uuid,
    pub status: ReviewStatus,
    pub next_action: NextAction,
    /// This request repeated a decision already taken: nothing new happened.
    pub replayed: bool,
    /// For an approval at the gate: the synthesis to run (in the
    /// background, with [`Conductor::run`]). `None` for a replay.
    pub job: Option<SessionJob>,
}

/// The outputs a review shows: for final approval, the latest synthesis
/// made before it; at the gate, the successful first-round outputs.
fn subject<'a>(
    review: &ReviewRequest,
    invocations: &'a [AgentInvocation],
) -> Vec<&'a AgentInvocation> {
    let before = invocations
        .iter()
        .filter(|i| i.invoked_at <= review.created_at && i.response.error.is_none());
    match review.kind {
        ReviewKind::FinalApproval => {
            let mut before = before;
            before
                .rfind(|i| i.role == AgentRole::Conductor)
                .into_iter()
                .collect()
        }
        ReviewKind::Gate => before.filter(|i| i.role != AgentRole::Conductor).collect(),
    }
}

fn hash_of(outputs: &[&AgentInvocation]) -> String {
    output_hash(
        outputs
            .iter()
            .map(|i| (i.id, i.role, i.response.content.as_str())),
    )
}

/// The output a decision is mainly about (and the one to propose for
/// editing): one the safety check flagged, else the least confident.
pub fn main_output(outputs: &[AgentInvocation]) -> Option<usize> {
    outputs
        .iter()
        .position(|i| {
            i.response
                .safety
                .as_ref()
                .is_some_and(|s| s.requires_human_review)
        })
        .or_else(|| {
            outputs
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.confidence.total_cmp(&b.1.confidence))
                .map(|(n, _)| n)
        })
}

/// The review use cases (spec §5.3), over the conductor's stores: it
/// reads sessions and reviews, writes decisions, and hands an approval at
/// the gate back to the conductor as the synthesis to play. Cheap to clone.
#[derive(Clone)]
pub struct ReviewService {
    pub conductor: Conductor,
}

impl ReviewService {
    pub fn new(conductor: Conductor) -> Self {
        Self { conductor }
    }

    /// The user's open reviews, oldest first.
    ///
    /// # Errors
    /// `Unexpected`.
    pub async fn open_reviews(&self, user_id: Uuid) -> Result<Vec<ReviewRequest>, ReviewError> {
        Ok(self.conductor.reviews.open_reviews(user_id).await?)
    }

    /// One review with what it shows.
    ///
    /// # Errors
    /// `NotFound`, `Unexpected`.
    pub async fn review(
        &self,
        user_id: Uuid,
        review_id: Uuid,
    ) -> Result<ReviewDetail, ReviewError> {
        let (review, decision) = self
            .conductor
            .reviews
            .review(user_id, review_id)
            .await?
            .ok_or(ReviewError::NotFound)?;
        let (session, invocations) = self
            .conductor
            .sessions
            .find(user_id, review.session_id)
            .await?
            .ok_or(ReviewError::NotFound)?;
        let outputs: Vec<AgentInvocation> = subject(&review, &invocations)
            .into_iter()
            .cloned()
            .collect();
        let output_hash = hash_of(&outputs.iter().collect::<Vec<_>>());
        Ok(ReviewDetail {
            review,
            decision,
            session,
            outputs,
            output_hash,
            invocations,
        })
    }

    /// The review a human opens: a pending one becomes `under_review`
    /// (with its event); any other is shown as it is.
    ///
    /// # Errors
    /// `NotFound`, `Unexpected`.
    pub async fn open_review(
        &self,
        user_id: Uuid,
        review_id: Uuid,
    ) -> Result<ReviewDetail, ReviewError> {
        let detail = self.review(user_id, review_id).await?;
        if detail.review.status != ReviewStatus::PendingReview {
            return Ok(detail);
        }
        let event = session_event(
            &detail.session,
            DomainEvent::HumanReviewStarted {
                review_id,
                session_id: detail.session.id,
            },
        );
        self.conductor
            .reviews
            .open_review(user_id, review_id, &[event])
            .await?;
        self.review(user_id, review_id).await
    }

    /// The open review of a session, for the session-level approve and
    /// reject routes.
    ///
    /// # Errors
    /// `NotFound` when the session has no open review; `Unexpected`.
    pub async fn open_review_of(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<ReviewRequest, ReviewError> {
        self.conductor
            .reviews
            .reviews(user_id, session_id)
            .await?
            .into_iter()
            .rev()
            .find(|r| r.status.is_open())
            .ok_or(ReviewError::NotFound)
    }

    /// Takes `decision` on a review, bound to `shown_hash` when given (the
    /// UI always gives it; an API client should). Exactly one decision per
    /// review ever takes effect; repeating the one taken answers a replay.
    ///
    /// # Errors
    /// `InvalidField` (a rejection without a reason, an edit of an output
    /// the review does not show), `NotFound`, `Stale`, `AlreadyDecided`,
    /// `Expired`, `SessionMoved`, `Budget` (playing on does not fit the
    /// month; the review stays open), `NoProvider`, `Unexpected`.
    pub async fn decide(
        &self,
        user_id: Uuid,
        review_id: Uuid,
        decision: Decision,
        shown_hash: Option<&str>,
    ) -> Result<Decided, ReviewError> {
        let decision = decision.validated()?;
        let detail = self.review(user_id, review_id).await?;
        if shown_hash.is_some_and(|h| h != detail.output_hash) {
            return Err(ReviewError::Stale);
        }
        if !detail.review.status.is_open() {
            return replay(&detail, &decision);
        }
        let now = Utc::now();
        if now >= detail.review.expires_at {
            self.expire(&detail.review, &detail.session, now).await?;
            return Err(ReviewError::Expired);
        }
        let outputs: Vec<&AgentInvocation> = detail.outputs.iter().collect();
        if let Decision::Modify { outputs: edits, .. } = &decision
            && let Some(role) = edits
                .keys()
                .find(|r| !outputs.iter().any(|o| o.role == **r))
        {
            return Err(InvalidField::new(
                "modifications",
                format!("this review shows no {} output to modify", role.as_str()),
            )
            .into());
        }

        let session = &detail.session;
        let review = &detail.review;
        let main = main_output(&detail.outputs).and_then(|i| detail.outputs.get(i));
        let record = HumanDecision {
            review_id,
            session_id: session.id,
            reviewer_id: user_id,
            invocation_id: main.map(|i| i.id),
            decision: decision.clone(),
            output_hash: detail.output_hash.clone(),
            decided_at: now,
        };
        let intervention = intervention(&detail, &outputs, main, &decision, now);
        let mut events = vec![session_event(session, decision_event(&record, review.kind))];

        let approve = !matches!(decision, Decision::Reject { .. });
        let (to, next_action, failure) = match (&decision, review.kind) {
            (Decision::Reject { reason }, _) => (
                SessionStatus::Failed,
                NextAction::Stopped,
                Some(format!("rejected by the reviewer: {reason}")),
            ),
            (_, ReviewKind::FinalApproval) => {
                (SessionStatus::Completed, NextAction::Completed, None)
            }
            (_, ReviewKind::Gate) => (SessionStatus::Executing, NextAction::Synthesis, None),
        };
        events.push(session_event(
            session,
            DomainEvent::AiSessionStatusChanged {
                session_id: session.id,
                from: SessionStatus::AwaitingReview,
                to,
                reason: failure.clone(),
            },
        ));

        // Playing on is reserved for in the decision's own transaction.
        let job = match (approve, review.kind) {
            (true, ReviewKind::Gate) => Some(
                self.conductor
                    .continuation(&detail.session, &detail.outputs, &decision, now)
                    .await?,
            ),
            _ => None,
        };
        let step = DecisionStep {
            review_id,
            session_id: session.id,
            to: decision.status(),
            decision: Some(&record),
            intervention: Some(&intervention),
            status: StatusMove {
                from: SessionStatus::AwaitingReview,
                to,
                failure: failure.as_deref(),
            },
            reserve: job.as_ref().map(SessionJob::reservation),
            at: now,
            events: &events,
        };
        match self.conductor.reviews.decide(step).await {
            Ok(()) => Ok(Decided {
                review_id,
                session_id: session.id,
                status: decision.status(),
                next_action,
                replayed: false,
                job,
            }),
            // Someone decided first: the same decision is a replay.
            Err(SessionError::ReviewClosed { .. }) => {
                replay(&self.review(user_id, review_id).await?, &decision)
            }
            Err(SessionError::BudgetRefused) => {
                let budget = self
                    .conductor
                    .budgets
                    .current(user_id)
                    .await
                    .map_err(ReviewError::Budget)?;
                Err(ReviewError::Budget(BudgetError::MonthlyLimitExceeded {
                    requested: job.as_ref().map_or(0, |j| j.reservation().amount),
                    remaining: budget.remaining(),
                    resets_at: budget.resets_at,
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Expires one open review: it becomes `expired` and its session fails.
    async fn expire(
        &self,
        review: &ReviewRequest,
        session: &AiSession,
        now: DateTime<Utc>,
    ) -> Result<bool, ReviewError> {
        let why = "the review expired: nobody decided in time";
        let events = [
            session_event(
                session,
                DomainEvent::ReviewExpired {
                    review_id: review.id,
                    session_id: session.id,
                },
            ),
            session_event(
                session,
                DomainEvent::AiSessionStatusChanged {
                    session_id: session.id,
                    from: SessionStatus::AwaitingReview,
                    to: SessionStatus::Failed,
                    reason: Some(why.into()),
                },
            ),
        ];
        let step = DecisionStep {
            review_id: review.id,
            session_id: session.id,
            to: ReviewStatus::Expired,
            decision: None,
            intervention: None,
            status: StatusMove {
                from: SessionStatus::AwaitingReview,
                to: SessionStatus::Failed,
                failure: Some(why),
            },
            reserve: None,
            at: now,
            events: &events,
        };
        match self.conductor.reviews.decide(step).await {
            Ok(()) => Ok(true),
            // Decided (or expired) meanwhile.
            Err(SessionError::ReviewClosed { .. } | SessionError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Expires every open review past its time, whoever looks or not; run
    /// periodically. Answers how many expired.
    ///
    /// # Errors
    /// `Unexpected`.
    pub async fn expire_overdue(&self, now: DateTime<Utc>) -> Result<usize, ReviewError> {
        let mut expired = 0;
        for review in self.conductor.reviews.overdue_reviews(now).await? {
            let Some((session, _)) = self
                .conductor
                .sessions
                .find(review.user_id, review.session_id)
                .await?
            else {
                continue;
            };
            if self.expire(&review, &session, now).await? {
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// The user's interventions (newest first, at most `limit`) with the
    /// approval rates over all of them, whatever the filter.
    ///
    /// # Errors
    /// `Unexpected`.
    pub async fn interventions(
        &self,
        user_id: Uuid,
        filter: &InterventionFilter,
        limit: u64,
    ) -> Result<(Vec<InterventionPoint>, InterventionStats), ReviewError> {
        let all = self
            .conductor
            .reviews
            .interventions(user_id, &InterventionFilter::default(), 10_000)
            .await?;
        let stats = intervention_stats(&all);
        let shown = all
            .into_iter()
            .filter(|p| filter.agent.is_none_or(|a| a == p.agent))
            .filter(|p| filter.kind.is_none_or(|k| k == p.kind))
            .filter(|p| filter.session_id.is_none_or(|s| s == p.session_id))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        Ok((shown, stats))
    }
}

/// A repeat of a decided review: the same decision is answered as taken
/// (nothing happens again); any other is refused.
fn replay(detail: &ReviewDetail, decision: &Decision) -> Result<Decided, ReviewError> {
    let status = detail.review.status;
    match &detail.decision {
        Some(taken) if taken.decision == *decision => Ok(Decided {
            review_id: detail.review.id,
            session_id: detail.session.id,
            status,
            next_action: match (status, detail.review.kind) {
                (ReviewStatus::Rejected, _) => NextAction::Stopped,
                (_, ReviewKind::Gate) => NextAction::Synthesis,
                (_, ReviewKind::FinalApproval) => NextAction::Completed,
            },
            replayed: true,
            job: None,
        }),
        _ if status == ReviewStatus::Expired => Err(ReviewError::Expired),
        _ => Err(ReviewError::AlreadyDecided { status }),
    }
}

fn decision_event(record: &HumanDecision, kind: ReviewKind) -> DomainEvent {
    let (review_id, session_id, reviewer_id, output_hash) = (
        record.review_id,
        record.session_id,
        record.reviewer_id,
        record.output_hash.clone(),
    );
    match &record.decision {
        Decision::Approve { comment } => DomainEvent::HumanApproved {
            review_id,
            session_id,
            reviewer_id,
            kind,
            output_hash,
            comment: comment.clone(),
        },
        Decision::Modify { outputs, comment } => DomainEvent::HumanModified {
            review_id,
            session_id,
            reviewer_id,
            kind,
            output_hash,
            roles: outputs.keys().copied().collect(),
            comment: comment.clone(),
        },
        Decision::Reject { reason } => DomainEvent::HumanRejected {
            review_id,
            session_id,
            reviewer_id,
            kind,
            output_hash,
            reason: reason.clone(),
        },
    }
}

fn intervention(
    detail: &ReviewDetail,
    outputs: &[&AgentInvocation],
    main: Option<&AgentInvocation>,
    decision: &Decision,
    now: DateTime<Utc>,
) -> InterventionPoint {
    let (reason, modifications) = match decision {
        Decision::Approve { comment } => (comment.clone().unwrap_or_default(), BTreeMap::new()),
        Decision::Modify { outputs, comment } => {
            (comment.clone().unwrap_or_default(), outputs.clone())
        }
        Decision::Reject { reason } => (reason.clone(), BTreeMap::new()),
    };
    InterventionPoint {
        id: Uuid::new_v4(),
        session_id: detail.session.id,
        user_id: detail.session.user_id,
        task_id: detail.session.task_id,
        kind: InterventionType::of(decision),
        agent: main.map_or(detail.session.conductor, |i| i.agent),
        role: main.map_or(AgentRole::Conductor, |i| i.role),
        suggestion: outputs
            .iter()
            .map(|o| SuggestedOutput {
                invocation_id: o.id,
                role: o.role,
                agent: o.agent,
                confidence: o.confidence,
                content: o.response.content.clone(),
            })
            .collect(),
        confidence: main.map_or(detail.review.average_confidence, |i| i.confidence),
        reasoning: main
            .map(|i| i.response.reasoning.join("\n"))
            .filter(|r| !r.is_empty()),
        decision: decision.clone(),
        reason,
        context: InterventionContext {
            review_kind: detail.review.kind,
            reasons: detail.review.reasons.clone(),
            average_confidence: detail.review.average_confidence,
            action: detail.session.intent.action,
            modifications,
        },
        at: now,
    }
}
