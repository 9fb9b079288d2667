//! One in-memory store behind the session, review and budget ports.
//!
//! The three ports share one [`State`] under one lock, and every write
//! works on a copy that replaces the state only when the whole step
//! succeeded: a session step's budget effects and session effects land
//! together or not at all, as in the database's one transaction.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::accounts::SubscriptionTier;
use crate::budgets::{BudgetError, BudgetLedger, Reservation, Settlement, TokenBudget};
use crate::events::EventEnvelope;
use crate::reviews::{
    DecisionStep, HumanDecision, InterventionFilter, InterventionPoint, ReviewRecord, ReviewStore,
};
use crate::sessions::{
    AgentInvocation, AiSession, ReviewRequest, ReviewStatus, SessionError, SessionRepository,
    SessionStatus, SessionStep,
};

/// A reservation as the ledger keeps it.
#[derive(Debug, Clone)]
pub struct Held {
    pub reservation: Reservation,
    /// Real tokens charged to it so far (may exceed what it reserved).
    pub settled: i64,
    pub open: bool,
}

impl Held {
    /// What it still holds of the month.
    fn holds(&self) -> i64 {
        (self.reservation.amount - self.settled).max(0)
    }
}

#[derive(Debug, Clone, Default)]
pub struct State {
    pub sessions: HashMap<Uuid, AiSession>,
    /// In the order they were stored.
    pub invocations: Vec<AgentInvocation>,
    /// In the order they were created.
    pub reviews: Vec<ReviewRequest>,
    pub decisions: HashMap<Uuid, HumanDecision>,
    /// In the order they were logged.
    pub interventions: Vec<InterventionPoint>,
    /// By user.
    pub budgets: HashMap<Uuid, TokenBudget>,
    pub reservations: HashMap<Uuid, Held>,
    pub events: Vec<EventEnvelope>,
}

impl State {
    fn budget_mut(&mut self, budget_id: Uuid) -> Option<&mut TokenBudget> {
        self.budgets.values_mut().find(|b| b.id == budget_id)
    }

    fn reserve(&mut self, reservation: &Reservation) -> Result<bool, BudgetError> {
        let budget = self
            .budget_mut(reservation.budget_id)
            .ok_or(BudgetError::NoBudget)?;
        if budget.used_this_month + budget.reserved_tokens + reservation.amount
            > budget.monthly_limit
        {
            return Ok(false);
        }
        budget.reserved_tokens += reservation.amount;
        self.reservations.insert(
            reservation.id,
            Held {
                reservation: reservation.clone(),
                settled: 0,
                open: true,
            },
        );
        Ok(true)
    }

    /// The ledger's arithmetic: up to what the reservation still holds
    /// moves from reserved to used, any excess is added to used too.
    fn settle(&mut self, id: Uuid, used: i64) -> Result<Settlement, BudgetError> {
        let held = self
            .reservations
            .get_mut(&id)
            .ok_or(BudgetError::ReservationNotFound)?;
        if !held.open {
            return Err(BudgetError::ReservationClosed);
        }
        let holds = held.holds();
        let from_reserved = used.min(holds);
        held.settled += used;
        let budget_id = held.reservation.budget_id;
        let budget = self.budget_mut(budget_id).ok_or(BudgetError::NoBudget)?;
        budget.used_this_month += used;
        budget.reserved_tokens -= from_reserved;
        Ok(Settlement {
            charged: used,
            overrun: used - from_reserved,
            remaining: holds - from_reserved,
        })
    }

    fn release(&mut self, id: Uuid) -> Result<i64, BudgetError> {
        let held = self
            .reservations
            .get_mut(&id)
            .ok_or(BudgetError::ReservationNotFound)?;
        if !held.open {
            return Err(BudgetError::ReservationClosed);
        }
        held.open = false;
        let (holds, budget_id) = (held.holds(), held.reservation.budget_id);
        let budget = self.budget_mut(budget_id).ok_or(BudgetError::NoBudget)?;
        budget.reserved_tokens -= holds;
        Ok(holds)
    }

