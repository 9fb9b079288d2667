//! Fair turns at a provider every user shares (the built-in model): a fixed
//! number of slots, and for the calls that must wait, one waiting line per
//! user (tenant) served in round robin rather than first come, first served.
//!
//! Why: with one line for everybody, a user who queues ten calls makes the
//! next user wait behind all ten, and a user who fills the line makes every
//! other user's calls bounce. Here a freed slot goes to the waiting tenant
//! whose last turn is the oldest, so a newcomer is served right after the
//! calls already running; and the cap on waiting calls is per tenant, so a
//! flood is refused for the flooding tenant only.
//!
//! Turn order: each grant of a slot is numbered; a tenant's place in the
//! round is the number of its latest grant (doubled, see [`Line::turn`]). A
//! tenant that starts waiting with no call running or waiting takes a place
//! just before the latest grant: behind every tenant already waiting for a
//! turn, ahead of the one served just now. With every tenant busy this is
//! plain round robin.
//!
//! Memory is bounded twice: by the per-tenant cap, and by a global cap on
//! waiting calls (by default [`GLOBAL_FACTOR`] times the per-tenant one), so
//! that many accounts together cannot pile up requests without end. Only
//! tenants with a call running or waiting are remembered.
//!
//! Nothing here spawns or sleeps: admission is decided synchronously by
//! [`FairScheduler::enter`], so the order of calls to it is the order of
//! the lines, and a slot is handed to the next waiter inside the drop of the
//! [`Slot`] that frees it.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use uuid::Uuid;

/// Whose turn a call takes: the user it is made for, or `None` for calls
/// made for nobody in particular (health probes), which share one line.
pub type Tenant = Option<Uuid>;

/// The global cap on waiting calls, as a multiple of the per-tenant cap.
///
/// Sixteen tenants may fill their lines at once. Past that the provider is
/// hopelessly behind anyway (with the defaults, 256 waiting calls on one
/// slot is over an hour of generation, far beyond any agent's deadline),
/// and the cap keeps the waiting requests to a few megabytes.
pub const GLOBAL_FACTOR: usize = 16;

/// Why a call was not let into a waiting line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// This tenant already has as many calls waiting as it may.
    #[error("this user's calls fill their waiting line")]
    TenantFull,
    /// All the tenants' waiting calls together reach the global cap.
    #[error("the waiting line is full")]
    Full,
}

/// N slots shared fairly between tenants. Cheap to clone: clones share
/// the slots.
#[derive(Clone)]
pub struct FairScheduler {
    shared: Arc<Mutex<State>>,
}

impl std::fmt::Debug for FairScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.shared);
        f.debug_struct("FairScheduler")
            .field("free", &state.free)
            .field("waiting", &state.waiting)
            .field("per_tenant", &state.per_tenant)
            .field("max_waiting", &state.max_waiting)
            .finish()
    }
}

/// One tenant's calls: those holding a slot and those waiting for one.
struct Line {
    running: usize,
    waiting: VecDeque<Waiter>,
    /// Where the tenant stands in the round: twice the number of its latest
    /// grant, or for a tenant that just arrived, one less than twice the
    /// latest grant overall (so it sorts just before that grant). The
    /// doubling keeps the two kinds of place distinct integers.
    turn: u64,
    /// Breaks ties between tenants that arrived between the same grants:
    /// the first to arrive goes first.
    arrival: u64,
}

struct Waiter {
    id: u64,
    waker: Option<Waker>,
}

struct State {
    free: usize,
    per_tenant: usize,
    max_waiting: usize,
    /// Calls waiting, over all lines.
    waiting: usize,
    /// Slots granted so far; numbers the turns.
    grants: u64,
    /// Numbers tickets and arrivals.
    sequence: u64,
    lines: HashMap<Tenant, Line>,
    /// Tickets that were handed a slot and have not yet taken it: a ticket
    /// dropped before taking its slot passes it on from here.
    granted: HashMap<u64, Tenant>,
}

impl State {
    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Numbers a grant to `tenant` and moves it to the back of the round.
    fn grant(&mut self, tenant: Tenant, id: u64) {
        self.grants += 1;
        let turn = self.grants * 2;
        if let Some(line) = self.lines.get_mut(&tenant) {
            line.running += 1;
            line.turn = turn;
        }
        self.granted.insert(id, tenant);
    }

