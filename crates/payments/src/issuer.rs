//! The issuer port: how a payment reaches the bank that holds the shopper's money.
//!
//! Two kinds of funding account exist. A wallet at the built-in issuer is an account in our own
//! ledger, so the core decides on its funds itself. An account at an external bank is known by
//! the bank's reference (a token, never a card or account number), which the core holds sealed
//! under the shopper's personal key and names by its keyed digest; the core cannot see its
//! balance, so it asks the bank. Asking is an effect, not a call: the core queues an
//! [`IssuerMessage`], the shell delivers it with the bank's connector, and the bank's answer comes
//! back as a command ([`crate::PaymentCore::issuer_answered`]). The core stays pure, replaying the
//! answers replays the decisions, and a bank that never answers is a timeout like any other.
//!
//! In the ledger, money authorized by an external bank is owed by that bank: it is held from and
//! posted against the bank's clearing account, and end-of-day settlement nets that account.

use std::fmt;

use facepay_domain::{KeyedDigest, Money, PaymentId, Sealed, ShopperId};
use facepay_ledger::AccountId;
use serde::{Deserialize, Serialize};

/// A bank that holds shoppers' accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IssuerId(pub u32);

impl IssuerId {
    /// The switch itself, as the issuer of built-in wallets.
    pub const BUILT_IN: IssuerId = IssuerId(0);
}

impl fmt::Display for IssuerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "issuer-{}", self.0)
    }
}

/// An account a shopper bound to pay from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FundingSource {
    /// A wallet at the built-in issuer: this account in our ledger.
    Wallet(AccountId),
    /// An account at an external bank, named by the keyed digest of the bank's own reference for
    /// it (`personal::bank_account_digest_input`); the shopper's record keeps the reference, sealed.
    BankAccount { issuer: IssuerId, account: KeyedDigest },
}

impl FundingSource {
    pub fn issuer(&self) -> IssuerId {
        match self {
            FundingSource::Wallet(_) => IssuerId::BUILT_IN,
            FundingSource::BankAccount { issuer, .. } => *issuer,
        }
    }
}

/// What the shell must deliver to an external bank. Each is idempotent by payment id at the bank,
/// so redelivering after a crash is safe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IssuerMessage {
    /// Please authorize (hold) this amount on the account: its reference, sealed under the
    /// shopper's key, which the shell opens as it delivers (a shopper who deleted everything in
    /// between has no reference left to send).
    Authorize { payment: PaymentId, issuer: IssuerId, shopper: ShopperId, reference: Sealed, amount: Money },
    /// Drop any authorization for this payment (the bank finds it by payment id): it was voided,
    /// reversed, timed out or expired.
    Release { payment: PaymentId, issuer: IssuerId, amount: Money },
}

/// The bank's answer to an [`IssuerMessage::Authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IssuerAnswer {
    Approved,
    Declined,
}

/// The largest bank reference the core keeps.
pub const BANK_REFERENCE_MAX: usize = 64;
