//! The durable form of every change to the payment core. A store writes each accepted
//! `Command` to its journal with the time it ran at; replaying the journal in order rebuilds the
//! core exactly, because the core is a plain function of its commands.
//!
//! Commands hold nothing a store must not keep: a PIN arrives already hashed (`SetPinHash`) and
//! a PIN try as the verdict of its comparison (`PinChecked`), never as the digits typed, so the
//! journal never sees a PIN and a replay never runs Argon2. A shopper's personal fields (phone
//! digits, typed digits, masked name, consent, PIN hash, bank references, dispute notes) arrive
//! sealed under their personal key or as its keyed digests (`Sealed`, `KeyedDigest`): once the
//! shopper deletes everything and the key is shredded, the journal's old entries tell nothing
//! about them, and replaying them still rebuilds the same core.

use facepay_domain::{KeyedDigest, MerchantId, PaymentId, Sealed, ShopperId, TerminalId, Timestamp};
use facepay_ledger::{AccountId, TransferId};
use facepay_transit::{StopId, TapId};
use serde::{Deserialize, Serialize};

use crate::access::{ApiKeyId, PublicKey, Role, SecretHash};
use crate::audit::AuditEvent;
use crate::dispute::{Dispute, DisputeId, Finding, Party};
use crate::engine::{
    BucketMatch, CoreError, GatePassage, GatePlace, MerchantStatus, PassageOutcome, PaymentCore, PaymentView,
    StartPayment, TransitScheme,
};
use crate::issuer::{FundingSource, IssuerAnswer, IssuerId, TraceNumber};
use crate::limits::{Limit, LimitTable, MerchantRisk, ShopperRiskTier};
use crate::pin::{Pin, PinError, PinHash};
use crate::settlement::AcquirerId;

