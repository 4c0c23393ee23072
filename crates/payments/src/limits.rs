//! Spending limits: per transaction and per day, from the merchant's risk level, the kind of
//! transaction, the shopper's risk tier and the shopper's own setting. The tightest applies.
//! The daily total counts an authorization the moment it is made, so two payments racing for the
//! last of the day's allowance cannot both pass.
//!
//! Amounts are minor units of the switch's settlement currency.

use facepay_domain::Timestamp;
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MerchantRisk {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionType {
    /// At a till or kiosk.
    Purchase,
    /// A fare at a transit gate (ride first, pay later).
    Transit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShopperRiskTier {
    Standard,
    Elevated,
    Restricted,
}

/// A pair of ceilings in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub per_transaction_minor: i64,
    pub daily_minor: i64,
}

/// Most hours the operator's local day may be from UTC (UTC+14 is the furthest zone).
const DAY_OFFSET_MAX_MS: i64 = 14 * 60 * 60 * 1000;

impl Limit {
    /// Both ceilings above zero and the daily one at least the per-transaction one.
    pub fn is_valid(&self) -> bool {
        self.per_transaction_minor > 0 && self.daily_minor >= self.per_transaction_minor
    }

    fn tighter(self, other: Limit) -> Limit {
        Limit {
            per_transaction_minor: self.per_transaction_minor.min(other.per_transaction_minor),
            daily_minor: self.daily_minor.min(other.daily_minor),
        }
    }
}

/// The operator's limit table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitTable {
    pub merchant_low: Limit,
    pub merchant_medium: Limit,
    pub merchant_high: Limit,
    pub purchase: Limit,
    pub transit: Limit,
    pub shopper_standard: Limit,
    pub shopper_elevated: Limit,
    pub shopper_restricted: Limit,
    /// The operator's time zone as an offset from UTC, so "daily" ends at local midnight.
    pub day_offset_ms: i64,
}

impl Default for LimitTable {
    /// Conservative defaults in the spirit of the face-payment rules (small-value payments by face
    /// alone); operators tune them.
    fn default() -> LimitTable {
        let limit = |per_transaction_minor, daily_minor| Limit { per_transaction_minor, daily_minor };
        LimitTable {
            merchant_low: limit(500_000, 2_000_000),
            merchant_medium: limit(200_000, 1_000_000),
            merchant_high: limit(50_000, 200_000),
            purchase: limit(500_000, 2_000_000),
            transit: limit(10_000, 50_000),
            shopper_standard: limit(500_000, 2_000_000),
            shopper_elevated: limit(100_000, 300_000),
            shopper_restricted: limit(20_000, 50_000),
            day_offset_ms: 0,
        }
    }
}

/// Everything that decides the limit of one payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitContext {
    pub merchant_risk: MerchantRisk,
    pub transaction_type: TransactionType,
    pub shopper_tier: ShopperRiskTier,
    /// The shopper's own ceiling, if they set one.
    pub shopper_setting: Option<Limit>,
    /// The operator's ceiling for this one merchant, if it has one.
    pub merchant_setting: Option<Limit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the amount must be above zero")]
    AmountNotPositive,
    #[error("the amount is above the per-transaction limit of {limit_minor}")]
    PerTransactionExceeded { limit_minor: i64 },
    #[error(
        "the amount would take today's total past the daily limit of {limit_minor}; {left_minor} left today"
    )]
    DailyExceeded { limit_minor: i64, left_minor: i64 },
}

impl LimitError {
    pub fn code(&self) -> &'static str {
        match self {
            LimitError::AmountNotPositive => "amount_not_positive",
            LimitError::PerTransactionExceeded { .. } => "limit_per_transaction_exceeded",
            LimitError::DailyExceeded { .. } => "limit_daily_exceeded",
        }
    }
}

