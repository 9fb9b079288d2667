//! `SessionRepository` over sea-orm: `ai_sessions` and `agent_invocations`.
//! The intent, the budget reservation and a failure reason live in the
//! session's `metadata` JSON; an invocation's full record (content, usage,
//! provenance, attempts, reasoning) in `agent_invocations.response`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::band::{AgentRole, ProviderKind};
use domain::events::EventEnvelope;
use domain::sessions::{
    AgentInvocation, AiSession, Intent, SessionError, SessionRepository, SessionStatus, SessionStep,
};
use entity::{agent_invocations as invocations, ai_sessions as sessions};
use futures_util::future::join;
use sea_orm::sea_query::extension::postgres::PgExpr as _;
use sea_orm::sea_query::{Alias, Expr, Func, SimpleExpr, UpdateStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QueryTrait, Set, Statement,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::batch::Batch;
use super::budgets::push_settlement;
use super::events::{apply_with_events, event_projects, notify_committed, push_events};
use super::reviews::review_row;
use super::writer::Writer;
use super::{CorruptColumn, boxed, from_db_time, to_db_time};

#[derive(Debug, Clone)]
pub struct SeaOrmSessionRepository {
    db: DatabaseConnection,
    /// Runs SQLite session steps in place (see `writer`); opened on the
    /// first step, `None` for PostgreSQL and in-memory SQLite.
    writer: OnceCell<Option<Writer>>,
}

impl SeaOrmSessionRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            writer: OnceCell::new(),
        }
    }

    async fn writer(&self) -> Option<&Writer> {
        self.writer
            .get_or_init(|| async {
                Writer::open(&self.db).await.unwrap_or_else(|e| {
                    // Steps still commit, through the pool: slower, not wrong.
                    tracing::warn!(error = %e, "session steps fall back to the connection pool");
                    None
                })
            })
            .await
            .as_ref()
    }
}

/// The shape of `ai_sessions.metadata`.
#[derive(Serialize, Deserialize)]
struct Metadata {
    intent: Intent,
    reservation_id: Option<Uuid>,
    #[serde(default)]
    failure: Option<String>,
    /// When an approval set the band playing again.
    #[serde(default)]
    resumed_at: Option<DateTime<Utc>>,
    /// The session this one runs again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_of: Option<Uuid>,
    /// The base commit and the files the band was shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<domain::repos::CodeProvenance>,
    /// The proposal's commit on its task branch, or why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    change: Option<domain::repos::SessionChange>,
}

pub(super) fn unexpected(e: impl std::error::Error + Send + Sync + 'static) -> SessionError {
    SessionError::Unexpected(boxed(e))
}

fn corrupt(column: &'static str, value: &str) -> SessionError {
    SessionError::Unexpected(boxed(CorruptColumn {
        column,
        value: value.to_owned(),
    }))
}

fn kind(value: &str, column: &'static str) -> Result<ProviderKind, SessionError> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|_| corrupt(column, value))
}

fn role(value: &str) -> Result<AgentRole, SessionError> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|_| corrupt("agent_invocations.role", value))
}

fn status(value: &str) -> Result<SessionStatus, SessionError> {
    SessionStatus::parse(value).ok_or_else(|| corrupt("ai_sessions.status", value))
}

pub(super) fn session_to_domain(m: sessions::Model) -> Result<AiSession, SessionError> {
    let meta: Metadata = serde_json::from_value(m.metadata).map_err(unexpected)?;
    Ok(AiSession {
        id: m.id,
        project_id: m.project_id,
        task_id: m.task_id,
        user_id: m.user_id,
        conductor: kind(&m.conductor, "ai_sessions.conductor")?,
        status: status(&m.status)?,
        intent: meta.intent,
        total_tokens_used: m.total_tokens_used,
        reservation_id: meta.reservation_id,
        failure: meta.failure,
        resumed_at: meta.resumed_at,
        retry_of: meta.retry_of,
        code: meta.code,
        change: meta.change,
        started_at: from_db_time(m.started_at),
        completed_at: m.completed_at.map(from_db_time),
    })
}

