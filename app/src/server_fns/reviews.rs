//! The review gate's server functions: the queue of open reviews across
//! projects, one review as its page shows it, taking it under review (a
//! POST the hydrated page sends: loading a page changes nothing), a
//! decision on it, and the history of the user's decisions.

use chrono::{DateTime, Utc};
use domain::band::{AgentRole, ProviderKind};
use domain::reviews::{HumanDecision, InterventionStats, InterventionType};
use domain::sessions::{AgentInvocation, AiSession, DiffLine, ReviewKind, ReviewRequest};
use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::error::AppError;

/// One open review in the queue, with where it comes from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReviewItem {
    pub review: ReviewRequest,
    pub task_title: Option<String>,
    pub project_id: Uuid,
    pub project_name: Option<String>,
}

/// The review page's data.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OpenedReview {
    pub review: ReviewRequest,
    pub decision: Option<HumanDecision>,
    pub session: AiSession,
    pub task_title: Option<String>,
    /// The outputs under decision, in the order they were made.
    pub outputs: Vec<AgentInvocation>,
    /// What a decision must carry back: the hash of [`Self::outputs`].
    pub output_hash: String,
    /// Still open but past its time: a decision now would only expire it.
    pub overdue: bool,
    /// For a modification: each edited output against the AI's.
    pub diffs: Vec<OutputDiff>,
    /// The session's other outputs, to compare versions across agents
    /// (the synthesis against the coder's proposal, say).
    pub others: Vec<AgentInvocation>,
}

/// The AI's output against the human's edit of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutputDiff {
    pub role: AgentRole,
    pub agent: Option<ProviderKind>,
    pub lines: Vec<DiffLine>,
}

/// One logged decision, as the interventions page lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InterventionRow {
    pub id: Uuid,
    pub session_id: Uuid,
    pub task_title: Option<String>,
    pub kind: InterventionType,
    pub review_kind: ReviewKind,
    pub agent: ProviderKind,
    pub role: AgentRole,
    pub confidence: f64,
    /// The rejection reason or the comment (empty when none was given).
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// The interventions page's data: the filtered history (newest first) and
/// the approval rates over all of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interventions {
    pub rows: Vec<InterventionRow>,
    pub stats: InterventionStats,
}

/// How many interventions the page lists at most.
pub const INTERVENTIONS_SHOWN: u64 = 200;