/// One change to the payment core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    RegisterIssuer {
        issuer: IssuerId,
        clearing_account: AccountId,
        /// Whether the bank approves each account a shopper binds before it pays (journaled
        /// before this existed: it does not).
        #[serde(default)]
        verifies_accounts: bool,
    },
    RegisterMerchant {
        merchant: MerchantId,
        acquirer: AcquirerId,
        risk: MerchantRisk,
        account: AccountId,
    },
    SetMerchantStatus {
        merchant: MerchantId,
        status: MerchantStatus,
    },
    RegisterTerminal {
        terminal: TerminalId,
        merchant: MerchantId,
    },
    SuspendTerminal {
        terminal: TerminalId,
        suspended: bool,
    },
    SwitchFacePaymentEverywhere {
        off: bool,
    },
    SwitchFacePaymentForMerchant {
        merchant: MerchantId,
        off: bool,
    },
    SwitchFacePaymentForTerminal {
        terminal: TerminalId,
        off: bool,
    },
    /// A sign-up: the last 4 phone digits sealed, and their keyed digest for matching.
    EnrollShopper {
        shopper: ShopperId,
        phone: Sealed,
        phone_digest: KeyedDigest,
    },
    PauseShopper {
        shopper: ShopperId,
        paused: bool,
    },
    /// The shopper's own limit; the operator's risk tier too when `tier` is given, else it stays.
    SetShopperLimit {
        shopper: ShopperId,
        limit: Option<Limit>,
        tier: Option<ShopperRiskTier>,
    },
    SetMerchantRisk {
        merchant: MerchantId,
        risk: MerchantRisk,
        limit: Option<Limit>,
    },
    SetLimitTable {
        table: LimitTable,
    },
    /// The first PIN's hash (`PinHash::to_bytes`), sealed. (Entries journaled before
    /// `ChangePin` existed also replace a PIN this way; the API sends it only when none is set.)
    SetPinHash {
        shopper: ShopperId,
        hash: Sealed,
    },
    /// A new PIN for a shopper who has one, once the current one was typed: `current_matched`
    /// is the edge's comparison of it with the kept hash.
    ChangePin {
        shopper: ShopperId,
        current_matched: bool,
        hash: Sealed,
    },
    BindWallet {
        shopper: ShopperId,
        account: AccountId,
        make_default: bool,
    },
    /// The bank's reference sealed, and its keyed digest (`personal::bank_account_digest_input`).
    BindBankAccount {
        shopper: ShopperId,
        issuer: IssuerId,
        account: KeyedDigest,
        reference: Sealed,
        make_default: bool,
    },
    ChooseDefaultFunding {
        shopper: ShopperId,
        source: FundingSource,
    },
    TopUp {
        account: AccountId,
        amount_minor: i64,
        transfer_id: TransferId,
    },
    StartPayment(StartPayment),
    /// The phone digits typed, and what the search of their bucket found.
    ProvidePhoneDigits {
        payment: PaymentId,
        found: Option<BucketMatch>,
    },
    PinChecked {
        payment: PaymentId,
        matched: bool,
    },
    Capture {
        payment: PaymentId,
    },
    Void {
        payment: PaymentId,
    },
    Reverse {
        payment: PaymentId,
    },
    Refund {
        payment: PaymentId,
        refund_id: TransferId,
        amount_minor: i64,
    },
    IssuerAnswered {
        payment: PaymentId,
        answer: IssuerAnswer,
    },
    /// The bank's answer to the account verification it was sent under `trace`, with its
    /// response code (what the shopper is told on a refusal).
    AccountVerified {
        issuer: IssuerId,
        trace: TraceNumber,
        answer: IssuerAnswer,
        response_code: String,
    },
    Sweep,
    FundReserve {
        amount_minor: i64,
        transfer_id: TransferId,
    },
    OpenDispute {
        dispute: DisputeId,
        payment: PaymentId,
        amount_minor: i64,
    },
    /// The note sealed under the key of the shopper who paid.
    AddDisputeEvidence {
        dispute: DisputeId,
        party: Party,
        note: Sealed,
    },
    ResolveDispute {
        dispute: DisputeId,
        finding: Finding,
    },
    ChargeBack {
        dispute: DisputeId,
    },
    IssueApiKey {
        key: ApiKeyId,
        secret_hash: SecretHash,
        role: Role,
    },
    RevokeApiKey {
        key: ApiKeyId,
    },
    IssueActivationCode {
        terminal: TerminalId,
        code_hash: SecretHash,
        expires_at: Timestamp,
    },
    ActivateTerminal {
        terminal: TerminalId,
        code_hash: SecretHash,
        public_key: PublicKey,
    },
    RevokeTerminal {
        terminal: TerminalId,
    },
    NameShopper {
        shopper: ShopperId,
        masked_name: Sealed,
    },
    ForgetShopper {
        shopper: ShopperId,
    },
    RecordConsent {
        shopper: ShopperId,
        text_version: Sealed,
    },
    UnbindFunding {
        shopper: ShopperId,
        source: FundingSource,
    },
    IssuePaymentCode {
        shopper: ShopperId,
        code_hash: SecretHash,
        expires_at: Timestamp,
    },
    RecordAudit(AuditEvent),
    /// The operator's risk tier for one shopper; their own limit stays.
    SetShopperTier {
        shopper: ShopperId,
        tier: ShopperRiskTier,
    },
    /// The transit operator's fares (imported from GTFS at the edge), calendar and day hold.
    SetTransitScheme(Box<TransitScheme>),
    RegisterGate {
        terminal: TerminalId,
        place: GatePlace,
    },
    /// Passages gates report, live or uploaded after being offline.
    RecordPassages(Vec<GatePassage>),
    /// A payment code shown at a gate, spent.
    AdmitByCode {
        gate: TerminalId,
        code_hash: SecretHash,
    },
    /// A rider on the deny list, at a gate: the debt asked of their bank now, or a refused
    /// day's hold tried again.
    CollectAtGate {
        rider: ShopperId,
        gate: TerminalId,
    },
    /// A rider says where a journey with no exit ended.
    ClaimJourney {
        rider: ShopperId,
        entry: TapId,
        station: StopId,
    },
}

/// What an executed command answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Done,
    Payment(PaymentView),
    Dispute(Dispute),
    /// The payments a sweep touched.
    Swept(Vec<PaymentId>),
    /// The PIN typed was wrong: the try is counted (that is why this is an answer, journaled,
    /// and not a refusal, which changes nothing) and the payment still waits for the PIN.
    PinWrong {
        tries_left: u8,
    },
    /// What became of each passage of an upload, in its order.
    Passages(Vec<PassageOutcome>),
    /// Whose a payment code shown at a gate was; none when it was unknown, spent or lapsed.
    Rider(Option<ShopperId>),
}

impl Command {
    /// The payment the command acts on, if it names one.
    fn payment(&self) -> Option<PaymentId> {
        use Command as C;
        match self {
            C::StartPayment(request) => Some(request.payment_id),
            C::ProvidePhoneDigits { payment, .. }
            | C::PinChecked { payment, .. }
            | C::Capture { payment }
            | C::Void { payment }
            | C::Reverse { payment }
            | C::Refund { payment, .. }
            | C::IssuerAnswered { payment, .. }
            | C::OpenDispute { payment, .. } => Some(*payment),
            _ => None,
        }
    }
}

