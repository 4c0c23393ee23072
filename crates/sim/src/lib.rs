//! Deterministic simulation of the payment core: many shoppers, terminals and retries against
//! the engine, with lost responses, outcome timeouts, an external bank that is slow, silent or
//! repeats itself, racing refunds and disputes, limit races, clock jumps, storage writes that
//! fail, and crashes, checking after every step that the ledger balances and nothing was charged
//! twice. The engine runs as a node does in production: `payments::JournaledCore` on a journal
//! (`MemoryJournal`), so a failed write is a commit that fails after the core ran, a crash is a
//! replay of the journal, and the bank hears the outbox at least once. One seed replays one run
//! exactly, in a world drawn from it (`World`: the reserve, the limits and the timeouts).
//!
//! The write contract is checked on the whole core: every command lands in the journal; a
//! refusal leaves the core equal to what it was; a sweep when nothing is due changes nothing;
//! the writer, a replica replaying the journal and a restart hold equal cores after every step;
//! and what terminals were told (`told`) agrees with what the store's read model holds, which
//! keeps every payment after the core forgot it past its windows.
//!
//! Must never: read the wall clock or ambient randomness (the seed is the only source), or
//! touch a real database, network or model.

mod bank;
mod checks;
mod metro;
mod metro_money;
mod told;
mod world;

use std::collections::HashMap;

use facepay_domain::{Money, PaymentId, ShopperId, SplitMix64, TerminalId, Timestamp};
use facepay_ledger::TransferId;
use facepay_payments::{
    BucketMatch, Command, CoreError, DeclineReason, Dispute, DisputeId, Finding, Identification, Journal,
    JournaledCore, MemoryJournal, Outbound, PaymentCore, PaymentState, Reply, StartPayment, TransactionType,
};

use crate::checks::History;
pub use crate::metro::{MetroReport, MetroViolation, run_metro};

use crate::bank::Bank;
use crate::told::Told;
use crate::world::{SHOPPERS, TERMINALS, World, eur};

/// Seeds that broke an invariant, with the steps they need and what they caught, run by the test
/// suite for good. When a run prints a violation, fix the bug and add its seed here.
///
/// The first three were found by planting each bug in the core on purpose, to prove the checks
/// notice it; they stay as guards of those paths. The fourth was a real bug in the journal's
/// rule for which refusals to record.
pub const REGRESSION_SEEDS: &[(u64, usize, &str)] = &[
    (81, 200, "a refund racing an open dispute returned more than was captured"),
    (0, 200, "a bank that never answered was not told to release its authorization"),
    (157, 200, "a payment went 1,000 past the day's allowance"),
    (97, 200, "a capture refused as expired was not journaled, so a replaying node diverged"),
];

/// The run's seeded generator, with the two draws the simulation makes.
#[derive(Debug, Clone)]
struct Rng(SplitMix64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A broken invariant, with the seed and step that show it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "seed {seed}, step {step}: {what} (replay: cargo run -p facepay-sim -- --seeds 1 --start {seed} --steps {steps}; \
     once fixed, add ({seed}, {steps}, \"what it caught\") to REGRESSION_SEEDS in crates/sim/src/lib.rs)"
)]
pub struct Violation {
    pub seed: u64,
    pub step: usize,
    pub steps: usize,
    pub what: String,
}

/// What one seed did, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub payments: usize,
    pub captured: usize,
    pub refunds: usize,
    pub disputes: usize,
    pub bank_answers: usize,
    pub failed_writes: usize,
    pub crashes: usize,
    /// Compensations refused because the reserve could not pay.
    pub reserve_refusals: usize,
    /// Payments declined at the daily limit.
    pub daily_limit_declines: usize,
    /// Commands refused because the hold had run out first.
    pub expired_refusals: usize,
    /// Crashes after which the node started from a checkpoint, and checkpoints found corrupt.
    pub restarts_from_checkpoints: usize,
    pub corrupt_checkpoints: usize,
    /// Runs that ended with the journal pruned behind a checkpoint.
    pub pruned_runs: usize,
    /// Payments the core forgot past their windows, which only the read model holds.
    pub retired: usize,
}

