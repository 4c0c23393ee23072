//! The payment core: merchants, terminals, shoppers with their funding accounts, and payments,
//! driven by commands that each carry the time. It decides (emergency switch, terminal and
//! merchant status, liveness, match, phone digits, PIN, limits, funds) and moves money only
//! through the ledger, so every decision is a plain function of the commands so far: the same
//! commands replayed give the same state, which is how storage and the simulator use it.
//!
//! Payments are funded from wallets at the built-in issuer (accounts in this ledger) or from
//! accounts at external banks, asked through the issuer port (`issuer.rs`). Risk rules
//! (`risk.rs`) are consulted before money moves. Disputes and settlement live in their own
//! modules, over the same state.

mod authorization;
mod lifecycle;
mod parties;
mod reads;
mod retention;
mod transit;

pub use transit::{
    DEBT_RETRY_DAYS, GatePassage, GatePlace, GateRisk, LATE_DAYS, PASSAGES_MAX, PassageOutcome,
    RiderStanding, TransitScheme,
};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use facepay_domain::{
    Currency, KeyedDigest, MerchantId, Money, PaymentId, Sealed, ShopperId, TerminalId, Timestamp,
};
use facepay_ledger::{
    Account, AccountId, Applied, BalanceRule, Ledger, PendingState, TransferError, TransferId, TransferKind,
    TransferRequest,
};
use serde::{Deserialize, Serialize};

use crate::access::{
    Access, AccessError, ApiKey, ApiKeyId, PublicKey, Role, SecretHash, TerminalCredentials,
};
use crate::audit::{AuditChain, AuditEntry, AuditEvent};
use crate::decline::DeclineReason;
use crate::dispute::{Dispute, DisputeError, DisputeId};
use crate::issuer::{
    BANK_REFERENCE_MAX, BankTrace, CreditReason, FundingSource, IssuerAnswer, IssuerId, IssuerMessage,
    TraceNumber, response_code_valid,
};
use crate::limits::{
    DailyUsage, Limit, LimitContext, LimitError, LimitTable, MerchantRisk, ShopperRiskTier, TransactionType,
};
use crate::payment::{Payment, PaymentEvent, PaymentState, TransitionError};
use crate::payment_code::PaymentCodes;
use crate::personal::bounded;
use crate::pin::{PinError, PinGuard, PinPolicy};
use crate::read_model::{LedgerSide, Movement, PaymentRow, ReadModel, Retention};
use crate::risk::{Assessment, RiskConfig, RiskEvent, RiskRule, RiskState, RiskVerdict};
use crate::settlement::AcquirerId;

