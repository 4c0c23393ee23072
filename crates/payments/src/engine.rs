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

use std::collections::{BTreeSet, HashMap};

use facepay_domain::{Currency, MerchantId, Money, PaymentId, ShopperId, TerminalId, Timestamp};
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
use crate::issuer::{BANK_REFERENCE_MAX, FundingSource, IssuerAnswer, IssuerId, IssuerMessage};
use crate::limits::{
    DailyUsage, Limit, LimitContext, LimitError, LimitTable, MerchantRisk, ShopperRiskTier, TransactionType,
};
use crate::payment::{Payment, PaymentEvent, PaymentState, TransitionError};
use crate::payment_code::PaymentCodes;
use crate::pin::{Pin, PinError, PinGuard, PinHash, PinPolicy};
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
    /// None once the shopper is forgotten.
    phone_last4: Option<[u8; 4]>,
    paused: bool,
    tier: ShopperRiskTier,
    own_limit: Option<Limit>,
    funding: Vec<FundingSource>,
    default_funding: Option<FundingSource>,
    pin: Option<PinHash>,
    pin_guard: PinGuard,
    usage: DailyUsage,
    /// What a terminal shows once the shopper is identified (`"J*** D***"`); the full name is
    /// never kept here.
    masked_name: Option<String>,
    /// The consent text version the shopper accepted, and when; none, no face may be enrolled.
    consent: Option<(String, Timestamp)>,
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
    /// Not clearly one person: these are close; the phone digits pick among them.
    Ambiguous(Vec<ShopperId>),
    NoMatch,
    /// Not a face: the terminal scanned the shopper's dynamic payment code (its SHA-256).
    PaymentCode(SecretHash),
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
    created_at: Timestamp,
    candidates: Vec<ShopperId>,
    /// Where the money comes from, fixed when the funds are held.
    pub(crate) funding: Option<FundingSource>,
    hold: Option<TransferId>,
    reserved_day: Option<i64>,
    /// A risk rule asked for a step-up before the shopper was known.
    risk_elevated: bool,
    /// Captured money under dispute (open, compensated or charged back): no longer refundable.
    pub(crate) disputed_minor: i64,
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
    pub(crate) payments: HashMap<PaymentId, PaymentRecord>,
    idempotency: HashMap<(TerminalId, String), PaymentId>,
    refunds: HashMap<TransferId, (PaymentId, i64)>,
    /// Each external bank's clearing account in the ledger.
    pub(crate) issuers: HashMap<IssuerId, AccountId>,
    pub(crate) disputes: HashMap<DisputeId, Dispute>,
    /// When each payment waiting for its outcome (authorized, or awaiting its bank) times out,
    /// in deadline order, so a sweep touches only what is due. An entry leaves when its payment
    /// moves on (`settle_deadline`) or is swept.
    outcome_deadlines: BTreeSet<(Timestamp, PaymentId)>,
    /// The payment each open hold belongs to, for the holds the ledger expires.
    hold_owner: HashMap<TransferId, PaymentId>,
    risk: RiskState,
    access: Access,
    payment_codes: PaymentCodes,
    audit: AuditChain,
    /// Effects for the shell: drained by `take_risk_events` and `take_issuer_messages`.
    risk_events: Vec<RiskEvent>,
    issuer_messages: Vec<IssuerMessage>,
    face_payment_off_everywhere: bool,
    next_transfer: u128,
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
            disputes: HashMap::new(),
            outcome_deadlines: BTreeSet::new(),
            hold_owner: HashMap::new(),
            risk: RiskState::default(),
            access: Access::default(),
            payment_codes: PaymentCodes::default(),
            audit: AuditChain::default(),
            risk_events: Vec::new(),
            issuer_messages: Vec::new(),
            face_payment_off_everywhere: false,
            next_transfer: 1,
        }
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Runs the core from now on under `config` (a checkpoint restored under the node's own).
    pub(crate) fn reconfigure(&mut self, config: CoreConfig) {
        self.config = config;
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn payment(&self, id: PaymentId) -> Option<PaymentView> {
        self.payments.get(&id).map(|record| view(&record.payment))
    }

    pub fn payments(&self) -> impl Iterator<Item = PaymentView> + '_ {
        self.payments.values().map(|record| view(&record.payment))
    }

    /// The ledger transfer holding a payment's funds, if one was placed.
    pub fn hold_of(&self, id: PaymentId) -> Option<TransferId> {
        self.payments.get(&id).and_then(|record| record.hold)
    }

    /// The payment itself (merchant, terminal, shopper once known), for access checks.
    pub fn payment_record(&self, id: PaymentId) -> Option<&Payment> {
        self.payments.get(&id).map(|record| &record.payment)
    }

    /// The merchant's order reference the payment was started with.
    pub fn order_id(&self, id: PaymentId) -> Option<&str> {
        self.payments.get(&id)?.request.order_id.as_deref()
    }

    /// The external bank a payment's funds were asked of, once the funds were chosen.
    pub fn payment_issuer(&self, id: PaymentId) -> Option<IssuerId> {
        self.payments.get(&id)?.funding.as_ref().map(FundingSource::issuer)
    }

    /// The payment a terminal started under `idempotency_key`, as it stands now.
    pub fn payment_for_key(&self, terminal: TerminalId, idempotency_key: &str) -> Option<PaymentView> {
        let id = self.idempotency.get(&(terminal, idempotency_key.to_owned()))?;
        self.payment(*id)
    }

    /// The merchant a terminal is registered to.
    pub fn terminal_merchant(&self, id: TerminalId) -> Option<MerchantId> {
        self.terminals.get(&id).map(|terminal| terminal.merchant)
    }

    pub fn terminal_suspended(&self, id: TerminalId) -> Option<bool> {
        self.terminals.get(&id).map(|terminal| terminal.suspended)
    }

    pub fn terminal_credentials(&self, id: TerminalId) -> Option<&TerminalCredentials> {
        self.access.terminal(id)
    }

    pub fn api_key(&self, id: ApiKeyId) -> Option<&ApiKey> {
        self.access.api_key(id)
    }

    /// Whether an operator key exists that is not revoked (a new switch has none).
    pub fn has_operator_key(&self) -> bool {
        self.access.has_operator_key()
    }

    pub fn is_enrolled(&self, id: ShopperId) -> bool {
        self.shoppers.contains_key(&id)
    }

    /// Whether the shopper paused face payment (`None`: no such shopper).
    pub fn is_paused(&self, id: ShopperId) -> Option<bool> {
        self.shoppers.get(&id).map(|shopper| shopper.paused)
    }

    pub fn masked_name(&self, id: ShopperId) -> Option<&str> {
        self.shoppers.get(&id)?.masked_name.as_deref()
    }

    /// The last 4 digits of the shopper's phone, the face index's bucket.
    pub fn phone_last4(&self, id: ShopperId) -> Option<String> {
        let digits = self.shoppers.get(&id)?.phone_last4?;
        Some(digits.iter().map(|&d| char::from(d)).collect())
    }

    /// The consent text version the shopper accepted, and when.
    pub fn consent(&self, id: ShopperId) -> Option<(&str, Timestamp)> {
        self.shoppers.get(&id)?.consent.as_ref().map(|(version, at)| (version.as_str(), *at))
    }

    /// The shopper's built-in wallets, in the order they were bound.
    pub fn wallets_of(&self, id: ShopperId) -> Vec<AccountId> {
        let Some(shopper) = self.shoppers.get(&id) else { return Vec::new() };
        shopper
            .funding
            .iter()
            .filter_map(|source| match source {
                FundingSource::Wallet(account) => Some(*account),
                FundingSource::BankAccount { .. } => None,
            })
            .collect()
    }

    /// Every merchant, by id: its risk level, own limit, standing and emergency switch.
    pub fn merchants(&self) -> Vec<MerchantInfo> {
        let mut merchants: Vec<MerchantInfo> = self
            .merchants
            .iter()
            .map(|(&id, merchant)| MerchantInfo {
                id,
                risk: merchant.risk,
                own_limit: merchant.own_limit,
                status: merchant.status,
                face_payment_off: merchant.face_payment_off,
            })
            .collect();
        merchants.sort_by_key(|merchant| merchant.id);
        merchants
    }

    /// A merchant's terminals, by id, with whether each has face payment switched off.
    pub fn terminals_of(&self, merchant: MerchantId) -> Vec<(TerminalId, bool)> {
        let mut terminals: Vec<(TerminalId, bool)> = self
            .terminals
            .iter()
            .filter(|(_, terminal)| terminal.merchant == merchant)
            .map(|(&id, terminal)| (id, terminal.face_payment_off))
            .collect();
        terminals.sort();
        terminals
    }

    pub fn face_payment_off_everywhere(&self) -> bool {
        self.face_payment_off_everywhere
    }

    /// When a payment was started.
    pub fn payment_started_at(&self, id: PaymentId) -> Option<Timestamp> {
        self.payments.get(&id).map(|record| record.created_at)
    }

    /// Risk rules that fired since the last call, oldest first.
    pub fn take_risk_events(&mut self) -> Vec<RiskEvent> {
        std::mem::take(&mut self.risk_events)
    }

    /// Messages for external banks queued since the last call, oldest first.
    pub fn take_issuer_messages(&mut self) -> Vec<IssuerMessage> {
        std::mem::take(&mut self.issuer_messages)
    }

    /// Registers an external bank, with the ledger account that records what it owes.
    pub fn register_issuer(&mut self, id: IssuerId, clearing_account: AccountId) -> Result<(), CoreError> {
        if id == IssuerId::BUILT_IN || self.issuers.contains_key(&id) {
            return Err(CoreError::AlreadyRegistered(id.to_string()));
        }
        let rule = BalanceRule::Unbounded;
        self.open(Account::new(clearing_account, self.config.currency, rule, code::ISSUER_CLEARING))?;
        self.issuers.insert(id, clearing_account);
        Ok(())
    }

    /// Registers a merchant, served by `acquirer`, with the ledger account it is paid into.
    pub fn register_merchant(
        &mut self,
        id: MerchantId,
        acquirer: AcquirerId,
        risk: MerchantRisk,
        account: AccountId,
    ) -> Result<(), CoreError> {
        if self.merchants.contains_key(&id) {
            return Err(CoreError::AlreadyRegistered(id.to_string()));
        }
        // Unbounded: refunds are bounded by the payment state machine, a chargeback may leave
        // the merchant owing, and settlement nets it.
        let ledger_account =
            Account::new(account, self.config.currency, BalanceRule::Unbounded, code::MERCHANT);
        self.open(ledger_account)?;
        let merchant = Merchant {
            acquirer,
            risk,
            status: MerchantStatus::Active,
            account,
            face_payment_off: false,
            own_limit: None,
        };
        self.merchants.insert(id, merchant);
        Ok(())
    }

    /// One sensitive request, appended to the audit chain.
    pub fn record_audit(&mut self, event: AuditEvent, now: Timestamp) -> Result<(), CoreError> {
        if !event.is_valid() {
            return Err(CoreError::AuditEventMalformed);
        }
        self.audit.append(event, now);
        Ok(())
    }

    /// How many entries the audit log holds (they live in the store) and its newest hash, for
    /// an auditor to keep (32 zero bytes while it is empty).
    pub fn audit_head(&self) -> (u64, [u8; 32]) {
        (self.audit.length(), self.audit.head())
    }

    /// The audit entries the last command appended, for the store; each is taken once.
    pub fn take_audit_entries(&mut self) -> Vec<AuditEntry> {
        self.audit.take_new()
    }

    /// The operator re-rates a merchant and sets or lifts its own limit.
    pub fn set_merchant_risk(
        &mut self,
        id: MerchantId,
        risk: MerchantRisk,
        limit: Option<Limit>,
    ) -> Result<(), CoreError> {
        if limit.is_some_and(|limit| !limit.is_valid()) {
            return Err(CoreError::LimitMalformed);
        }
        let merchant = self.merchants.get_mut(&id).ok_or(CoreError::UnknownMerchant(id))?;
        merchant.risk = risk;
        merchant.own_limit = limit;
        Ok(())
    }

    /// A merchant's risk level and own limit.
    pub fn merchant_risk(&self, id: MerchantId) -> Option<(MerchantRisk, Option<Limit>)> {
        self.merchants.get(&id).map(|merchant| (merchant.risk, merchant.own_limit))
    }

    /// The operator's limit table, in place of the one the switch started with. Payments
    /// already authorized keep their place in today's totals.
    pub fn set_limit_table(&mut self, table: LimitTable) -> Result<(), CoreError> {
        if !table.is_valid() {
            return Err(CoreError::LimitMalformed);
        }
        self.config.limits = table;
        Ok(())
    }

    pub fn set_merchant_status(&mut self, id: MerchantId, status: MerchantStatus) -> Result<(), CoreError> {
        self.merchants.get_mut(&id).ok_or(CoreError::UnknownMerchant(id))?.status = status;
        Ok(())
    }

    pub fn register_terminal(&mut self, id: TerminalId, merchant: MerchantId) -> Result<(), CoreError> {
        if !self.merchants.contains_key(&merchant) {
            return Err(CoreError::UnknownMerchant(merchant));
        }
        if self.terminals.contains_key(&id) {
            return Err(CoreError::AlreadyRegistered(id.to_string()));
        }
        self.terminals.insert(id, Terminal { merchant, suspended: false, face_payment_off: false });
        Ok(())
    }

    pub fn suspend_terminal(&mut self, id: TerminalId, suspended: bool) -> Result<(), CoreError> {
        self.terminals.get_mut(&id).ok_or(CoreError::UnknownTerminal(id))?.suspended = suspended;
        Ok(())
    }

    /// The emergency switch: face payment off (or back on) everywhere.
    pub fn switch_face_payment_everywhere(&mut self, off: bool) {
        self.face_payment_off_everywhere = off;
    }

    /// The emergency switch for one merchant.
    pub fn switch_face_payment_for_merchant(&mut self, id: MerchantId, off: bool) -> Result<(), CoreError> {
        self.merchants.get_mut(&id).ok_or(CoreError::UnknownMerchant(id))?.face_payment_off = off;
        Ok(())
    }

    /// The emergency switch for one terminal.
    pub fn switch_face_payment_for_terminal(&mut self, id: TerminalId, off: bool) -> Result<(), CoreError> {
        self.terminals.get_mut(&id).ok_or(CoreError::UnknownTerminal(id))?.face_payment_off = off;
        Ok(())
    }

    pub fn enroll_shopper(&mut self, id: ShopperId, phone_last4: &str) -> Result<(), CoreError> {
        let digits = parse_phone_digits(phone_last4)?;
        if self.shoppers.contains_key(&id) {
            return Err(CoreError::AlreadyRegistered(id.to_string()));
        }
        self.shoppers.insert(
            id,
            Shopper {
                phone_last4: Some(digits),
                paused: false,
                tier: ShopperRiskTier::Standard,
                own_limit: None,
                funding: Vec::new(),
                default_funding: None,
                pin: None,
                pin_guard: PinGuard::default(),
                usage: DailyUsage::default(),
                masked_name: None,
                consent: None,
            },
        );
        Ok(())
    }

    /// Issues an API key for `role`, whose merchant, bank or shopper must exist.
    pub fn issue_api_key(
        &mut self,
        id: ApiKeyId,
        secret_hash: SecretHash,
        role: Role,
    ) -> Result<(), CoreError> {
        match role {
            Role::Operator => {}
            Role::Merchant(merchant) if !self.merchants.contains_key(&merchant) => {
                return Err(CoreError::UnknownMerchant(merchant));
            }
            Role::Issuer(issuer) if !self.issuers.contains_key(&issuer) => {
                return Err(CoreError::UnknownIssuer(issuer));
            }
            Role::Shopper(shopper) if !self.shoppers.contains_key(&shopper) => {
                return Err(CoreError::UnknownShopper(shopper));
            }
            Role::Merchant(_) | Role::Issuer(_) | Role::Shopper(_) => {}
        }
        Ok(self.access.issue_api_key(id, secret_hash, role)?)
    }

    pub fn revoke_api_key(&mut self, id: ApiKeyId) -> Result<(), CoreError> {
        Ok(self.access.revoke_api_key(id)?)
    }

    /// A one-time code the terminal activates with until `expires_at`.
    pub fn issue_activation_code(
        &mut self,
        terminal: TerminalId,
        code_hash: SecretHash,
        expires_at: Timestamp,
    ) -> Result<(), CoreError> {
        if !self.terminals.contains_key(&terminal) {
            return Err(CoreError::UnknownTerminal(terminal));
        }
        Ok(self.access.issue_activation_code(terminal, code_hash, expires_at)?)
    }

    /// The terminal proves the code and hands in the public key it signs with from now on.
    pub fn activate_terminal(
        &mut self,
        terminal: TerminalId,
        code_hash: &SecretHash,
        public_key: PublicKey,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        Ok(self.access.activate(terminal, code_hash, public_key, now)?)
    }

    /// Revokes a terminal for good: its key stops working and it takes no more payments.
    pub fn revoke_terminal(&mut self, terminal: TerminalId) -> Result<(), CoreError> {
        self.terminals.get_mut(&terminal).ok_or(CoreError::UnknownTerminal(terminal))?.suspended = true;
        self.access.revoke_terminal(terminal);
        Ok(())
    }

    /// Sets the name a terminal shows; the caller masks it, the core only bounds it.
    pub fn name_shopper(&mut self, id: ShopperId, masked_name: &str) -> Result<(), CoreError> {
        let length = masked_name.chars().count();
        if length == 0 || length > MASKED_NAME_MAX || masked_name.chars().any(char::is_control) {
            return Err(CoreError::MaskedNameMalformed);
        }
        self.shopper_mut(id)?.masked_name = Some(masked_name.to_owned());
        Ok(())
    }

    /// Records that the shopper accepted the consent text `text_version` at `now`.
    pub fn record_consent(
        &mut self,
        id: ShopperId,
        text_version: &str,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        let printable = text_version.bytes().all(|b| b.is_ascii_graphic());
        if text_version.is_empty() || text_version.len() > CONSENT_VERSION_MAX || !printable {
            return Err(CoreError::ConsentVersionMalformed);
        }
        self.shopper_mut(id)?.consent = Some((text_version.to_owned(), now));
        Ok(())
    }

    /// The shopper deleted everything: face payment stops, their keys are revoked and their name
    /// forgotten. (The face itself is shredded in the vault; payments already made stay on the
    /// books, as the law on records requires.)
    pub fn forget_shopper(&mut self, id: ShopperId) -> Result<(), CoreError> {
        let shopper = self.shopper_mut(id)?;
        // The record stays (payments and disputes name the shopper), its personal data goes:
        // no digits to match, no PIN, no accounts for any bank to list, no name, no consent.
        shopper.paused = true;
        shopper.phone_last4 = None;
        shopper.pin = None;
        shopper.funding.clear();
        shopper.default_funding = None;
        shopper.masked_name = None;
        shopper.consent = None;
        shopper.tier = ShopperRiskTier::Standard;
        shopper.own_limit = None;
        self.access.revoke_role(Role::Shopper(id));
        self.payment_codes.retire(id);
        Ok(())
    }

    /// A one-payment code for the shopper to show, lapsing at `expires_at`; it replaces any
    /// earlier code of theirs.
    pub fn issue_payment_code(
        &mut self,
        id: ShopperId,
        code_hash: SecretHash,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        self.shopper_mut(id)?;
        if expires_at <= now {
            return Err(CoreError::PaymentCodeLapsed);
        }
        self.payment_codes.issue(id, code_hash, expires_at);
        Ok(())
    }

    pub fn pause_shopper(&mut self, id: ShopperId, paused: bool) -> Result<(), CoreError> {
        self.shopper_mut(id)?.paused = paused;
        Ok(())
    }

    pub fn set_shopper_limit(
        &mut self,
        id: ShopperId,
        limit: Option<Limit>,
        tier: Option<ShopperRiskTier>,
    ) -> Result<(), CoreError> {
        if limit.is_some_and(|limit| !limit.is_valid()) {
            return Err(CoreError::LimitMalformed);
        }
        let shopper = self.shopper_mut(id)?;
        shopper.own_limit = limit;
        shopper.tier = tier.unwrap_or(shopper.tier);
        Ok(())
    }

    pub fn set_shopper_tier(&mut self, id: ShopperId, tier: ShopperRiskTier) -> Result<(), CoreError> {
        self.shopper_mut(id)?.tier = tier;
        Ok(())
    }

    /// Sets or changes the PIN; `salt` comes from the caller's injected random source.
    pub fn set_pin(&mut self, id: ShopperId, pin: &Pin, salt: [u8; 16]) -> Result<(), CoreError> {
        self.set_pin_hash(id, PinHash::new(pin, salt))
    }

    /// Sets or changes the PIN from its hash, as the journal replays it.
    pub fn set_pin_hash(&mut self, id: ShopperId, hash: PinHash) -> Result<(), CoreError> {
        let shopper = self.shopper_mut(id)?;
        shopper.pin = Some(hash);
        shopper.pin_guard = PinGuard::default();
        Ok(())
    }

    /// Binds a wallet at the built-in issuer to the shopper; the first one becomes the default.
    pub fn bind_wallet(
        &mut self,
        shopper: ShopperId,
        account: AccountId,
        make_default: bool,
    ) -> Result<(), CoreError> {
        self.shopper_mut(shopper)?;
        let rule = BalanceRule::DebitsWithinCredits { credit_limit: 0 };
        self.open(Account::new(account, self.config.currency, rule, code::WALLET))?;
        self.shopper_mut(shopper)?.bind(FundingSource::Wallet(account), make_default);
        Ok(())
    }

    /// Binds an account at an external bank, by the bank's reference for it.
    pub fn bind_bank_account(
        &mut self,
        shopper: ShopperId,
        issuer: IssuerId,
        reference: &str,
        make_default: bool,
    ) -> Result<(), CoreError> {
        let printable = reference.bytes().all(|b| b.is_ascii_graphic());
        if reference.is_empty() || reference.len() > BANK_REFERENCE_MAX || !printable {
            return Err(CoreError::BankReferenceMalformed);
        }
        if !self.issuers.contains_key(&issuer) {
            return Err(CoreError::UnknownIssuer(issuer));
        }
        let source = FundingSource::BankAccount { issuer, reference: reference.to_owned() };
        let shopper_record = self.shopper_mut(shopper)?;
        if shopper_record.funding.contains(&source) {
            return Err(CoreError::AlreadyRegistered(format!("{issuer} account of {shopper}")));
        }
        shopper_record.bind(source, make_default);
        Ok(())
    }

    /// Unbinds an account; the default moves to the first one left. A wallet still holding money
    /// stays bound (the money would have no owner).
    pub fn unbind_funding(&mut self, shopper: ShopperId, source: &FundingSource) -> Result<(), CoreError> {
        if let FundingSource::Wallet(account) = source
            && self
                .ledger
                .account(*account)
                .is_some_and(|a| a.posted_balance() != 0 || a.totals.debits_pending != 0)
        {
            return Err(CoreError::WalletNotEmpty);
        }
        let shopper = self.shopper_mut(shopper)?;
        let before = shopper.funding.len();
        shopper.funding.retain(|bound| bound != source);
        if shopper.funding.len() == before {
            return Err(CoreError::FundingNotBound);
        }
        if shopper.default_funding.as_ref() == Some(source) {
            shopper.default_funding = shopper.funding.first().cloned();
        }
        Ok(())
    }

    /// The shopper's own limit, if they set one, and the tier the operator gave them.
    pub fn shopper_limit(&self, id: ShopperId) -> Option<(Option<Limit>, ShopperRiskTier)> {
        self.shoppers.get(&id).map(|shopper| (shopper.own_limit, shopper.tier))
    }

    /// Every account the shopper bound, and which one pays by default.
    pub fn funding_of(&self, id: ShopperId) -> (Vec<FundingSource>, Option<FundingSource>) {
        self.shoppers.get(&id).map_or((Vec::new(), None), |s| (s.funding.clone(), s.default_funding.clone()))
    }

    /// The accounts at `issuer` that shoppers bound for face payment, by the bank's own
    /// reference, each with whether it is its shopper's default; sorted by reference.
    pub fn bank_accounts_at(&self, issuer: IssuerId) -> Vec<(String, bool)> {
        let mut accounts: Vec<(String, bool)> = self
            .shoppers
            .values()
            .flat_map(|shopper| {
                shopper.funding.iter().filter_map(|source| match source {
                    FundingSource::BankAccount { issuer: at, reference } if *at == issuer => {
                        Some((reference.clone(), shopper.default_funding.as_ref() == Some(source)))
                    }
                    _ => None,
                })
            })
            .collect();
        accounts.sort();
        accounts
    }

    pub fn choose_default_funding(
        &mut self,
        shopper: ShopperId,
        source: &FundingSource,
    ) -> Result<(), CoreError> {
        let shopper = self.shopper_mut(shopper)?;
        if !shopper.funding.contains(source) {
            return Err(CoreError::FundingNotBound);
        }
        shopper.default_funding = Some(source.clone());
        Ok(())
    }

    /// Adds money to a built-in wallet, from the funding source. Idempotent by `transfer_id`.
    pub fn top_up(
        &mut self,
        account: AccountId,
        amount_minor: i64,
        transfer_id: TransferId,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        let amount = positive_amount(amount_minor)?;
        if self.ledger.account(account).is_none_or(|a| a.code != code::WALLET) {
            return Err(CoreError::NotAWallet);
        }
        self.deposit(account, amount, transfer_id, code::TOP_UP, now)
    }

    /// Moves money in from the funding source, posted at once; `code` says why.
    pub(crate) fn deposit(
        &mut self,
        account: AccountId,
        amount: u64,
        transfer_id: TransferId,
        code: u32,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        let request =
            transfer(transfer_id, self.config.funding_source, account, amount, TransferKind::Posted, code);
        self.ledger.apply_one(&request, now)?;
        Ok(())
    }

    /// A terminal asks to take a payment. A retry with the same key returns where the first
    /// request stands now, and moves no money again.
    pub fn start_payment(&mut self, request: StartPayment, now: Timestamp) -> Result<PaymentView, CoreError> {
        let key = (request.terminal, request.idempotency_key.clone());
        if let Some(&existing) = self.idempotency.get(&key) {
            let record = &self.payments[&existing];
            return if record.request == request {
                Ok(view(&record.payment))
            } else {
                Err(CoreError::IdempotencyKeyReused)
            };
        }
        if self.payments.contains_key(&request.payment_id) {
            return Err(CoreError::PaymentIdTaken(request.payment_id));
        }
        let terminal =
            self.terminals.get(&request.terminal).ok_or(CoreError::UnknownTerminal(request.terminal))?;
        if request.amount.currency != self.config.currency {
            return Err(CoreError::CurrencyNotSupported);
        }
        if request.amount.amount_minor <= 0 {
            return Err(CoreError::AmountNotPositive);
        }
        let merchant = &self.merchants[&terminal.merchant];
        let payment = Payment::new(request.payment_id, terminal.merchant, request.terminal, request.amount);
        let by_face = !matches!(request.identification, Identification::PaymentCode(_));
        let face_off =
            self.face_payment_off_everywhere || merchant.face_payment_off || terminal.face_payment_off;
        // The emergency switch turns face payment off; the payment code is what still works.
        let gate = if by_face && face_off {
            Some(DeclineReason::FacePaymentOff)
        } else if terminal.suspended {
            Some(DeclineReason::TerminalSuspended)
        } else {
            None
        };
        let standing = match merchant.status {
            MerchantStatus::Active => None,
            MerchantStatus::Suspended => {
                Some((RiskRule::MerchantSuspended, DeclineReason::MerchantSuspended))
            }
            MerchantStatus::Blacklisted => {
                Some((RiskRule::MerchantBlacklisted, DeclineReason::MerchantBlacklisted))
            }
        };
        let id = request.payment_id;
        let terminal_id = request.terminal;
        let liveness_passed = request.liveness_passed;
        let identification = request.identification.clone();
        self.idempotency.insert(key, id);
        self.payments.insert(
            id,
            PaymentRecord {
                payment,
                request,
                created_at: now,
                candidates: Vec::new(),
                funding: None,
                hold: None,
                reserved_day: None,
                risk_elevated: false,
                disputed_minor: 0,
            },
        );
        if let Some(reason) = gate {
            return self.decline(id, reason);
        }
        if let Some((rule, reason)) = standing {
            let event = RiskEvent {
                payment: id,
                at: now,
                rule,
                verdict: RiskVerdict::Decline,
                detail: "the merchant may not take face payments".into(),
            };
            self.risk_events.push(event);
            return self.decline(id, reason);
        }
        let assessment = self.risk.assess_terminal(&self.config.risk, terminal_id, now);
        if self.heed(id, &assessment, now) {
            return self.decline(id, DeclineReason::RiskDeclined);
        }
        if by_face && !liveness_passed {
            self.risk.note_failed_identification(&self.config.risk, terminal_id, now);
            return self.decline(id, DeclineReason::LivenessFailed);
        }
        match identification {
            Identification::NoMatch => {
                self.risk.note_failed_identification(&self.config.risk, terminal_id, now);
                self.decline(id, DeclineReason::NoMatch)
            }
            Identification::Match(shopper) => self.decide_for(id, shopper, true, now),
            Identification::PaymentCode(code_hash) => match self.payment_codes.redeem(&code_hash, now) {
                Some(shopper) => self.decide_for(id, shopper, false, now),
                None => {
                    self.risk.note_failed_identification(&self.config.risk, terminal_id, now);
                    self.decline(id, DeclineReason::PaymentCodeInvalid)
                }
            },
            Identification::Ambiguous(candidates) => {
                let record = self.payments.get_mut(&id).expect("inserted above");
                record.candidates = candidates;
                record.payment.apply(PaymentEvent::AskPhoneDigits)?;
                Ok(view(&record.payment))
            }
        }
    }

    /// The shopper typed the last 4 digits of their phone after an ambiguous match.
    pub fn provide_phone_digits(
        &mut self,
        id: PaymentId,
        digits: &str,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        let digits = parse_phone_digits(digits)?;
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        if record.payment.state != PaymentState::NeedsPhoneDigits {
            let event = "take phone digits";
            return Err(TransitionError::NotAllowed { state: record.payment.state.name(), event }.into());
        }
        let matching: Vec<ShopperId> = record
            .candidates
            .iter()
            .copied()
            .filter(|candidate| self.shoppers.get(candidate).is_some_and(|s| s.phone_last4 == Some(digits)))
            .collect();
        match matching.as_slice() {
            [shopper] => self.decide_for(id, *shopper, true, now),
            _ => {
                let terminal = record.payment.terminal;
                self.risk.note_failed_identification(&self.config.risk, terminal, now);
                self.decline(id, DeclineReason::StillAmbiguous)
            }
        }
    }

    /// The shopper typed their PIN. A wrong PIN leaves the payment waiting for another try
    /// until the lock trips, which declines it.
    pub fn provide_pin(
        &mut self,
        id: PaymentId,
        typed: &str,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        let matched = self.pin_matches(id, typed, now)?;
        self.pin_checked(id, matched, now)
    }

    /// Compares the PIN typed for a payment waiting for one, changing nothing. While the PIN is
    /// locked nothing is compared, so a locked PIN is no guessing oracle.
    pub(crate) fn pin_matches(&self, id: PaymentId, typed: &str, now: Timestamp) -> Result<bool, CoreError> {
        let (hash, guard) = self.pin_awaited(id)?;
        let pin = Pin::parse(typed)?;
        Ok(!guard.is_locked(now) && hash.matches(&pin))
    }

    /// The PIN hash and wrong-try guard of the shopper a payment waits on for a PIN.
    pub(crate) fn pin_awaited(&self, id: PaymentId) -> Result<(&PinHash, PinGuard), CoreError> {
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        if record.payment.state != PaymentState::NeedsPin {
            let event = "take a PIN";
            return Err(TransitionError::NotAllowed { state: record.payment.state.name(), event }.into());
        }
        let shopper_id = record.payment.shopper.expect("a payment waiting for a PIN has its shopper");
        let shopper = &self.shoppers[&shopper_id];
        // A shopper forgotten while their payment waited for the PIN has none to check.
        let hash = shopper.pin.as_ref().ok_or(CoreError::UnknownShopper(shopper_id))?;
        Ok((hash, shopper.pin_guard))
    }

    /// Records a PIN try whose comparison (`check_pin`) gave `matched`.
    pub fn pin_checked(
        &mut self,
        id: PaymentId,
        matched: bool,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        self.pin_awaited(id)?;
        let shopper_id = self.payments[&id].payment.shopper.expect("checked above");
        let shopper = self.shoppers.get_mut(&shopper_id).expect("payments name enrolled shoppers");
        match shopper.pin_guard.record(matched, now) {
            Ok(()) => self.authorize(id, now),
            Err(PinError::Locked { .. }) => self.decline(id, DeclineReason::PinLocked),
            Err(wrong) => Err(wrong.into()),
        }
    }

    /// The terminal confirms it showed the approval: the held funds move to the merchant.
    pub fn capture(&mut self, id: PaymentId, now: Timestamp) -> Result<PaymentView, CoreError> {
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        let captured =
            record.payment.state.after(PaymentEvent::Capture, record.payment.amount.amount_minor)?;
        // A hold that ran out before the terminal confirmed leaves the payment expired.
        self.settle_hold(id, |pending_id| TransferKind::PostPending { pending_id }, now)?;
        let record = self.payments.get_mut(&id).expect("checked above");
        record.payment.state = captured;
        Ok(view(&record.payment))
    }

    /// The merchant cancels an authorized payment before capture.
    pub fn void(&mut self, id: PaymentId, now: Timestamp) -> Result<PaymentView, CoreError> {
        self.release_hold(id, PaymentEvent::Void, now)
    }

    /// Undoes a payment whose outcome the terminal never learned.
    pub fn reverse(&mut self, id: PaymentId, now: Timestamp) -> Result<PaymentView, CoreError> {
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        match record.payment.state {
            PaymentState::Captured { refunded_minor: 0 } => {
                let amount = record.payment.amount.amount_minor;
                if record.disputed_minor > 0 {
                    let event = "be reversed";
                    return Err(TransitionError::NotAllowed { state: "under dispute", event }.into());
                }
                record.payment.state.after(PaymentEvent::Reverse, amount)?;
                self.pay_back(id, None, amount, code::REVERSAL, now)?;
                self.release_limit(id);
                let record = self.payments.get_mut(&id).expect("checked above");
                record.payment.state = PaymentState::Reversed;
                Ok(view(&record.payment))
            }
            _ => self.release_hold(id, PaymentEvent::Reverse, now),
        }
    }

    /// Refunds part or all of a captured payment. Idempotent by `refund_id`; the total refunded
    /// never exceeds what was captured, however the requests interleave.
    pub fn refund(
        &mut self,
        id: PaymentId,
        refund_id: TransferId,
        amount_minor: i64,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        if let Some(&(payment, amount)) = self.refunds.get(&refund_id) {
            return if (payment, amount) == (id, amount_minor) {
                Ok(self.payment(id).expect("refunds name payments"))
            } else {
                Err(CoreError::RefundIdReused(refund_id))
            };
        }
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        // Money under dispute is not refundable: it is returned through the dispute.
        let refundable = record.payment.amount.amount_minor - record.disputed_minor;
        let refunded = record.payment.state.after(PaymentEvent::Refund { amount_minor }, refundable)?;
        self.pay_back(id, Some(refund_id), amount_minor, code::REFUND, now)?;
        self.refunds.insert(refund_id, (id, amount_minor));
        let record = self.payments.get_mut(&id).expect("checked above");
        record.payment.state = refunded;
        Ok(view(&record.payment))
    }

    /// The external bank answered an authorization request.
    pub fn issuer_answered(
        &mut self,
        id: PaymentId,
        answer: IssuerAnswer,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        if record.payment.state != PaymentState::AwaitingIssuer {
            // Too late (timed out, so the bank was told to release) or never asked.
            let event = "take the issuer's answer";
            return Err(TransitionError::NotAllowed { state: record.payment.state.name(), event }.into());
        }
        match answer {
            IssuerAnswer::Approved => {
                let record = self.payments.get_mut(&id).expect("checked above");
                record.payment.apply(PaymentEvent::Authorize)?;
                let (shopper, terminal) = (record.payment.shopper, record.payment.terminal);
                let amount = record.payment.amount.amount_minor;
                self.risk.note_authorized(shopper.expect("identified"), terminal, amount);
                Ok(view(&record.payment))
            }
            IssuerAnswer::Declined => self.abandon_awaiting(id, DeclineReason::IssuerDeclined, now),
        }
    }

    /// Time passing: declines payments whose bank did not answer in time, reverses
    /// authorizations the terminal did not confirm in time, expires holds past their deadline,
    /// and drops lapsed payment codes. Costs what is due, not what is stored. Returns the
    /// payments it touched.
    pub fn sweep(&mut self, now: Timestamp) -> Vec<PaymentId> {
        self.payment_codes.sweep(now);
        let mut touched = Vec::new();
        while let Some(&(deadline, id)) = self.outcome_deadlines.first()
            && deadline <= now
        {
            self.outcome_deadlines.pop_first();
            let undone = match self.payments[&id].payment.state {
                PaymentState::AwaitingIssuer => {
                    self.abandon_awaiting(id, DeclineReason::IssuerUnavailable, now)
                }
                PaymentState::Authorized => self.reverse(id, now),
                // Moved on without `settle_deadline` (a direct call, as tests make): nothing due.
                _ => continue,
            };
            if undone.is_ok() {
                touched.push(id);
            }
        }
        touched.extend(self.expire_holds(now));
        touched
    }

    /// The earliest time at which a sweep would change anything: a payment's outcome timeout,
    /// a hold's deadline or a payment code's lapse. A node sweeps only once it has passed, so
    /// an idle node journals nothing.
    pub fn next_due(&self) -> Option<Timestamp> {
        let outcome = self.outcome_deadlines.first().map(|&(at, _)| at);
        [outcome, self.ledger.next_deadline(), self.payment_codes.next_lapse()].into_iter().flatten().min()
    }

    /// Takes a payment that no longer waits for its outcome out of the deadline index: the
    /// command runner calls it for the payment each command names, and expiry for the payments
    /// whose holds it ended.
    pub(crate) fn settle_deadline(&mut self, id: PaymentId) {
        let Some(record) = self.payments.get(&id) else { return };
        if !matches!(record.payment.state, PaymentState::Authorized | PaymentState::AwaitingIssuer) {
            self.outcome_deadlines.remove(&(self.outcome_deadline(record), id));
        }
    }

    fn outcome_deadline(&self, record: &PaymentRecord) -> Timestamp {
        record.created_at.plus_ms(self.config.outcome_timeout_ms)
    }

    /// Lets the ledger expire every hold past its deadline and marks those payments expired.
    fn expire_holds(&mut self, now: Timestamp) -> Vec<PaymentId> {
        let mut by_hold: Vec<PaymentId> =
            (self.ledger.expire_due(now).iter()).filter_map(|hold| self.hold_owner.remove(hold)).collect();
        by_hold.sort();
        for &id in &by_hold {
            self.settle_expired(id);
        }
        by_hold
    }

    /// Identification found `shopper` (by face, or else by their payment code): check them, then
    /// ask for the PIN or authorize.
    fn decide_for(
        &mut self,
        id: PaymentId,
        shopper_id: ShopperId,
        by_face: bool,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        let Some(shopper) = self.shoppers.get(&shopper_id) else {
            return self.decline(id, DeclineReason::NoMatch);
        };
        let record = self.payments.get_mut(&id).expect("decide_for is called on a stored payment");
        record.payment.shopper = Some(shopper_id);
        let amount = record.payment.amount.amount_minor;
        if shopper.paused && by_face {
            return self.decline(id, DeclineReason::ShopperPaused);
        }
        if shopper.pin_guard.is_locked(now) {
            return self.decline(id, DeclineReason::PinLocked);
        }
        if shopper.default_funding.is_none() {
            return self.decline(id, DeclineReason::InsufficientFunds);
        }
        let limit = self.limit_for(id, shopper_id);
        let mut trial = self.shoppers[&shopper_id].usage;
        if let Err(err) = trial.reserve(&self.config.limits, limit, amount, now) {
            return self.decline(id, limit_decline(err));
        }
        let terminal = self.payments[&id].payment.terminal;
        let assessment = self.risk.assess_shopper(&self.config.risk, shopper_id, terminal, amount, now);
        if self.heed(id, &assessment, now) {
            return self.decline(id, DeclineReason::RiskDeclined);
        }
        let elevated = self.payments[&id].risk_elevated || assessment.verdict == RiskVerdict::StepUp;
        if self.config.pin_policy.requires_pin(amount, elevated) {
            if self.shoppers[&shopper_id].pin.is_none() {
                return self.decline(id, DeclineReason::PinNotSet);
            }
            let record = self.payments.get_mut(&id).expect("stored");
            record.payment.apply(PaymentEvent::AskPin)?;
            return Ok(view(&record.payment));
        }
        self.authorize(id, now)
    }

    /// Reserves the daily limit and holds the funds; either both happen or neither.
    fn authorize(&mut self, id: PaymentId, now: Timestamp) -> Result<PaymentView, CoreError> {
        let record = &self.payments[&id];
        let shopper_id = record.payment.shopper.expect("authorize follows identification");
        let amount = record.payment.amount.amount_minor;
        let merchant_account = self.merchants[&record.payment.merchant].account;
        let limit = self.limit_for(id, shopper_id);
        let shopper = self.shoppers.get_mut(&shopper_id).expect("enrolled");
        let funding = shopper.default_funding.clone().expect("checked in decide_for");
        let day = match shopper.usage.reserve(&self.config.limits, limit, amount, now) {
            Ok(day) => day,
            Err(err) => return self.decline(id, limit_decline(err)),
        };
        let hold_id = self.own_transfer_id();
        let hold = transfer(
            hold_id,
            self.ledger_account(&funding),
            merchant_account,
            amount as u64,
            TransferKind::Pending { timeout_ms: self.config.hold_timeout_ms },
            code::PAYMENT,
        );
        if let Err(err) = self.apply_own(&hold, now) {
            self.shoppers.get_mut(&shopper_id).expect("enrolled").usage.release(amount, day);
            return match err {
                TransferError::ExceedsCredits => self.decline(id, DeclineReason::InsufficientFunds),
                other => Err(other.into()),
            };
        }
        self.hold_owner.insert(hold_id, id);
        let deadline = self.outcome_deadline(&self.payments[&id]);
        self.outcome_deadlines.insert((deadline, id));
        let record = self.payments.get_mut(&id).expect("stored");
        record.hold = Some(hold_id);
        record.reserved_day = Some(day);
        match &funding {
            FundingSource::Wallet(_) => {
                record.payment.apply(PaymentEvent::Authorize)?;
                self.risk.note_authorized(shopper_id, record.payment.terminal, amount);
            }
            FundingSource::BankAccount { issuer, reference } => {
                record.payment.apply(PaymentEvent::AskIssuer)?;
                let message = IssuerMessage::Authorize {
                    payment: id,
                    issuer: *issuer,
                    reference: reference.clone(),
                    amount: record.payment.amount,
                };
                self.issuer_messages.push(message);
            }
        }
        record.funding = Some(funding);
        Ok(view(&record.payment))
    }

    /// Ends a payment waiting for its bank: the hold and the day's allowance are given back.
    /// Unless the bank itself declined, it is told to drop whatever it authorized.
    fn abandon_awaiting(
        &mut self,
        id: PaymentId,
        reason: DeclineReason,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        if !self.void_hold(id, now)? {
            return Ok(self.payment(id).expect("stored"));
        }
        if reason != DeclineReason::IssuerDeclined {
            self.tell_bank_to_release(id);
        }
        self.decline(id, reason)
    }

    /// Queues a release for a payment funded at an external bank; wallets need none.
    fn tell_bank_to_release(&mut self, id: PaymentId) {
        let record = &self.payments[&id];
        if let Some(FundingSource::BankAccount { issuer, reference }) = &record.funding {
            let message = IssuerMessage::Release {
                payment: id,
                issuer: *issuer,
                reference: reference.clone(),
                amount: record.payment.amount,
            };
            self.issuer_messages.push(message);
        }
    }

    /// Records the rules that fired; true when one of them declines the payment.
    fn heed(&mut self, id: PaymentId, assessment: &Assessment, now: Timestamp) -> bool {
        for (rule, verdict, detail) in &assessment.fired {
            let event =
                RiskEvent { payment: id, at: now, rule: *rule, verdict: *verdict, detail: detail.clone() };
            self.risk_events.push(event);
        }
        let record = self.payments.get_mut(&id).expect("assessed payments are stored");
        record.risk_elevated |= assessment.verdict == RiskVerdict::StepUp;
        assessment.verdict == RiskVerdict::Decline
    }

    /// The ledger account a funding source draws on: the wallet itself, or the bank's clearing
    /// account.
    pub(crate) fn ledger_account(&self, source: &FundingSource) -> AccountId {
        match source {
            FundingSource::Wallet(account) => *account,
            FundingSource::BankAccount { issuer, .. } => self.issuers[issuer],
        }
    }

    fn release_hold(
        &mut self,
        id: PaymentId,
        event: PaymentEvent,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        let next = record.payment.state.after(event, record.payment.amount.amount_minor)?;
        if !self.void_hold(id, now)? {
            return Ok(self.payment(id).expect("stored"));
        }
        self.tell_bank_to_release(id);
        let record = self.payments.get_mut(&id).expect("checked above");
        record.payment.state = next;
        Ok(view(&record.payment))
    }

    /// Voids the payment's hold and gives its share of the daily limit back. False when the hold
    /// was past its deadline: then the holds due are expired here, which ends the payment and
    /// releases both, as the void wanted.
    fn void_hold(&mut self, id: PaymentId, now: Timestamp) -> Result<bool, CoreError> {
        match self.settle_hold(id, |pending_id| TransferKind::VoidPending { pending_id }, now) {
            Ok(()) => {
                self.release_limit(id);
                Ok(true)
            }
            Err(TransferError::PendingExpired(_)) => {
                self.expire_holds(now);
                Ok(false)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Posts or voids the payment's hold in full (`settle` names which). A hold past its
    /// deadline is refused by the ledger, and nothing changes: the sweep, due by then, expires it.
    fn settle_hold(
        &mut self,
        id: PaymentId,
        settle: impl FnOnce(TransferId) -> TransferKind,
        now: Timestamp,
    ) -> Result<(), TransferError> {
        let hold = self.payments[&id].hold.expect("an authorized payment has a hold");
        let held = self.ledger.transfer(hold).expect("holds are in the ledger").request;
        let settle_id = self.own_transfer_id();
        let request = transfer(settle_id, held.debit, held.credit, held.amount, settle(hold), code::PAYMENT);
        self.apply_own(&request, now)?;
        self.hold_owner.remove(&hold);
        Ok(())
    }

    /// Moves `amount_minor` of a captured payment from the merchant back to the account it
    /// came from, under the caller's transfer id (a refund's) or one of the core's own (a
    /// reversal's); `code` says why.
    fn pay_back(
        &mut self,
        id: PaymentId,
        transfer_id: Option<TransferId>,
        amount_minor: i64,
        code: u32,
        now: Timestamp,
    ) -> Result<(), TransferError> {
        let record = &self.payments[&id];
        let funding = record.funding.as_ref().expect("a captured payment has a funding account");
        let merchant_account = self.merchants[&record.payment.merchant].account;
        let back = self.ledger_account(funding);
        let amount = amount_minor as u64;
        let request = |id| transfer(id, merchant_account, back, amount, TransferKind::Posted, code);
        match transfer_id {
            Some(chosen) => self.ledger.apply_one(&request(chosen), now).map(drop),
            None => self.apply_own(&request(self.own_transfer_id()), now).map(drop),
        }
    }

    /// The ledger expired this payment's hold: mark it, give its limit back, and tell the bank.
    fn settle_expired(&mut self, id: PaymentId) {
        let record = self.payments.get_mut(&id).expect("stored");
        let hold = record.hold.expect("a payment with funds held has a hold");
        if self.ledger.pending_state(hold) != Some(PendingState::Expired) {
            return;
        }
        let ended = match record.payment.state {
            PaymentState::Authorized => record.payment.apply(PaymentEvent::Expire),
            PaymentState::AwaitingIssuer => {
                record.payment.apply(PaymentEvent::Decline(DeclineReason::IssuerUnavailable))
            }
            _ => return,
        };
        ended.expect("both states accept the event");
        self.settle_deadline(id);
        self.release_limit(id);
        self.tell_bank_to_release(id);
    }

    fn release_limit(&mut self, id: PaymentId) {
        let record = &self.payments[&id];
        if let (Some(shopper), Some(day)) = (record.payment.shopper, record.reserved_day) {
            let amount = record.payment.amount.amount_minor;
            self.shoppers.get_mut(&shopper).expect("enrolled").usage.release(amount, day);
        }
    }

    fn decline(&mut self, id: PaymentId, reason: DeclineReason) -> Result<PaymentView, CoreError> {
        let record = self.payments.get_mut(&id).expect("decline is called on a stored payment");
        record.payment.apply(PaymentEvent::Decline(reason))?;
        Ok(view(&record.payment))
    }

    fn limit_for(&self, id: PaymentId, shopper_id: ShopperId) -> Limit {
        let record = &self.payments[&id];
        let shopper = &self.shoppers[&shopper_id];
        self.config.limits.effective(&LimitContext {
            merchant_risk: self.merchants[&record.payment.merchant].risk,
            transaction_type: record.request.transaction_type,
            shopper_tier: shopper.tier,
            shopper_setting: shopper.own_limit,
            merchant_setting: self.merchants[&record.payment.merchant].own_limit,
        })
    }

    fn shopper_mut(&mut self, id: ShopperId) -> Result<&mut Shopper, CoreError> {
        self.shoppers.get_mut(&id).ok_or(CoreError::UnknownShopper(id))
    }

    fn open(&mut self, account: Account) -> Result<(), CoreError> {
        let id = account.id;
        match self.ledger.open_account(account) {
            Ok(Applied::Created) => Ok(()),
            _ => Err(CoreError::AlreadyRegistered(format!("ledger account {}", id.0))),
        }
    }

    /// Transfer ids the core makes itself count down from the top of the id space, apart from
    /// the ids callers choose (top-ups, refunds). This is the next one; `apply_own` uses it up.
    pub(crate) fn own_transfer_id(&self) -> TransferId {
        TransferId(u128::MAX - self.next_transfer)
    }

    /// Applies a transfer under `own_transfer_id`, which is used up only when the ledger accepts
    /// it: a refused transfer leaves the core exactly as it was.
    pub(crate) fn apply_own(
        &mut self,
        request: &TransferRequest,
        now: Timestamp,
    ) -> Result<Applied, TransferError> {
        debug_assert_eq!(request.id, self.own_transfer_id(), "built on the next own transfer id");
        let applied = self.ledger.apply_one(request, now)?;
        self.next_transfer += 1;
        Ok(applied)
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

fn parse_phone_digits(text: &str) -> Result<[u8; 4], CoreError> {
    match text.as_bytes() {
        &[a, b, c, d] if text.bytes().all(|x| x.is_ascii_digit()) => Ok([a, b, c, d]),
        _ => Err(CoreError::PhoneDigitsMalformed),
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
