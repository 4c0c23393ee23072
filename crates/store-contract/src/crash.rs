//! The crash test: a child process drives payments, captures and refunds through a store and
//! prints each acknowledgement; the parent kills it with SIGKILL at a random moment, reopens the
//! store, and checks that every acknowledged operation is there exactly once and the ledger
//! balances. The next child starts by retrying what the killed one may have had in flight.
//!
//! A store's test binary is both parent and child: `crash_test` spawns the binary again with
//! `CHILD_ENV` set, and the binary's child test calls `crash_child` when it finds it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::Child;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use facepay_domain::{PaymentId, SplitMix64};
use facepay_ledger::TransferId;
use facepay_payments::{Command, CoreError, Identification, PaymentState, Reply};

use crate::world::{ALICE, ALICE_TOP_UP_MINOR, ALICE_WALLET, TERMINAL_A, at, pay};
use crate::{Database, node};

/// Set in the child's environment to the first payment id it uses.
pub const CHILD_ENV: &str = "FACEPAY_CRASH_CHILD_FIRST_ID";
/// Payments one child makes before it stops on its own.
const PAYMENTS_PER_CHILD: u128 = 400;

fn amount(id: u128) -> i64 {
    100 + (id % 900) as i64
}

fn refund_id(id: u128) -> TransferId {
    TransferId(1_000_000_000 + id)
}

/// Every third payment is half refunded.
fn refunded(id: u128) -> bool {
    id.is_multiple_of(3)
}

/// The child's work from `first_id` on; prints `ack started|captured|refunded <id>` after each
/// durable acknowledgement. A retry of what a killed child had in flight is answered from the
/// journal (same idempotency key, same refund id), never done twice.
pub fn crash_child<D: Database>(database: &D, first_id: u128) {
    let mut node = node(database);
    let mut out = std::io::stdout().lock();
    for id in first_id..first_id + PAYMENTS_PER_CHILD {
        // One payment a minute keeps Alice within her daily limit however many rounds run.
        let ms = id as i64 * 60_000;
        let started = node.execute(
            Command::StartPayment(pay(id, TERMINAL_A, amount(id), Identification::Match(ALICE))),
            at(ms),
        );
        let state = match started.expect("the store commits") {
            Ok(Reply::Payment(view)) => view.state,
            other => panic!("payment {id}: {other:?}"),
        };
        writeln!(out, "ack started {id}").and_then(|()| out.flush()).expect("stdout");
        match state {
            PaymentState::Authorized => {
                let captured =
                    node.execute(Command::Capture { payment: PaymentId::from_u128(id) }, at(ms + 1));
                captured.expect("the store commits").expect("an authorized payment captures");
            }
            // A retry of a payment the killed child had captured already.
            PaymentState::Captured { .. } => {}
            other => panic!("payment {id} is {other:?}: the world ran out of money or limit"),
        }
        writeln!(out, "ack captured {id}").and_then(|()| out.flush()).expect("stdout");
        if refunded(id) {
            let refund = Command::Refund {
                payment: PaymentId::from_u128(id),
                refund_id: refund_id(id),
                amount_minor: amount(id) / 2,
            };
            let reply = node.execute(refund, at(ms + 2)).expect("the store commits");
            reply.map_err(|err: CoreError| err.code()).expect("the refund (or its retry) is accepted");
            writeln!(out, "ack refunded {id}").and_then(|()| out.flush()).expect("stdout");
        }
    }
}

/// What the parent heard acknowledged, by kind.
#[derive(Debug, Default)]
struct Acks {
    started: BTreeSet<u128>,
    captured: BTreeSet<u128>,
    refunded: BTreeSet<u128>,
}

