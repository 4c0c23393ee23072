//! The payment core: enrollment and consent, the payment decision (liveness, match, PIN, limits,
//! risk rules), external issuers, refunds, disputes and settlement, as plain functions over
//! injected ports.
//!
//! Owns: the payment state machine, the PIN (Argon2id hash, constant-time check, lockout,
//! policy), spending limits, risk rules, the issuer port, disputes, the settlement report, and
//! every business rejection, each an enum value with a stable code.
//!
//! Must never: do IO itself, read the wall clock or ambient randomness (time and salts come in as
//! arguments), know SQL or HTTP, see pixels, or depend on facepay crates other than `domain`,
//! `ledger` and `face-index`.

mod access;
mod audit;
mod checkpoint;
mod command;
mod decline;
mod dispute;
mod engine;
mod group_commit;
mod issuer;
mod journal;
mod limits;
mod payment;
mod payment_code;
mod personal;
mod pin;
mod read_model;
mod risk;
mod settlement;

pub use access::{AccessError, ApiKey, ApiKeyId, PublicKey, Role, SecretHash, TerminalCredentials};
pub use audit::{
    AUDIT_ACTOR_MAX, AUDIT_REQUEST_MAX, AuditAction, AuditBroken, AuditEntry, AuditEvent, AuditFilter,
    AuditVerifier, link as audit_link,
};
pub use checkpoint::{CHECKPOINT_FORMAT, Checkpoint, CheckpointError, CheckpointPolicy};
pub use command::{Command, PinCheck, Reply};
pub use decline::DeclineReason;
pub use dispute::{
    Dispute, DisputeError, DisputeId, DisputeState, EVIDENCE_MAX, EVIDENCE_NOTE_MAX, Evidence, Finding,
    Party, evidence_note_valid,
};
pub use engine::{
    BankAccountView, Binding, BindingState, BucketMatch, CONSENT_VERSION_MAX, CoreConfig, CoreError,
    DEBT_RETRY_DAYS, GatePassage, GatePlace, GateRisk, Identification, LATE_DAYS, MASKED_NAME_MAX,
    MerchantInfo, MerchantStatus, PASSAGES_MAX, PassageOutcome, PaymentCore, PaymentView, RiderStanding,
    Sale, StartPayment, TransitScheme,
};
pub use group_commit::{Answer, Submission, Submitter, group_commit_queue, write_batches};
pub use issuer::{
    BANK_REFERENCE_MAX, BankTrace, CreditReason, FundingSource, IssuerAnswer, IssuerId, IssuerMessage,
    TraceNumber, credit_reference, refusal_sentence, response_code_valid,
};
pub use journal::{
    Append, AuditCheckError, CoreReader, Delivery, Entry, Journal, JournalError, JournaledCore, MINUTE_MS,
    MemoryJournal, NodeStatus, Outbound, Recipient, StoredAudit, settlement_report,
};
pub use limits::{
    DailyUsage, Limit, LimitContext, LimitError, LimitTable, MerchantRisk, ShopperRiskTier, TransactionType,
};
pub use payment::{Payment, PaymentEvent, PaymentState, TransitionError};
pub use personal::{
    bank_account_digest_input, bank_reference_valid, consent_version_valid, masked_name_valid,
    phone_digits_valid,
};
pub use pin::{PIN_DIGITS, PIN_LOCK_MS, PIN_TRIES_MAX, Pin, PinError, PinGuard, PinHash, PinPolicy};
pub use read_model::{LedgerSide, Movement, PaymentRow, PaymentTally, ReadModel, Retention};
pub use risk::{CountRule, RiskConfig, RiskEvent, RiskRule, RiskVerdict, SPIKE_HISTORY};
pub use settlement::{
    AcquirerId, AcquirerLine, Booking, BookingKind, IssuerLine, Position, SettlementError, SettlementParty,
    SettlementReport, SettlementTally, booking, settlement_window,
};
