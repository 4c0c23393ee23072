//! The world the payment-core tests start from, shared by every test file: one merchant with
//! one terminal, and two shoppers with funded wallets.

#![allow(dead_code)] // each test file uses its own part of this

use facepay_domain::{
    Currency, KeyedDigest, MerchantId, Money, PaymentId, Sealed, ShopperId, TerminalId, Timestamp,
};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    AcquirerId, BucketMatch, Command, CoreConfig, CoreError, FundingSource, Identification, IssuerId,
    LimitTable, MerchantRisk, PaymentCore, PaymentView, Pin, PinHash, PinPolicy, Retention, RiskConfig,
    StartPayment, TransactionType, bank_account_digest_input,
};
use sha2::{Digest, Sha256};

pub const ACQUIRER: AcquirerId = AcquirerId(7);
pub const RESERVE: AccountId = AccountId(2);
pub const MERCHANT: MerchantId = MerchantId::from_u128(10);
pub const MERCHANT_ACCOUNT: AccountId = AccountId(10);
pub const TERMINAL: TerminalId = TerminalId::from_u128(20);
pub const ALICE: ShopperId = ShopperId::from_u128(1);
pub const ALICE_BANK_A: AccountId = AccountId(101);
pub const ALICE_BANK_B: AccountId = AccountId(102);
pub const BOB: ShopperId = ShopperId::from_u128(2);
pub const BOB_WALLET: AccountId = AccountId(201);
pub const OUTCOME_TIMEOUT_MS: i64 = 30_000;
pub const HOLD_TIMEOUT_MS: u64 = 600_000;

pub fn eur() -> Currency {
    Currency::new("EUR").unwrap()
}

pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_800_000_000_000 + ms)
}

pub fn config(pin_policy: PinPolicy) -> CoreConfig {
    CoreConfig {
        currency: eur(),
        limits: LimitTable::default(),
        pin_policy,
        outcome_timeout_ms: OUTCOME_TIMEOUT_MS,
        hold_timeout_ms: HOLD_TIMEOUT_MS,
        funding_source: AccountId(1),
        reserve_account: RESERVE,
        risk: RiskConfig::default(),
        retention: Retention::DEFAULT,
    }
}

pub const NO_PIN: PinPolicy = PinPolicy { always: false, above_amount_minor: None, on_elevated_risk: false };

/// One merchant with one terminal; Alice (two banks, 10,000 in A, PIN 271828, phone ..1234) and
/// Bob (one wallet with 5,000, phone ..1234 too, no PIN).
pub fn core(pin_policy: PinPolicy) -> PaymentCore {
    core_with(config(pin_policy))
}

/// The same world under another configuration.
pub fn core_with(config: CoreConfig) -> PaymentCore {
    let mut core = PaymentCore::new(config);
    core.register_merchant(MERCHANT, ACQUIRER, MerchantRisk::Low, MERCHANT_ACCOUNT).unwrap();
    core.register_terminal(TERMINAL, MERCHANT).unwrap();
    enroll(&mut core, ALICE, "1234").unwrap();
    core.bind_wallet(ALICE, ALICE_BANK_A, true).unwrap();
    core.bind_wallet(ALICE, ALICE_BANK_B, false).unwrap();
    core.top_up(ALICE_BANK_A, 10_000, TransferId(1), at(0)).unwrap();
    set_pin(&mut core, ALICE, "271828");
    enroll(&mut core, BOB, "1234").unwrap();
    core.bind_wallet(BOB, BOB_WALLET, true).unwrap();
    core.top_up(BOB_WALLET, 5_000, TransferId(2), at(0)).unwrap();
    core
}

pub fn pay(id: u128, amount: i64, who: Identification) -> StartPayment {
    StartPayment {
        payment_id: PaymentId::from_u128(id),
        terminal: TERMINAL,
        idempotency_key: format!("key-{id}"),
        amount: Money::new(amount, eur()),
        transaction_type: TransactionType::Purchase,
        liveness_passed: true,
        identification: who,
        order_id: None,
    }
}

pub fn balance(core: &PaymentCore, account: AccountId) -> i128 {
    core.ledger().account(account).unwrap().posted_balance()
}

pub fn available(core: &PaymentCore, account: AccountId) -> i128 {
    core.ledger().account(account).unwrap().available_to_debit().unwrap()
}

/// The tests stand in for the vault, whose keys the core never sees: a "sealed" field is its
/// text's bytes and a digest hashes the shopper with the text. The core only keeps, bounds and
/// compares them, which is what these tests check.
pub fn sealed(text: &str) -> Sealed {
    Sealed::from_bytes(text.as_bytes().to_vec())
}

pub fn digest(shopper: ShopperId, text: &[u8]) -> KeyedDigest {
    let hash = Sha256::new().chain_update(shopper.as_u128().to_be_bytes()).chain_update(text).finalize();
    KeyedDigest(hash[..16].try_into().expect("16 of 32 bytes"))
}

/// Signs `shopper` up with the last 4 digits of their phone.
pub fn enroll(core: &mut PaymentCore, shopper: ShopperId, digits: &str) -> Result<(), CoreError> {
    core.enroll_shopper(shopper, &sealed(digits), digest(shopper, digits.as_bytes()))
}

/// An account at `issuer`, as the shopper's record names it.
pub fn bank_account(shopper: ShopperId, issuer: IssuerId, reference: &str) -> FundingSource {
    FundingSource::BankAccount {
        issuer,
        account: digest(shopper, &bank_account_digest_input(issuer, reference)),
    }
}

pub fn bind_bank(
    core: &mut PaymentCore,
    shopper: ShopperId,
    issuer: IssuerId,
    reference: &str,
    make_default: bool,
) -> Result<(), CoreError> {
    let FundingSource::BankAccount { account, .. } = bank_account(shopper, issuer, reference) else {
        unreachable!("a bank account")
    };
    core.bind_bank_account(shopper, issuer, account, &sealed(reference), make_default, at(0))
}

pub fn set_pin(core: &mut PaymentCore, shopper: ShopperId, pin: &str) {
    let hash = PinHash::new(&Pin::choose(pin).unwrap(), *b"salt for tests!!");
    core.set_pin_hash(shopper, &Sealed::from_bytes(hash.to_bytes())).unwrap();
}

/// Types a PIN as the API does: the hash "opened", compared off the core, the verdict applied.
pub fn provide_pin(
    core: &mut PaymentCore,
    id: PaymentId,
    typed: &str,
    now: Timestamp,
) -> Result<PaymentView, CoreError> {
    let check = core.pin_check(id, now)?;
    let hash = PinHash::from_bytes(check.sealed_hash().as_bytes()).expect("a PIN hash");
    let Command::PinChecked { matched, .. } = check.verdict(&hash, typed)? else { unreachable!("a verdict") };
    core.pin_checked(id, matched, now)
}

/// Types phone digits as the API does once it searched their bucket: `found` is the bucket's
/// match (strong enough to pay without the PIN), and the digits are digested under its key.
pub fn provide_digits(
    core: &mut PaymentCore,
    id: PaymentId,
    found: Option<ShopperId>,
    typed: &str,
    now: Timestamp,
) -> Result<PaymentView, CoreError> {
    let found = found.map(|shopper| BucketMatch {
        shopper,
        digest: digest(shopper, typed.as_bytes()),
        pin_required: false,
    });
    core.provide_phone_digits(id, found.as_ref(), now)
}
