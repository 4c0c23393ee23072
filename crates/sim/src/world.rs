//! The world every seed starts from: two merchants of one acquirer, four terminals, six shoppers
//! (four pay from wallets here, two from accounts at an external bank), a funded reserve.

use facepay_domain::{Currency, MerchantId, ShopperId, TerminalId, Timestamp};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    AcquirerId, Command, CoreConfig, IssuerId, JournaledCore, Limit, LimitTable, MemoryJournal, MerchantRisk,
    PinPolicy, RiskConfig,
};

pub const SHOPPERS: u128 = 6;
pub const MERCHANTS: u128 = 2;
pub const TERMINALS: u128 = 4;
pub const OUTCOME_TIMEOUT_MS: i64 = 30_000;
pub const HOLD_TIMEOUT_MS: u64 = 120_000;
pub const FUNDING_SOURCE: AccountId = AccountId(1);
pub const RESERVE: AccountId = AccountId(2);
pub const BANK: IssuerId = IssuerId(1);
pub const BANK_CLEARING: AccountId = AccountId(3);
pub const TOP_UP_MINOR: i64 = 20_000;
pub const RESERVE_FUNDING_MINOR: i64 = 1_000_000;
/// Tight enough that payments (up to 9,000) race for the day's allowance.
pub const SHOPPER_LIMIT: Limit = Limit { per_transaction_minor: 8_000, daily_minor: 25_000 };

pub fn eur() -> Currency {
    Currency::new("EUR").expect("a valid code")
}

/// Shoppers from this one on pay from their account at the external bank.
const FIRST_BANK_SHOPPER: u128 = 4;

pub fn pays_by_bank(shopper: ShopperId) -> bool {
    shopper.as_u128() >= FIRST_BANK_SHOPPER
}

pub fn wallet(shopper: u128) -> AccountId {
    AccountId(1_000 + shopper)
}

pub fn merchant_account(merchant: u128) -> AccountId {
    AccountId(2_000 + merchant)
}

pub fn limits() -> LimitTable {
    LimitTable { shopper_standard: SHOPPER_LIMIT, ..LimitTable::default() }
}

pub fn config() -> CoreConfig {
    CoreConfig {
        currency: eur(),
        limits: limits(),
        pin_policy: PinPolicy { always: false, above_amount_minor: None, on_elevated_risk: false },
        outcome_timeout_ms: OUTCOME_TIMEOUT_MS,
        hold_timeout_ms: HOLD_TIMEOUT_MS,
        funding_source: FUNDING_SOURCE,
        reserve_account: RESERVE,
        risk: RiskConfig::default(),
    }
}

/// A node on `journal` with the world set up, through the journal like everything after it.
pub fn fresh_node(journal: MemoryJournal) -> JournaledCore<MemoryJournal> {
    let mut node = JournaledCore::open(config(), journal).expect("the memory journal opens");
    let start = Timestamp::from_unix_ms(0);
    let mut setup = vec![
        Command::RegisterIssuer { issuer: BANK, clearing_account: BANK_CLEARING },
        Command::FundReserve {
            amount_minor: RESERVE_FUNDING_MINOR,
            transfer_id: TransferId(u128::from(u64::MAX)),
        },
    ];
    for m in 0..MERCHANTS {
        setup.push(Command::RegisterMerchant {
            merchant: MerchantId::from_u128(m),
            acquirer: AcquirerId(1),
            risk: MerchantRisk::Low,
            account: merchant_account(m),
        });
    }
    for t in 0..TERMINALS {
        setup.push(Command::RegisterTerminal {
            terminal: TerminalId::from_u128(t),
            merchant: MerchantId::from_u128(t % MERCHANTS),
        });
    }
    for s in 0..SHOPPERS {
        let shopper = ShopperId::from_u128(s);
        setup.push(Command::EnrollShopper { shopper, phone_last4: format!("{:04}", s % 3) });
        if pays_by_bank(shopper) {
            setup.push(Command::BindBankAccount {
                shopper,
                issuer: BANK,
                reference: format!("tok_{s}"),
                make_default: true,
            });
        } else {
            setup.push(Command::BindWallet { shopper, account: wallet(s), make_default: true });
            setup.push(Command::TopUp {
                account: wallet(s),
                amount_minor: TOP_UP_MINOR,
                transfer_id: TransferId(s),
            });
        }
    }
    let replies = node.execute_all(setup.into_iter().map(|command| (command, start)).collect());
    for reply in replies.expect("the memory journal commits") {
        reply.expect("the world's commands are accepted");
    }
    node
}

/// The wallets topped up at the start.
pub fn wallet_shoppers() -> impl Iterator<Item = u128> {
    (0..SHOPPERS).filter(|&s| !pays_by_bank(ShopperId::from_u128(s)))
}
