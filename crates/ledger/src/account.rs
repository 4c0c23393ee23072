//! Accounts: a currency, a balance rule, and four running totals (pending and posted debits and
//! credits). Balances are never stored, only derived from the totals, so they cannot drift.

use facepay_domain::Currency;
use serde::{Deserialize, Serialize};

/// An account's id, chosen by the caller (so a retried `open` is recognised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountId(pub u128);

/// What the account's balance may never cross. Pending debits count as soon as they are held,
/// so a hold reserves the funds and two holds can never spend the same money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BalanceRule {
    /// Money held for someone (a wallet, a bank account at a built-in issuer): credits minus all
    /// debits, pending included, may not go below `-credit_limit` (0 for a plain account, the
    /// line's limit for a credit line).
    DebitsWithinCredits { credit_limit: u64 },
    /// Money owed to us, mirror image: debits minus all credits may not go below `-limit`.
    CreditsWithinDebits { limit: u64 },
    /// No floor (settlement, reserve and clearing accounts of the operator).
    Unbounded,
}

/// The running totals of one account, in its currency's minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    pub debits_pending: u64,
    pub debits_posted: u64,
    pub credits_pending: u64,
    pub credits_posted: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub currency: Currency,
    pub rule: BalanceRule,
    /// Free for the owner of the ledger (the payments core records what the account is for).
    pub code: u32,
    pub totals: Totals,
}

impl Account {
    pub fn new(id: AccountId, currency: Currency, rule: BalanceRule, code: u32) -> Account {
        Account { id, currency, rule, code, totals: Totals::default() }
    }

    /// Posted credits minus posted debits: what a statement shows for money held for someone.
    pub fn posted_balance(&self) -> i128 {
        i128::from(self.totals.credits_posted) - i128::from(self.totals.debits_posted)
    }

    /// What can still be debited now: credits minus every debit, pending ones included, plus
    /// the credit limit. `None` for an account without a debit floor.
    pub fn available_to_debit(&self) -> Option<i128> {
        match self.rule {
            BalanceRule::DebitsWithinCredits { credit_limit } => Some(
                i128::from(self.totals.credits_posted) + i128::from(credit_limit)
                    - i128::from(self.totals.debits_posted)
                    - i128::from(self.totals.debits_pending),
            ),
            BalanceRule::CreditsWithinDebits { .. } | BalanceRule::Unbounded => None,
        }
    }

    /// Mirror of `available_to_debit` for accounts that must not be over-credited.
    pub fn available_to_credit(&self) -> Option<i128> {
        match self.rule {
            BalanceRule::CreditsWithinDebits { limit } => Some(
                i128::from(self.totals.debits_posted) + i128::from(limit)
                    - i128::from(self.totals.credits_posted)
                    - i128::from(self.totals.credits_pending),
            ),
            BalanceRule::DebitsWithinCredits { .. } | BalanceRule::Unbounded => None,
        }
    }

    /// True when the totals respect the balance rule (the ledger checks this after every change).
    pub fn within_rule(&self) -> bool {
        self.available_to_debit().is_none_or(|a| a >= 0) && self.available_to_credit().is_none_or(|a| a >= 0)
    }
}
