//! The human gate over REST (spec §5.3, §8.2): the pending reviews, one
//! review with the outputs it shows and their hash, decisions on it —
//! approve (optionally with edited outputs), reject with a reason — by
//! review id or on a session's open review, and the intervention log with
//! its approval rates.
//!
//! A decision may carry `output_hash` (from `GET /reviews/{id}`): it is
//! then taken only on exactly those outputs. Repeating a decision already
//! taken answers it again with `replayed: true` and changes nothing.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use domain::band::{AgentRole, ProviderKind};
use domain::sessions::{
    AgentInvocation, AiSession, Decided, Decision, HumanDecision, InterventionFilter,
    InterventionPoint, InterventionStats, InterventionType, NextAction, ReviewRequest,
    ReviewStatus,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ApiError;
use super::extract::{ApiJson, AuthUser, IdPath};
use crate::inbound::request_context;
use crate::state::AppState;

#[derive(Serialize)]
pub struct ReviewList {
    reviews: Vec<ReviewRequest>,
}

#[derive(Serialize)]
pub struct ReviewView {
    review: ReviewRequest,
    decision: Option<HumanDecision>,
    session: AiSession,
    /// The outputs under decision.
    outputs: Vec<AgentInvocation>,
    /// Send it back with the decision to bind it to these outputs.
    output_hash: String,
    /// Every call of the session, for context.
    invocations: Vec<AgentInvocation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// Edited outputs by role (`coder`, `designer`, `reviewer`,
    /// `conductor`): approving with them records a modification.
    #[serde(default)]
    modifications: Option<BTreeMap<AgentRole, String>>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    output_hash: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    reason: String,
    #[serde(default)]
    output_hash: Option<String>,
}

#[derive(Serialize)]
pub struct DecisionView {
    review_id: Uuid,
    status: ReviewStatus,
    session_id: Uuid,
    next_action: NextAction,
    replayed: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterventionQuery {
    #[serde(default)]
    agent: Option<ProviderKind>,
    #[serde(default, rename = "type")]
    kind: Option<InterventionType>,
    #[serde(default)]
    limit: Option<u64>,
}

#[derive(Serialize)]
pub struct InterventionList {
    interventions: Vec<InterventionPoint>,
    stats: InterventionStats,
}

pub async fn pending(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<ReviewList>, ApiError> {
    let reviews = state.services.conductor.open_reviews(user).await?;
    Ok(Json(ReviewList { reviews }))
}

pub async fn show(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
) -> Result<Json<ReviewView>, ApiError> {
    let d = state.services.conductor.review(user, id).await?;
    Ok(Json(ReviewView {
        review: d.review,
        decision: d.decision,
        session: d.session,
        outputs: d.outputs,
        output_hash: d.output_hash,
        invocations: d.invocations,
    }))
}

fn approval(body: ApproveBody) -> (Decision, Option<String>) {
    let decision = match body.modifications {
        Some(outputs) if !outputs.is_empty() => Decision::Modify {
            outputs,
            comment: body.comment,
        },
        _ => Decision::Approve {
            comment: body.comment,
        },
    };
    (decision, body.output_hash)
}

fn rejection(body: RejectBody) -> (Decision, Option<String>) {
    (
        Decision::Reject {
            reason: body.reason,
        },
        body.output_hash,
    )
}

pub async fn approve(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<ApproveBody>,
) -> Result<Json<DecisionView>, ApiError> {
    let (decision, hash) = approval(body);
    decide(&state, user, id, decision, hash).await
}

pub async fn reject(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<RejectBody>,
) -> Result<Json<DecisionView>, ApiError> {
    let (decision, hash) = rejection(body);
    decide(&state, user, id, decision, hash).await
}

pub async fn approve_session(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(session): IdPath,
    ApiJson(body): ApiJson<ApproveBody>,
) -> Result<Json<DecisionView>, ApiError> {
    let review = state
        .services
        .conductor
        .open_review_of(user, session)
        .await?;
    let (decision, hash) = approval(body);
    decide(&state, user, review.id, decision, hash).await
}

pub async fn reject_session(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(session): IdPath,
    ApiJson(body): ApiJson<RejectBody>,
) -> Result<Json<DecisionView>, ApiError> {
    let review = state
        .services
        .conductor
        .open_review_of(user, session)
        .await?;
    let (decision, hash) = rejection(body);
    decide(&state, user, review.id, decision, hash).await
}

/// Takes the decision and, when it sets the band playing again, runs the
/// synthesis in the background.
async fn decide(
    state: &AppState,
    user: Uuid,
    review: Uuid,
    decision: Decision,
    hash: Option<String>,
) -> Result<Json<DecisionView>, ApiError> {
    let conductor = state.services.conductor.clone();
    let Decided {
        review_id,
        session_id,
        status,
        next_action,
        replayed,
        job,
    } = conductor
        .decide(user, review, decision, hash.as_deref())
        .await?;
    if let Some(job) = job {
        request_context::spawn(async move {
            if let Err(e) = conductor.run(job).await {
                tracing::error!(session = %session_id, error = %e, "synthesis after approval failed");
            }
        });
    }
    Ok(Json(DecisionView {
        review_id,
        status,
        session_id,
        next_action,
        replayed,
    }))
}

pub async fn interventions(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<InterventionQuery>,
) -> Result<Json<InterventionList>, ApiError> {
    let filter = InterventionFilter {
        agent: q.agent,
        kind: q.kind,
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let (interventions, stats) = state
        .services
        .conductor
        .interventions(user, &filter, limit)
        .await?;
    Ok(Json(InterventionList {
        interventions,
        stats,
    }))
}