    /// A slot held for `tenant` is free again: it goes to the next tenant
    /// in the round, or back to the pool. Returns the waiter to wake.
    fn release(&mut self, tenant: Tenant) -> Option<Waker> {
        if let Some(line) = self.lines.get_mut(&tenant) {
            line.running = line.running.saturating_sub(1);
        }
        self.forget_if_idle(tenant);
        let next = self
            .lines
            .iter()
            .filter(|(_, line)| !line.waiting.is_empty())
            .min_by_key(|(_, line)| (line.turn, line.arrival))
            .map(|(tenant, _)| *tenant);
        let Some(next) = next else {
            self.free += 1;
            return None;
        };
        let waiter = self
            .lines
            .get_mut(&next)
            .and_then(|line| line.waiting.pop_front());
        let Some(waiter) = waiter else {
            // Unreachable (the line was picked for having a waiter), but a
            // slot must never be lost: back to the pool.
            self.free += 1;
            return None;
        };
        self.waiting = self.waiting.saturating_sub(1);
        self.grant(next, waiter.id);
        waiter.waker
    }

    /// Only tenants with a call running or waiting are remembered.
    fn forget_if_idle(&mut self, tenant: Tenant) {
        if self
            .lines
            .get(&tenant)
            .is_some_and(|line| line.running == 0 && line.waiting.is_empty())
        {
            self.lines.remove(&tenant);
        }
    }
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    // The state is consistent between statements that could panic (none
    // do while it is held), so a poisoned lock is still usable.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FairScheduler {
    /// `slots` calls at once (at least one), `per_tenant` waiting calls per
    /// tenant, and `per_tenant` × [`GLOBAL_FACTOR`] waiting in all.
    pub fn new(slots: usize, per_tenant: usize) -> Self {
        Self::with_limits(slots, per_tenant, per_tenant.saturating_mul(GLOBAL_FACTOR))
    }

    /// As [`Self::new`], with the global cap on waiting calls given.
    pub fn with_limits(slots: usize, per_tenant: usize, max_waiting: usize) -> Self {
        Self {
            shared: Arc::new(Mutex::new(State {
                free: slots.max(1),
                per_tenant,
                max_waiting,
                waiting: 0,
                grants: 0,
                sequence: 0,
                lines: HashMap::new(),
                granted: HashMap::new(),
            })),
        }
    }

    /// Takes a place for a call of `tenant`: a free slot at once, or a
    /// place in the tenant's waiting line. Await the ticket for the slot;
    /// dropping it leaves the line (or passes on a slot it was handed).
    ///
    /// # Errors
    /// [`Refused`] when the tenant's line, or all lines together, are full.
    pub fn enter(&self, tenant: Tenant) -> Result<Ticket, Refused> {
        let mut state = lock(&self.shared);
        let id = state.next_sequence();
        if state.free > 0 {
            // Free slots mean nobody waits: a slot that frees goes straight
            // to a waiter, so the pool only holds slots nobody wants.
            state.free -= 1;
            if !state.lines.contains_key(&tenant) {
                let arrival = state.next_sequence();
                state.lines.insert(
                    tenant,
                    Line {
                        running: 0,
                        waiting: VecDeque::new(),
                        turn: 0,
                        arrival,
                    },
                );
            }
            state.grant(tenant, id);
        } else {
            let queued = state.lines.get(&tenant).map_or(0, |l| l.waiting.len());
            if queued >= state.per_tenant {
                return Err(Refused::TenantFull);
            }
            if state.waiting >= state.max_waiting {
                return Err(Refused::Full);
            }
            let arrival = state.next_sequence();
            let turn = (state.grants * 2).saturating_sub(1);
            state.waiting += 1;
            state
                .lines
                .entry(tenant)
                .or_insert(Line {
                    running: 0,
                    waiting: VecDeque::new(),
                    turn,
                    arrival,
                })
                .waiting
                .push_back(Waiter { id, waker: None });
        }
        Ok(Ticket {
            shared: self.shared.clone(),
            id,
            tenant,
            taken: false,
        })
    }

    /// Calls of `tenant` waiting for a slot.
    pub fn waiting(&self, tenant: Tenant) -> usize {
        lock(&self.shared)
            .lines
            .get(&tenant)
            .map_or(0, |line| line.waiting.len())
    }
}

