//! Transfers: what a caller asks for (`TransferRequest`) and what the ledger keeps once it has
//! been applied (`Transfer`). Every transfer moves one integer amount from one account's debit side
//! to another account's credit side in one currency, so it can never unbalance the books.

use facepay_domain::Timestamp;
use serde::{Deserialize, Serialize};

use crate::account::AccountId;

/// A transfer's id, chosen by the caller: the same id twice is the same transfer (idempotency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TransferId(pub u128);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferKind {
    /// Moves the money now.
    Posted,
    /// Holds the money (it counts against the debit account's floor at once) until a
    /// `PostPending` or `VoidPending` settles it, or until `timeout_ms` passes and it expires.
    Pending { timeout_ms: u64 },
    /// Posts `amount` (at most the held amount) of a pending transfer; the rest is released.
    PostPending { pending_id: TransferId },
    /// Releases a pending transfer; `amount` must be the held amount.
    VoidPending { pending_id: TransferId },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRequest {
    pub id: TransferId,
    pub debit: AccountId,
    pub credit: AccountId,
    /// Minor units of the accounts' currency; never zero.
    pub amount: u64,
    pub kind: TransferKind,
    /// Free for the owner of the ledger (the payments core records why the money moved).
    pub code: u32,
    /// This request and the next one in the batch succeed or fail together.
    pub linked: bool,
}

/// A transfer the ledger applied, with the instant it was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub request: TransferRequest,
    pub timestamp: Timestamp,
    /// For a pending transfer: the instant from which it can no longer be posted.
    pub expires_at: Option<Timestamp>,
}

/// Where a pending transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendingState {
    Held,
    Posted { amount: u64 },
    Voided,
    Expired,
}

/// What applying one request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Created,
    /// A transfer with this id and exactly these fields exists already; nothing moved again.
    AlreadyExists,
}