/// Ledger codes: why an account exists or money moved; settlement reads them.
pub(crate) mod code {
    pub const WALLET: u32 = 1;
    pub const MERCHANT: u32 = 2;
    pub const FUNDING_SOURCE: u32 = 3;
    pub const ISSUER_CLEARING: u32 = 4;
    pub const RESERVE: u32 = 5;
    pub const TOP_UP: u32 = 10;
    pub const PAYMENT: u32 = 11;
    pub const REFUND: u32 = 12;
    pub const REVERSAL: u32 = 13;
    pub const COMPENSATION: u32 = 14;
    pub const CHARGEBACK: u32 = 15;
    pub const RESERVE_FUNDING: u32 = 16;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreConfig {
    pub currency: Currency,
    pub limits: LimitTable,
    pub pin_policy: PinPolicy,
    /// How long the terminal has to confirm (capture) an authorization before it is reversed.
    pub outcome_timeout_ms: i64,
    /// How long a hold lasts at the shopper's account; longer than the outcome timeout.
    pub hold_timeout_ms: u64,
    /// The account that top-ups of built-in wallets and of the reserve come from.
    pub funding_source: AccountId,
    /// The operator's reserve, which compensates shoppers first when a dispute goes their way.
    pub reserve_account: AccountId,
    pub risk: RiskConfig,
    /// How long payments, idempotency keys and ledger transfers stay in memory.
    #[serde(default)]
    pub retention: Retention,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MerchantStatus {
    Active,
    Suspended,
    Blacklisted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Merchant {
    pub(crate) acquirer: AcquirerId,
    risk: MerchantRisk,
    status: MerchantStatus,
    pub(crate) account: AccountId,
    face_payment_off: bool,
    /// The operator's limit for this merchant alone, on top of its risk level's.
    own_limit: Option<Limit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Terminal {
    merchant: MerchantId,
    suspended: bool,
    face_payment_off: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Shopper {
    /// The last four digits of their phone, sealed (for their face's index bucket) and as the
    /// keyed digest typed digits are compared with; none once the shopper is forgotten.
    phone: Option<(Sealed, KeyedDigest)>,
    paused: bool,
    tier: ShopperRiskTier,
    own_limit: Option<Limit>,
    funding: Vec<FundingSource>,
    default_funding: Option<FundingSource>,
    /// The PIN's hash, sealed: an Argon2 hash of six digits could be searched, so only the API,
    /// holding the shopper's key, opens it to compare a typed PIN.
    pin: Option<Sealed>,
    pin_guard: PinGuard,
    usage: DailyUsage,
    /// What a terminal shows once the shopper is identified (`"J*** D***"`), sealed; the full
    /// name is never kept here.
    masked_name: Option<Sealed>,
    /// The consent text version the shopper accepted (sealed), and when; none, no face may be
    /// enrolled.
    consent: Option<(Sealed, Timestamp)>,
    /// Each bound bank account's reference, sealed, by the account's digest (what
    /// `FundingSource::BankAccount` names it by); also those its bank has not approved yet.
    bank_references: BTreeMap<KeyedDigest, Sealed>,
    /// Accounts bound at a bank that verifies accounts, until it approves them (then they are
    /// funding) or after it refused them (until the shopper binds or unbinds them again).
    bindings: BTreeMap<KeyedDigest, Binding>,
}

/// A shopper's bank account as their app lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAccountView {
    pub issuer: IssuerId,
    pub account: KeyedDigest,
    pub reference: Option<Sealed>,
    pub default: bool,
    /// None: it pays. Else its bank has not approved it yet, or refused it.
    pub standing: Option<BindingState>,
}

/// An account at a bank that verifies accounts, not yet (or not) approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub issuer: IssuerId,
    pub make_default: bool,
    pub state: BindingState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BindingState {
    /// The verification went (or will go) to the bank under this trace number.
    AwaitingBank { trace: TraceNumber },
    /// The bank refused it with this response code.
    Refused { response_code: String },
}

/// A merchant as the operator's console lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MerchantInfo {
    pub id: MerchantId,
    pub risk: MerchantRisk,
    pub own_limit: Option<Limit>,
    pub status: MerchantStatus,
    pub face_payment_off: bool,
}

/// Who the face belongs to, as `face-index` decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Identification {
    Match(ShopperId),
    /// Someone is plausible but not certain: the terminal asks for the phone digits, and the
    /// search of that digit bucket decides (`BucketMatch`).
    Ambiguous,
    NoMatch,
    /// Not a face: the terminal scanned the shopper's dynamic payment code (its SHA-256).
    PaymentCode(SecretHash),
}

/// What the search of the typed digits' bucket found: its best match, the digits digested under
/// that shopper's key (the core compares them with the digest kept at sign-up), and whether the
/// match is too weak to pay without the shopper's PIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketMatch {
    pub shopper: ShopperId,
    pub digest: KeyedDigest,
    pub pin_required: bool,
}

/// A terminal's request to take a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartPayment {
    pub payment_id: PaymentId,
    pub terminal: TerminalId,
    /// Unique per terminal: a retry carries the same key and gets the first outcome back.
    pub idempotency_key: String,
    pub amount: Money,
    pub transaction_type: TransactionType,
    pub liveness_passed: bool,
    pub identification: Identification,
    /// The merchant's reference for what is being paid, kept with the payment; none at a gate.
    #[serde(default)]
    pub order_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PaymentRecord {
    pub(crate) payment: Payment,
    request: StartPayment,
    pub(crate) created_at: Timestamp,
    /// When an authorization still waiting for its capture, or its bank, is undone: the
    /// outcome timeout after it started, or the close of a transit day's hold.
    outcome_due: Timestamp,
    /// How long its hold lasts at the shopper's account, from its authorization.
    hold_ms: u64,
    /// Where the money comes from, fixed when the funds are held.
    pub(crate) funding: Option<FundingSource>,
    hold: Option<TransferId>,
    reserved_day: Option<i64>,
    /// A risk rule asked for a step-up before the shopper was known.
    risk_elevated: bool,
    /// Captured money under dispute (open, compensated or charged back): no longer refundable.
    pub(crate) disputed_minor: i64,
    /// The disputes and refunds made of this payment, forgotten with it.
    pub(crate) disputes: Vec<DisputeId>,
    refund_ids: Vec<TransferId>,
    /// Its authorization at an external bank, which the bank's later messages name.
    pub(crate) bank_trace: Option<BankTrace>,
}

/// What a terminal's retry asks for, compared with the first request under its key before any
/// biometric work is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sale<'a> {
    pub amount: Money,
    pub order_id: Option<&'a str>,
    pub by_payment_code: bool,
}

