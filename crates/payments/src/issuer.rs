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
//! posted against the bank's clearing account, and end-of-day settlement nets that account. Every
//! movement of that account is told to the bank as it happens: the hold asked for, released,
//! captured (all of it, or part for a transit day), and each credit back to the shopper (a
//! refund, a reversal after capture, a dispute's compensation), so the bank's books follow ours
//! payment by payment, not only in the day's totals.

use std::fmt;

use facepay_domain::{Currency, KeyedDigest, Money, PaymentId, Sealed, ShopperId, Timestamp};
use facepay_ledger::{AccountId, TransferId};
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

/// The core's own number for a message to a bank, counted per bank from 1 (journaled, so it
/// survives restarts and every node agrees): what a wire link turns into the bank's trace and
/// reference numbers (ISO 8583's STAN and RRN).
pub type TraceNumber = u64;

/// An authorization as later messages about the same payment name it: its trace number and when
/// it was asked (ISO 8583's original data elements).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankTrace {
    pub number: TraceNumber,
    pub at: Timestamp,
}

/// What a message queued before trace numbers existed names: number 0 at the epoch.
impl Default for BankTrace {
    fn default() -> BankTrace {
        BankTrace { number: 0, at: Timestamp::from_unix_ms(0) }
    }
}

/// What the shell must deliver to an external bank. Each is idempotent by payment id at the bank,
/// so redelivering after a crash is safe. Each carries its own trace number; those about an
/// authorization already asked name it as `original`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IssuerMessage {
    /// Please authorize (hold) this amount on the account: its reference, sealed under the
    /// shopper's key, which the shell opens as it delivers (a shopper who deleted everything in
    /// between has no reference left to send).
    Authorize {
        payment: PaymentId,
        issuer: IssuerId,
        shopper: ShopperId,
        reference: Sealed,
        amount: Money,
        #[serde(default)]
        trace: BankTrace,
    },
    /// Drop any authorization for this payment (the bank finds it by payment id): it was voided,
    /// reversed, timed out or expired.
    Release {
        payment: PaymentId,
        issuer: IssuerId,
        amount: Money,
        #[serde(default)]
        trace: TraceNumber,
        #[serde(default)]
        original: BankTrace,
    },
    /// The authorization is completed for `amount` (the whole of it, or the part a transit day
    /// cost): the bank posts it and lets the rest of the hold go. Once per payment.
    Capture { payment: PaymentId, issuer: IssuerId, amount: Money, trace: TraceNumber, original: BankTrace },
    /// Is this account the shopper's to pay from? A zero-amount authorization, sent when a
    /// shopper binds an account at a bank that verifies accounts; the account pays only once the
    /// bank approves. The trace number names the check when the bank answers.
    VerifyAccount {
        shopper: ShopperId,
        issuer: IssuerId,
        reference: Sealed,
        currency: Currency,
        trace: BankTrace,
    },
    /// Money goes back to the shopper's account, once per `credit` (the refund's id, or the
    /// switch's own transfer id).
    Credit {
        payment: PaymentId,
        issuer: IssuerId,
        credit: TransferId,
        amount: Money,
        reason: CreditReason,
        trace: TraceNumber,
        original: BankTrace,
    },
}

/// Why money goes back to a shopper's account at their bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreditReason {
    /// The merchant refunded part or all of the payment.
    Refund,
    /// A captured payment whose outcome its terminal never learned was undone.
    Reversal,
    /// A dispute went the shopper's way: the operator's reserve pays them back.
    Compensation,
}

impl CreditReason {
    pub fn code(self) -> &'static str {
        match self {
            CreditReason::Refund => "refund",
            CreditReason::Reversal => "reversal",
            CreditReason::Compensation => "compensation",
        }
    }
}

impl IssuerMessage {
    /// The bank it goes to.
    pub fn issuer(&self) -> IssuerId {
        match self {
            IssuerMessage::Authorize { issuer, .. }
            | IssuerMessage::Release { issuer, .. }
            | IssuerMessage::Capture { issuer, .. }
            | IssuerMessage::Credit { issuer, .. }
            | IssuerMessage::VerifyAccount { issuer, .. } => *issuer,
        }
    }

    /// The payment it is about; none for an account's verification.
    pub fn payment(&self) -> Option<PaymentId> {
        match self {
            IssuerMessage::Authorize { payment, .. }
            | IssuerMessage::Release { payment, .. }
            | IssuerMessage::Capture { payment, .. }
            | IssuerMessage::Credit { payment, .. } => Some(*payment),
            IssuerMessage::VerifyAccount { .. } => None,
        }
    }
}

/// How a credit (a refund, reversal or compensation) is named to its bank: in an ISO 8583
/// credit's field 48, an HTTP-pull bank's `credit_id` and the settlement files: `crd_` and the
/// transfer id in 32 hex digits.
pub fn credit_reference(credit: TransferId) -> String {
    format!("crd_{:032x}", credit.0)
}

/// What a bank's refusal code (ISO 8583 field 39, which the HTTP pull's banks answer with too)
/// tells the shopper whose account it refused, in a sentence.
pub fn refusal_sentence(response_code: &str) -> &'static str {
    match response_code {
        "14" => "Your bank does not know this account: check the account number.",
        "51" => "Your bank refused the account: there is not enough money in it.",
        "54" => "Your bank refused the account: its card or agreement has expired.",
        "57" | "58" => "Your bank does not allow payments from this account here.",
        "62" => "Your bank has restricted this account.",
        "78" => "Your bank has blocked this account; ask your bank.",
        "91" | "96" => "Your bank could not be reached; try adding the account again later.",
        _ => "Your bank did not approve this account; ask your bank why.",
    }
}

/// A bank's response code: two letters or digits.
pub fn response_code_valid(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The bank's answer to an [`IssuerMessage::Authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IssuerAnswer {
    Approved,
    Declined,
    /// No answer came within the bank link's own timeout: the payment is declined now, as at
    /// the core's outcome timeout, and the bank is told to release it.
    Unavailable,
}

/// The largest bank reference the core keeps.
pub const BANK_REFERENCE_MAX: usize = 64;
