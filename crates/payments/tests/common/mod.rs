//! The world the payment-core tests start from, shared by every test file: one merchant with
//! one terminal, and two shoppers with funded wallets.

#![allow(dead_code)] // each test file uses its own part of this

use facepay_domain::{Currency, MerchantId, Money, PaymentId, ShopperId, TerminalId, Timestamp};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    AcquirerId, CoreConfig, Identification, LimitTable, MerchantRisk, PaymentCore, Pin, PinPolicy, Retention,
    RiskConfig, StartPayment, TransactionType,
};

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
    core.enroll_shopper(ALICE, "1234").unwrap();
    core.bind_wallet(ALICE, ALICE_BANK_A, true).unwrap();
    core.bind_wallet(ALICE, ALICE_BANK_B, false).unwrap();
    core.top_up(ALICE_BANK_A, 10_000, TransferId(1), at(0)).unwrap();
    core.set_pin(ALICE, &Pin::choose("271828").unwrap(), *b"salt for tests!!").unwrap();
    core.enroll_shopper(BOB, "1234").unwrap();
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
