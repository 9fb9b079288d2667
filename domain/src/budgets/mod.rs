//! Token budgets per subscription tier (spec §4.3): monthly and per-session
//! limits, and the reservation ledger that keeps concurrent AI sessions from
//! ever spending past them. A session reserves its whole estimated maximum
//! before fan-out, settles each call's real usage, and releases the rest.

mod error;
mod model;
mod ports;
mod service;

pub use error::BudgetError;
pub use model::{Reservation, Settlement, TierLimits, TokenBudget, next_reset};
pub use ports::BudgetLedger;
pub use service::BudgetService;
