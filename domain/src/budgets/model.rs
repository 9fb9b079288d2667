//! Tier limits and the monthly budget row.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts::SubscriptionTier;

/// Monthly and per-session token limits of a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierLimits {
    pub monthly_tokens: i64,
    pub max_session_tokens: i64,
    /// Sessions playing at once (spec §6.2 `concurrent_ai_sessions`).
    pub concurrent_sessions: u32,
}

impl TierLimits {
    /// The limits of spec §4.3 and §6.2.
    pub fn of(tier: SubscriptionTier) -> Self {
        match tier {
            SubscriptionTier::Free => Self {
                monthly_tokens: 100_000,
                max_session_tokens: 10_000,
                concurrent_sessions: 1,
            },
            SubscriptionTier::Pro => Self {
                monthly_tokens: 1_000_000,
                max_session_tokens: 50_000,
                concurrent_sessions: 3,
            },
            SubscriptionTier::Team => Self {
                monthly_tokens: 5_000_000,
                max_session_tokens: 100_000,
                concurrent_sessions: 10,
            },
        }
    }
}

/// One month of a user's token budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBudget {
    pub id: Uuid,
    pub user_id: Uuid,
    pub tier: SubscriptionTier,
    pub monthly_limit: i64,
    pub max_session_tokens: i64,
    pub used_this_month: i64,
    pub reserved_tokens: i64,
    pub resets_at: DateTime<Utc>,
}

impl TokenBudget {
    /// A fresh, unused budget for `tier`, resetting at the start of next month.
    pub fn fresh(user_id: Uuid, tier: SubscriptionTier, now: DateTime<Utc>) -> Self {
        let limits = TierLimits::of(tier);
        Self {
            id: Uuid::new_v4(),
            user_id,
            tier,
            monthly_limit: limits.monthly_tokens,
            max_session_tokens: limits.max_session_tokens,
            used_this_month: 0,
            reserved_tokens: 0,
            resets_at: next_reset(now),
        }
    }

    /// Tokens still spendable this month (never negative).
    pub fn remaining(&self) -> i64 {
        (self.monthly_limit - self.used_this_month - self.reserved_tokens).max(0)
    }
}

/// Tokens held for one session until settled or released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: Uuid,
    pub budget_id: Uuid,
    pub user_id: Uuid,
    pub session_id: Option<Uuid>,
    pub amount: i64,
}

/// The outcome of charging one call's real usage to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// Tokens charged to the month (the real usage).
    pub charged: i64,
    /// Of those, how many exceeded what the reservation still held: zero
    /// unless the estimate was wrong. The band treats it as a reason to stop.
    pub overrun: i64,
    /// What the reservation still holds after this call.
    pub remaining: i64,
}

/// Midnight UTC on the first day of the month after `now`.
pub fn next_reset(now: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        // Unreachable: the first of a month at midnight UTC always exists.
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_tier_matches_spec() {
        let b = TokenBudget::fresh(Uuid::nil(), SubscriptionTier::Free, Utc::now());
        assert_eq!(b.monthly_limit, 100_000);
        assert_eq!(b.max_session_tokens, 10_000);
        assert_eq!(b.remaining(), 100_000);
    }

    #[test]
    fn resets_on_first_of_next_month_even_in_december() {
        let dec = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 0).unwrap();
        assert_eq!(
            next_reset(dec),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        let nov = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
        assert_eq!(
            next_reset(nov),
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn remaining_never_negative() {
        let mut b = TokenBudget::fresh(Uuid::nil(), SubscriptionTier::Pro, Utc::now());
        b.used_this_month = 999_000;
        b.reserved_tokens = 5_000;
        assert_eq!(b.remaining(), 0);
    }
}
