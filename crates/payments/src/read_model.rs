//! The read model: what the store keeps of every payment and every ledger transfer, written in
//! the transaction that journals the command that changed them.
//!
//! The core holds a payment only while a command may still name it (its retention window, see
//! `Retention`); the history behind that window, the merchant's and the terminal's look-ups of
//! an old payment and the settlement report are read from these rows, so a node's memory
//! follows the traffic of one window, not all history. Rows are plain data with a JSON body, so
//! each store keeps them in a table of its own without knowing the core's types.

use facepay_domain::{MerchantId, Money, PaymentId, ShopperId, TerminalId, Timestamp};
use facepay_ledger::{AccountId, TransferId, TransferKind};
use serde::{Deserialize, Serialize};

use crate::issuer::{BankTrace, IssuerId};
use crate::journal::JournalError;
use crate::payment::PaymentState;
use crate::settlement::AcquirerId;

/// A payment as the store keeps it: what a terminal, its merchant or the operator may read of
/// it later (never a template, an image, or an account number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRow {
    pub id: PaymentId,
    pub merchant: MerchantId,
    pub terminal: TerminalId,
    pub shopper: Option<ShopperId>,
    pub amount: Money,
    pub state: PaymentState,
    pub order_id: Option<String>,
    /// The external bank the funds were asked of, once the funds were chosen.
    pub issuer: Option<IssuerId>,
    pub started_at: Timestamp,
    /// The authorization at that bank, which names the payment in the bank's own records (an
    /// ISO 8583 link's retrieval reference number is made from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_trace: Option<BankTrace>,
}

impl PaymentRow {
    /// The state's name and, when declined, the reason's code: the columns the store counts by.
    pub fn state_columns(&self) -> (&'static str, Option<&'static str>) {
        let reason = match self.state {
            PaymentState::Declined(reason) => Some(reason.code()),
            _ => None,
        };
        (self.state.name(), reason)
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("a payment row serializes")
    }

    pub fn from_stored(body: &str) -> Result<PaymentRow, JournalError> {
        serde_json::from_str(body)
            .map_err(|err| JournalError::Corrupt { seq: 0, reason: format!("payment row: {err}") })
    }
}

/// How many payments started in one minute now stand in one state (with one decline reason),
/// as the store counts them for the operator's dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentTally {
    /// Minutes from the start of the window counted, from 0.
    pub minute: i64,
    pub state: String,
    pub decline_reason: Option<String>,
    pub count: u64,
}

/// Whose side of the books a ledger account is on, as settlement reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerSide {
    Issuer(IssuerId),
    Acquirer(AcquirerId),
    Reserve,
    FundingSource,
    /// An account no party owns (a bug, which settlement reports rather than hides).
    Unowned(AccountId),
}

/// One transfer the ledger applied, numbered in the ledger journal's order, with the sides of
/// its two accounts: the ledger's history in the store, and what settlement sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    /// Its position in the ledger's journal (from 1): unique, and the same on every node.
    pub number: u64,
    pub transfer: TransferId,
    pub at: Timestamp,
    pub kind: TransferKind,
    /// Why the money moved (the core's ledger code).
    pub code: u32,
    pub amount: u64,
    pub debit: LedgerSide,
    pub credit: LedgerSide,
    /// The payment it moved money for (none for a top-up or the reserve's funding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentId>,
}

impl Movement {
    /// Whether money moved for good (a hold or its release moves nothing settlement counts).
    pub fn posts(&self) -> bool {
        matches!(self.kind, TransferKind::Posted | TransferKind::PostPending { .. })
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("a movement serializes")
    }

    pub fn from_stored(body: &str) -> Result<Movement, JournalError> {
        serde_json::from_str(body)
            .map_err(|err| JournalError::Corrupt { seq: 0, reason: format!("ledger movement: {err}") })
    }
}

/// What one command left for the read model: the payments it changed, as they stand after
/// it, and the transfers it applied, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadModel {
    pub payments: Vec<PaymentRow>,
    pub movements: Vec<Movement>,
}

impl ReadModel {
    pub fn is_empty(&self) -> bool {
        self.payments.is_empty() && self.movements.is_empty()
    }

    /// Appends a later command's rows (a later row for the same payment supersedes).
    pub fn extend(&mut self, later: ReadModel) {
        self.payments.extend(later.payments);
        self.movements.extend(later.movements);
    }
}

/// How long the core keeps what commands may still name; everything older lives only in the
/// read model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// How long a terminal's idempotency key (and a payment that was never captured) is kept:
    /// a retry within it gets the first payment back.
    pub idempotency_ms: i64,
    /// How long after it started a captured payment can still be refunded or disputed; its
    /// ledger transfers are kept as long.
    pub refund_window_ms: i64,
}

impl Retention {
    /// A day for idempotency keys, as Stripe keeps them; 120 days for refunds and disputes, the
    /// card schemes' usual chargeback window.
    pub const DEFAULT: Retention =
        Retention { idempotency_ms: 86_400_000, refund_window_ms: 120 * 86_400_000 };

    /// The longer of the two windows: nothing older is kept in memory.
    pub fn longest_ms(&self) -> i64 {
        self.idempotency_ms.max(self.refund_window_ms)
    }
}

impl Default for Retention {
    fn default() -> Retention {
        Retention::DEFAULT
    }
}
