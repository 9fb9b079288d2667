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
use axum::extract::State;
use domain::InvalidField;
use domain::band::{AgentRole, ProviderKind};
use domain::reviews::{
    Decided, Decision, HumanDecision, InterventionFilter, InterventionPoint, InterventionStats,
    InterventionType, NextAction, output_role,
};
use domain::sessions::{AgentInvocation, AiSession, ReviewRequest, ReviewStatus};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ApiError;
use super::extract::{ApiJson, ApiQuery, AuthUser, IdPath, same_id};
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
    /// Optional (the spec's `ApproveReviewRequest`); when sent it must be
    /// the review being decided.
    #[serde(default)]
    review_id: Option<String>,
    /// Edited outputs: approving with them records a modification.
    #[serde(default)]
    modifications: Option<Modifications>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    output_hash: Option<String>,
}

/// Edited outputs in either shape: a map by role (`{"coder": "…"}`) or the
/// spec's list (`[{"agent": "claude" | "coder", "modified_output": "…"}]`).
enum Modifications {
    ByRole(BTreeMap<AgentRole, String>),
    List(Vec<Modification>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Modification {
    /// A role, or the provider of exactly one output under review.
    agent: String,
    modified_output: String,
}

// By hand rather than `#[serde(untagged)]`: untagged enums answer every
// mistake with "did not match any variant"; this way a bad entry's own
// error (and its path, e.g. `modifications[0].agent`) reaches the client.
impl<'de> Deserialize<'de> for Modifications {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
        struct Shape;
        impl<'de> serde::de::Visitor<'de> for Shape {
            type Value = Modifications;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of role to output, or a list of {agent, modified_output}")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                BTreeMap::deserialize(MapAccessDeserializer::new(map)).map(Modifications::ByRole)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Self::Value, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(Modifications::List)
            }
        }
        d.deserialize_any(Shape)
    }
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
    let reviews = state.services.reviews.open_reviews(user).await?;
    Ok(Json(ReviewList { reviews }))
}

pub async fn show(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(id): IdPath,
) -> Result<Json<ReviewView>, ApiError> {
    let d = state.services.reviews.review(user, id).await?;
    Ok(Json(ReviewView {
        review: d.review,
        decision: d.decision,
        session: d.session,
        outputs: d.outputs,
        output_hash: d.output_hash,
        invocations: d.invocations,
    }))
}

/// The decision an approve body asks for on review `review`. The spec's
/// list form may name providers, which need the review's outputs to map to
/// roles: those are read only then.
async fn approval(
    state: &AppState,
    user: Uuid,
    review: Uuid,
    body: ApproveBody,
) -> Result<(Decision, Option<String>), ApiError> {
    same_id("review_id", body.review_id.as_deref(), review)?;
    let outputs = match body.modifications {
        None => BTreeMap::new(),
        Some(Modifications::ByRole(outputs)) => outputs,
        Some(Modifications::List(list)) => by_role(state, user, review, list).await?,
    };
    let decision = if outputs.is_empty() {
        Decision::Approve {
            comment: body.comment,
        }
    } else {
        Decision::Modify {
            outputs,
            comment: body.comment,
        }
    };
    Ok((decision, body.output_hash))
}

/// The spec's list of modifications as edits by role.
async fn by_role(
    state: &AppState,
    user: Uuid,
    review: Uuid,
    list: Vec<Modification>,
) -> Result<BTreeMap<AgentRole, String>, ApiError> {
    if list.is_empty() {
        return Ok(BTreeMap::new());
    }
    let detail = state.services.reviews.review(user, review).await?;
    let shown: Vec<(AgentRole, ProviderKind)> =
        detail.outputs.iter().map(|o| (o.role, o.agent)).collect();
    let mut outputs = BTreeMap::new();
    for (i, m) in list.into_iter().enumerate() {
        let field = format!("modifications[{i}].agent");
        let role = output_role(&shown, &m.agent, &field).map_err(ApiError::invalid)?;
        if outputs.insert(role, m.modified_output).is_some() {
            return Err(ApiError::invalid(InvalidField::new(
                &field,
                format!("the {} output is modified twice", role.as_str()),
            )));
        }
    }
    Ok(outputs)
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
    let (decision, hash) = approval(&state, user, id, body).await?;
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
    let review = state.services.reviews.open_review_of(user, session).await?;
    let (decision, hash) = approval(&state, user, review.id, body).await?;
    decide(&state, user, review.id, decision, hash).await
}

pub async fn reject_session(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdPath(session): IdPath,
    ApiJson(body): ApiJson<RejectBody>,
) -> Result<Json<DecisionView>, ApiError> {
    let review = state.services.reviews.open_review_of(user, session).await?;
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
    let Decided {
        review_id,
        session_id,
        status,
        next_action,
        replayed,
        job,
    } = state
        .services
        .reviews
        .decide(user, review, decision, hash.as_deref())
        .await?;
    if let Some(job) = job {
        state.services.runner.launch(job);
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
    ApiQuery(q): ApiQuery<InterventionQuery>,
) -> Result<Json<InterventionList>, ApiError> {
    let filter = InterventionFilter {
        agent: q.agent,
        kind: q.kind,
        session_id: None,
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(domain::InvalidField::new(
            "limit",
            "must be between 1 and 1000",
        )));
    }
    let (interventions, stats) = state
        .services
        .reviews
        .interventions(user, &filter, limit)
        .await?;
    Ok(Json(InterventionList {
        interventions,
        stats,
    }))
}
