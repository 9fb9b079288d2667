//! The token ledger (spec §4.3): whole-task reservation, per-call settlement,
//! release, monthly rollover — and zero overspend under hundreds of
//! concurrent sessions, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use common::TestApp;
use domain::budgets::{BudgetError, BudgetService};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use server::outbound::db::{SeaOrmBudgetLedger, read_events};
use uuid::Uuid;

async fn user(app: &TestApp, email: &str) -> Uuid {
    let body = app.client().sign_up(email).await;
    Uuid::parse_str(body["id"].as_str().unwrap()).unwrap()
}

fn service(app: &TestApp) -> BudgetService {
    BudgetService::new(Arc::new(SeaOrmBudgetLedger::new(app.db.clone())))
}

/// Sets the current period's used tokens directly (a month's earlier spend).
async fn set_used(app: &TestApp, user_id: Uuid, used: i64) {
    let row = entity::token_budgets::Entity::find()
        .filter(entity::token_budgets::Column::UserId.eq(user_id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut active: entity::token_budgets::ActiveModel = row.into();
    active.used_this_month = Set(used);
    active.update(&app.db).await.unwrap();
}

backends!(reserve_settle_release, |url: String| async move {
    let app = TestApp::new(&url).await;
    let uid = user(&app, "ledger@example.com").await;
    let budgets = service(&app);

    let r = budgets.reserve(uid, None, 3_000).await.unwrap();
    let b = budgets.current(uid).await.unwrap();
    assert_eq!(
        (b.used_this_month, b.reserved_tokens, b.remaining()),
        (0, 3_000, 97_000)
    );

    let s = budgets.settle(r.id, 1_200).await.unwrap();
    assert_eq!((s.charged, s.overrun, s.remaining), (1_200, 0, 1_800));
    let s = budgets.settle(r.id, 300).await.unwrap();
    assert_eq!(s.remaining, 1_500);
    let b = budgets.current(uid).await.unwrap();
    assert_eq!((b.used_this_month, b.reserved_tokens), (1_500, 1_500));

    assert_eq!(budgets.release(r.id).await.unwrap(), 1_500);
    let b = budgets.current(uid).await.unwrap();
    assert_eq!(
        (b.used_this_month, b.reserved_tokens, b.remaining()),
        (1_500, 0, 98_500)
    );

    assert!(matches!(
        budgets.release(r.id).await,
        Err(BudgetError::ReservationClosed)
    ));
    assert!(matches!(
        budgets.settle(r.id, 1).await,
        Err(BudgetError::ReservationClosed)
    ));
    assert!(matches!(
        budgets.release(Uuid::new_v4()).await,
        Err(BudgetError::ReservationNotFound)
    ));
    assert!(matches!(
        budgets.reserve(uid, None, 0).await,
        Err(BudgetError::InvalidField(_))
    ));
    assert!(matches!(
        budgets.settle(r.id, -5).await,
        Err(BudgetError::InvalidField(_))
    ));
});

backends!(
    real_usage_past_the_reservation_is_recorded_as_overrun,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let uid = user(&app, "overrun@example.com").await;
        let budgets = service(&app);
        let r = budgets.reserve(uid, None, 100).await.unwrap();
        let s = budgets.settle(r.id, 150).await.unwrap();
        assert_eq!((s.charged, s.overrun, s.remaining), (150, 50, 0));
        assert_eq!(budgets.release(r.id).await.unwrap(), 0);
        let b = budgets.current(uid).await.unwrap();
        assert_eq!(
            (b.used_this_month, b.reserved_tokens),
            (150, 0),
            "real usage is never hidden"
        );
    }
);

backends!(
    refusals_say_why_and_append_an_event,
    |url: String| async move {
        let app = TestApp::new(&url).await;
        let uid = user(&app, "refused@example.com").await;
        let budgets = service(&app);
        match budgets.reserve(uid, None, 10_001).await {
            Err(BudgetError::SessionLimitExceeded {
                requested, limit, ..
            }) => assert_eq!((requested, limit), (10_001, 10_000)),
            other => panic!("unexpected {other:?}"),
        }
        set_used(&app, uid, 95_000).await;
        match budgets.reserve(uid, None, 6_000).await {
            Err(BudgetError::MonthlyLimitExceeded {
                requested,
                remaining,
                ..
            }) => assert_eq!((requested, remaining), (6_000, 5_000)),
            other => panic!("unexpected {other:?}"),
        }
        let b = budgets.current(uid).await.unwrap();
        assert_eq!(b.reserved_tokens, 0, "a refused reservation holds nothing");
        let events = read_events(&app.db, uid).await.unwrap();
        let refused: Vec<_> = events
            .iter()
            .filter(|e| e.event_type == "TokenBudgetExceeded")
            .collect();
        assert_eq!(refused.len(), 2);
        assert_eq!(refused[0].aggregate_type, "Budget");
        assert_eq!(refused[0].payload["limit"], "session_limit");
        assert_eq!(refused[1].payload["limit"], "monthly_limit");
        assert_eq!(refused[1].payload["remaining"], 5_000);
        // Exactly what fits still fits.
        assert!(budgets.reserve(uid, None, 5_000).await.is_ok());
    }
);

backends!(a_new_month_opens_a_fresh_period, |url: String| async move {
    let app = TestApp::new(&url).await;
    let uid = user(&app, "rollover@example.com").await;
    set_used(&app, uid, 99_000).await;
    // Pretend the period ended yesterday.
    let row = entity::token_budgets::Entity::find()
        .filter(entity::token_budgets::Column::UserId.eq(uid))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let old_id = row.id;
    let mut active: entity::token_budgets::ActiveModel = row.into();
    active.resets_at = Set((Utc::now() - Duration::days(1)).fixed_offset());
    active.update(&app.db).await.unwrap();

    let budgets = service(&app);
    let b = budgets.current(uid).await.unwrap();
    assert_ne!(b.id, old_id);
    assert_eq!(
        (b.used_this_month, b.reserved_tokens, b.monthly_limit),
        (0, 0, 100_000)
    );
    assert!(b.resets_at > Utc::now());
    assert!(budgets.reserve(uid, None, 9_000).await.is_ok());
    let periods = entity::token_budgets::Entity::find()
        .filter(entity::token_budgets::Column::UserId.eq(uid))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(periods.len(), 2, "the old period is kept for the record");
});

backends!(
    hundreds_of_concurrent_sessions_never_overspend,
    |url: String| async move {
        const SESSIONS: usize = 300;
        const EACH: i64 = 1_000;
        let app = TestApp::new(&url).await;
        let uid = user(&app, "rush@example.com").await;
        // 25 sessions' worth left this month.
        set_used(&app, uid, 100_000 - 25 * EACH).await;
        let budgets = service(&app);

        let attempts: Vec<_> = (0..SESSIONS)
            .map(|_| {
                let budgets = budgets.clone();
                tokio::spawn(async move { budgets.reserve(uid, Some(Uuid::new_v4()), EACH).await })
            })
            .collect();
        let mut granted = Vec::new();
        let mut refused = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(r) => granted.push(r),
                Err(BudgetError::MonthlyLimitExceeded { .. }) => refused += 1,
                Err(e) => panic!("unexpected error under load: {e:?}"),
            }
        }
        assert_eq!(granted.len(), 25, "exactly what fits is granted");
        assert_eq!(refused, SESSIONS - 25);
        let b = budgets.current(uid).await.unwrap();
        assert_eq!((b.used_this_month, b.reserved_tokens), (75_000, 25 * EACH));

        // Every granted session spends part of its reservation, concurrently.
        let settlements: Vec<_> = granted
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let budgets = budgets.clone();
                let id = r.id;
                let used = 500 + i64::try_from(i).unwrap() * 17;
                tokio::spawn(async move {
                    budgets.settle(id, used).await.unwrap();
                    budgets.release(id).await.unwrap();
                    used
                })
            })
            .collect();
        let mut spent = 0;
        for s in settlements {
            spent += s.await.unwrap();
        }
        let b = budgets.current(uid).await.unwrap();
        assert_eq!(b.used_this_month, 75_000 + spent);
        assert!(b.used_this_month <= b.monthly_limit, "no overspend");
        assert_eq!(b.reserved_tokens, 0, "every reservation released");
        let open = entity::token_reservations::Entity::find()
            .filter(entity::token_reservations::Column::Status.eq("open"))
            .all(&app.db)
            .await
            .unwrap();
        assert!(open.is_empty());
        let events = read_events(&app.db, uid).await.unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.event_type == "TokenBudgetExceeded")
                .count(),
            SESSIONS - 25
        );
    }
);

