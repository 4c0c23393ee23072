//! Deterministic simulation of the payment core: many shoppers, terminals and retries against
//! the engine, with lost responses, outcome timeouts, racing refunds, limit races, clock jumps and
//! crashes (the engine rebuilt from its durable command log), checking after every step that the
//! ledger balances and nothing was charged twice. One seed replays one run exactly.
//!
//! Must never: read the wall clock or ambient randomness (the seed is the only source), or
//! touch a real database, network or model.

use facepay_domain::{Currency, MerchantId, Money, PaymentId, ShopperId, TerminalId, Timestamp};
use facepay_ledger::{AccountId, PendingState, TransferId};
use facepay_payments::{
    AcquirerId, CoreConfig, Identification, LimitTable, MerchantRisk, PaymentCore, PaymentState, PinPolicy,
    RiskConfig, StartPayment, TransactionType,
};

const SHOPPERS: u128 = 6;
const MERCHANTS: u128 = 2;
const TERMINALS: u128 = 4;
const OUTCOME_TIMEOUT_MS: i64 = 30_000;
const HOLD_TIMEOUT_MS: u64 = 120_000;
const FUNDING_SOURCE: AccountId = AccountId(1);
const RESERVE: AccountId = AccountId(2);

/// SplitMix64: tiny, fast, and the same numbers for the same seed on every machine.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One thing that happens to the switch. The log of these is the durable state.
#[derive(Debug, Clone)]
enum Command {
    Start(StartPayment),
    Capture(PaymentId),
    Void(PaymentId),
    Reverse(PaymentId),
    Refund { payment: PaymentId, refund: TransferId, amount_minor: i64 },
    Sweep,
}

/// A broken invariant, with the seed and step that show it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seed {seed}, step {step}: {what} (replay: cargo run -p facepay-sim -- --seeds 1 --start {seed})")]
pub struct Violation {
    pub seed: u64,
    pub step: usize,
    pub what: String,
}

/// What one seed did, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub payments: usize,
    pub captured: usize,
    pub refunds: usize,
    pub crashes: usize,
}

fn eur() -> Currency {
    Currency::new("EUR").expect("a valid code")
}

fn wallet(shopper: u128) -> AccountId {
    AccountId(1_000 + shopper)
}

fn merchant_account(merchant: u128) -> AccountId {
    AccountId(2_000 + merchant)
}

const TOP_UP_MINOR: i64 = 20_000;

/// The world every seed starts from: merchants, terminals, shoppers with funded wallets.
fn fresh_core() -> PaymentCore {
    let config = CoreConfig {
        currency: eur(),
        limits: LimitTable::default(),
        pin_policy: PinPolicy { always: false, above_amount_minor: None, on_elevated_risk: false },
        outcome_timeout_ms: OUTCOME_TIMEOUT_MS,
        hold_timeout_ms: HOLD_TIMEOUT_MS,
        funding_source: FUNDING_SOURCE,
        reserve_account: RESERVE,
        risk: RiskConfig::default(),
    };
    let mut core = PaymentCore::new(config);
    let start = Timestamp::from_unix_ms(0);
    for m in 0..MERCHANTS {
        core.register_merchant(
            MerchantId::from_u128(m),
            AcquirerId(1),
            MerchantRisk::Low,
            merchant_account(m),
        )
        .expect("fresh");
    }
    for t in 0..TERMINALS {
        core.register_terminal(TerminalId::from_u128(t), MerchantId::from_u128(t % MERCHANTS))
            .expect("fresh");
    }
    for s in 0..SHOPPERS {
        let shopper = ShopperId::from_u128(s);
        core.enroll_shopper(shopper, &format!("{:04}", s % 3)).expect("fresh");
        core.bind_wallet(shopper, wallet(s), true).expect("fresh");
        core.top_up(wallet(s), TOP_UP_MINOR, TransferId(s), start).expect("fresh");
    }
    core
}