impl SeedReport {
    pub fn add(&mut self, other: &SeedReport) {
        self.payments += other.payments;
        self.captured += other.captured;
        self.refunds += other.refunds;
        self.disputes += other.disputes;
        self.bank_answers += other.bank_answers;
        self.failed_writes += other.failed_writes;
        self.crashes += other.crashes;
        self.reserve_refusals += other.reserve_refusals;
        self.daily_limit_declines += other.daily_limit_declines;
        self.expired_refusals += other.expired_refusals;
        self.restarts_from_checkpoints += other.restarts_from_checkpoints;
        self.corrupt_checkpoints += other.corrupt_checkpoints;
        self.pruned_runs += other.pruned_runs;
        self.retired += other.retired;
    }

    /// Counts the outcomes that show a seed's world pushed the core to its edges.
    fn note(&mut self, reply: &Result<Reply, CoreError>) {
        match reply {
            Err(refused) if refused.code() == "reserve_insufficient" => self.reserve_refusals += 1,
            Err(refused) if refused.code() == "pending_transfer_expired" => self.expired_refusals += 1,
            Ok(Reply::Payment(view))
                if view.state == PaymentState::Declined(DeclineReason::LimitDailyExceeded) =>
            {
                self.daily_limit_declines += 1
            }
            _ => {}
        }
    }
}

/// Everything one run knows besides the engine: what terminals sent, the bank, the journal.
struct Run {
    rng: Rng,
    world: World,
    told: Told,
    /// The checkpoints this run corrupted.
    corrupted: Vec<u64>,
    sent: Vec<StartPayment>,
    shopper_of: HashMap<PaymentId, ShopperId>,
    /// The day each payment took its share of the daily limit, as the terminal saw it happen.
    reserved_on: HashMap<PaymentId, i64>,
    disputes: Vec<DisputeId>,
    bank: Bank,
    journal: MemoryJournal,
    /// Outbox messages the bank has heard but the switch has not yet marked delivered: a crash
    /// before the mark makes the restarted switch send them again.
    heard: Vec<u64>,
    /// Each dispute as the operator was last told it stands.
    disputes_told: HashMap<DisputeId, Dispute>,
    next_refund: u128,
    report: SeedReport,
}