backends!(
    every_settlement_shape_charges_exactly,
    |url: String| async move {
        // The four shapes of the settlement's SQL (tokens or none, closing
        // or not), each checked against the ledger's arithmetic; the
        // statements are rendered with their parameters by sea-query.
        let app = TestApp::new(&url).await;
        let uid = user(&app, "shapes@example.com").await;
        let budgets = service(&app);
        let r = budgets.reserve(uid, None, 1_000).await.unwrap();
        // Nothing used, still open.
        let s = budgets.settle(r.id, 0).await.unwrap();
        assert_eq!((s.charged, s.overrun, s.remaining), (0, 0, 1_000));
        // Tokens, still open.
        let s = budgets.settle(r.id, 400).await.unwrap();
        assert_eq!((s.charged, s.overrun, s.remaining), (400, 0, 600));
        // Past what it holds: the excess is charged too.
        let s = budgets.settle(r.id, 700).await.unwrap();
        assert_eq!((s.charged, s.overrun, s.remaining), (700, 100, 0));
        let b = budgets.current(uid).await.unwrap();
        assert_eq!((b.used_this_month, b.reserved_tokens), (1_100, 0));
        // Nothing used, closing: nothing left to give back.
        assert_eq!(budgets.release(r.id).await.unwrap(), 0);
        // Closing with some held: all of it goes back.
        let r = budgets.reserve(uid, None, 500).await.unwrap();
        budgets.settle(r.id, 200).await.unwrap();
        assert_eq!(budgets.release(r.id).await.unwrap(), 300);
        let b = budgets.current(uid).await.unwrap();
        assert_eq!((b.used_this_month, b.reserved_tokens), (1_300, 0));
        // A closed reservation is never charged again.
        assert!(budgets.settle(r.id, 10).await.is_err());
        let b = budgets.current(uid).await.unwrap();
        assert_eq!(b.used_this_month, 1_300);
    }
);