fn invocation_to_domain(m: invocations::Model) -> Result<AgentInvocation, SessionError> {
    Ok(AgentInvocation {
        id: m.id,
        session_id: m.session_id,
        agent: kind(&m.agent, "agent_invocations.agent")?,
        role: role(&m.role)?,
        prompt: m.prompt,
        response: serde_json::from_value(m.response).map_err(unexpected)?,
        confidence: m.confidence,
        tokens_used: m.tokens_used,
        execution_time_ms: m.execution_time_ms,
        invoked_at: from_db_time(m.invoked_at),
    })
}

fn invocation_row(i: &AgentInvocation) -> Result<invocations::ActiveModel, SessionError> {
    Ok(invocations::ActiveModel {
        id: Set(i.id),
        session_id: Set(i.session_id),
        agent: Set(i.agent.as_str().to_owned()),
        role: Set(i.role.as_str().to_owned()),
        prompt: Set(i.prompt.clone()),
        response: Set(serde_json::to_value(&i.response).map_err(unexpected)?),
        confidence: Set(i.confidence.clamp(0.0, 1.0)),
        tokens_used: Set(i.tokens_used),
        execution_time_ms: Set(i.execution_time_ms),
        invoked_at: Set(to_db_time(i.invoked_at)),
    })
}

/// Keys of the session's metadata JSON that a status move may set.
pub(super) type MetadataPatch = Vec<(&'static str, serde_json::Value)>;

/// The conditional update that moves session `id` from `from` to `to`,
/// adding `add_tokens` to its total (a terminal status sets
/// `completed_at`). It touches one row if the session was still in `from`.
fn status_write(
    id: Uuid,
    from: SessionStatus,
    to: SessionStatus,
    at: DateTime<Utc>,
    add_tokens: i64,
) -> UpdateStatement {
    let mut update = sessions::Entity::update_many()
        .col_expr(sessions::Column::Status, Expr::value(to.as_str()))
        .filter(sessions::Column::Id.eq(id))
        .filter(sessions::Column::Status.eq(from.as_str()));
    if add_tokens != 0 {
        update = update.col_expr(
            sessions::Column::TotalTokensUsed,
            Expr::col(sessions::Column::TotalTokensUsed).add(add_tokens),
        );
    }
    if to.is_terminal() {
        update = update.col_expr(
            sessions::Column::CompletedAt,
            Expr::value(Some(to_db_time(at))),
        );
    }
    update.into_query()
}

/// [`status_write`] as a statement of `batch` that must touch its row.
fn push_status(
    batch: &mut Batch,
    id: Uuid,
    (from, to): (SessionStatus, SessionStatus),
    at: DateTime<Utc>,
    add_tokens: i64,
) {
    batch.push(&status_write(id, from, to, at, add_tokens), 1);
}

/// Moves session `id` from `from` to `to` if it is still in `from`, adding
/// `add_tokens` to its total; answers the rows touched (0 or 1). `patch`
/// sets keys of the metadata (a failure reason, a new reservation); a
/// terminal status sets `completed_at`.
pub(super) async fn move_status(
    txn: &impl ConnectionTrait,
    id: Uuid,
    from: SessionStatus,
    to: SessionStatus,
    at: DateTime<Utc>,
    add_tokens: i64,
    patch: MetadataPatch,
) -> Result<u64, DbErr> {
    let update = status_write(id, from, to, at, add_tokens);
    if txn
        .execute(txn.get_database_backend().build(&update))
        .await?
        .rows_affected()
        == 0
    {
        return Ok(0);
    }
    patch_metadata(txn, id, patch).await?;
    Ok(1)
}

/// Sets keys of session `id`'s metadata JSON. Call it after a write that
/// locked the row: the read-modify-write is then safe.
async fn patch_metadata(
    txn: &impl ConnectionTrait,
    id: Uuid,
    patch: MetadataPatch,
) -> Result<(), DbErr> {
    if patch.is_empty() {
        return Ok(());
    }
    let row = sessions::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or(DbErr::RecordNotFound("ai_sessions".into()))?;
    let mut metadata = row.metadata.clone();
    for (key, value) in patch {
        metadata[key] = value;
    }
    let mut active: sessions::ActiveModel = row.into();
    active.metadata = Set(metadata);
    active.update(txn).await?;
    Ok(())
}

/// The metadata patch that records a failure reason, if any.
pub(super) fn failure_patch(failure: Option<String>) -> MetadataPatch {
    failure
        .map(|reason| vec![("failure", serde_json::Value::String(reason))])
        .unwrap_or_default()
}

/// Why a conditional move of session `id` touched nothing: someone moved
/// it first (`Conflict` with its status now), or it is gone.
pub(super) async fn why_unmoved(db: &DatabaseConnection, id: Uuid) -> SessionError {
    match sessions::Entity::find_by_id(id).one(db).await {
        Ok(Some(row)) => match status(&row.status) {
            Ok(actual) => SessionError::Conflict { actual },
            Err(e) => e,
        },
        Ok(None) => SessionError::NotFound,
        Err(e) => unexpected(e),
    }
}

/// A session step as one batch (see `batch`): the session's conditional
/// write first, then the invocations, the review and the ledger, the events
/// last.
fn step_batch(
    backend: DbBackend,
    step: &SessionStep<'_>,
    projects: Vec<Option<Uuid>>,
) -> Result<Batch, SessionError> {
    let invocations = step
        .invocations
        .iter()
        .map(invocation_row)
        .collect::<Result<Vec<_>, _>>()?;
    let review = step.review.map(review_row).transpose()?;
    let tokens: i64 = step.invocations.iter().map(|i| i.tokens_used).sum();
    let (id, at) = (step.session_id, step.at);
    let mut batch = Batch::new(backend);
    if let Some(m) = &step.status {
        // The status and the token total share one update.
        push_status(&mut batch, id, (m.from, m.to), at, tokens);
        if let Some(failure) = m.failure {
            batch.push(&failure_write(backend, id, failure), 1);
        }
        if let Some(change) = step.change {
            let value = serde_json::to_value(change).map_err(unexpected)?;
            batch.push(&json_write(backend, id, "change", &value), 1);
        }
    } else if !invocations.is_empty() {
        let add_tokens = sessions::Entity::update_many()
            .col_expr(
                sessions::Column::TotalTokensUsed,
                Expr::col(sessions::Column::TotalTokensUsed).add(tokens),
            )
            .filter(sessions::Column::Id.eq(id));
        batch.push(&add_tokens.into_query(), 1);
    }
    if !invocations.is_empty() {
        batch.push_insert(invocations);
    }
    if let Some(review) = review {
        batch.push_insert(vec![review]);
    }
    // Settling and releasing one reservation is one ledger step.
    let ledger = match (step.charge, step.release) {
        (Some((r, used)), Some(closing)) if r == closing => vec![(r, used, true)],
        (charge, release) => charge
            .map(|(r, used)| (r, used, false))
            .into_iter()
            .chain(release.map(|r| (r, 0, true)))
            .collect(),
    };
    for (reservation, used, close) in ledger {
        push_settlement(&mut batch, reservation, used, close, at);
    }
    push_events(&mut batch, step.events, projects).map_err(unexpected)?;
    Ok(batch)
}

/// A session step through the connection pool (PostgreSQL, in-memory
/// SQLite): whether it committed, or the error that rolled it back.
async fn commit_pooled(
    db: &DatabaseConnection,
    step: &SessionStep<'_>,
    projects: Vec<Option<Uuid>>,
) -> Result<Result<bool, DbErr>, SessionError> {
    // `BEGIN` goes out first and the step is built while it travels.
    let build = async { step_batch(db.get_database_backend(), step, projects) };
    let (txn, batch) = join(db.begin(), build).await;
    let (txn, batch) = (txn.map_err(unexpected)?, batch?);
    Ok(match batch.run(&txn).await {
        Ok(true) => txn.commit().await.map(|()| true),
        Ok(false) => txn.rollback().await.map(|()| false),
        Err(e) => {
            let _ = txn.rollback().await;
            Err(e)
        }
    })
}

/// Records `reason` as the session's failure in its metadata.
fn failure_write(backend: DbBackend, id: Uuid, reason: &str) -> UpdateStatement {
    let patched: SimpleExpr = match backend {
        DbBackend::Postgres => Expr::col(sessions::Column::Metadata).concat(
            Func::cust(Alias::new("jsonb_build_object"))
                .arg(Expr::val("failure").cast_as(Alias::new("text")))
                .arg(Expr::val(reason).cast_as(Alias::new("text"))),
        ),
        _ => Func::cust(Alias::new("json_set"))
            .arg(Expr::col(sessions::Column::Metadata))
            .arg("$.failure")
            .arg(reason)
            .into(),
    };
    sessions::Entity::update_many()
        .col_expr(sessions::Column::Metadata, patched)
        .filter(sessions::Column::Id.eq(id))
        .into_query()
}

/// Sets the metadata key `key` to the JSON `value`.
fn json_write(
    backend: DbBackend,
    id: Uuid,
    key: &'static str,
    value: &serde_json::Value,
) -> UpdateStatement {
    let text = value.to_string();
    let patched: SimpleExpr = match backend {
        DbBackend::Postgres => Expr::col(sessions::Column::Metadata).concat(
            Func::cust(Alias::new("jsonb_build_object"))
                .arg(Expr::val(key).cast_as(Alias::new("text")))
                .arg(Expr::val(text).cast_as(Alias::new("jsonb"))),
        ),
        _ => Func::cust(Alias::new("json_set"))
            .arg(Expr::col(sessions::Column::Metadata))
            .arg(format!("$.{key}"))
            .arg(Func::cust(Alias::new("json")).arg(text))
            .into(),
    };
    sessions::Entity::update_many()
        .col_expr(sessions::Column::Metadata, patched)
        .filter(sessions::Column::Id.eq(id))
        .into_query()
}

/// Why a session step's batch missed (and was rolled back): the session
/// left `moved_from` or is gone — or, when it is where the step expected,
/// the step's reservation was no longer open.
async fn why_missed(
    db: &DatabaseConnection,
    id: Uuid,
    moved_from: Option<SessionStatus>,
) -> SessionError {
    match why_unmoved(db, id).await {
        SessionError::Conflict { actual } if moved_from.is_none_or(|from| from == actual) => {
            SessionError::Unexpected(boxed(ReservationNotOpen(id)))
        }
        other => other,
    }
}

/// A session step found its budget reservation closed or missing.
#[derive(Debug, thiserror::Error)]
#[error("session {0}: its budget reservation is not open")]
struct ReservationNotOpen(Uuid);

#[async_trait]
impl SessionRepository for SeaOrmSessionRepository {
    async fn create(
        &self,
        session: &AiSession,
        events: &[EventEnvelope],
        running_limit: u32,
    ) -> Result<(), SessionError> {
        let metadata = serde_json::to_value(Metadata {
            intent: session.intent.clone(),
            reservation_id: session.reservation_id,
            failure: session.failure.clone(),
            resumed_at: session.resumed_at,
            retry_of: session.retry_of,
            code: session.code.clone(),
            change: session.change.clone(),
        })
        .map_err(unexpected)?;
        let row = sessions::ActiveModel {
            id: Set(session.id),
            project_id: Set(session.project_id),
            task_id: Set(session.task_id),
            user_id: Set(session.user_id),
            conductor: Set(session.conductor.as_str().to_owned()),
            total_tokens_used: Set(session.total_tokens_used),
            status: Set(session.status.as_str().to_owned()),
            started_at: Set(to_db_time(session.started_at)),
            completed_at: Set(session.completed_at.map(to_db_time)),
            metadata: Set(metadata),
        };
        let user = session.user_id;
        let stored = apply_with_events(&self.db, events, |txn| {
            Box::pin(async move {
                // PostgreSQL: one start per user at a time, so each count
                // sees the other's insert. SQLite's insert takes the
                // database's one write lock, which does the same.
                if txn.get_database_backend() == DbBackend::Postgres {
                    txn.execute(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "SELECT 1 FROM users WHERE id = $1 FOR UPDATE",
                        [user.into()],
                    ))
                    .await?;
                }
                sessions::Entity::insert(row).exec(txn).await?;
                let running = sessions::Entity::find()
                    .filter(sessions::Column::UserId.eq(user))
                    .filter(sessions::Column::Status.is_in([
                        SessionStatus::Pending.as_str(),
                        SessionStatus::Executing.as_str(),
                    ]))
                    .count(txn)
                    .await?;
                // Over the limit: nothing is written.
                Ok(u64::from(running <= u64::from(running_limit)))
            })
        })
        .await
        .map_err(unexpected)?;
        if stored {
            Ok(())
        } else {
            Err(SessionError::TooManyRunning {
                limit: running_limit,
            })
        }
    }

    async fn commit(&self, step: SessionStep<'_>) -> Result<(), SessionError> {
        let (id, moved_from) = (step.session_id, step.status.as_ref().map(|m| m.from));
        // Usually answered from memory; before the transaction, see there.
        let projects = event_projects(&self.db, step.events)
            .await
            .map_err(unexpected)?;
        let backend = self.db.get_database_backend();
        let committed = match self.writer().await {
            // The conductor decides when a step runs (the first round only
            // once the synthesis request is out); the writer runs it at once.
            Some(writer) => writer.run(step_batch(backend, &step, projects)?).await,
            None => commit_pooled(&self.db, &step, projects).await?,
        };
        match committed {
            Ok(true) => {}
            Ok(false) => return Err(why_missed(&self.db, id, moved_from).await),
            // A statement failed — perhaps because the session is gone (an
            // invocation's foreign key): that is the answer then.
            Err(e) => {
                return Err(match why_missed(&self.db, id, moved_from).await {
                    SessionError::Unexpected(_) => unexpected(e),
                    gone_or_moved => gone_or_moved,
                });
            }
        }
        if !step.events.is_empty() {
            notify_committed();
        }
        Ok(())
    }

    async fn find(
        &self,
        owner_id: Uuid,
        id: Uuid,
    ) -> Result<Option<(AiSession, Vec<AgentInvocation>)>, SessionError> {
        let Some(row) = sessions::Entity::find_by_id(id)
            .filter(sessions::Column::UserId.eq(owner_id))
            .one(&self.db)
            .await
            .map_err(unexpected)?
        else {
            return Ok(None);
        };
        let calls = invocations::Entity::find()
            .filter(invocations::Column::SessionId.eq(id))
            .order_by_asc(invocations::Column::InvokedAt)
            .order_by_asc(invocations::Column::Id)
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(invocation_to_domain)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((session_to_domain(row)?, calls)))
    }

    async fn unfinished(&self) -> Result<Vec<AiSession>, SessionError> {
        sessions::Entity::find()
            .filter(sessions::Column::Status.is_in([
                SessionStatus::Pending.as_str(),
                SessionStatus::Executing.as_str(),
            ]))
            .order_by_asc(sessions::Column::StartedAt)
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(session_to_domain)
            .collect()
    }
}