impl Run {
    /// The next command, or `None` for a crash.
    fn next_command(&mut self, seed: u64, core: &PaymentCore, now: &mut Timestamp) -> Option<Command> {
        let rng = &mut self.rng;
        let any_sent = !self.sent.is_empty();
        Some(match rng.below(100) {
            0..=29 => {
                // A new payment, or a terminal retrying one it sent before (same key, same body).
                // A retry the core no longer holds is answered from the read model, as the API
                // does, and never reaches the core.
                if any_sent && rng.chance(30) {
                    let request = &self.sent[rng.below(self.sent.len() as u64) as usize];
                    let stored = self.journal.clone().payment_row(request.payment_id);
                    let forgotten = core.payment(request.payment_id).is_none()
                        && stored.expect("the memory journal reads").is_some();
                    if forgotten { Command::Sweep } else { Command::StartPayment(request.clone()) }
                } else {
                    let id = self.sent.len() as u128 + 1;
                    let shopper = ShopperId::from_u128(u128::from(rng.below(SHOPPERS as u64)));
                    let identification = match rng.below(10) {
                        0 => Identification::NoMatch,
                        1 => Identification::Ambiguous,
                        _ => Identification::Match(shopper),
                    };
                    let request = StartPayment {
                        payment_id: PaymentId::from_u128(id),
                        terminal: TerminalId::from_u128(u128::from(rng.below(TERMINALS as u64))),
                        idempotency_key: format!("{seed}-{id}"),
                        amount: Money::new(1 + rng.below(9_000) as i64, eur()),
                        transaction_type: TransactionType::Purchase,
                        liveness_passed: !rng.chance(5),
                        identification,
                        order_id: None,
                    };
                    self.shopper_of.insert(request.payment_id, shopper);
                    self.sent.push(request.clone());
                    self.report.payments += 1;
                    Command::StartPayment(request)
                }
            }
            30..=32 if any_sent => {
                let payment = self.pick();
                // As the API does: the payer's digits' bucket searched, and its match sent with
                // the digits digested under that shopper's key; sometimes too weak to go without
                // the PIN. Mostly the payer; sometimes nobody, or shopper 0 where their kept
                // digits differ (an index out of step with the journal), which must not pay.
                let payer = self.shopper_of[&payment];
                let digits = world::phone_digits(payer);
                let other = ShopperId::from_u128(0);
                let found = match self.rng.below(10) {
                    0 => None,
                    1 if world::phone_digits(other) != digits => Some(other),
                    _ => Some(payer),
                };
                let found = found.map(|shopper| BucketMatch {
                    shopper,
                    digest: world::digest(shopper, digits.as_bytes()),
                    pin_required: self.rng.chance(25),
                });
                Command::ProvidePhoneDigits { payment, found }
            }
            33..=39 => match self.bank.next_answer(&mut self.rng) {
                Some((payment, answer)) => {
                    self.report.bank_answers += 1;
                    Command::IssuerAnswered { payment, answer }
                }
                None => Command::Sweep,
            },
            40..=59 if any_sent => Command::Capture { payment: self.pick() },
            60..=62 if any_sent => Command::Void { payment: self.pick() },
            63..=65 if any_sent => Command::Reverse { payment: self.pick() },
            66..=76 if any_sent => {
                // Refunds race: sometimes a retry of an earlier refund id, sometimes a fresh one.
                let refund = if self.rng.chance(30) && self.next_refund > 1_000_000 {
                    let earlier = self.rng.below((self.next_refund - 1_000_000) as u64);
                    TransferId(1_000_000 + u128::from(earlier))
                } else {
                    self.next_refund += 1;
                    TransferId(self.next_refund - 1)
                };
                self.report.refunds += 1;
                let amount_minor = 1 + self.rng.below(6_000) as i64;
                Command::Refund { payment: self.pick(), refund_id: refund, amount_minor }
            }
            77..=81 if any_sent => self.dispute_command(),
            82..=95 => {
                // Time passes: usually a little, sometimes past every timeout, now and then to
                // another day (the daily limits start again).
                let jump = match rng.below(100) {
                    0..=2 => 6 * 3_600_000,
                    3..=12 => 10 * self.world.hold_timeout_ms as i64,
                    _ => rng.below(20_000) as i64,
                };
                *now = now.plus_ms(jump);
                Command::Sweep
            }
            96..=99 => return None,
            _ => Command::Sweep,
        })
    }

    /// Opening (or retrying the opening of) a dispute, or the operator moving one on.
    fn dispute_command(&mut self) -> Command {
        let reuse = !self.disputes.is_empty() && self.rng.chance(60);
        if !reuse {
            let dispute = DisputeId(self.disputes.len() as u128 + 1);
            self.disputes.push(dispute);
            self.report.disputes += 1;
            let amount_minor = 1 + self.rng.below(5_000) as i64;
            return Command::OpenDispute { dispute, payment: self.pick(), amount_minor };
        }
        let dispute = self.disputes[self.rng.below(self.disputes.len() as u64) as usize];
        match self.rng.below(3) {
            0 => Command::ResolveDispute { dispute, finding: Finding::ShopperAtFault },
            1 => Command::ResolveDispute { dispute, finding: Finding::ShopperNotShownAtFault },
            _ => Command::ChargeBack { dispute },
        }
    }

    /// Payments that just took their share of the daily limit took it today.
    fn note_reservations(&mut self, core: &PaymentCore, now: Timestamp) {
        let day = self.world.limits().day_of(now);
        for payment in core.payments() {
            if checks::takes_allowance(payment.state) {
                self.reserved_on.entry(payment.id).or_insert(day);
            }
        }
    }

    fn pick(&mut self) -> PaymentId {
        self.sent[self.rng.below(self.sent.len() as u64) as usize].payment_id
    }
}

