//! Ledger throughput on one core, in memory: `cargo bench -p facepay-ledger`.
//!
//! Prints transfers per second for posted transfers and for hold-then-post pairs, next to a peer
//! measured in the same run on the same transfers: a bare double-entry update (two hash-map
//! balance updates, no checks, no idempotency, no journal), i.e. the least work any ledger must do.
//! Medians of several runs, because this machine is noisy.

// A benchmark measures time; it is an edge, not the pure core.
#![allow(clippy::disallowed_methods, clippy::print_stdout)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use facepay_domain::{Currency, Timestamp};
use facepay_ledger::{Account, AccountId, BalanceRule, Ledger, TransferId, TransferKind, TransferRequest};

const ACCOUNTS: u128 = 10_000;
const TRANSFERS: u128 = 1_000_000;
const RUNS: usize = 5;
const BAR_PER_SECOND: f64 = 500_000.0;

fn main() {
    let eur = Currency::new("EUR").unwrap();
    let fresh_ledger = || {
        let mut ledger = Ledger::new();
        ledger.open_account(Account::new(AccountId(0), eur, BalanceRule::Unbounded, 0)).unwrap();
        for id in 1..=ACCOUNTS {
            let rule = BalanceRule::DebitsWithinCredits { credit_limit: 0 };
            ledger.open_account(Account::new(AccountId(id), eur, rule, 0)).unwrap();
            let funding = posted(TransferId(u128::MAX - id), AccountId(0), AccountId(id), 1_000_000_000);
            ledger.apply_one(&funding, Timestamp::from_unix_ms(0)).unwrap();
        }
        ledger
    };
    // A fixed pseudo-random pattern of payer and payee, the same for every contender.
    let pairs: Vec<(u128, u128)> = (0..TRANSFERS)
        .map(|i| {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7;
            (1 + x % ACCOUNTS, 1 + (x / ACCOUNTS + 1 + x) % ACCOUNTS)
        })
        .map(|(a, b)| if a == b { (a, 1 + a % ACCOUNTS) } else { (a, b) })
        .collect();

    let posted_rate = median(|| {
        let mut ledger = fresh_ledger();
        let now = Timestamp::from_unix_ms(1);
        let started = Instant::now();
        for (i, &(debit, credit)) in pairs.iter().enumerate() {
            let request =
                posted(TransferId(i as u128), AccountId(debit), AccountId(credit), 1 + (i as u64 % 100));
            black_box(ledger.apply_one(&request, now)).unwrap();
        }
        TRANSFERS as f64 / started.elapsed().as_secs_f64()
    });

    let hold_post_rate = median(|| {
        let mut ledger = fresh_ledger();
        let now = Timestamp::from_unix_ms(1);
        let started = Instant::now();
        for (i, &(debit, credit)) in pairs.iter().enumerate().take(TRANSFERS as usize / 2) {
            let (hold_id, post_id) = (TransferId(2 * i as u128), TransferId(2 * i as u128 + 1));
            let mut hold = posted(hold_id, AccountId(debit), AccountId(credit), 100);
            hold.kind = TransferKind::Pending { timeout_ms: 60_000 };
            black_box(ledger.apply_one(&hold, now)).unwrap();
            let mut post = posted(post_id, AccountId(debit), AccountId(credit), 80);
            post.kind = TransferKind::PostPending { pending_id: hold_id };
            black_box(ledger.apply_one(&post, now)).unwrap();
        }
        TRANSFERS as f64 / started.elapsed().as_secs_f64()
    });

    let peer_rate = median(|| {
        let mut balances: HashMap<u128, i64> = (0..=ACCOUNTS).map(|id| (id, 1_000_000_000)).collect();
        let started = Instant::now();
        for (i, &(debit, credit)) in pairs.iter().enumerate() {
            let amount = 1 + (i as i64 % 100);
            *balances.get_mut(&debit).unwrap() -= amount;
            *balances.get_mut(&credit).unwrap() += amount;
        }
        black_box(&balances);
        TRANSFERS as f64 / started.elapsed().as_secs_f64()
    });

    println!(
        "ledger, one core, in memory: {TRANSFERS} transfers among {ACCOUNTS} accounts, median of {RUNS} runs"
    );
    println!("{:<46} {:>14} {:>12} {:>12}", "contender", "transfers/s", "vs peer", "vs bar 500k");
    for (name, rate) in [
        ("facepay ledger: posted transfers", posted_rate),
        ("facepay ledger: hold, then post (each counted)", hold_post_rate),
        ("peer: bare hash-map double entry, no checks", peer_rate),
    ] {
        println!("{name:<46} {rate:>14.0} {:>11.2}x {:>11.2}x", rate / peer_rate, rate / BAR_PER_SECOND);
    }
}

fn posted(id: TransferId, debit: AccountId, credit: AccountId, amount: u64) -> TransferRequest {
    TransferRequest { id, debit, credit, amount, kind: TransferKind::Posted, code: 0, linked: false }
}

fn median(mut run: impl FnMut() -> f64) -> f64 {
    let mut rates: Vec<f64> = (0..RUNS).map(|_| run()).collect();
    rates.sort_by(f64::total_cmp);
    rates[RUNS / 2]
}
