//! `BudgetLedger` over sea-orm. Every step starts with a conditional write
//! (which takes SQLite's write lock, and PostgreSQL's row lock) before it
//! reads anything, so concurrent sessions serialise on the budget row and
//! `used_this_month + reserved_tokens` can never exceed `monthly_limit`
//! through a reservation — whatever the interleaving.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::accounts::SubscriptionTier;
use domain::budgets::{BudgetError, BudgetLedger, Reservation, Settlement, TokenBudget};
use domain::events::EventEnvelope;
use entity::{token_budgets as budgets, token_reservations as reservations, users};
use sea_orm::sea_query::{Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QueryTrait, Set, TransactionTrait,
};
use uuid::Uuid;

use super::batch::Batch;
use super::events::apply_with_events;
use super::{CorruptColumn, boxed, from_db_time, to_db_time};

#[derive(Debug, Clone)]
pub struct SeaOrmBudgetLedger {
    db: DatabaseConnection,
}

impl SeaOrmBudgetLedger {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn unexpected(e: DbErr) -> BudgetError {
    BudgetError::Unexpected(boxed(e))
}

fn tier(value: &str, column: &'static str) -> Result<SubscriptionTier, BudgetError> {
    SubscriptionTier::parse(value).ok_or_else(|| {
        BudgetError::Unexpected(boxed(CorruptColumn {
            column,
            value: value.to_owned(),
        }))
    })
}

fn to_domain(m: budgets::Model) -> Result<TokenBudget, BudgetError> {
    Ok(TokenBudget {
        id: m.id,
        user_id: m.user_id,
        tier: tier(&m.tier, "token_budgets.tier")?,
        monthly_limit: m.monthly_limit,
        max_session_tokens: m.max_session_tokens,
        used_this_month: m.used_this_month,
        reserved_tokens: m.reserved_tokens,
        resets_at: from_db_time(m.resets_at),
    })
}

/// The two writes that charge `used` tokens to open reservation `id` and,
/// with `close`, close it and hand what it still held back to the month.
/// The reservation comes first: it is the conditional write (the row lock
/// on PostgreSQL), and the month's arithmetic then reads the reservation
/// as just written — what it held before this charge is `reserved -
/// settled + used`, of which the month gets back `min(used, held)`, or all
/// of it when closing. Each write touches one row when the reservation was
/// open: pushed into `batch` in this order, so a miss makes the batch
/// answer `false` and its transaction roll back. On SQLite, where a
/// [`Batch`] runs the second even when the first missed, the month's write
/// is conditional on the reservation's having touched its row
/// (`changes()`), so a closed reservation is never charged twice, even in a
/// transaction about to roll back.
pub(crate) fn push_settlement(
    batch: &mut Batch,
    id: Uuid,
    used: i64,
    close: bool,
    now: DateTime<Utc>,
) {
    let backend = batch.backend();
    let reservation = {
        let mut update = reservations::Entity::update_many()
            .col_expr(
                reservations::Column::UpdatedAt,
                Expr::value(to_db_time(now)),
            )
            .filter(reservations::Column::Id.eq(id))
            .filter(reservations::Column::Status.eq("open"));
        if used != 0 {
            update = update.col_expr(
                reservations::Column::Settled,
                Expr::col(reservations::Column::Settled).add(used),
            );
        }
        if close {
            update = update
                .col_expr(reservations::Column::Status, Expr::value("closed"))
                .col_expr(
                    reservations::Column::ClosedAt,
                    Expr::value(Some(to_db_time(now))),
                );
        }
        update.into_query()
    };
    let month = {
        let col = |c: reservations::Column| Expr::col((reservations::Entity, c));
        let held_raw = col(reservations::Column::Reserved)
            .sub(col(reservations::Column::Settled))
            .add(used);
        let held = Expr::case(Expr::expr(held_raw.clone()).gt(0), held_raw).finally(0);
        let give_back: SimpleExpr = if close {
            held.into()
        } else {
            Expr::case(Expr::expr(held.clone()).gt(used), used)
                .finally(held)
                .into()
        };
        let of_reservation = |expr: SimpleExpr| {
            Query::select()
                .expr(expr)
                .from(reservations::Entity)
                .and_where(col(reservations::Column::Id).eq(id))
                .to_owned()
        };
        let mut month = budgets::Entity::update_many()
            .col_expr(
                budgets::Column::UsedThisMonth,
                Expr::col(budgets::Column::UsedThisMonth).add(used),
            )
            .col_expr(
                budgets::Column::ReservedTokens,
                Expr::col(budgets::Column::ReservedTokens).sub(SimpleExpr::SubQuery(
                    None,
                    Box::new(of_reservation(give_back).into_sub_query_statement()),
                )),
            )
            .col_expr(budgets::Column::UpdatedAt, Expr::value(to_db_time(now)))
            .filter(
                budgets::Column::Id
                    .in_subquery(of_reservation(col(reservations::Column::BudgetId).into())),
            )
            .into_query();
        if backend == DbBackend::Sqlite {
            month.and_where(Expr::cust("changes() = 1"));
        }
        month
    };
    // Rendered each time, parameters and all, by sea-query itself: budget
    // arithmetic rests on nothing listed by hand.
    batch.push(&reservation, 1);
    batch.push(&month, 1);
}

/// Charges `used` real tokens to an open reservation — up to what it still
/// holds from the reserved tokens, any excess on top (real usage is never
/// hidden) — and, with `close`, closes it and returns what it still held to
/// the month. Runs inside the caller's transaction, so a session step can
/// settle in the same commit as its invocations. Answers the settlement
/// and the tokens released.
pub(crate) async fn settle_in<C: ConnectionTrait>(
    conn: &C,
    reservation_id: Uuid,
    used: i64,
    close: bool,
    now: DateTime<Utc>,
) -> Result<(Settlement, i64), BudgetError> {
    let mut batch = Batch::new(conn.get_database_backend());
    push_settlement(&mut batch, reservation_id, used, close, now);
    let settled = batch.run(conn).await.map_err(unexpected)?;
    let found = reservations::Entity::find_by_id(reservation_id)
        .one(conn)
        .await
        .map_err(unexpected)?;
    let r = match (settled, found) {
        (true, Some(r)) => r,
        (_, Some(_)) => return Err(BudgetError::ReservationClosed),
        (_, None) => return Err(BudgetError::ReservationNotFound),
    };
    // What the reservation held before this charge (as `push_settlement`
    // reckoned it in SQL).
    let held = (r.reserved - (r.settled - used)).max(0);
    let from_reserved = used.min(held);
    let released = if close { held - from_reserved } else { 0 };
    Ok((
        Settlement {
            charged: used,
            overrun: used - from_reserved,
            remaining: held - from_reserved,
        },
        released,
    ))
}

/// Reserves `reservation.amount` if it fits the month — the conditional
/// write comes first, so concurrent reservations serialise on the budget
/// row — and records the open reservation. Runs inside the caller's
/// transaction (a decision that sets a session playing again reserves in
/// its own commit). Answers whether it fitted; the caller rolls back if not.
pub(crate) async fn reserve_in<C: ConnectionTrait>(
    conn: &C,
    reservation: &Reservation,
    now: DateTime<Utc>,
) -> Result<bool, BudgetError> {
    let amount = reservation.amount;
    let fits = Expr::expr(
        Expr::col(budgets::Column::UsedThisMonth)
            .add(Expr::col(budgets::Column::ReservedTokens))
            .add(amount),
    )
    .lte(Expr::col(budgets::Column::MonthlyLimit));
    let reserved = budgets::Entity::update_many()
        .col_expr(
            budgets::Column::ReservedTokens,
            Expr::col(budgets::Column::ReservedTokens).add(amount),
        )
        .col_expr(budgets::Column::UpdatedAt, Expr::value(to_db_time(now)))
        .filter(budgets::Column::Id.eq(reservation.budget_id))
        .filter(budgets::Column::ResetsAt.gt(to_db_time(now)))
        .filter(fits)
        .exec(conn)
        .await
        .map_err(unexpected)?
        .rows_affected;
    if reserved == 0 {
        return Ok(false);
    }
    reservations::Entity::insert(reservations::ActiveModel {
        id: Set(reservation.id),
        budget_id: Set(reservation.budget_id),
        user_id: Set(reservation.user_id),
        session_id: Set(reservation.session_id),
        reserved: Set(amount),
        settled: Set(0),
        status: Set("open".to_owned()),
        created_at: Set(to_db_time(now)),
        updated_at: Set(to_db_time(now)),
        closed_at: Set(None),
    })
    .exec(conn)
    .await
    .map_err(unexpected)?;
    Ok(true)
}

#[async_trait]
impl BudgetLedger for SeaOrmBudgetLedger {
    async fn current(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<TokenBudget, BudgetError> {
        let open_period = || {
            budgets::Entity::find()
                .filter(budgets::Column::UserId.eq(user_id))
                .filter(budgets::Column::ResetsAt.gt(to_db_time(now)))
                .order_by_asc(budgets::Column::ResetsAt)
                .one(&self.db)
        };
        if let Some(m) = open_period().await.map_err(unexpected)? {
            return to_domain(m);
        }
        // The last period has reset: open the next one on the user's tier.
        // Concurrent callers may race here; the unique (user_id, resets_at)
        // key lets exactly one insert win and the others read its row.
        let user = users::Entity::find_by_id(user_id)
            .one(&self.db)
            .await
            .map_err(unexpected)?
            .ok_or(BudgetError::NoBudget)?;
        let fresh = TokenBudget::fresh(
            user_id,
            tier(&user.subscription_tier, "users.subscription_tier")?,
            now,
        );
        let row = budgets::ActiveModel {
            id: Set(fresh.id),
            user_id: Set(user_id),
            tier: Set(fresh.tier.as_str().to_owned()),
            monthly_limit: Set(fresh.monthly_limit),
            max_session_tokens: Set(fresh.max_session_tokens),
            used_this_month: Set(0),
            reserved_tokens: Set(0),
            resets_at: Set(to_db_time(fresh.resets_at)),
            created_at: Set(to_db_time(now)),
            updated_at: Set(to_db_time(now)),
        };
        let inserted = budgets::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([budgets::Column::UserId, budgets::Column::ResetsAt])
                    .do_nothing()
                    .to_owned(),
            )
            .exec(&self.db)
            .await;
        match inserted {
            Ok(_) | Err(DbErr::RecordNotInserted) => {}
            Err(e) => return Err(unexpected(e)),
        }
        open_period()
            .await
            .map_err(unexpected)?
            .ok_or(BudgetError::NoBudget)
            .and_then(to_domain)
    }