/// Runs one seed for `steps` steps; the first broken invariant ends it.
pub fn run_seed(seed: u64, steps: usize) -> Result<SeedReport, Violation> {
    let mut rng = Rng(SplitMix64::new(seed));
    let world = World::draw(&mut rng);
    let mut run = Run {
        rng,
        world,
        told: Told::default(),
        corrupted: Vec::new(),
        sent: Vec::new(),
        shopper_of: HashMap::new(),
        reserved_on: HashMap::new(),
        disputes: Vec::new(),
        bank: Bank::default(),
        journal: MemoryJournal::default(),
        heard: Vec::new(),
        disputes_told: HashMap::new(),
        next_refund: 1_000_000,
        report: SeedReport::default(),
    };
    let mut node = world.fresh_node(run.journal.clone());
    let mut follower =
        JournaledCore::open(world.config(), run.journal.clone()).expect("the memory journal opens");
    let mut now = Timestamp::from_unix_ms(1);
    run.deliver(&mut node, now);
    for step in 0..steps {
        let violation = |what: String| Violation { seed, step, steps, what };
        let Some(command) = run.next_command(seed, &node.core(), &mut now) else {
            // A crash: in-memory state is lost and the node is rebuilt from the journal; what
            // the bank heard but the node never marked delivered goes out again.
            run.heard.clear();
            // Now and then the newest checkpoint is found corrupt: the one before it serves. (Both
            // corrupt, with the journal pruned behind them, would be a real loss: not played.)
            let stored = run.journal.clone().checkpoint_seqs().expect("the memory journal reads");
            if run.rng.chance(20)
                && let Some(&newest) = stored.first()
                && stored.get(1).is_none_or(|older| !run.corrupted.contains(older))
            {
                run.journal.corrupt_checkpoint(newest);
                run.corrupted.push(newest);
                run.report.corrupt_checkpoints += 1;
            }
            let rebuilt = world.open_node(run.journal.clone()).map_err(|e| violation(e.to_string()))?;
            if rebuilt.started_from().0.is_some() {
                run.report.restarts_from_checkpoints += 1;
            }
            if *rebuilt.core() != *node.core() {
                return Err(violation("replaying the journal did not rebuild the same state".into()));
            }
            node = rebuilt;
            run.deliver(&mut node, now);
            run.report.crashes += 1;
            continue;
        };
        run.mark_heard(&mut node);
        // A write that fails: the core ran the command, the commit did not happen, and the node
        // must rebuild to what the journal holds; the sender sees an error (and may retry later,
        // as terminals do).
        if run.rng.chance(3) {
            run.journal.fail_next_commit();
            if node.execute(command, now).is_ok() {
                return Err(violation("a commit set to fail was acknowledged".into()));
            }
            node.catch_up().map_err(|e| violation(e.to_string()))?;
            run.report.failed_writes += 1;
            continue;
        }
        // Refusals are part of the traffic (late captures, refunds too large, late bank
        // answers, compensations an empty reserve cannot pay): each is journaled like any
        // command and must leave the whole core as it was.
        let (before, head) = (node.core().clone(), node.head());
        let nothing_due = node.core().next_due().is_none_or(|due| due > now);
        let reply = node.execute(command.clone(), now).map_err(|e| violation(e.to_string()))?;
        if node.head() != head + 1 {
            return Err(violation(format!("{command:?} was not journaled")));
        }
        if let Err(refused) = &reply
            && *node.core() != before
        {
            return Err(violation(format!(
                "{command:?} was refused ({}) and changed the core",
                refused.code()
            )));
        }
        if command == Command::Sweep && nothing_due && *node.core() != before {
            return Err(violation("a sweep with nothing due changed the core".into()));
        }
        run.told.hear(&command, &reply, &node.core()).map_err(violation)?;
        if let Ok(Reply::Dispute(dispute)) = &reply {
            run.disputes_told.insert(dispute.id, dispute.clone());
        }
        run.report.note(&reply);
        // Another node reading the journal must hold exactly what this one holds.
        follower.catch_up().map_err(|e| violation(e.to_string()))?;
        if *follower.core() != *node.core() {
            return Err(violation(
                "a node replaying the journal holds other state than the node that wrote it".into(),
            ));
        }
        run.deliver(&mut node, now);
        run.note_reservations(&node.core(), now);
        let payments = run.journal.payment_rows();
        let history =
            History { payments: &payments, disputes: &run.disputes_told, shopper_of: &run.shopper_of };
        checks::after_step(&node.core(), &world, &history).map_err(violation)?;
        checks::within_limits(&world, &history, &run.reserved_on).map_err(violation)?;
        checks::one_hold_per_payment(&run.journal, &run.reserved_on).map_err(violation)?;
        run.told.check(&payments).map_err(violation)?;
    }
    // Let every timeout pass: every hold must end, at the switch and at the bank.
    now = now.plus_ms(10 * world.hold_timeout_ms as i64);
    let at_end = |what: String| Violation { seed, step: steps, steps, what };
    let _ = node.execute(Command::Sweep, now).map_err(|e| at_end(e.to_string()))?;
    run.deliver(&mut node, now);
    let core = node.core();
    let payments = run.journal.payment_rows();
    let history = History { payments: &payments, disputes: &run.disputes_told, shopper_of: &run.shopper_of };
    checks::after_step(&core, &world, &history).map_err(at_end)?;
    run.told.check(&payments).map_err(at_end)?;
    checks::at_end(&core, &mut run.journal, &run.bank, now.plus_ms(1)).map_err(at_end)?;
    let first = run.journal.clone().read_after(0).expect("the memory journal reads").first().map(|e| e.seq);
    run.report.pruned_runs = usize::from(first.is_some_and(|seq| seq > 1));
    run.report.captured =
        payments.values().filter(|p| matches!(p.state, PaymentState::Captured { .. })).count();
    run.report.retired = payments.len() - core.payments_held();
    Ok(run.report)
}

