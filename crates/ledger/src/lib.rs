//! The double-entry ledger: accounts, transfers, holds (pending, then posted, voided or expired)
//! and idempotency by transfer id, as plain functions of state and input.
//!
//! Owns: the rule that every transfer debits one account and credits another by the same integer
//! amount in one currency, so the books always balance; a retried transfer with the same id
//! returns `AlreadyExists` instead of moving money twice; linked transfers succeed or fail
//! together; a refused request changes nothing.
//!
//! Must never: do IO, read the wall clock or ambient randomness (time arrives as an input), use
//! floating point for money, or depend on any facepay crate but `domain`.

mod account;
mod error;
mod ledger;
mod transfer;

pub use account::{Account, AccountId, BalanceRule, Totals};
pub use error::{AccountError, TransferError};
pub use ledger::{InvariantViolation, JournalEntry, Ledger, ReplayError};
pub use transfer::{Applied, PendingState, Transfer, TransferId, TransferKind, TransferRequest};