fn apply(core: &mut PaymentCore, command: &Command, now: Timestamp) {
    // Refusals are part of the traffic (late captures, refunds too large); they change nothing,
    // which the invariants check.
    let _ = match command {
        Command::Start(request) => core.start_payment(request.clone(), now).map(drop),
        Command::Capture(id) => core.capture(*id, now).map(drop),
        Command::Void(id) => core.void(*id, now).map(drop),
        Command::Reverse(id) => core.reverse(*id, now).map(drop),
        Command::Refund { payment, refund, amount_minor } => {
            core.refund(*payment, *refund, *amount_minor, now).map(drop)
        }
        Command::Sweep => {
            core.sweep(now);
            Ok(())
        }
    };
}

/// Runs one seed for `steps` steps; the first broken invariant ends it.
pub fn run_seed(seed: u64, steps: usize) -> Result<SeedReport, Violation> {
    let mut rng = Rng(seed);
    let mut core = fresh_core();
    let mut log: Vec<(Command, Timestamp)> = Vec::new();
    let mut sent: Vec<StartPayment> = Vec::new();
    let mut now = Timestamp::from_unix_ms(1);
    let mut report = SeedReport::default();
    let mut next_refund = 1_000_000u128;
    for step in 0..steps {
        let violation = |what: String| Violation { seed, step, what };
        let command = match rng.below(100) {
            0..=34 => {
                // A new payment, or a terminal retrying one it sent before (same key, same body).
                if !sent.is_empty() && rng.chance(30) {
                    Command::Start(sent[rng.below(sent.len() as u64) as usize].clone())
                } else {
                    let id = sent.len() as u128 + 1;
                    let shopper = ShopperId::from_u128(u128::from(rng.below(SHOPPERS as u64)));
                    let identification = match rng.below(10) {
                        0 => Identification::NoMatch,
                        1 => Identification::Ambiguous(vec![shopper, ShopperId::from_u128(0)]),
                        _ => Identification::Match(shopper),
                    };
                    let terminal = TerminalId::from_u128(u128::from(rng.below(TERMINALS as u64)));
                    let request = StartPayment {
                        payment_id: PaymentId::from_u128(id),
                        terminal,
                        idempotency_key: format!("{seed}-{id}"),
                        amount: Money::new(1 + rng.below(9_000) as i64, eur()),
                        transaction_type: TransactionType::Purchase,
                        liveness_passed: !rng.chance(5),
                        identification,
                    };
                    sent.push(request.clone());
                    report.payments += 1;
                    Command::Start(request)
                }
            }
            35..=59 if !sent.is_empty() => Command::Capture(pick(&mut rng, &sent)),
            60..=64 if !sent.is_empty() => Command::Void(pick(&mut rng, &sent)),
            65..=69 if !sent.is_empty() => Command::Reverse(pick(&mut rng, &sent)),
            70..=84 if !sent.is_empty() => {
                // Refunds race: sometimes a retry of an earlier refund id, sometimes a fresh one.
                let refund = if rng.chance(30) && next_refund > 1_000_000 {
                    TransferId(1_000_000 + u128::from(rng.below((next_refund - 1_000_000) as u64)))
                } else {
                    next_refund += 1;
                    TransferId(next_refund - 1)
                };
                report.refunds += 1;
                Command::Refund {
                    payment: pick(&mut rng, &sent),
                    refund,
                    amount_minor: 1 + rng.below(6_000) as i64,
                }
            }
            85..=94 => {
                // Time passes: usually a little, sometimes a jump past every timeout.
                let jump =
                    if rng.chance(10) { 10 * HOLD_TIMEOUT_MS as i64 } else { rng.below(20_000) as i64 };
                now = now.plus_ms(jump);
                Command::Sweep
            }
            _ => {
                // A crash: in-memory state is lost, the engine is rebuilt from the durable log.
                let mut rebuilt = fresh_core();
                for (command, at) in &log {
                    apply(&mut rebuilt, command, *at);
                }
                if !same_state(&rebuilt, &core) {
                    return Err(violation("replaying the command log did not rebuild the same state".into()));
                }
                core = rebuilt;
                report.crashes += 1;
                continue;
            }
        };
        apply(&mut core, &command, now);
        log.push((command, now));
        check(&core).map_err(violation)?;
    }
    // Let every timeout pass: every hold must end, no payment may stay authorized.
    now = now.plus_ms(10 * HOLD_TIMEOUT_MS as i64);
    core.sweep(now);
    check(&core).map_err(|what| Violation { seed, step: steps, what })?;
    for payment in core.payments() {
        let step = steps;
        if payment.state == PaymentState::Authorized {
            return Err(Violation {
                seed,
                step,
                what: format!("{} is still authorized after every timeout", payment.id),
            });
        }
        if let Some(hold) = core.hold_of(payment.id)
            && core.ledger().pending_state(hold) == Some(PendingState::Held)
        {
            return Err(Violation { seed, step, what: format!("the hold of {} never ended", payment.id) });
        }
        if matches!(payment.state, PaymentState::Captured { .. }) {
            report.captured += 1;
        }
    }
    Ok(report)
}