/// A role as a form posts it.
pub fn parse_role(s: &str) -> Option<AgentRole> {
    [
        AgentRole::Coder,
        AgentRole::Reviewer,
        AgentRole::Designer,
        AgentRole::Pm,
        AgentRole::Conductor,
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
}

/// Titles of tasks, looked up once each.
#[cfg(feature = "ssr")]
struct Titles {
    user: Uuid,
    tasks: std::collections::HashMap<Uuid, Option<String>>,
}

#[cfg(feature = "ssr")]
impl Titles {
    fn new(user: Uuid) -> Self {
        Self {
            user,
            tasks: std::collections::HashMap::new(),
        }
    }

    async fn of(&mut self, services: &domain::Services, task: Option<Uuid>) -> Option<String> {
        let task = task?;
        if let Some(title) = self.tasks.get(&task) {
            return title.clone();
        }
        let title = services
            .tasks
            .get(self.user, task)
            .await
            .ok()
            .map(|t| t.title);
        self.tasks.insert(task, title.clone());
        title
    }
}

/// The user's open reviews across all projects, oldest first.
#[server]
pub async fn list_reviews() -> Result<Vec<ReviewItem>, AppError> {
    use std::collections::HashMap;
    let services = ctx::services()?;
    let user = ctx::user_id().await?;
    let reviews = services
        .reviews
        .open_reviews(user)
        .await
        .map_err(ctx::fail)?;
    let mut titles = Titles::new(user);
    let mut projects: HashMap<Uuid, Option<String>> = HashMap::new();
    let mut items = Vec::with_capacity(reviews.len());
    for review in reviews {
        let session = match services.conductor.session(user, review.session_id).await {
            Ok((session, ..)) => session,
            // Gone meanwhile: nothing to review.
            Err(domain::sessions::ConductorError::SessionNotFound) => continue,
            Err(e) => return Err(ctx::fail(e)),
        };
        let task_title = titles.of(&services, session.task_id).await;
        let project_name = match projects.get(&session.project_id) {
            Some(name) => name.clone(),
            None => {
                let name = services
                    .projects
                    .get(user, session.project_id)
                    .await
                    .ok()
                    .map(|p| p.name);
                projects.insert(session.project_id, name.clone());
                name
            }
        };
        items.push(ReviewItem {
            review,
            task_title,
            project_id: session.project_id,
            project_name,
        });
    }
    Ok(items)
}

/// How many reviews wait for the user, for the header's badge.
#[server]
pub async fn open_review_count() -> Result<usize, AppError> {
    let reviews = ctx::services()?
        .reviews
        .open_reviews(ctx::user_id().await?)
        .await
        .map_err(ctx::fail)?;
    Ok(reviews.len())
}

/// Takes a pending review under review (the human has it open); its status
/// after. Already under review or decided: unchanged.
#[server]
pub async fn start_review(id: Uuid) -> Result<domain::sessions::ReviewStatus, AppError> {
    let user = ctx::user_id().await?;
    ctx::services()?
        .reviews
        .open_review(user, id)
        .await
        .map(|d| d.review.status)
        .map_err(ctx::fail)
}

/// A review as its page shows it. Reading it changes nothing: the page
/// takes it under review with [`start_review`] once it is live in a
/// browser, so a prefetch, a crawler or a reload never does.
#[server]
pub async fn open_review_page(id: Uuid) -> Result<OpenedReview, AppError> {
    use domain::reviews::Decision;
    use domain::sessions::line_diff;
    let services = ctx::services()?;
    let user = ctx::user_id().await?;
    let d = services.reviews.review(user, id).await.map_err(ctx::fail)?;
    let diffs = match d.decision.as_ref().map(|x| &x.decision) {
        Some(Decision::Modify { outputs, .. }) => outputs
            .iter()
            .map(|(role, edited)| {
                let shown = d.outputs.iter().find(|o| o.role == *role);
                OutputDiff {
                    role: *role,
                    agent: shown.map(|o| o.agent),
                    lines: line_diff(shown.map_or("", |o| o.response.content.as_str()), edited),
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    let task_title = Titles::new(user).of(&services, d.session.task_id).await;
    let others = d
        .invocations
        .into_iter()
        .filter(|i| i.response.error.is_none() && !i.response.content.is_empty())
        .filter(|i| !d.outputs.iter().any(|o| o.id == i.id))
        .collect();
    Ok(OpenedReview {
        others,
        overdue: d.review.status.is_open() && Utc::now() >= d.review.expires_at,
        review: d.review,
        decision: d.decision,
        session: d.session,
        task_title,
        outputs: d.outputs,
        output_hash: d.output_hash,
        diffs,
    })
}

/// Takes a decision on a review, as the review page's three forms post it:
/// `decision` is `approve`, `modify` (with `role` and the edited `text`) or
/// `reject` (with a `reason`); `output_hash` binds it to the outputs shown.
/// An approval at the gate sets the synthesis going in the background.
/// Opens the session page.
#[server]
pub async fn decide_review(
    review_id: Uuid,
    output_hash: String,
    decision: String,
    role: Option<String>,
    text: Option<String>,
    comment: Option<String>,
    reason: Option<String>,
) -> Result<Uuid, AppError> {
    use domain::InvalidField;
    use domain::reviews::Decision;
    let decision = match decision.as_str() {
        "approve" => Decision::Approve { comment },
        "modify" => {
            let role = role.as_deref().and_then(parse_role).ok_or_else(|| {
                ctx::fail(InvalidField::new(
                    "modifications",
                    "choose the output you modified",
                ))
            })?;
            // Browsers post text areas with CRLF line ends.
            let text = text.unwrap_or_default().replace("\r\n", "\n");
            Decision::Modify {
                outputs: std::collections::BTreeMap::from([(role, text)]),
                comment,
            }
        }
        "reject" => Decision::Reject {
            reason: reason.unwrap_or_default(),
        },
        _ => {
            return Err(ctx::fail(InvalidField::new(
                "decision",
                "must be approve, modify or reject",
            )));
        }
    };
    let user = ctx::user_id().await?;
    let services = ctx::services()?;
    let decided = services
        .reviews
        .decide(user, review_id, decision, Some(&output_hash))
        .await
        .map_err(ctx::fail)?;
    let session_id = decided.session_id;
    if let Some(job) = decided.job {
        services.runner.launch(job);
    }
    leptos_axum::redirect(&format!("/sessions/{session_id}"));
    Ok(session_id)
}

/// The user's decisions, newest first, filtered by agent and type (as the
/// page's GET form sends them; empty = all), with the approval rates.
#[server]
pub async fn list_interventions(
    agent: Option<String>,
    kind: Option<String>,
) -> Result<Interventions, AppError> {
    use domain::InvalidField;
    use domain::reviews::InterventionFilter;
    let agent = match agent.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(a) => Some(ProviderKind::parse(a).ok_or_else(|| {
            ctx::fail(InvalidField::new(
                "agent",
                "must be claude, gpt, gemini or local",
            ))
        })?),
    };
    let kind = match kind.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(k) => Some(InterventionType::parse(k).ok_or_else(|| {
            ctx::fail(InvalidField::new(
                "type",
                "must be approval, rejection or modification",
            ))
        })?),
    };
    let services = ctx::services()?;
    let user = ctx::user_id().await?;
    let (points, stats) = services
        .reviews
        .interventions(
            user,
            &InterventionFilter {
                agent,
                kind,
                session_id: None,
            },
            INTERVENTIONS_SHOWN,
        )
        .await
        .map_err(ctx::fail)?;
    let mut titles = Titles::new(user);
    let mut rows = Vec::with_capacity(points.len());
    for p in points {
        rows.push(InterventionRow {
            id: p.id,
            session_id: p.session_id,
            task_title: titles.of(&services, p.task_id).await,
            kind: p.kind,
            review_kind: p.context.review_kind,
            agent: p.agent,
            role: p.role,
            confidence: p.confidence,
            reason: p.reason,
            at: p.at,
        });
    }
    Ok(Interventions { rows, stats })
}