impl Run {
    /// The bank hears the outbox; the node marks it delivered only at its next command.
    fn deliver(&mut self, node: &mut JournaledCore<MemoryJournal>, now: Timestamp) {
        let deliveries = node.journal().undelivered(None, usize::MAX).expect("the memory journal reads");
        let mut messages = Vec::new();
        for delivery in deliveries {
            if let Outbound::Issuer(message) = delivery.outbound {
                messages.push(message);
            }
            self.heard.push(delivery.id);
        }
        self.bank.receive(messages, now, &mut self.rng);
    }

    fn mark_heard(&mut self, node: &mut JournaledCore<MemoryJournal>) {
        node.journal().mark_delivered(&self.heard).expect("the memory journal writes");
        self.heard.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::wallet;

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
            total.add(&report);
        }
        // The traffic really exercised the paths the invariants guard.
        assert!(total.captured > 2_000 && total.refunds > 10_000 && total.crashes > 1_000, "{total:?}");
        assert!(
            total.disputes > 3_000 && total.bank_answers > 5_000 && total.failed_writes > 3_000,
            "{total:?}"
        );
        // The drawn worlds reach the edges: an empty reserve, a spent day, a hold run out.
        assert!(
            total.reserve_refusals > 10 && total.daily_limit_declines > 500 && total.expired_refusals > 5,
            "{total:?}"
        );
        assert!(total.restarts_from_checkpoints > 1_000 && total.corrupt_checkpoints > 200, "{total:?}");
        assert!(total.pruned_runs > 100, "{total:?}");
        assert!(total.retired > 1_000, "the core forgot payments the checks read from the store: {total:?}");
    }

    #[test]
    fn the_seeds_that_once_failed_pass() {
        for &(seed, steps, caught) in REGRESSION_SEEDS {
            run_seed(seed, steps).unwrap_or_else(|violation| panic!("{caught}: {violation}"));
        }
    }

    #[test]
    fn the_money_check_catches_money_that_appears_from_nowhere() {
        let world = World::STANDARD;
        let mut node = world.fresh_node(MemoryJournal::default());
        let (payments, disputes, shopper_of) = (Default::default(), HashMap::new(), HashMap::new());
        let history = History { payments: &payments, disputes: &disputes, shopper_of: &shopper_of };
        assert_eq!(checks::after_step(&node.core(), &world, &history), Ok(()));
        // A top-up outside the simulated world: the check must notice.
        let top_up = Command::TopUp { account: wallet(0), amount_minor: 1, transfer_id: TransferId(77_777) };
        node.execute(top_up, Timestamp::from_unix_ms(1)).unwrap().unwrap();
        assert!(
            checks::after_step(&node.core(), &world, &history).unwrap_err().contains("wallets hold 80001")
        );
    }
}