/// A place in a waiting line; resolves to the [`Slot`] when the tenant's
/// turn comes.
#[must_use = "a ticket holds a place in line until it is awaited or dropped"]
pub struct Ticket {
    shared: Arc<Mutex<State>>,
    id: u64,
    tenant: Tenant,
    /// The slot was taken (moved into a [`Slot`]), which now releases it.
    taken: bool,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl Future for Ticket {
    type Output = Slot;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Slot> {
        let mut state = lock(&self.shared);
        if state.granted.remove(&self.id).is_some() {
            drop(state);
            self.taken = true;
            return Poll::Ready(Slot {
                shared: self.shared.clone(),
                tenant: self.tenant,
            });
        }
        let waiter = state
            .lines
            .get_mut(&self.tenant)
            .and_then(|line| line.waiting.iter_mut().find(|w| w.id == self.id));
        if let Some(waiter) = waiter {
            waiter.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        let mut state = lock(&self.shared);
        let wake = if state.granted.remove(&self.id).is_some() {
            // Handed a slot but gone before taking it: pass it on.
            state.release(self.tenant)
        } else {
            let line = state.lines.get_mut(&self.tenant);
            if let Some(line) = line
                && let Some(at) = line.waiting.iter().position(|w| w.id == self.id)
            {
                line.waiting.remove(at);
                state.waiting = state.waiting.saturating_sub(1);
                state.forget_if_idle(self.tenant);
            }
            None
        };
        drop(state);
        if let Some(waker) = wake {
            waker.wake();
        }
    }
}

/// A slot held: the call may run. Dropping it hands the slot to the next
/// tenant in the round.
#[must_use = "the slot is freed as soon as it is dropped"]
pub struct Slot {
    shared: Arc<Mutex<State>>,
    tenant: Tenant,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let wake = lock(&self.shared).release(self.tenant);
        // Woken outside the lock: the waiter's first act is to take it.
        if let Some(waker) = wake {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    fn tenant(n: u128) -> Tenant {
        Some(Uuid::from_u128(n))
    }

    /// The slot, when the ticket has it now.
    fn ready(ticket: &mut Ticket) -> Option<Slot> {
        ticket.now_or_never()
    }

    fn hold(s: &FairScheduler, t: Tenant) -> Slot {
        let mut ticket = s.enter(t).unwrap();
        ready(&mut ticket).expect("a free slot is granted at once")
    }

    /// Frees the running slot again and again (one slot in all), and lists
    /// whose call got it each time: exactly one ticket becomes ready.
    fn order(mut running: Slot, mut waiting: Vec<(&'static str, Ticket)>) -> Vec<&'static str> {
        let mut served = Vec::new();
        while !waiting.is_empty() {
            drop(running);
            let mut got = Vec::new();
            for (i, (_, ticket)) in waiting.iter_mut().enumerate() {
                if let Some(slot) = ready(ticket) {
                    got.push((i, slot));
                }
            }
            assert_eq!(got.len(), 1, "one slot, one call served");
            let (i, slot) = got.remove(0);
            served.push(waiting.remove(i).0);
            running = slot;
        }
        served
    }

    #[test]
    fn a_second_tenant_is_served_right_after_the_running_call() {
        let s = FairScheduler::new(1, 16);
        let (a, b) = (tenant(1), tenant(2));
        let running = hold(&s, a);
        let mut waiting: Vec<_> = (0..9).map(|_| ("A", s.enter(a).unwrap())).collect();
        for (_, t) in &mut waiting {
            assert!(ready(t).is_none(), "the one slot is taken");
        }
        waiting.push(("B", s.enter(b).unwrap()));
        assert_eq!(s.waiting(a), 9);
        let served = order(running, waiting);
        assert_eq!(served[0], "B", "second, not eleventh: {served:?}");
        assert_eq!(served[1..], ["A"; 9]);
    }

    #[test]
    fn three_tenants_take_turns() {
        let s = FairScheduler::new(1, 16);
        let running = hold(&s, tenant(1));
        let mut waiting = Vec::new();
        for (name, t) in [("A", 1), ("B", 2), ("C", 3)] {
            for _ in 0..3 {
                waiting.push((name, s.enter(tenant(t)).unwrap()));
            }
        }
        assert_eq!(
            order(running, waiting),
            ["B", "C", "A", "B", "C", "A", "B", "C", "A"]
        );
    }

    #[test]
    fn a_tenant_arriving_later_joins_the_round_behind_those_waiting() {
        let s = FairScheduler::new(1, 16);
        let running = hold(&s, tenant(1));
        let mut b = s.enter(tenant(2)).unwrap();
        let c = s.enter(tenant(3)).unwrap();
        let a = s.enter(tenant(1)).unwrap();
        drop(running);
        let b_slot = ready(&mut b).expect("B's turn comes first");
        // D arrives while B runs: behind C and A, who were waiting already,
        // as a newcomer joins the back of a round robin.
        let d = s.enter(tenant(4)).unwrap();
        assert_eq!(
            order(b_slot, vec![("C", c), ("A", a), ("D", d)]),
            ["C", "A", "D"]
        );
    }

    #[test]
    fn the_cap_refuses_only_the_flooding_tenant() {
        let s = FairScheduler::new(1, 2);
        let (a, b) = (tenant(1), tenant(2));
        let _running = hold(&s, a);
        let _a1 = s.enter(a).unwrap();
        let _a2 = s.enter(a).unwrap();
        assert_eq!(s.enter(a).unwrap_err(), Refused::TenantFull);
        assert_eq!(s.enter(a).unwrap_err(), Refused::TenantFull);
        let _b1 = s.enter(b).unwrap();
        let _b2 = s.enter(b).unwrap();
        assert_eq!(s.enter(b).unwrap_err(), Refused::TenantFull);
        // The calls for nobody in particular share one line of their own.
        let _n1 = s.enter(None).unwrap();
        let _n2 = s.enter(None).unwrap();
        assert_eq!(s.enter(None).unwrap_err(), Refused::TenantFull);
    }

    #[test]
    fn the_global_cap_bounds_all_lines_together() {
        let s = FairScheduler::with_limits(1, 2, 3);
        let _running = hold(&s, tenant(1));
        let _a = [s.enter(tenant(1)).unwrap(), s.enter(tenant(1)).unwrap()];
        let b = s.enter(tenant(2)).unwrap();
        assert_eq!(s.enter(tenant(3)).unwrap_err(), Refused::Full);
        drop(b);
        assert!(s.enter(tenant(3)).is_ok());
    }

    #[test]
    fn a_dropped_waiter_leaves_its_place() {
        let s = FairScheduler::new(1, 1);
        let (a, b) = (tenant(1), tenant(2));
        let running = hold(&s, a);
        let a1 = s.enter(a).unwrap();
        assert_eq!(s.enter(a).unwrap_err(), Refused::TenantFull);
        drop(a1);
        assert_eq!(s.waiting(a), 0);
        let a2 = s.enter(a).unwrap();
        let b1 = s.enter(b).unwrap();
        // B gives up: the freed slot goes to A's call, not to nobody.
        drop(b1);
        assert_eq!(order(running, vec![("A", a2)]), ["A"]);
    }

    #[test]
    fn a_slot_is_released_when_its_holder_drops() {
        let s = FairScheduler::new(2, 4);
        let one = hold(&s, tenant(1));
        let two = hold(&s, tenant(2));
        let mut third = s.enter(tenant(3)).unwrap();
        assert!(ready(&mut third).is_none());
        drop(two);
        let three = ready(&mut third).expect("the freed slot is handed on");
        drop((one, three));
        // Both slots are back: two calls run at once again.
        let _x = hold(&s, tenant(4));
        let _y = hold(&s, tenant(5));
        assert!(ready(&mut s.enter(tenant(6)).unwrap()).is_none());
    }

    #[test]
    fn a_slot_handed_to_a_ticket_that_is_dropped_goes_on() {
        let s = FairScheduler::new(1, 4);
        let running = hold(&s, tenant(1));
        let b = s.enter(tenant(2)).unwrap();
        let mut c = s.enter(tenant(3)).unwrap();
        // B is handed the slot but gives up before taking it.
        drop(running);
        drop(b);
        let slot = ready(&mut c).expect("passed on to C");
        drop(slot);
        // Nobody waits, nothing leaked: the slot is free.
        let _again = hold(&s, tenant(4));
    }

    #[tokio::test]
    async fn an_awaited_ticket_wakes_when_its_turn_comes() {
        let s = FairScheduler::new(1, 4);
        let running = hold(&s, tenant(1));
        let ticket = s.enter(tenant(2)).unwrap();
        let waiter = tokio::spawn(async move {
            let _slot = ticket.await;
        });
        tokio::task::yield_now().await;
        drop(running);
        waiter.await.unwrap();
        let _free = hold(&s, tenant(3));
    }
}