    async fn try_reserve(
        &self,
        reservation: &Reservation,
        now: DateTime<Utc>,
    ) -> Result<bool, BudgetError> {
        let txn = self.db.begin().await.map_err(unexpected)?;
        if !reserve_in(&txn, reservation, now).await? {
            txn.rollback().await.map_err(unexpected)?;
            return Ok(false);
        }
        txn.commit().await.map_err(unexpected)?;
        Ok(true)
    }

    async fn settle(
        &self,
        reservation_id: Uuid,
        used: i64,
        now: DateTime<Utc>,
    ) -> Result<Settlement, BudgetError> {
        let txn = self.db.begin().await.map_err(unexpected)?;
        let (settlement, _) = settle_in(&txn, reservation_id, used, false, now).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(settlement)
    }

    async fn release(&self, reservation_id: Uuid, now: DateTime<Utc>) -> Result<i64, BudgetError> {
        let txn = self.db.begin().await.map_err(unexpected)?;
        let (_, released) = settle_in(&txn, reservation_id, 0, true, now).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(released)
    }

    async fn record(&self, event: &EventEnvelope) -> Result<(), BudgetError> {
        apply_with_events(&self.db, std::slice::from_ref(event), |_| {
            Box::pin(async { Ok(1) })
        })
        .await
        .map(|_| ())
        .map_err(unexpected)
    }
}
