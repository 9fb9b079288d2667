//! The reactions' log over sea-orm: receipts of handled (reaction, event)
//! pairs and dead letters.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::events::{DeadLetter, ReactionError, ReactionLog};
use domain::pagination::{Page, PageKey, PageRequest};
use entity::{dead_letters, reaction_receipts};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, Order, QueryFilter, Set};
use uuid::Uuid;

use super::{Keyset, boxed, from_db_time, to_db_time};

#[derive(Debug, Clone)]
pub struct SeaOrmReactionLog {
    db: DatabaseConnection,
}

impl SeaOrmReactionLog {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn unexpected(e: DbErr) -> ReactionError {
    ReactionError::Unexpected(boxed(e))
}

fn to_domain(m: dead_letters::Model) -> DeadLetter {
    DeadLetter {
        id: m.id,
        reaction: m.reaction,
        event_id: m.event_id,
        sequence: m.sequence,
        event_type: m.event_type,
        user_id: m.user_id,
        error: m.error,
        attempts: u32::try_from(m.attempts).unwrap_or(0),
        failed_at: from_db_time(m.failed_at),
    }
}

#[async_trait]
impl ReactionLog for SeaOrmReactionLog {
    async fn handled(&self, reaction: &str, event_id: Uuid) -> Result<bool, ReactionError> {
        Ok(
            reaction_receipts::Entity::find_by_id((reaction.to_owned(), event_id))
                .one(&self.db)
                .await
                .map_err(unexpected)?
                .is_some(),
        )
    }

    async fn record_handled(
        &self,
        reaction: &str,
        event_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), ReactionError> {
        reaction_receipts::Entity::insert(reaction_receipts::ActiveModel {
            reaction: Set(reaction.to_owned()),
            event_id: Set(event_id),
            processed_at: Set(to_db_time(at)),
        })
        .on_conflict(
            OnConflict::columns([
                reaction_receipts::Column::Reaction,
                reaction_receipts::Column::EventId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .do_nothing()
        .exec(&self.db)
        .await
        .map_err(unexpected)?;
        Ok(())
    }

    async fn record_dead_letter(&self, letter: &DeadLetter) -> Result<(), ReactionError> {
        dead_letters::Entity::insert(dead_letters::ActiveModel {
            id: Set(letter.id),
            reaction: Set(letter.reaction.clone()),
            event_id: Set(letter.event_id),
            sequence: Set(letter.sequence),
            event_type: Set(letter.event_type.clone()),
            user_id: Set(letter.user_id),
            error: Set(letter.error.clone()),
            attempts: Set(i32::try_from(letter.attempts).unwrap_or(i32::MAX)),
            failed_at: Set(to_db_time(letter.failed_at)),
        })
        .on_conflict(
            OnConflict::columns([
                dead_letters::Column::Reaction,
                dead_letters::Column::EventId,
            ])
            .update_columns([
                dead_letters::Column::Error,
                dead_letters::Column::Attempts,
                dead_letters::Column::FailedAt,
            ])
            .to_owned(),
        )
        .exec(&self.db)
        .await
        .map_err(unexpected)?;
        Ok(())
    }

    async fn dead_letters(
        &self,
        user_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<DeadLetter>, ReactionError> {
        let select = dead_letters::Entity::find().filter(dead_letters::Column::UserId.eq(user_id));
        let rows: Vec<DeadLetter> = Keyset {
            at: (dead_letters::Column::FailedAt, Order::Desc),
            id: (dead_letters::Column::Id, Order::Desc),
        }
        .page(select, page)
        .all(&self.db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(to_domain)
        .collect();
        Ok(Page::from_rows(rows, page, |l| {
            PageKey::new(l.failed_at, l.id)
        }))
    }
}
