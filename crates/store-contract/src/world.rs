//! The small world every contract test starts from, built only through journaled commands:
//! one merchant with two terminals, one external bank, and three shoppers (Alice and Bob share
//! no phone digits; Carol has a PIN).

use facepay_domain::{
    Currency, KeyedDigest, MerchantId, Money, PaymentId, Sealed, ShopperId, TerminalId, Timestamp,
};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    AcquirerId, BucketMatch, Command, CoreConfig, CountRule, FundingSource, Identification, IssuerId,
    LimitTable, MerchantRisk, Pin, PinHash, PinPolicy, Retention, RiskConfig, StartPayment, TransactionType,
    bank_account_digest_input,
};

pub const MERCHANT: MerchantId = MerchantId::from_u128(10);
pub const MERCHANT_ACCOUNT: AccountId = AccountId(10);
pub const TERMINAL_A: TerminalId = TerminalId::from_u128(20);
pub const TERMINAL_B: TerminalId = TerminalId::from_u128(21);
pub const BANK: IssuerId = IssuerId(3);
pub const BANK_CLEARING: AccountId = AccountId(3_000);
pub const ALICE: ShopperId = ShopperId::from_u128(1);
pub const ALICE_WALLET: AccountId = AccountId(101);
pub const BOB: ShopperId = ShopperId::from_u128(2);
pub const CAROL: ShopperId = ShopperId::from_u128(3);
pub const CAROL_WALLET: AccountId = AccountId(301);
pub const CAROL_PIN: &str = "271828";
/// Payments above this ask for the PIN.
pub const PIN_ABOVE_MINOR: i64 = 5_000;
pub const OUTCOME_TIMEOUT_MS: i64 = 30_000;
pub const DAY_MS: i64 = 86_400_000;
pub const ALICE_TOP_UP_MINOR: i64 = 100_000_000;

pub fn eur() -> Currency {
    Currency::new("EUR").expect("a valid currency")
}

pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_800_000_000_000 + ms)
}

pub fn config() -> CoreConfig {
    CoreConfig {
        currency: eur(),
        limits: LimitTable::default(),
        pin_policy: PinPolicy {
            always: false,
            above_amount_minor: Some(PIN_ABOVE_MINOR),
            on_elevated_risk: false,
        },
        outcome_timeout_ms: OUTCOME_TIMEOUT_MS,
        hold_timeout_ms: 600_000,
        funding_source: AccountId(1),
        reserve_account: AccountId(2),
        // The contract is about storage: the races run many payments a minute, which the
        // default velocity rules would step up.
        risk: RiskConfig {
            shopper_velocity: CountRule { window_ms: 60_000, step_up_at: 1_000, decline_at: 2_000 },
            terminal_velocity: CountRule { window_ms: 60_000, step_up_at: 1_000, decline_at: 2_000 },
            ..RiskConfig::default()
        },
        retention: Retention::DEFAULT,
    }
}

/// The commands that build the world, in order; every one is accepted.
pub fn setup() -> Vec<Command> {
    let carol_pin = PinHash::new(&Pin::choose(CAROL_PIN).expect("a good PIN"), *b"contract salt 16");
    vec![
        Command::RegisterIssuer { issuer: BANK, clearing_account: BANK_CLEARING, verifies_accounts: false },
        Command::FundReserve { amount_minor: 50_000, transfer_id: TransferId(900) },
        Command::RegisterMerchant {
            merchant: MERCHANT,
            acquirer: AcquirerId(7),
            risk: MerchantRisk::Low,
            account: MERCHANT_ACCOUNT,
        },
        Command::RegisterTerminal { terminal: TERMINAL_A, merchant: MERCHANT },
        Command::RegisterTerminal { terminal: TERMINAL_B, merchant: MERCHANT },
        enroll(ALICE, "1111"),
        Command::BindWallet { shopper: ALICE, account: ALICE_WALLET, make_default: true },
        Command::TopUp {
            account: ALICE_WALLET,
            amount_minor: ALICE_TOP_UP_MINOR,
            transfer_id: TransferId(901),
        },
        enroll(BOB, "2222"),
        Command::BindBankAccount {
            shopper: BOB,
            issuer: BANK,
            account: digest(BOB, &bank_account_digest_input(BANK, BOB_REFERENCE)),
            reference: sealed(BOB_REFERENCE),
            make_default: true,
        },
        enroll(CAROL, "3333"),
        Command::BindWallet { shopper: CAROL, account: CAROL_WALLET, make_default: true },
        Command::TopUp { account: CAROL_WALLET, amount_minor: 100_000, transfer_id: TransferId(902) },
        Command::SetPinHash { shopper: CAROL, hash: Sealed::from_bytes(carol_pin.to_bytes()) },
    ]
}

/// Bob's bank's reference for his account.
pub const BOB_REFERENCE: &str = "tok_bob";

/// The contract stands in for the vault: a "sealed" field is its text's bytes, and a digest
/// folds the value into the shopper's id (whose key would make it). Stores keep them as bytes
/// and the core only compares them.
pub fn sealed(text: &str) -> Sealed {
    Sealed::from_bytes(text.as_bytes().to_vec())
}

pub fn digest(shopper: ShopperId, value: &[u8]) -> KeyedDigest {
    let mut bytes = shopper.as_u128().to_le_bytes();
    for (i, byte) in value.iter().enumerate() {
        bytes[i % 16] = bytes[i % 16].rotate_left(3) ^ byte;
    }
    KeyedDigest(bytes)
}

/// A sign-up with the last 4 digits of the shopper's phone.
pub fn enroll(shopper: ShopperId, digits: &str) -> Command {
    Command::EnrollShopper {
        shopper,
        phone: sealed(digits),
        phone_digest: digest(shopper, digits.as_bytes()),
    }
}

/// Phone digits typed for `payment`, whose bucket's search found `found`: the digits digested
/// under its key.
pub fn typed_digits(payment: PaymentId, found: ShopperId, digits: &str) -> Command {
    let digest = digest(found, digits.as_bytes());
    Command::ProvidePhoneDigits {
        payment,
        found: Some(BucketMatch { shopper: found, digest, pin_required: false }),
    }
}

/// A terminal's payment request; the idempotency key follows the payment id.
pub fn pay(id: u128, terminal: TerminalId, amount_minor: i64, who: Identification) -> StartPayment {
    StartPayment {
        payment_id: PaymentId::from_u128(id),
        terminal,
        idempotency_key: format!("order-{id}"),
        amount: Money::new(amount_minor, eur()),
        transaction_type: TransactionType::Purchase,
        liveness_passed: true,
        identification: who,
        order_id: None,
    }
}

/// Alice's wallet as a funding source.
pub fn alice_wallet() -> FundingSource {
    FundingSource::Wallet(ALICE_WALLET)
}
