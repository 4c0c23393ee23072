//! `cargo run --release -p facepay-sim -- --seeds N [--start S] [--steps K] [--metro M]`: runs
//! the payment core's seeds S..S+N, then the metro's seeds S..S+M (each several travel days),
//! and stops at the first broken invariant, printing how to replay it.

// A command-line tool reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut seeds = 1_000u64;
    let mut start = 0u64;
    let mut steps = 200usize;
    let mut metro = 0u64;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse::<u64>().ok());
        match (pair[0].as_str(), value) {
            ("--seeds", Some(v)) => seeds = v,
            ("--start", Some(v)) => start = v,
            ("--steps", Some(v)) => steps = v as usize,
            ("--metro", Some(v)) => metro = v,
            _ => {
                eprintln!("usage: facepay-sim --seeds N [--start S] [--steps K] [--metro M]");
                return ExitCode::from(2);
            }
        }
    }
    let mut total = facepay_sim::SeedReport::default();
    for seed in start..start.saturating_add(seeds) {
        match facepay_sim::run_seed(seed, steps) {
            Ok(report) => total.add(&report),
            Err(violation) => {
                eprintln!("VIOLATION {violation}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "{seeds} seeds from {start}, {steps} steps each: no violation ({} payments, {} captured, {} refund \
         requests, {} disputes, {} bank answers, {} failed writes, {} crashes; {} compensations the reserve \
         refused, {} payments declined at the daily limit, {} commands refused as the hold ran out; {} restarts \
         from a checkpoint, {} checkpoints found corrupt, {} runs ending with a pruned journal; {} payments the core forgot past \
         their windows, read back from the store)",
        total.payments,
        total.captured,
        total.refunds,
        total.disputes,
        total.bank_answers,
        total.failed_writes,
        total.crashes,
        total.reserve_refusals,
        total.daily_limit_declines,
        total.expired_refusals,
        total.restarts_from_checkpoints,
        total.corrupt_checkpoints,
        total.pruned_runs,
        total.retired
    );
    if metro == 0 {
        return ExitCode::SUCCESS;
    }
    let mut days = facepay_sim::MetroReport::default();
    for seed in start..start.saturating_add(metro) {
        match facepay_sim::run_metro(seed) {
            Ok(report) => days.add(&report),
            Err(violation) => {
                eprintln!("VIOLATION {violation}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "{metro} metro seeds from {start}: no violation ({} travel days, {} riders, {} journeys, {} missed exits, \
         {} double readings, {} late uploads, {} repeated uploads, {} claims; {} bills, {} of them capped; \
         {} captured and {} refunded in minor units, {} bank declines, {} riders still owing after two weeks)",
        days.days,
        days.riders,
        days.journeys,
        days.missed_exits,
        days.double_readings,
        days.late_uploads,
        days.repeated_uploads,
        days.claims,
        days.bills,
        days.capped_bills,
        days.captured_minor,
        days.refunded_minor,
        days.bank_declines,
        days.riders_in_debt
    );
    ExitCode::SUCCESS
}
