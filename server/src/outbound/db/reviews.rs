//! The review workflow's storage, for `SeaOrmSessionRepository`:
//! `review_requests`, `human_reviews` (one decision per request, under the
//! request's id) and `human_intervention_points`.
//!
//! A decision's transaction starts with the conditional move of the review
//! out of its open states. Whoever's update touches the row owns the
//! decision; anyone else touches nothing, rolls back and is told why.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::band::{AgentRole, ProviderKind};
use domain::events::EventEnvelope;
use domain::reviews::{
    Decision, DecisionStep, HumanDecision, InterventionFilter, InterventionPoint, InterventionType,
    ReviewKind, ReviewRecord, ReviewRequest, ReviewStatus, ReviewStore,
};
use domain::sessions::{ReviewReason, SessionError};
use entity::{human_intervention_points as interventions, human_reviews, review_requests};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::ai_sessions::{failure_patch, move_status, why_unmoved};
use super::budgets::reserve_in;
use super::events::apply_with_events;
use super::{CorruptColumn, boxed, from_db_time, to_db_time};

fn unexpected(e: impl std::error::Error + Send + Sync + 'static) -> SessionError {
    SessionError::Unexpected(boxed(e))
}

fn corrupt(column: &'static str, value: &str) -> SessionError {
    SessionError::Unexpected(boxed(CorruptColumn {
        column,
        value: value.to_owned(),
    }))
}