impl LimitTable {
    /// The tightest of every limit that applies.
    pub fn effective(&self, context: &LimitContext) -> Limit {
        let merchant = match context.merchant_risk {
            MerchantRisk::Low => self.merchant_low,
            MerchantRisk::Medium => self.merchant_medium,
            MerchantRisk::High => self.merchant_high,
        };
        let transaction = match context.transaction_type {
            TransactionType::Purchase => self.purchase,
            TransactionType::Transit => self.transit,
        };
        let shopper = match context.shopper_tier {
            ShopperRiskTier::Standard => self.shopper_standard,
            ShopperRiskTier::Elevated => self.shopper_elevated,
            ShopperRiskTier::Restricted => self.shopper_restricted,
        };
        let table = merchant.tighter(transaction).tighter(shopper);
        [context.shopper_setting, context.merchant_setting].into_iter().flatten().fold(table, Limit::tighter)
    }

    /// Every limit valid and the day offset within the world's time zones.
    pub fn is_valid(&self) -> bool {
        let limits = [
            self.merchant_low,
            self.merchant_medium,
            self.merchant_high,
            self.purchase,
            self.transit,
            self.shopper_standard,
            self.shopper_elevated,
            self.shopper_restricted,
        ];
        limits.iter().all(Limit::is_valid)
            && self.day_offset_ms.unsigned_abs() <= DAY_OFFSET_MAX_MS.unsigned_abs()
    }

    /// The local day `at` falls in, counted from the epoch.
    pub fn day_of(&self, at: Timestamp) -> i64 {
        at.unix_ms.saturating_add(self.day_offset_ms).div_euclid(DAY_MS)
    }
}

/// What one shopper has committed today: authorized, captured, not yet released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DailyUsage {
    day: i64,
    committed_minor: i64,
}

impl DailyUsage {
    /// Checks `amount` against `limit` and, when it fits, counts it at once. Returns the day it
    /// was counted in, which a later `release` needs.
    pub fn reserve(
        &mut self,
        table: &LimitTable,
        limit: Limit,
        amount_minor: i64,
        now: Timestamp,
    ) -> Result<i64, LimitError> {
        if amount_minor <= 0 {
            return Err(LimitError::AmountNotPositive);
        }
        if amount_minor > limit.per_transaction_minor {
            return Err(LimitError::PerTransactionExceeded { limit_minor: limit.per_transaction_minor });
        }
        let today = table.day_of(now);
        let committed = if self.day == today { self.committed_minor } else { 0 };
        let left_minor = (limit.daily_minor - committed).max(0);
        if amount_minor > left_minor {
            return Err(LimitError::DailyExceeded { limit_minor: limit.daily_minor, left_minor });
        }
        *self = DailyUsage { day: today, committed_minor: committed + amount_minor };
        Ok(today)
    }

    /// Gives back an amount that was reserved on `day` and did not become a payment (declined
    /// later, voided, reversed, expired). Yesterday's reservations no longer count, so they are
    /// not given back to today.
    pub fn release(&mut self, amount_minor: i64, day: i64) {
        if self.day == day {
            self.committed_minor = (self.committed_minor - amount_minor).max(0);
        }
    }

