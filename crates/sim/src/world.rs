//! The world every seed starts from: two merchants of one acquirer, four terminals, six shoppers
//! (four pay from wallets here, two from accounts at an external bank), and a reserve. The
//! reserve, the shoppers' limit and the timeouts are drawn per seed (`World`), so an empty
//! reserve, an exhausted day and a hold that expires just after its payment's outcome timeout
//! are all reached.

use crate::Rng;
use facepay_domain::{
    Currency, KeyedDigest, MerchantId, Sealed, ShopperId, SplitMix64, TerminalId, Timestamp,
};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    AcquirerId, CheckpointPolicy, Command, CoreConfig, IssuerId, JournalError, JournaledCore, Limit,
    LimitTable, MemoryJournal, MerchantRisk, PinPolicy, Retention, RiskConfig, bank_account_digest_input,
};

pub const SHOPPERS: u128 = 6;
pub const MERCHANTS: u128 = 2;
pub const TERMINALS: u128 = 4;
pub const FUNDING_SOURCE: AccountId = AccountId(1);
pub const RESERVE: AccountId = AccountId(2);
pub const BANK: IssuerId = IssuerId(1);
pub const BANK_CLEARING: AccountId = AccountId(3);
pub const TOP_UP_MINOR: i64 = 20_000;

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

/// What one seed's world is made of beyond the fixed parties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct World {
    pub outcome_timeout_ms: i64,
    /// Longer than the outcome timeout, sometimes by a single millisecond.
    pub hold_timeout_ms: u64,
    /// What the reserve starts with; zero leaves every compensation to be refused.
    pub reserve_minor: i64,
    /// The shoppers' limit, always tight enough that payments (up to 9,000) race for it.
    pub shopper_limit: Limit,
    /// Every how many entries the node checkpoints (0: never, so restarts replay everything).
    pub checkpoint_every: u64,
    /// Whether each checkpoint is followed by pruning the journal behind the older one.
    pub prune: bool,
    /// How long the core keeps payments, keys and transfers.
    pub retention: Retention,
}

impl World {
    /// The world of the first wave's simulator, for the unit tests.
    #[cfg(test)]
    pub const STANDARD: World = World {
        outcome_timeout_ms: 30_000,
        hold_timeout_ms: 120_000,
        reserve_minor: 1_000_000,
        shopper_limit: Limit { per_transaction_minor: 8_000, daily_minor: 25_000 },
        checkpoint_every: 0,
        prune: false,
        retention: Retention::DEFAULT,
    };

    /// A world drawn from the seed's generator.
    pub fn draw(rng: &mut Rng) -> World {
        let mut pick = |choices: &[i64]| choices[rng.below(choices.len() as u64) as usize];
        let outcome_timeout_ms = pick(&[2_000, 30_000, 90_000]);
        let hold_timeout_ms = (outcome_timeout_ms + pick(&[1, 10_000, 100_000])) as u64;
        let reserve_minor = pick(&[0, 4_000, 30_000, 1_000_000]);
        let per_transaction_minor = pick(&[3_000, 8_000, 9_000]);
        let daily_minor = per_transaction_minor.max(pick(&[8_000, 25_000, 100_000]));
        let shopper_limit = Limit { per_transaction_minor, daily_minor };
        let checkpoint_every = pick(&[0, 3, 25]) as u64;
        let prune = pick(&[0, 1]) == 1;
        // Windows a run outlives, so the core forgets payments the checks then read from the
        // store, and the default ones, which most runs do not outlive.
        let retention = match pick(&[0, 1, 2]) {
            0 => Retention::DEFAULT,
            1 => Retention { idempotency_ms: 60_000, refund_window_ms: 600_000 },
            _ => Retention { idempotency_ms: 5_000, refund_window_ms: 40_000 },
        };
        World {
            outcome_timeout_ms,
            hold_timeout_ms,
            reserve_minor,
            shopper_limit,
            checkpoint_every,
            prune,
            retention,
        }
    }

    pub fn limits(&self) -> LimitTable {
        LimitTable { shopper_standard: self.shopper_limit, ..LimitTable::default() }
    }

    pub fn config(&self) -> CoreConfig {
        CoreConfig {
            currency: eur(),
            // The world's limits are the operator's, set by a journaled command (`fresh_node`),
            // so every restart from a checkpoint must keep them.
            limits: LimitTable::default(),
            pin_policy: PinPolicy { always: false, above_amount_minor: None, on_elevated_risk: false },
            outcome_timeout_ms: self.outcome_timeout_ms,
            hold_timeout_ms: self.hold_timeout_ms,
            funding_source: FUNDING_SOURCE,
            reserve_account: RESERVE,
            risk: RiskConfig::default(),
            retention: self.retention,
        }
    }

    /// A node on `journal` as it starts: from the newest usable checkpoint and the entries after it.
    pub fn open_node(&self, journal: MemoryJournal) -> Result<JournaledCore<MemoryJournal>, JournalError> {
        let mut node = JournaledCore::open(self.config(), journal)?;
        let every_entries = self.checkpoint_every;
        node.set_checkpoint_policy(CheckpointPolicy { every_entries, every_ms: 0, prune: self.prune });
        Ok(node)
    }

    /// A node on `journal` with the world set up, through the journal like everything after it.
    pub fn fresh_node(&self, journal: MemoryJournal) -> JournaledCore<MemoryJournal> {
        let mut node = self.open_node(journal).expect("the memory journal opens");
        let start = Timestamp::from_unix_ms(0);
        let mut setup = vec![
            Command::SetLimitTable { table: self.limits() },
            Command::RegisterIssuer {
                issuer: BANK,
                clearing_account: BANK_CLEARING,
                verifies_accounts: false,
            },
        ];
        if self.reserve_minor > 0 {
            let transfer_id = TransferId(u128::from(u64::MAX));
            setup.push(Command::FundReserve { amount_minor: self.reserve_minor, transfer_id });
        }
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
            let digits = phone_digits(shopper);
            let phone_digest = digest(shopper, digits.as_bytes());
            setup.push(Command::EnrollShopper { shopper, phone: sealed(&digits), phone_digest });
            if pays_by_bank(shopper) {
                let reference = format!("tok_{s}");
                setup.push(Command::BindBankAccount {
                    shopper,
                    issuer: BANK,
                    account: digest(shopper, &bank_account_digest_input(BANK, &reference)),
                    reference: sealed(&reference),
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
}

/// The wallets topped up at the start.
/// The last 4 digits of the shopper's phone: three shoppers share each.
pub fn phone_digits(shopper: ShopperId) -> String {
    format!("{:04}", shopper.as_u128() % 3)
}

/// The simulator stands in for the vault: a "sealed" field is its text's bytes, and a digest
/// mixes the shopper (whose key it would be under) with the value. The core only keeps, bounds
/// and compares them.
pub fn sealed(text: &str) -> Sealed {
    Sealed::from_bytes(text.as_bytes().to_vec())
}

pub fn digest(shopper: ShopperId, value: &[u8]) -> KeyedDigest {
    let mut state = shopper.as_u128() as u64;
    for &byte in value {
        state = SplitMix64::new(state ^ u64::from(byte)).next_u64();
    }
    let mut mix = SplitMix64::new(state);
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&mix.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&mix.next_u64().to_le_bytes());
    KeyedDigest(bytes)
}

pub fn wallet_shoppers() -> impl Iterator<Item = u128> {
    (0..SHOPPERS).filter(|&s| !pays_by_bank(ShopperId::from_u128(s)))
}