impl PaymentCore {
    /// Runs one command at `now`.
    pub fn execute(&mut self, command: &Command, now: Timestamp) -> Result<Reply, CoreError> {
        let reply = self.run(command, now);
        if let Some(payment) = command.payment() {
            self.settle_deadline(payment);
            self.transit_payment_moved(payment, now);
        }
        if let Ok(Reply::Payment(view)) = &reply {
            self.mark_changed(view.id);
        }
        reply
    }

    fn run(&mut self, command: &Command, now: Timestamp) -> Result<Reply, CoreError> {
        use Command as C;
        let done = |result: Result<(), CoreError>| result.map(|()| Reply::Done);
        match command {
            C::RegisterIssuer { issuer, clearing_account, verifies_accounts } => {
                done(self.register_issuer_with(*issuer, *clearing_account, *verifies_accounts))
            }
            C::AccountVerified { issuer, trace, answer, response_code } => {
                done(self.account_verified(*issuer, *trace, *answer, response_code))
            }
            C::RegisterMerchant { merchant, acquirer, risk, account } => {
                done(self.register_merchant(*merchant, *acquirer, *risk, *account))
            }
            C::SetMerchantStatus { merchant, status } => done(self.set_merchant_status(*merchant, *status)),
            C::RegisterTerminal { terminal, merchant } => done(self.register_terminal(*terminal, *merchant)),
            C::SuspendTerminal { terminal, suspended } => done(self.suspend_terminal(*terminal, *suspended)),
            C::SwitchFacePaymentEverywhere { off } => {
                self.switch_face_payment_everywhere(*off);
                Ok(Reply::Done)
            }
            C::SwitchFacePaymentForMerchant { merchant, off } => {
                done(self.switch_face_payment_for_merchant(*merchant, *off))
            }
            C::SwitchFacePaymentForTerminal { terminal, off } => {
                done(self.switch_face_payment_for_terminal(*terminal, *off))
            }
            C::EnrollShopper { shopper, phone, phone_digest } => {
                done(self.enroll_shopper(*shopper, phone, *phone_digest))
            }
            C::PauseShopper { shopper, paused } => done(self.pause_shopper(*shopper, *paused)),
            C::SetShopperLimit { shopper, limit, tier } => {
                done(self.set_shopper_limit(*shopper, *limit, *tier))
            }
            C::SetMerchantRisk { merchant, risk, limit } => {
                done(self.set_merchant_risk(*merchant, *risk, *limit))
            }
            C::SetLimitTable { table } => done(self.set_limit_table(table.clone())),
            C::SetPinHash { shopper, hash } => done(self.set_pin_hash(*shopper, hash)),
            C::ChangePin { shopper, current_matched, hash } => {
                match self.change_pin(*shopper, *current_matched, hash, now)? {
                    None => Ok(Reply::Done),
                    Some(tries_left) => Ok(Reply::PinWrong { tries_left }),
                }
            }
            C::BindWallet { shopper, account, make_default } => {
                done(self.bind_wallet(*shopper, *account, *make_default))
            }
            C::BindBankAccount { shopper, issuer, account, reference, make_default } => {
                done(self.bind_bank_account(*shopper, *issuer, *account, reference, *make_default, now))
            }
            C::ChooseDefaultFunding { shopper, source } => {
                done(self.choose_default_funding(*shopper, source))
            }
            C::TopUp { account, amount_minor, transfer_id } => {
                done(self.top_up(*account, *amount_minor, *transfer_id, now))
            }
            C::StartPayment(request) => self.start_payment(request.clone(), now).map(Reply::Payment),
            C::ProvidePhoneDigits { payment, found } => {
                self.provide_phone_digits(*payment, found.as_ref(), now).map(Reply::Payment)
            }
            C::PinChecked { payment, matched } => match self.pin_checked(*payment, *matched, now) {
                Err(CoreError::Pin(PinError::Wrong { tries_left })) => Ok(Reply::PinWrong { tries_left }),
                checked => checked.map(Reply::Payment),
            },
            C::Capture { payment } => self.capture(*payment, now).map(Reply::Payment),
            C::Void { payment } => self.void(*payment, now).map(Reply::Payment),
            C::Reverse { payment } => self.reverse(*payment, now).map(Reply::Payment),
            C::Refund { payment, refund_id, amount_minor } => {
                self.refund(*payment, *refund_id, *amount_minor, now).map(Reply::Payment)
            }
            C::IssuerAnswered { payment, answer } => {
                self.issuer_answered(*payment, *answer, now).map(Reply::Payment)
            }
            C::Sweep => Ok(Reply::Swept(self.sweep(now))),
            C::FundReserve { amount_minor, transfer_id } => {
                done(self.fund_reserve(*amount_minor, *transfer_id, now))
            }
            C::OpenDispute { dispute, payment, amount_minor } => {
                self.open_dispute(*dispute, *payment, *amount_minor, now).map(Reply::Dispute)
            }
            C::AddDisputeEvidence { dispute, party, note } => {
                done(self.add_dispute_evidence(*dispute, *party, note, now))
            }
            C::ResolveDispute { dispute, finding } => {
                self.resolve_dispute(*dispute, *finding, now).map(Reply::Dispute)
            }
            C::ChargeBack { dispute } => self.charge_back(*dispute, now).map(Reply::Dispute),
            C::IssueApiKey { key, secret_hash, role } => done(self.issue_api_key(*key, *secret_hash, *role)),
            C::RevokeApiKey { key } => done(self.revoke_api_key(*key)),
            C::IssueActivationCode { terminal, code_hash, expires_at } => {
                done(self.issue_activation_code(*terminal, *code_hash, *expires_at))
            }
            C::ActivateTerminal { terminal, code_hash, public_key } => {
                done(self.activate_terminal(*terminal, code_hash, *public_key, now))
            }
            C::RevokeTerminal { terminal } => done(self.revoke_terminal(*terminal)),
            C::NameShopper { shopper, masked_name } => done(self.name_shopper(*shopper, masked_name)),
            C::ForgetShopper { shopper } => done(self.forget_shopper(*shopper)),
            C::UnbindFunding { shopper, source } => done(self.unbind_funding(*shopper, source)),
            C::IssuePaymentCode { shopper, code_hash, expires_at } => {
                done(self.issue_payment_code(*shopper, *code_hash, *expires_at, now))
            }
            C::RecordAudit(event) => done(self.record_audit(event.clone(), now)),
            C::SetShopperTier { shopper, tier } => done(self.set_shopper_tier(*shopper, *tier)),
            C::RecordConsent { shopper, text_version } => {
                done(self.record_consent(*shopper, text_version, now))
            }
            C::SetTransitScheme(scheme) => done(self.set_transit_scheme(scheme)),
            C::RegisterGate { terminal, place } => done(self.register_gate(*terminal, place)),
            C::RecordPassages(passages) => self.record_passages(passages, now).map(Reply::Passages),
            C::AdmitByCode { gate, code_hash } => self.admit_by_code(*gate, code_hash, now).map(Reply::Rider),
            C::CollectAtGate { rider, gate } => done(self.collect_at_gate(*rider, *gate, now)),
            C::ClaimJourney { rider, entry, station } => done(self.claim_journey(*rider, *entry, station)),
        }
    }