    /// Moves a session if it is still `from`; refuses a move the status
    /// machine forbids, which the database would store without a word —
    /// the fake is stricter so the tests catch the domain asking for one.
    fn move_session(
        &mut self,
        id: Uuid,
        from: SessionStatus,
        to: SessionStatus,
        failure: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<&mut AiSession, SessionError> {
        let session = self.sessions.get_mut(&id).ok_or(SessionError::NotFound)?;
        if session.status != from {
            return Err(SessionError::Conflict {
                actual: session.status,
            });
        }
        if !from.can_become(to) {
            return Err(SessionError::InvalidTransition { from, to });
        }
        session.status = to;
        if let Some(why) = failure {
            session.failure = Some(why.to_owned());
        }
        if to.is_terminal() {
            session.completed_at = Some(at);
        }
        Ok(session)
    }
}

fn unexpected(e: impl std::error::Error + Send + Sync + 'static) -> SessionError {
    SessionError::Unexpected(Box::new(e))
}

/// The shared store (users, projects and tasks live in `Memory`).
pub struct Store {
    pub state: Mutex<State>,
}

impl Store {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
        })
    }

    /// Opens a fresh month for `user_id` on `tier`.
    pub fn open_budget(&self, user_id: Uuid, tier: SubscriptionTier) -> TokenBudget {
        let budget = TokenBudget::fresh(user_id, tier, Utc::now());
        self.state
            .lock()
            .unwrap()
            .budgets
            .insert(user_id, budget.clone());
        budget
    }

    pub fn budget(&self, user_id: Uuid) -> TokenBudget {
        self.state.lock().unwrap().budgets[&user_id].clone()
    }

    /// Changes the user's month in place (a tighter limit, a higher tier).
    pub fn edit_budget(&self, user_id: Uuid, edit: impl FnOnce(&mut TokenBudget)) {
        edit(
            self.state
                .lock()
                .unwrap()
                .budgets
                .get_mut(&user_id)
                .unwrap(),
        );
    }

    pub fn reservation(&self, id: Uuid) -> Held {
        self.state.lock().unwrap().reservations[&id].clone()
    }

    /// Reservations still open, for "nothing left reserved".
    pub fn open_reservations(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .reservations
            .values()
            .filter(|h| h.open)
            .count()
    }

    pub fn session(&self, id: Uuid) -> AiSession {
        self.state.lock().unwrap().sessions[&id].clone()
    }

    /// The event types written about `aggregate`, in order.
    pub fn event_types(&self, aggregate: Uuid) -> Vec<&'static str> {
        self.state
            .lock()
            .unwrap()
            .events
            .iter()
            .filter(|e| e.aggregate_id == aggregate)
            .map(|e| e.event.type_name())
            .collect()
    }

    /// Runs `write` on a copy of the state and keeps it only on success:
    /// the fake's transaction.
    fn transaction<T, E>(&self, write: impl FnOnce(&mut State) -> Result<T, E>) -> Result<T, E> {
        let mut state = self.state.lock().unwrap();
        let mut draft = state.clone();
        let out = write(&mut draft)?;
        *state = draft;
        Ok(out)
    }
}

#[async_trait]
impl SessionRepository for Store {
    async fn create(
        &self,
        session: &AiSession,
        events: &[EventEnvelope],
        running_limit: u32,
    ) -> Result<(), SessionError> {
        self.transaction(|s| {
            s.sessions.insert(session.id, session.clone());
            let running = s
                .sessions
                .values()
                .filter(|o| o.user_id == session.user_id)
                .filter(|o| matches!(o.status, SessionStatus::Pending | SessionStatus::Executing))
                .count();
            if running > running_limit as usize {
                return Err(SessionError::TooManyRunning {
                    limit: running_limit,
                });
            }
            s.events.extend_from_slice(events);
            Ok(())
        })
    }

    async fn commit(&self, step: SessionStep<'_>) -> Result<(), SessionError> {
        self.transaction(|s| {
            if !s.sessions.contains_key(&step.session_id) {
                return Err(SessionError::NotFound);
            }
            if let Some(m) = step.status {
                s.move_session(step.session_id, m.from, m.to, m.failure, step.at)?;
            }
            let tokens: i64 = step.invocations.iter().map(|i| i.tokens_used).sum();
            s.invocations.extend_from_slice(step.invocations);
            if let Some(session) = s.sessions.get_mut(&step.session_id) {
                session.total_tokens_used += tokens;
                if let Some(change) = step.change {
                    session.change = Some(change.clone());
                }
            }
            if let Some((reservation, used)) = step.charge {
                s.settle(reservation, used).map_err(unexpected)?;
            }
            if let Some(review) = step.review {
                s.reviews.push(review.clone());
            }
            if let Some(reservation) = step.release {
                s.release(reservation).map_err(unexpected)?;
            }
            s.events.extend_from_slice(step.events);
            Ok(())
        })
    }

    async fn find(
        &self,
        owner_id: Uuid,
        id: Uuid,
    ) -> Result<Option<(AiSession, Vec<AgentInvocation>)>, SessionError> {
        let s = self.state.lock().unwrap();
        let Some(session) = s.sessions.get(&id).filter(|x| x.user_id == owner_id) else {
            return Ok(None);
        };
        let mut calls: Vec<AgentInvocation> = s
            .invocations
            .iter()
            .filter(|i| i.session_id == id)
            .cloned()
            .collect();
        // The adapter's order: oldest first (stable, so storing order breaks ties).
        calls.sort_by_key(|i| i.invoked_at);
        Ok(Some((session.clone(), calls)))
    }

    async fn unfinished(&self) -> Result<Vec<AiSession>, SessionError> {
        let mut found: Vec<AiSession> = self
            .state
            .lock()
            .unwrap()
            .sessions
            .values()
            .filter(|s| !s.status.is_terminal())
            .cloned()
            .collect();
        found.sort_by_key(|s| s.started_at);
        Ok(found)
    }
}