/// Kills `kills` children at moments drawn from `seed` (up to `max_delay` after the child's
/// first acknowledgement), checking the store after each; `spawn(first_id)` starts a child.
pub fn crash_test<D: Database>(
    database: &D,
    spawn: impl Fn(u128) -> Child,
    kills: usize,
    seed: u64,
    max_delay: Duration,
) {
    let mut rng = SplitMix64::new(seed);
    let mut acks = Acks::default();
    let mut next_id = 1;
    let mut killed_mid_work = 0;
    for round in 0..kills {
        let mut child = spawn(next_id);
        let stdout = child.stdout.take().expect("the child's stdout is piped");
        let (lines, heard) = mpsc::channel();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        // libtest may print "test child ... " on the line before the first acknowledgement.
        let note = |line: &str, acks: &mut Acks| {
            let Some(start) = line.find("ack ") else { return };
            let mut words = line[start..].split_whitespace().skip(1);
            let (kind, id) = (words.next(), words.next().and_then(|id| id.parse::<u128>().ok()));
            let id = id.unwrap_or_else(|| panic!("a malformed acknowledgement: {line}"));
            let set = match kind {
                Some("started") => &mut acks.started,
                Some("captured") => &mut acks.captured,
                Some("refunded") => &mut acks.refunded,
                _ => panic!("a malformed acknowledgement: {line}"),
            };
            set.insert(id);
        };
        // Wait for the child to be at work, then let it run a random while.
        for line in heard.iter() {
            note(&line, &mut acks);
            if line.contains("ack ") {
                break;
            }
        }
        let delay = Duration::from_micros(rng.next_u64() % max_delay.as_micros() as u64);
        thread::sleep(delay);
        let still_running = child.try_wait().expect("the child's status").is_none();
        child.kill().expect("SIGKILL the child");
        child.wait().expect("the child is reaped");
        killed_mid_work += usize::from(still_running);
        reader.join().expect("the reader thread");
        for line in heard.try_iter() {
            note(&line, &mut acks);
        }
        check(database, &acks, round);
        // The next child retries the last payment whose start may have been in flight.
        next_id = acks.started.last().map_or(1, |last| last + 1);
    }
    assert!(killed_mid_work * 2 >= kills, "only {killed_mid_work} of {kills} kills caught the child at work");
}

/// Reopens the store and checks every acknowledged operation is there exactly once.
fn check<D: Database>(database: &D, acks: &Acks, round: usize) {
    let node = node(database);
    let core = node.core();
    core.ledger().verify().unwrap_or_else(|broken| panic!("round {round}: the ledger is broken: {broken}"));
    let states: BTreeMap<u128, (PaymentState, i64)> =
        core.payments().map(|view| (view.id.as_u128(), (view.state, view.amount.amount_minor))).collect();
    for id in &acks.started {
        assert!(states.contains_key(id), "round {round}: acknowledged payment {id} is lost");
    }
    for id in &acks.captured {
        assert!(
            matches!(states[id].0, PaymentState::Captured { .. }),
            "round {round}: acknowledged capture of {id} is lost: {:?}",
            states[id].0
        );
    }
    for id in &acks.refunded {
        assert!(
            core.ledger().transfer(refund_id(*id)).is_some(),
            "round {round}: acknowledged refund of {id} is lost"
        );
    }
    // At most the one payment in flight when the child died is there without an acknowledgement.
    let unacknowledged: Vec<_> = states.keys().filter(|id| !acks.started.contains(id)).collect();
    assert!(
        unacknowledged.len() <= 1,
        "round {round}: payments {unacknowledged:?} nobody acknowledged (last acknowledged {:?})",
        acks.started.last()
    );
    // Exactly once: the wallet paid each captured payment once and got each refund back once.
    let mut spent = 0;
    for (id, (state, amount)) in &states {
        match state {
            PaymentState::Captured { refunded_minor } => {
                assert!(
                    *refunded_minor == 0 || *refunded_minor == amount / 2,
                    "round {round}: payment {id} refunded {refunded_minor} of {amount}"
                );
                spent += amount - refunded_minor;
            }
            PaymentState::Authorized => spent += amount,
            other => panic!("round {round}: payment {id} is {other:?}"),
        }
    }
    let wallet = core.ledger().account(ALICE_WALLET).expect("Alice's wallet").posted_balance();
    let held = core.ledger().account(ALICE_WALLET).expect("Alice's wallet").available_to_debit();
    assert_eq!(
        held,
        Some(i128::from(ALICE_TOP_UP_MINOR - spent)),
        "round {round}: the wallet was not charged exactly once per payment (posted {wallet})"
    );
}