    /// What comparing a typed PIN needs, taken out of the core so that the slow hash runs
    /// without holding whatever guards the core (a node's writer waits on that lock).
    pub fn pin_check(&self, payment: PaymentId, now: Timestamp) -> Result<PinCheck, CoreError> {
        let (shopper, hash, guard) = self.pin_awaited(payment)?;
        Ok(PinCheck { payment, shopper, sealed_hash: hash.clone(), locked: guard.is_locked(now) })
    }
}

/// A payment's shopper, their sealed PIN hash and lock state, as `PaymentCore::pin_check`
/// found them; the caller opens the hash with the shopper's key.
#[derive(Debug, Clone)]
pub struct PinCheck {
    payment: PaymentId,
    shopper: ShopperId,
    sealed_hash: Sealed,
    locked: bool,
}

impl PinCheck {
    pub fn shopper(&self) -> ShopperId {
        self.shopper
    }

    /// The PIN hash to open under the shopper's key.
    pub fn sealed_hash(&self) -> &Sealed {
        &self.sealed_hash
    }

    /// Compares `typed` with the opened `hash` (a locked shopper's try never matches) and
    /// returns the command that records the verdict.
    pub fn verdict(&self, hash: &PinHash, typed: &str) -> Result<Command, CoreError> {
        let pin = Pin::parse(typed)?;
        let matched = !self.locked && hash.matches(&pin);
        Ok(Command::PinChecked { payment: self.payment, matched })
    }
}