#[async_trait]
impl ReviewStore for Store {
    async fn reviews(
        &self,
        owner_id: Uuid,
        session_id: Uuid,
    ) -> Result<Vec<ReviewRequest>, SessionError> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .reviews
            .iter()
            .filter(|r| r.session_id == session_id && r.user_id == owner_id)
            .cloned()
            .collect())
    }

    async fn decide(&self, step: DecisionStep<'_>) -> Result<(), SessionError> {
        self.transaction(|s| {
            let review = s
                .reviews
                .iter_mut()
                .find(|r| r.id == step.review_id)
                .ok_or(SessionError::NotFound)?;
            if !review.status.is_open() {
                return Err(SessionError::ReviewClosed {
                    actual: review.status,
                });
            }
            review.status = step.to;
            let m = step.status;
            let session = s.move_session(step.session_id, m.from, m.to, m.failure, step.at)?;
            if let Some(r) = step.reserve {
                // Playing on: the session holds the new reservation and
                // counts from now for abandonment, as the adapter records.
                session.reservation_id = Some(r.id);
                session.resumed_at = Some(step.at);
                if !s.reserve(r).map_err(unexpected)? {
                    return Err(SessionError::BudgetRefused);
                }
            }
            if let Some(d) = step.decision {
                s.decisions.insert(step.review_id, d.clone());
            }
            if let Some(i) = step.intervention {
                s.interventions.push(i.clone());
            }
            s.events.extend_from_slice(step.events);
            Ok(())
        })
    }

    async fn open_review(
        &self,
        owner_id: Uuid,
        review_id: Uuid,
        events: &[EventEnvelope],
    ) -> Result<bool, SessionError> {
        let mut s = self.state.lock().unwrap();
        let Some(review) = s
            .reviews
            .iter_mut()
            .find(|r| r.id == review_id && r.user_id == owner_id)
            .filter(|r| r.status == ReviewStatus::PendingReview)
        else {
            return Ok(false);
        };
        review.status = ReviewStatus::UnderReview;
        s.events.extend_from_slice(events);
        Ok(true)
    }

    async fn review(
        &self,
        owner_id: Uuid,
        review_id: Uuid,
    ) -> Result<Option<ReviewRecord>, SessionError> {
        let s = self.state.lock().unwrap();
        Ok(s.reviews
            .iter()
            .find(|r| r.id == review_id && r.user_id == owner_id)
            .map(|r| (r.clone(), s.decisions.get(&review_id).cloned())))
    }

    async fn open_reviews(&self, owner_id: Uuid) -> Result<Vec<ReviewRequest>, SessionError> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .reviews
            .iter()
            .filter(|r| r.user_id == owner_id && r.status.is_open())
            .cloned()
            .collect())
    }

    async fn overdue_reviews(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReviewRequest>, SessionError> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .reviews
            .iter()
            .filter(|r| r.status.is_open() && r.expires_at < now)
            .cloned()
            .collect())
    }

    async fn interventions(
        &self,
        owner_id: Uuid,
        filter: &InterventionFilter,
        limit: u64,
    ) -> Result<Vec<InterventionPoint>, SessionError> {
        let s = self.state.lock().unwrap();
        let mut found: Vec<InterventionPoint> = s
            .interventions
            .iter()
            .filter(|p| p.user_id == owner_id)
            .filter(|p| filter.agent.is_none_or(|a| a == p.agent))
            .filter(|p| filter.kind.is_none_or(|k| k == p.kind))
            .filter(|p| filter.session_id.is_none_or(|id| id == p.session_id))
            .cloned()
            .collect();
        // Newest first; the later logged first among equal times.
        found.reverse();
        found.sort_by_key(|p| std::cmp::Reverse(p.at));
        found.truncate(usize::try_from(limit).unwrap());
        Ok(found)
    }
}

#[async_trait]
impl BudgetLedger for Store {
    async fn current(
        &self,
        user_id: Uuid,
        _now: DateTime<Utc>,
    ) -> Result<TokenBudget, BudgetError> {
        self.state
            .lock()
            .unwrap()
            .budgets
            .get(&user_id)
            .cloned()
            .ok_or(BudgetError::NoBudget)
    }

    async fn try_reserve(
        &self,
        reservation: &Reservation,
        _now: DateTime<Utc>,
    ) -> Result<bool, BudgetError> {
        let mut s = self.state.lock().unwrap();
        s.reserve(reservation)
    }

    async fn settle(
        &self,
        reservation_id: Uuid,
        used: i64,
        _now: DateTime<Utc>,
    ) -> Result<Settlement, BudgetError> {
        self.transaction(|s| s.settle(reservation_id, used))
    }

    async fn release(&self, reservation_id: Uuid, _now: DateTime<Utc>) -> Result<i64, BudgetError> {
        self.transaction(|s| s.release(reservation_id))
    }

    async fn record(&self, event: &EventEnvelope) -> Result<(), BudgetError> {
        self.state.lock().unwrap().events.push(event.clone());
        Ok(())
    }
}