/// What the terminal is told: never a template, an image, or an account number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentView {
    pub id: PaymentId,
    pub state: PaymentState,
    pub amount: Money,
}

/// A command the core refused; it changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    #[error("terminal {0} is not registered")]
    UnknownTerminal(TerminalId),
    #[error("merchant {0} is not registered")]
    UnknownMerchant(MerchantId),
    #[error("shopper {0} is not enrolled")]
    UnknownShopper(ShopperId),
    #[error("payment {0} does not exist")]
    UnknownPayment(PaymentId),
    #[error("{0} is already registered")]
    AlreadyRegistered(String),
    #[error("this idempotency key was used for a different request")]
    IdempotencyKeyReused,
    #[error("payment id {0} is taken by another request")]
    PaymentIdTaken(PaymentId),
    #[error("the payment's currency is not the switch's currency")]
    CurrencyNotSupported,
    #[error("the amount must be above zero")]
    AmountNotPositive,
    #[error("phone digits are the last 4 digits of the shopper's phone number")]
    PhoneDigitsMalformed,
    #[error("the account is not bound to this shopper")]
    FundingNotBound,
    #[error("only a built-in wallet can be topped up")]
    NotAWallet,
    #[error("issuer {0} is not registered")]
    UnknownIssuer(IssuerId),
    #[error("a bank reference is 1 to {BANK_REFERENCE_MAX} printable ASCII characters")]
    BankReferenceMalformed,
    #[error("{0} has no account verification {1} waiting for its answer")]
    VerificationUnknown(IssuerId, TraceNumber),
    #[error("a bank's response code is two letters or digits")]
    ResponseCodeMalformed,
    #[error("refund id {0:?} was used for a different refund")]
    RefundIdReused(TransferId),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Pin(#[from] PinError),
    #[error(transparent)]
    Dispute(#[from] DisputeError),
    #[error("the ledger refused: {0}")]
    Ledger(#[from] TransferError),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("a masked name is 1 to {MASKED_NAME_MAX} characters, without control characters")]
    MaskedNameMalformed,
    #[error("the wallet still holds money; spend or withdraw it first")]
    WalletNotEmpty,
    #[error("a consent text version is 1 to {CONSENT_VERSION_MAX} printable ASCII characters")]
    ConsentVersionMalformed,
    #[error("an audit event's actor and request are bounded printable text")]
    AuditEventMalformed,
    #[error("a limit is two amounts above zero, the daily one at least the per-transaction one")]
    LimitMalformed,
    #[error("a payment code must lapse after it is issued")]
    PaymentCodeLapsed,
    #[error("payment {0} is past its refund and dispute window")]
    PaymentWindowClosed(PaymentId),
    #[error("a sealed personal field is 1 to {} bytes", Sealed::MAX_BYTES)]
    SealedFieldMalformed,
    #[error("no transit fare scheme is set")]
    TransitNotConfigured,
    #[error("the transit scheme or gate is malformed: {0}")]
    TransitSchemeMalformed(&'static str),
    #[error("terminal {0} is not the transit operator's")]
    GateNotTransitMerchant(TerminalId),
    #[error("terminal {0} is not a registered gate")]
    GateUnknown(TerminalId),
    #[error("an upload carries 1 to {} passages", transit::PASSAGES_MAX)]
    PassagesTooMany,
    #[error("rider {0} owes nothing to collect, or a collection already waits for the bank")]
    NothingToCollect(ShopperId),
    #[error(transparent)]
    Travel(#[from] facepay_transit::TravelError),
    /// A terminal, or its merchant, is suspended or blacklisted: it gets no new terminals, codes
    /// or activations.
    #[error("{}", .0.message())]
    NotInStanding(DeclineReason),
}

/// The longest consent text version, in bytes.
pub const CONSENT_VERSION_MAX: usize = 32;

/// The longest masked name a terminal is shown, in characters.
pub const MASKED_NAME_MAX: usize = 64;

impl CoreError {
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::UnknownTerminal(_) => "terminal_unknown",
            CoreError::UnknownMerchant(_) => "merchant_unknown",
            CoreError::UnknownShopper(_) => "shopper_unknown",
            CoreError::UnknownPayment(_) => "payment_unknown",
            CoreError::AlreadyRegistered(_) => "already_registered",
            CoreError::IdempotencyKeyReused => "idempotency_key_reused",
            CoreError::PaymentIdTaken(_) => "payment_id_taken",
            CoreError::CurrencyNotSupported => "currency_not_supported",
            CoreError::AmountNotPositive => "amount_not_positive",
            CoreError::PhoneDigitsMalformed => "phone_digits_malformed",
            CoreError::FundingNotBound => "funding_not_bound",
            CoreError::NotAWallet => "account_not_wallet",
            CoreError::UnknownIssuer(_) => "issuer_unknown",
            CoreError::BankReferenceMalformed => "bank_reference_malformed",
            CoreError::VerificationUnknown(..) => "verification_unknown",
            CoreError::ResponseCodeMalformed => "response_code_malformed",
            CoreError::RefundIdReused(_) => "refund_id_reused",
            CoreError::Transition(err) => err.code(),
            CoreError::Pin(err) => err.code(),
            CoreError::Dispute(err) => err.code(),
            CoreError::Ledger(err) => err.code(),
            CoreError::Access(err) => err.code(),
            CoreError::MaskedNameMalformed => "masked_name_malformed",
            CoreError::ConsentVersionMalformed => "consent_version_malformed",
            CoreError::PaymentCodeLapsed => "payment_code_lapsed",
            CoreError::LimitMalformed => "limit_malformed",
            CoreError::AuditEventMalformed => "audit_event_malformed",
            CoreError::WalletNotEmpty => "wallet_not_empty",
            CoreError::PaymentWindowClosed(_) => "payment_window_closed",
            CoreError::SealedFieldMalformed => "sealed_field_malformed",
            CoreError::TransitNotConfigured => "transit_not_configured",
            CoreError::TransitSchemeMalformed(_) => "transit_scheme_malformed",
            CoreError::GateNotTransitMerchant(_) => "gate_not_transit_merchant",
            CoreError::GateUnknown(_) => "gate_unknown",
            CoreError::PassagesTooMany => "passages_too_many",
            CoreError::NothingToCollect(_) => "nothing_to_collect",
            CoreError::Travel(err) => err.code(),
            CoreError::NotInStanding(reason) => reason.code(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentCore {
    pub(crate) config: CoreConfig,
    pub(crate) ledger: Ledger,
    pub(crate) merchants: HashMap<MerchantId, Merchant>,
    terminals: HashMap<TerminalId, Terminal>,
    shoppers: HashMap<ShopperId, Shopper>,
    pub(crate) payments: HashMap<PaymentId, Box<PaymentRecord>>,
    idempotency: HashMap<(TerminalId, String), PaymentId>,
    refunds: HashMap<TransferId, (PaymentId, i64)>,
    /// Each external bank's clearing account in the ledger.
    pub(crate) issuers: HashMap<IssuerId, AccountId>,
    /// The banks that verify an account before it pays (a zero-amount authorization).
    verifying_issuers: BTreeSet<IssuerId>,
    /// Each verification the banks have not answered, by bank and trace number: whose account.
    verifications: BTreeMap<(IssuerId, TraceNumber), (ShopperId, KeyedDigest)>,
    /// The last trace number given to a message to each bank.
    bank_traces: BTreeMap<IssuerId, TraceNumber>,
    /// Whose side of the books each issuer's and merchant's account is on, for the read model.
    owners: HashMap<AccountId, LedgerSide>,
    pub(crate) disputes: HashMap<DisputeId, Dispute>,
    /// When each payment waiting for its outcome (authorized, or awaiting its bank) times out,
    /// in deadline order, so a sweep touches only what is due. An entry leaves when its payment
    /// moves on (`settle_deadline`) or is swept.
    outcome_deadlines: BTreeSet<(Timestamp, PaymentId)>,
    /// The payment each open hold belongs to, for the holds the ledger expires.
    hold_owner: HashMap<TransferId, PaymentId>,
    /// When each payment in memory is next looked at for forgetting (`retire_due`), in order.
    retirements: BTreeSet<(Timestamp, PaymentId)>,
    /// The operator's limit table, once a journaled command set one; until then the node's
    /// configured one applies (`limit_table`).
    operator_limits: Option<LimitTable>,
    risk: RiskState,
    access: Access,
    payment_codes: PaymentCodes,
    audit: AuditChain,
    /// Effects for the shell: drained by `take_risk_events` and `take_issuer_messages`.
    risk_events: Vec<RiskEvent>,
    issuer_messages: Vec<IssuerMessage>,
    /// The payments the commands since the last `take_read_model` changed.
    #[serde(skip)]
    changed: ChangedPayments,
    face_payment_off_everywhere: bool,
    next_transfer: u128,
    transit: transit::TransitBook,
}

impl PaymentCore {
    pub fn new(config: CoreConfig) -> PaymentCore {
        let mut ledger = Ledger::new();
        let source = Account::new(
            config.funding_source,
            config.currency,
            BalanceRule::Unbounded,
            code::FUNDING_SOURCE,
        );
        ledger.open_account(source).expect("a fresh ledger accepts its first account");
        let reserve_rule = BalanceRule::DebitsWithinCredits { credit_limit: 0 };
        let reserve = Account::new(config.reserve_account, config.currency, reserve_rule, code::RESERVE);
        match ledger.open_account(reserve) {
            Ok(Applied::Created) => {}
            _ => panic!("the reserve account must differ from the funding source"),
        }
        let owners = HashMap::from([
            (config.funding_source, LedgerSide::FundingSource),
            (config.reserve_account, LedgerSide::Reserve),
        ]);
        PaymentCore {
            config,
            ledger,
            merchants: HashMap::new(),
            terminals: HashMap::new(),
            shoppers: HashMap::new(),
            payments: HashMap::new(),
            idempotency: HashMap::new(),
            refunds: HashMap::new(),
            issuers: HashMap::new(),
            verifying_issuers: BTreeSet::new(),
            verifications: BTreeMap::new(),
            bank_traces: BTreeMap::new(),
            owners,
            disputes: HashMap::new(),
            outcome_deadlines: BTreeSet::new(),
            hold_owner: HashMap::new(),
            retirements: BTreeSet::new(),
            operator_limits: None,
            risk: RiskState::default(),
            access: Access::default(),
            payment_codes: PaymentCodes::default(),
            audit: AuditChain::default(),
            risk_events: Vec::new(),
            issuer_messages: Vec::new(),
            changed: ChangedPayments::default(),
            face_payment_off_everywhere: false,
            next_transfer: 1,
            transit: transit::TransitBook::default(),
        }
    }

    /// Runs the core from now on under `config` (a checkpoint restored under the node's own);
    /// what journaled commands set (the operator's limit table) is state, and stays.
    pub(crate) fn reconfigure(&mut self, config: CoreConfig) {
        self.config = config;
    }

    /// Transfer ids the core makes itself count down from the top of the id space, apart from
    /// the ids callers choose (top-ups, refunds). This is the next one; `apply_own` uses it up.
    pub(crate) fn own_transfer_id(&self) -> TransferId {
        TransferId(u128::MAX - self.next_transfer)
    }

    /// Applies a transfer for `payment` under `own_transfer_id`, which is used up only when the
    /// ledger accepts it: a refused transfer leaves the core exactly as it was.
    pub(crate) fn apply_own(
        &mut self,
        payment: PaymentId,
        request: &TransferRequest,
        now: Timestamp,
    ) -> Result<Applied, TransferError> {
        debug_assert_eq!(request.id, self.own_transfer_id(), "built on the next own transfer id");
        let applied = self.ledger.apply_one(request, now)?;
        self.next_transfer += 1;
        self.mark_moved_for(payment, request.id);
        Ok(applied)
    }
}

/// Payments changed since the read model last took them, and the rows of those forgotten
/// meanwhile. An effect waiting for the shell like the risk events, but not state: every
/// command's changes are taken before the next runs, on the writer and on every replay alike,
/// so two cores that agree on everything else agree here too.
#[derive(Debug, Clone, Default)]
struct ChangedPayments {
    ids: BTreeSet<PaymentId>,
    retired_rows: Vec<PaymentRow>,
    /// The payment each transfer applied since was for.
    movement_payments: HashMap<TransferId, PaymentId>,
}

impl PartialEq for ChangedPayments {
    fn eq(&self, _: &ChangedPayments) -> bool {
        true
    }
}

impl Shopper {
    fn bind(&mut self, source: FundingSource, make_default: bool) {
        if make_default || self.default_funding.is_none() {
            self.default_funding = Some(source.clone());
        }
        self.funding.push(source);
    }
}

fn view(payment: &Payment) -> PaymentView {
    PaymentView { id: payment.id, state: payment.state, amount: payment.amount }
}

/// An amount for the ledger: above zero, as `u64`.
pub(crate) fn positive_amount(amount_minor: i64) -> Result<u64, CoreError> {
    u64::try_from(amount_minor).ok().filter(|&a| a > 0).ok_or(CoreError::AmountNotPositive)
}

fn limit_decline(err: LimitError) -> DeclineReason {
    match err {
        LimitError::DailyExceeded { .. } => DeclineReason::LimitDailyExceeded,
        LimitError::PerTransactionExceeded { .. } | LimitError::AmountNotPositive => {
            DeclineReason::LimitPerTransactionExceeded
        }
    }
}

pub(crate) fn transfer(
    id: TransferId,
    debit: AccountId,
    credit: AccountId,
    amount: u64,
    kind: TransferKind,
    code: u32,
) -> TransferRequest {
    TransferRequest { id, debit, credit, amount, kind, code, linked: false }
}
