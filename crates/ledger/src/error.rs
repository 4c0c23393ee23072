//! Why the ledger refused a request: one enum value each, with a stable code that callers and
//! logs may rely on. A refused request changes nothing.

use crate::account::AccountId;
use crate::transfer::TransferId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("the amount must not be zero")]
    AmountMustNotBeZero,
    #[error("debit and credit account must differ")]
    AccountsMustBeDifferent,
    #[error("a pending transfer needs a timeout above zero")]
    TimeoutMustNotBeZero,
    #[error("debit account {0:?} does not exist")]
    DebitAccountNotFound(AccountId),
    #[error("credit account {0:?} does not exist")]
    CreditAccountNotFound(AccountId),
    #[error("debit and credit account hold different currencies")]
    CurrencyMismatch,
    #[error("the debit account's funds (with its credit limit) do not cover the amount")]
    ExceedsCredits,
    #[error("the credit account may not be credited beyond its debits")]
    ExceedsDebits,
    #[error("transfer {0:?} exists with different fields")]
    ExistsWithDifferentFields(TransferId),
    #[error("pending transfer {0:?} does not exist")]
    PendingNotFound(TransferId),
    #[error("transfer {0:?} is not a pending transfer")]
    NotPending(TransferId),
    #[error("pending transfer {0:?} was already posted")]
    PendingAlreadyPosted(TransferId),
    #[error("pending transfer {0:?} was already voided")]
    PendingAlreadyVoided(TransferId),
    #[error("pending transfer {0:?} has expired")]
    PendingExpired(TransferId),
    #[error("the accounts differ from those of the pending transfer")]
    PendingAccountsDiffer,
    #[error("the amount posted exceeds the amount held")]
    PostExceedsPending,
    #[error("a void must name the whole held amount")]
    VoidAmountDiffers,
    #[error("another transfer linked with this one failed, so neither happened")]
    LinkedEventFailed,
    #[error("the last transfer of a batch must not be linked to a next one")]
    LinkedChainOpen,
    #[error("a total would overflow 64 bits")]
    Overflow,
}

impl TransferError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            TransferError::AmountMustNotBeZero => "amount_must_not_be_zero",
            TransferError::AccountsMustBeDifferent => "accounts_must_be_different",
            TransferError::TimeoutMustNotBeZero => "timeout_must_not_be_zero",
            TransferError::DebitAccountNotFound(_) => "debit_account_not_found",
            TransferError::CreditAccountNotFound(_) => "credit_account_not_found",
            TransferError::CurrencyMismatch => "currency_mismatch",
            TransferError::ExceedsCredits => "exceeds_credits",
            TransferError::ExceedsDebits => "exceeds_debits",
            TransferError::ExistsWithDifferentFields(_) => "exists_with_different_fields",
            TransferError::PendingNotFound(_) => "pending_transfer_not_found",
            TransferError::NotPending(_) => "pending_transfer_not_pending",
            TransferError::PendingAlreadyPosted(_) => "pending_transfer_already_posted",
            TransferError::PendingAlreadyVoided(_) => "pending_transfer_already_voided",
            TransferError::PendingExpired(_) => "pending_transfer_expired",
            TransferError::PendingAccountsDiffer => "pending_transfer_accounts_differ",
            TransferError::PostExceedsPending => "post_exceeds_pending_amount",
            TransferError::VoidAmountDiffers => "void_amount_differs",
            TransferError::LinkedEventFailed => "linked_event_failed",
            TransferError::LinkedChainOpen => "linked_event_chain_open",
            TransferError::Overflow => "overflow",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("account {0:?} exists with different fields")]
    ExistsWithDifferentFields(AccountId),
    #[error("a new account must start with zero totals")]
    TotalsMustBeZero,
}

impl AccountError {
    pub fn code(&self) -> &'static str {
        match self {
            AccountError::ExistsWithDifferentFields(_) => "account_exists_with_different_fields",
            AccountError::TotalsMustBeZero => "account_totals_must_be_zero",
        }
    }
}