fn parse_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, SessionError> {
    serde_json::from_value(v).map_err(unexpected)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, SessionError> {
    serde_json::to_value(v).map_err(unexpected)
}

pub(super) fn review_row(r: &ReviewRequest) -> Result<review_requests::ActiveModel, SessionError> {
    Ok(review_requests::ActiveModel {
        id: Set(r.id),
        session_id: Set(r.session_id),
        user_id: Set(r.user_id),
        kind: Set(r.kind.as_str().to_owned()),
        status: Set(r.status.as_str().to_owned()),
        reasons: Set(to_json(&r.reasons)?),
        average_confidence: Set(r.average_confidence.clamp(0.0, 1.0)),
        created_at: Set(to_db_time(r.created_at)),
        expires_at: Set(to_db_time(r.expires_at)),
        decided_at: Set(None),
    })
}

pub(super) fn review_to_domain(m: review_requests::Model) -> Result<ReviewRequest, SessionError> {
    let reasons: Vec<ReviewReason> = parse_json(m.reasons)?;
    Ok(ReviewRequest {
        id: m.id,
        session_id: m.session_id,
        user_id: m.user_id,
        kind: ReviewKind::parse(&m.kind).ok_or_else(|| corrupt("review_requests.kind", &m.kind))?,
        status: ReviewStatus::parse(&m.status)
            .ok_or_else(|| corrupt("review_requests.status", &m.status))?,
        reasons,
        average_confidence: m.average_confidence,
        created_at: from_db_time(m.created_at),
        expires_at: from_db_time(m.expires_at),
    })
}

fn decision_row(d: &HumanDecision) -> Result<human_reviews::ActiveModel, SessionError> {
    let (reason, modifications) = match &d.decision {
        Decision::Approve { comment } => (comment.clone(), None),
        Decision::Modify { outputs, comment } => (comment.clone(), Some(to_json(outputs)?)),
        Decision::Reject { reason } => (Some(reason.clone()), None),
    };
    Ok(human_reviews::ActiveModel {
        id: Set(d.review_id),
        session_id: Set(d.session_id),
        reviewer_id: Set(d.reviewer_id),
        ai_response_id: Set(d.invocation_id),
        decision: Set(d.decision.status().as_str().to_owned()),
        reason: Set(reason),
        modifications: Set(modifications),
        reviewed_at: Set(to_db_time(d.decided_at)),
        output_hash: Set(Some(d.output_hash.clone())),
    })
}

fn decision_to_domain(m: human_reviews::Model) -> Result<HumanDecision, SessionError> {
    let decision = match m.decision.as_str() {
        "approved" => Decision::Approve { comment: m.reason },
        "rejected" => Decision::Reject {
            reason: m.reason.unwrap_or_default(),
        },
        "modified" => Decision::Modify {
            outputs: m
                .modifications
                .map(parse_json::<BTreeMap<AgentRole, String>>)
                .transpose()?
                .unwrap_or_default(),
            comment: m.reason,
        },
        other => return Err(corrupt("human_reviews.decision", other)),
    };
    Ok(HumanDecision {
        review_id: m.id,
        session_id: m.session_id,
        reviewer_id: m.reviewer_id,
        invocation_id: m.ai_response_id,
        decision,
        output_hash: m.output_hash.unwrap_or_default(),
        decided_at: from_db_time(m.reviewed_at),
    })
}

fn intervention_row(p: &InterventionPoint) -> Result<interventions::ActiveModel, SessionError> {
    let modifications = match &p.decision {
        Decision::Modify { outputs, .. } => Some(to_json(outputs)?),
        _ => None,
    };
    Ok(interventions::ActiveModel {
        id: Set(p.id),
        session_id: Set(p.session_id),
        user_id: Set(p.user_id),
        task_id: Set(p.task_id),
        intervention_type: Set(p.kind.as_str().to_owned()),
        ai_agent: Set(p.agent.as_str().to_owned()),
        ai_suggestion: Set(to_json(&p.suggestion)?),
        ai_confidence: Set(p.confidence),
        ai_reasoning: Set(p.reasoning.clone()),
        human_decision: Set(to_json(&p.decision)?),
        reason: Set(p.reason.clone()),
        modifications: Set(modifications),
        context: Set(Some(to_json(&p.context)?)),
        timestamp: Set(to_db_time(p.at)),
        tags: Set(None),
        category: Set(Some(p.role.as_str().to_owned())),
    })
}

fn intervention_to_domain(m: interventions::Model) -> Result<InterventionPoint, SessionError> {
    let agent: ProviderKind = serde_json::from_value(serde_json::Value::String(m.ai_agent.clone()))
        .map_err(|_| corrupt("human_intervention_points.ai_agent", &m.ai_agent))?;
    let category = m.category.unwrap_or_default();
    let role: AgentRole = serde_json::from_value(serde_json::Value::String(category.clone()))
        .map_err(|_| corrupt("human_intervention_points.category", &category))?;
    Ok(InterventionPoint {
        id: m.id,
        session_id: m.session_id,
        user_id: m.user_id,
        task_id: m.task_id,
        kind: InterventionType::parse(&m.intervention_type).ok_or_else(|| {
            corrupt(
                "human_intervention_points.intervention_type",
                &m.intervention_type,
            )
        })?,
        agent,
        role,
        suggestion: parse_json(m.ai_suggestion)?,
        confidence: m.ai_confidence,
        reasoning: m.ai_reasoning,
        decision: parse_json(m.human_decision)?,
        reason: m.reason,
        context: parse_json(
            m.context
                .ok_or_else(|| corrupt("human_intervention_points.context", "null"))?,
        )?,
        at: from_db_time(m.timestamp),
    })
}

/// Why a decision's transaction wrote nothing.
const MISSED_REVIEW: u8 = 1;
const MISSED_SESSION: u8 = 2;
const MISSED_BUDGET: u8 = 3;

/// Applies a decision and its effects in one transaction (see the module
/// doc).
/// Review requests, decisions and interventions in the database.
#[derive(Debug, Clone)]
pub struct SeaOrmReviewStore {
    db: DatabaseConnection,
}

impl SeaOrmReviewStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ReviewStore for SeaOrmReviewStore {
    async fn reviews(
        &self,
        owner_id: Uuid,
        session_id: Uuid,
    ) -> Result<Vec<ReviewRequest>, SessionError> {
        review_requests::Entity::find()
            .filter(review_requests::Column::SessionId.eq(session_id))
            .filter(review_requests::Column::UserId.eq(owner_id))
            .order_by_asc(review_requests::Column::CreatedAt)
            .order_by_asc(review_requests::Column::Id)
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(review_to_domain)
            .collect()
    }

    async fn decide(&self, step: DecisionStep<'_>) -> Result<(), SessionError> {
        decide(&self.db, step).await
    }

    async fn open_review(
        &self,
        owner_id: Uuid,
        review_id: Uuid,
        events: &[EventEnvelope],
    ) -> Result<bool, SessionError> {
        open_review(&self.db, owner_id, review_id, events).await
    }

    async fn review(
        &self,
        owner_id: Uuid,
        review_id: Uuid,
    ) -> Result<Option<ReviewRecord>, SessionError> {
        review(&self.db, owner_id, review_id).await
    }

    async fn open_reviews(&self, owner_id: Uuid) -> Result<Vec<ReviewRequest>, SessionError> {
        open_reviews(&self.db, owner_id).await
    }

    async fn overdue_reviews(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReviewRequest>, SessionError> {
        overdue_reviews(&self.db, now).await
    }

    async fn interventions(
        &self,
        owner_id: Uuid,
        filter: &InterventionFilter,
        limit: u64,
    ) -> Result<Vec<InterventionPoint>, SessionError> {
        interventions(&self.db, owner_id, filter, limit).await
    }
}

pub(super) async fn decide(
    db: &DatabaseConnection,
    step: DecisionStep<'_>,
) -> Result<(), SessionError> {
    let decision = step.decision.map(decision_row).transpose()?;
    let intervention = step.intervention.map(intervention_row).transpose()?;
    let reserve = step.reserve.cloned();
    let (review_id, session_id, to, at) = (step.review_id, step.session_id, step.to, step.at);
    let (from, to_status) = (step.status.from, step.status.to);
    let failure = step.status.failure.map(str::to_owned);
    let missed = Arc::new(AtomicU8::new(0));
    let miss = missed.clone();
    let applied = apply_with_events(db, step.events, |txn| {
        Box::pin(async move {
            let opened = review_requests::Entity::update_many()
                .col_expr(review_requests::Column::Status, Expr::value(to.as_str()))
                .col_expr(
                    review_requests::Column::DecidedAt,
                    Expr::value(Some(to_db_time(at))),
                )
                .filter(review_requests::Column::Id.eq(review_id))
                .filter(review_requests::Column::Status.is_in([
                    ReviewStatus::PendingReview.as_str(),
                    ReviewStatus::UnderReview.as_str(),
                ]))
                .exec(txn)
                .await?
                .rows_affected;
            if opened == 0 {
                miss.store(MISSED_REVIEW, Ordering::SeqCst);
                return Ok(0);
            }
            // A decision that plays on records its new reservation and when
            // the session resumed (abandonment counts from then).
            let mut patch = failure_patch(failure);
            if let Some(r) = &reserve {
                patch.push((
                    "reservation_id",
                    serde_json::Value::String(r.id.to_string()),
                ));
                patch.push(("resumed_at", serde_json::Value::String(at.to_rfc3339())));
            }
            if move_status(txn, session_id, from, to_status, at, 0, patch).await? == 0 {
                miss.store(MISSED_SESSION, Ordering::SeqCst);
                return Ok(0);
            }
            if let Some(reservation) = &reserve {
                let fitted = reserve_in(txn, reservation, at)
                    .await
                    .map_err(|e| DbErr::Custom(format!("reserving for the synthesis: {e}")))?;
                if !fitted {
                    miss.store(MISSED_BUDGET, Ordering::SeqCst);
                    return Ok(0);
                }
            }
            if let Some(row) = decision {
                human_reviews::Entity::insert(row).exec(txn).await?;
            }
            if let Some(row) = intervention {
                interventions::Entity::insert(row).exec(txn).await?;
            }
            Ok(1)
        })
    })
    .await
    .map_err(unexpected)?;
    if applied {
        return Ok(());
    }
    match missed.load(Ordering::SeqCst) {
        MISSED_BUDGET => Err(SessionError::BudgetRefused),
        MISSED_SESSION => Err(why_unmoved(db, session_id).await),
        _ => {
            let row = review_requests::Entity::find_by_id(review_id)
                .one(db)
                .await
                .map_err(unexpected)?
                .ok_or(SessionError::NotFound)?;
            let actual = ReviewStatus::parse(&row.status)
                .ok_or_else(|| corrupt("review_requests.status", &row.status))?;
            Err(SessionError::ReviewClosed { actual })
        }
    }
}

/// Marks a pending review of `owner_id` as under review.
pub(super) async fn open_review(
    db: &DatabaseConnection,
    owner_id: Uuid,
    review_id: Uuid,
    events: &[domain::events::EventEnvelope],
) -> Result<bool, SessionError> {
    apply_with_events(db, events, |txn| {
        Box::pin(async move {
            Ok(review_requests::Entity::update_many()
                .col_expr(
                    review_requests::Column::Status,
                    Expr::value(ReviewStatus::UnderReview.as_str()),
                )
                .filter(review_requests::Column::Id.eq(review_id))
                .filter(review_requests::Column::UserId.eq(owner_id))
                .filter(review_requests::Column::Status.eq(ReviewStatus::PendingReview.as_str()))
                .exec(txn)
                .await?
                .rows_affected)
        })
    })
    .await
    .map_err(unexpected)
}

pub(super) async fn review(
    db: &DatabaseConnection,
    owner_id: Uuid,
    review_id: Uuid,
) -> Result<Option<(ReviewRequest, Option<HumanDecision>)>, SessionError> {
    let Some(row) = review_requests::Entity::find_by_id(review_id)
        .filter(review_requests::Column::UserId.eq(owner_id))
        .one(db)
        .await
        .map_err(unexpected)?
    else {
        return Ok(None);
    };
    let decision = human_reviews::Entity::find_by_id(review_id)
        .one(db)
        .await
        .map_err(unexpected)?
        .map(decision_to_domain)
        .transpose()?;
    Ok(Some((review_to_domain(row)?, decision)))
}

const OPEN: [&str; 2] = ["pending_review", "under_review"];

pub(super) async fn open_reviews(
    db: &DatabaseConnection,
    owner_id: Uuid,
) -> Result<Vec<ReviewRequest>, SessionError> {
    review_requests::Entity::find()
        .filter(review_requests::Column::UserId.eq(owner_id))
        .filter(review_requests::Column::Status.is_in(OPEN))
        .order_by_asc(review_requests::Column::CreatedAt)
        .order_by_asc(review_requests::Column::Id)
        .all(db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(review_to_domain)
        .collect()
}

pub(super) async fn overdue_reviews(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<ReviewRequest>, SessionError> {
    review_requests::Entity::find()
        .filter(review_requests::Column::Status.is_in(OPEN))
        .filter(review_requests::Column::ExpiresAt.lte(to_db_time(now)))
        .order_by_asc(review_requests::Column::ExpiresAt)
        .all(db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(review_to_domain)
        .collect()
}

pub(super) async fn interventions(
    db: &DatabaseConnection,
    owner_id: Uuid,
    filter: &InterventionFilter,
    limit: u64,
) -> Result<Vec<InterventionPoint>, SessionError> {
    let mut query =
        interventions::Entity::find().filter(interventions::Column::UserId.eq(owner_id));
    if let Some(agent) = filter.agent {
        query = query.filter(interventions::Column::AiAgent.eq(agent.as_str()));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(interventions::Column::InterventionType.eq(kind.as_str()));
    }
    if let Some(session) = filter.session_id {
        query = query.filter(interventions::Column::SessionId.eq(session));
    }
    query
        .order_by_desc(interventions::Column::Timestamp)
        .order_by_desc(interventions::Column::Id)
        .limit(limit)
        .all(db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(intervention_to_domain)
        .collect()
}