    pub fn committed_on(&self, day: i64) -> i64 {
        if self.day == day { self.committed_minor } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> LimitContext {
        LimitContext {
            merchant_risk: MerchantRisk::Low,
            transaction_type: TransactionType::Purchase,
            shopper_tier: ShopperRiskTier::Standard,
            shopper_setting: None,
            merchant_setting: None,
        }
    }

    #[test]
    fn the_tightest_limit_applies_whichever_it_comes_from() {
        let table = LimitTable::default();
        assert_eq!(
            table.effective(&context()),
            Limit { per_transaction_minor: 500_000, daily_minor: 2_000_000 }
        );
        let high_risk_merchant = LimitContext { merchant_risk: MerchantRisk::High, ..context() };
        assert_eq!(table.effective(&high_risk_merchant), table.merchant_high);
        let transit = LimitContext { transaction_type: TransactionType::Transit, ..context() };
        assert_eq!(table.effective(&transit), table.transit);
        let restricted = LimitContext { shopper_tier: ShopperRiskTier::Restricted, ..context() };
        assert_eq!(table.effective(&restricted), table.shopper_restricted);
        // A shopper's own setting tightens one side only where it is tighter.
        let own = Limit { per_transaction_minor: 30_000, daily_minor: 5_000_000 };
        let mine = LimitContext { shopper_setting: Some(own), ..context() };
        assert_eq!(table.effective(&mine), Limit { per_transaction_minor: 30_000, daily_minor: 2_000_000 });
        let merchants = Limit { per_transaction_minor: 40_000, daily_minor: 60_000 };
        let both = LimitContext { merchant_setting: Some(merchants), ..mine };
        assert_eq!(table.effective(&both), Limit { per_transaction_minor: 30_000, daily_minor: 60_000 });
    }

    #[test]
    fn a_table_with_a_limit_at_zero_inverted_or_a_day_offset_off_the_globe_is_invalid() {
        let table = LimitTable::default();
        assert!(table.is_valid());
        let zero = Limit { per_transaction_minor: 0, daily_minor: 10 };
        let inverted = Limit { per_transaction_minor: 11, daily_minor: 10 };
        assert!(!LimitTable { transit: zero, ..table.clone() }.is_valid());
        assert!(!LimitTable { shopper_restricted: inverted, ..table.clone() }.is_valid());
        assert!(LimitTable { day_offset_ms: -DAY_OFFSET_MAX_MS, ..table.clone() }.is_valid());
        // Found by the outside suite: i64::MIN's absolute value wrapped to itself and passed.
        assert!(!LimitTable { day_offset_ms: i64::MIN, ..table.clone() }.is_valid());
        assert!(!LimitTable { day_offset_ms: DAY_OFFSET_MAX_MS + 1, ..table }.is_valid());
    }

    #[test]
    fn per_transaction_and_daily_limits_hold_at_their_edges() {
        let table = LimitTable::default();
        let limit = Limit { per_transaction_minor: 100, daily_minor: 250 };
        let mut usage = DailyUsage::default();
        let now = Timestamp::from_unix_ms(1_700_000_000_000);
        assert_eq!(usage.reserve(&table, limit, 0, now).unwrap_err().code(), "amount_not_positive");
        assert_eq!(usage.reserve(&table, limit, -5, now).unwrap_err().code(), "amount_not_positive");
        assert_eq!(
            usage.reserve(&table, limit, 101, now),
            Err(LimitError::PerTransactionExceeded { limit_minor: 100 })
        );
        assert!(usage.reserve(&table, limit, 100, now).is_ok());
        assert!(usage.reserve(&table, limit, 100, now).is_ok());
        assert_eq!(
            usage.reserve(&table, limit, 51, now),
            Err(LimitError::DailyExceeded { limit_minor: 250, left_minor: 50 })
        );
        let day = usage.reserve(&table, limit, 50, now).unwrap();
        assert_eq!(usage.committed_on(day), 250);
        assert_eq!(usage.reserve(&table, limit, 1, now).unwrap_err().code(), "limit_daily_exceeded");
        usage.release(100, day);
        assert!(usage.reserve(&table, limit, 100, now).is_ok());
    }

    #[test]
    fn the_day_turns_at_local_midnight_and_old_releases_do_not_refill_today() {
        let table = LimitTable { day_offset_ms: 8 * 60 * 60 * 1000, ..LimitTable::default() };
        let limit = Limit { per_transaction_minor: 100, daily_minor: 100 };
        // 15:59:59.999 UTC is 23:59:59.999 at UTC+8; one millisecond later is the next local day.
        let before_midnight = Timestamp::from_unix_ms(16 * 60 * 60 * 1000 - 1);
        let after_midnight = before_midnight.plus_ms(1);
        let mut usage = DailyUsage::default();
        let yesterday = usage.reserve(&table, limit, 100, before_midnight).unwrap();
        assert_eq!(
            usage.reserve(&table, limit, 1, before_midnight).unwrap_err().code(),
            "limit_daily_exceeded"
        );
        let today = usage.reserve(&table, limit, 60, after_midnight).unwrap();
        assert_eq!(today, yesterday + 1);
        usage.release(100, yesterday);
        assert_eq!(usage.committed_on(today), 60);
        assert_eq!(
            usage.reserve(&table, limit, 41, after_midnight).unwrap_err().code(),
            "limit_daily_exceeded"
        );
    }
}
