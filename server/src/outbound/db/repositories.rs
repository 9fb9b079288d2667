//! `RepoLinkStore` over sea-orm: one row per linked project, written with
//! its event in one transaction. Sealed credentials are stored as hex.

use async_trait::async_trait;
use domain::events::EventEnvelope;
use domain::repos::{PushPolicy, RepoError, RepoKind, RepoLink, RepoLinkStore, StoredLink};
use entity::project_repositories as links;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set, SqlErr};
use uuid::Uuid;

use super::events::apply_with_events;
use super::{CorruptColumn, boxed, from_db_time, to_db_time};

#[derive(Debug, Clone)]
pub struct SeaOrmRepoLinkStore {
    db: DatabaseConnection,
}

impl SeaOrmRepoLinkStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn unexpected(e: DbErr) -> RepoError {
    RepoError::Unexpected(boxed(e))
}

fn corrupt(column: &'static str, value: &str) -> RepoError {
    RepoError::Unexpected(boxed(CorruptColumn {
        column,
        value: value.to_owned(),
    }))
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn to_domain(m: links::Model) -> Result<StoredLink, RepoError> {
    let kind =
        RepoKind::parse(&m.kind).ok_or_else(|| corrupt("project_repositories.kind", &m.kind))?;
    let push =
        PushPolicy::parse(&m.push).ok_or_else(|| corrupt("project_repositories.push", &m.push))?;
    let sealed_credentials = m
        .credentials
        .as_deref()
        .map(|h| from_hex(h).ok_or_else(|| corrupt("project_repositories.credentials", "(sealed)")))
        .transpose()?;
    Ok(StoredLink {
        link: RepoLink {
            project_id: m.project_id,
            kind,
            path: m.path,
            url: m.url,
            has_credentials: sealed_credentials.is_some(),
            base_branch: m.base_branch,
            push,
            created_at: from_db_time(m.created_at),
            updated_at: from_db_time(m.updated_at),
        },
        sealed_credentials,
    })
}

#[async_trait]
impl RepoLinkStore for SeaOrmRepoLinkStore {
    async fn find(&self, project_id: Uuid) -> Result<Option<StoredLink>, RepoError> {
        links::Entity::find_by_id(project_id)
            .one(&self.db)
            .await
            .map_err(unexpected)?
            .map(to_domain)
            .transpose()
    }

    async fn save(&self, stored: &StoredLink, event: &EventEnvelope) -> Result<(), RepoError> {
        let l = &stored.link;
        let row = links::ActiveModel {
            project_id: Set(l.project_id),
            kind: Set(l.kind.as_str().to_owned()),
            path: Set(l.path.clone()),
            url: Set(l.url.clone()),
            credentials: Set(stored.sealed_credentials.as_deref().map(to_hex)),
            base_branch: Set(l.base_branch.clone()),
            push: Set(l.push.as_str().to_owned()),
            created_at: Set(to_db_time(l.created_at)),
            updated_at: Set(to_db_time(l.updated_at)),
        };
        apply_with_events(&self.db, std::slice::from_ref(event), |txn| {
            Box::pin(async move {
                links::Entity::insert(row)
                    .on_conflict(
                        OnConflict::column(links::Column::ProjectId)
                            .update_columns([
                                links::Column::Kind,
                                links::Column::Path,
                                links::Column::Url,
                                links::Column::Credentials,
                                links::Column::BaseBranch,
                                links::Column::Push,
                                links::Column::CreatedAt,
                                links::Column::UpdatedAt,
                            ])
                            .to_owned(),
                    )
                    .exec(txn)
                    .await
                    .map(|_| 1)
            })
        })
        .await
        .map(|_| ())
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => RepoError::ProjectNotFound,
            _ => unexpected(e),
        })
    }

    async fn delete(&self, project_id: Uuid, event: &EventEnvelope) -> Result<bool, RepoError> {
        apply_with_events(&self.db, std::slice::from_ref(event), |txn| {
            Box::pin(async move {
                Ok(links::Entity::delete_by_id(project_id)
                    .exec(txn)
                    .await?
                    .rows_affected)
            })
        })
        .await
        .map_err(unexpected)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_garbage() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(from_hex(&to_hex(&bytes)).unwrap(), bytes);
        assert!(from_hex("abc").is_none());
        assert!(from_hex("zz").is_none());
    }
}