fn pick(rng: &mut Rng, sent: &[StartPayment]) -> PaymentId {
    sent[rng.below(sent.len() as u64) as usize].payment_id
}

/// The invariants, checked after every step.
fn check(core: &PaymentCore) -> Result<(), String> {
    core.ledger().verify().map_err(|broken| format!("ledger: {broken}"))?;
    // Money conservation: what merchants hold is exactly what payments captured and kept.
    let mut kept_by_payments: i128 = 0;
    for payment in core.payments() {
        if let PaymentState::Captured { refunded_minor } = payment.state {
            if refunded_minor > payment.amount.amount_minor || refunded_minor < 0 {
                return Err(format!("{} refunded {refunded_minor} of {}", payment.id, payment.amount));
            }
            kept_by_payments += i128::from(payment.amount.amount_minor - refunded_minor);
        }
    }
    let merchants: i128 = (0..MERCHANTS).map(|m| balance(core, merchant_account(m))).sum();
    if merchants != kept_by_payments {
        return Err(format!("merchants hold {merchants} but captured payments kept {kept_by_payments}"));
    }
    let wallets: i128 = (0..SHOPPERS).map(|s| balance(core, wallet(s))).sum();
    let topped_up = i128::from(TOP_UP_MINOR) * SHOPPERS as i128;
    if wallets + merchants != topped_up {
        return Err(format!(
            "wallets {wallets} + merchants {merchants} != top-ups {topped_up}: money appeared or vanished"
        ));
    }
    Ok(())
}

fn balance(core: &PaymentCore, account: AccountId) -> i128 {
    core.ledger().account(account).map_or(0, |a| a.posted_balance())
}

/// Two engines hold the same money and the same payments.
fn same_state(a: &PaymentCore, b: &PaymentCore) -> bool {
    let accounts_match = a.ledger().accounts().all(|account| b.ledger().account(account.id) == Some(account));
    let payments_match = a.payments().all(|payment| b.payment(payment.id) == Some(payment));
    accounts_match && payments_match && a.ledger().journal() == b.ledger().journal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_exactly() {
        assert_eq!(run_seed(42, 300), run_seed(42, 300));
        assert_ne!(run_seed(42, 300), run_seed(43, 300), "different seeds explore different runs");
    }

    #[test]
    fn a_thousand_seeds_find_no_violation() {
        let mut total = SeedReport::default();
        for seed in 0..1_000 {
            let report = run_seed(seed, 200).unwrap_or_else(|violation| panic!("{violation}"));
            total.payments += report.payments;
            total.captured += report.captured;
            total.refunds += report.refunds;
            total.crashes += report.crashes;
        }
        // The traffic really exercised the paths the invariants guard.
        assert!(total.captured > 5_000 && total.refunds > 10_000 && total.crashes > 1_000, "{total:?}");
    }

    #[test]
    fn the_money_check_catches_money_that_appears_from_nowhere() {
        let mut core = fresh_core();
        assert_eq!(check(&core), Ok(()));
        // A top-up outside the simulated world: the conservation check must notice.
        core.top_up(wallet(0), 1, TransferId(77_777), Timestamp::from_unix_ms(1)).unwrap();
        assert!(check(&core).unwrap_err().contains("money appeared or vanished"));
    }
}
