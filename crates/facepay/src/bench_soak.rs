//! `facepay bench soak`: whole payment lives (authorized, then captured; 10% partly refunded,
//! 1% disputed, 2% voided, 1% never confirmed and reversed by the sweep when due) through the
//! real journaled core and group commit on SQLite, with the sweeper's rule (sweep only when
//! something is due). Every 10% it prints throughput, resident memory, journal rows, the
//! payments the core still holds, the read model's rows and the newest checkpoint's size; at
//! the end it restarts the core from the store and times it. The windows (`SOAK_RETENTION`)
//! are shorter than the run, so the core forgets payments as fast as new ones come and memory
//! should stay flat once the first window has passed, at constant traffic: `--rate` paces the
//! terminals for that; without it they pay as fast as they are answered (for throughput).
//!
//! Two runs, each in a process of its own so their memory does not mix: the peer is today's
//! engine path without checkpoints (a restart replays the whole journal), then the same work
//! with checkpoints.

use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use facepay_domain::{PaymentId, Timestamp};
use facepay_ledger::TransferId;
use facepay_payments::{
    CheckpointPolicy, Command, CoreConfig, DisputeId, Finding, Journal, JournalError, JournaledCore, Limit,
    LimitTable, PaymentState, Reply, Retention, Submitter, group_commit_queue, write_batches,
};
use facepay_store_sqlite::SqliteJournal;

use crate::bench_store::{config, payment as payment_request, world};

#[derive(Debug)]
pub struct SoakBenchArgs {
    pub payments: usize,
    pub terminals: usize,
    /// Where the SQLite files go (a temporary folder inside it).
    pub dir: PathBuf,
    /// `None`: both runs, each in its own process; else the one run named.
    pub run: Option<SoakRun>,
    /// Payment lives started per second by all terminals together; 0: no pacing.
    pub rate: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoakRun {
    /// Today's engine path: no checkpoints.
    Peer,
    /// Checkpoints every 100,000 entries or 5 minutes, as `serve` runs.
    Checkpoints,
}

impl SoakRun {
    pub fn name(self) -> &'static str {
        match self {
            SoakRun::Peer => "peer",
            SoakRun::Checkpoints => "checkpoints",
        }
    }

    fn policy(self) -> CheckpointPolicy {
        match self {
            SoakRun::Peer => CheckpointPolicy::NEVER,
            SoakRun::Checkpoints => facepay_api::ApiConfig::default().checkpoints,
        }
    }
}

const MAX_BATCH: usize = 512;

type Node = JournaledCore<SqliteJournal>;

pub fn soak(args: &SoakBenchArgs, out: &mut dyn Write) -> io::Result<bool> {
    match args.run {
        Some(run) => soak_once(args, run, out),
        None => {
            let mut all = true;
            for run in [SoakRun::Peer, SoakRun::Checkpoints] {
                all &= in_own_process(args, run, out)?;
            }
            Ok(all)
        }
    }
}

/// Runs `run` in a child process of this binary and passes its lines on.
fn in_own_process(args: &SoakBenchArgs, run: SoakRun, out: &mut dyn Write) -> io::Result<bool> {
    let mut child = Process::new(std::env::current_exe()?)
        .args(["bench", "soak", "--run", run.name()])
        .args(["--payments", &args.payments.to_string(), "--terminals", &args.terminals.to_string()])
        .args(["--rate", &args.rate.to_string()])
        .arg("--dir")
        .arg(&args.dir)
        .stdout(Stdio::piped())
        .spawn()?;
    let lines = BufReader::new(child.stdout.take().expect("piped"));
    for line in lines.lines() {
        writeln!(out, "{}", line?)?;
    }
    Ok(child.wait()?.success())
}

fn soak_once(args: &SoakBenchArgs, run: SoakRun, out: &mut dyn Write) -> io::Result<bool> {
    let folder = tempfile::tempdir_in(&args.dir)?;
    let file = folder.path().join("soak.sqlite");
    let mut node =
        JournaledCore::open(soak_config(), SqliteJournal::open_writer(&file).map_err(fail)?).map_err(fail)?;
    node.set_checkpoint_policy(run.policy());
    let mut reader = SqliteJournal::open(&file).map_err(fail)?;
    // Limits out of the way: every terminal's shopper pays all day long.
    let wide = Limit { per_transaction_minor: 1 << 40, daily_minor: 1 << 50 };
    let table =
        LimitTable { merchant_low: wide, purchase: wide, shopper_standard: wide, ..LimitTable::default() };
    let mut setup = world(args.terminals);
    setup.push(Command::SetLimitTable { table });
    let setup: Vec<_> = setup.into_iter().map(|command| (command, now())).collect();
    for reply in node.execute_all(setup).map_err(fail)? {
        reply.map_err(|refused| io::Error::other(format!("the soak's world was refused: {refused}")))?;
    }
    writeln!(
        out,
        "\n{} run ({}): {} payment lives from {} terminals at once, SQLite in {}",
        run.name(),
        if run == SoakRun::Peer {
            "today's engine path, no checkpoints"
        } else {
            "checkpoints as serve runs"
        },
        args.payments,
        args.terminals,
        folder.path().display()
    )?;
    let windows = SOAK_RETENTION;
    writeln!(
        out,
        "windows: idempotency keys {} s, refunds and disputes {} s",
        windows.idempotency_ms / 1_000,
        windows.refund_window_ms / 1_000
    )?;
    if args.rate > 0 {
        writeln!(out, "constant traffic: {} payment lives started per second", args.rate)?;
    }
    writeln!(
        out,
        "| done | payments/s (this 10%) | RSS MiB (median / max of this 10%) | journal rows | rows/payment | \
         payments held | read model (payment rows + newest movement) | checkpoint MiB |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|")?;
    let node = Arc::new(Mutex::new(node));
    let (submitter, submissions) = group_commit_queue(args.terminals * 2);
    let writer_node = node.clone();
    let writer = thread::spawn(move || write_batches(&writer_node, submissions, MAX_BATCH));
    let done = Arc::new(AtomicUsize::new(0));
    let sweeping = Arc::new(AtomicBool::new(true));
    let sweeper = spawn_sweeper(node.clone(), submitter.clone(), sweeping.clone());
    let per_terminal = args.payments / args.terminals;
    // Each terminal starts a life every `pace`, or at once when the last one ends if that is later.
    let pace = (args.rate > 0).then(|| Duration::from_secs_f64(args.terminals as f64 / f64::from(args.rate)));
    let started = Instant::now();
    let count = args.terminals;
    let terminals: Vec<_> = (0..args.terminals)
        .map(|t| {
            let (submitter, done) = (submitter.clone(), done.clone());
            thread::spawn(move || {
                let mut lived = 0;
                for k in 0..per_terminal {
                    if let Some(pace) = pace {
                        // The terminals' starts are spread evenly over each interval.
                        let due = pace.mul_f64(k as f64 + t as f64 / count as f64);
                        thread::sleep(due.saturating_sub(started.elapsed()));
                    }
                    let id = (t * per_terminal + k + 1) as u128;
                    lived += usize::from(live(&submitter, id, t as u128));
                    done.fetch_add(1, Ordering::Relaxed);
                }
                lived
            })
        })
        .collect();
    let total = per_terminal * args.terminals;
    let (mut mark, mut last_at, mut last_done) = (1, started, 0);
    // Resident memory every 50 ms of this 10%: one reading can land inside a checkpoint's
    // encoding, which briefly holds the checkpoint's bytes beside the core.
    let mut rss_samples = Vec::new();
    while mark <= 10 {
        thread::sleep(Duration::from_millis(50));
        rss_samples.push(rss_mib());
        let now_done = done.load(Ordering::Relaxed);
        if now_done * 10 < total * mark {
            continue;
        }
        rss_samples.sort_by(f64::total_cmp);
        let (rss_median, rss_max) = (rss_samples[rss_samples.len() / 2], rss_samples[rss_samples.len() - 1]);
        rss_samples.clear();
        let rate = (now_done - last_done) as f64 / last_at.elapsed().as_secs_f64();
        let (rows, held, checkpoint) = {
            let node = node.lock().unwrap_or_else(PoisonError::into_inner);
            (node.head(), node.core().payments_held(), node.last_checkpoint_bytes())
        };
        // Counted on a connection of its own, outside the writer's lock and the rate above.
        let (payment_rows, movements) = reader.read_model_size().map_err(fail)?;
        writeln!(
            out,
            "| {}% | {rate:.0} | {rss_median:.0} / {rss_max:.0} | {rows} | {:.2} | {held} | {payment_rows} + {movements} \
             | {:.1} |",
            mark * 10,
            rows as f64 / now_done.max(1) as f64,
            checkpoint as f64 / (1 << 20) as f64
        )?;
        // The next 10%'s rate counts from here, with what was done while this line was made.
        (last_at, last_done, mark) = (Instant::now(), done.load(Ordering::Relaxed), mark + 1);
    }
    let mut lived = 0;
    for terminal in terminals {
        lived += terminal.join().map_err(|_| io::Error::other("a terminal thread panicked"))?;
    }
    let wall = started.elapsed();
    sweeping.store(false, Ordering::Relaxed);
    sweeper.join().map_err(|_| io::Error::other("the sweeper panicked"))?;
    drop(submitter);
    writer.join().map_err(|_| io::Error::other("the writer panicked"))?.map_err(io::Error::other)?;
    let head = node.lock().unwrap_or_else(PoisonError::into_inner).head();
    drop(node);
    writeln!(
        out,
        "{total} lives in {:.1} s: {:.0} payments/s; {lived} went as planned",
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64()
    )?;
    let (restart_s, from) = restart(&file)?;
    let from = from.map_or("the journal's start".to_owned(), |seq| format!("the checkpoint at entry {seq}"));
    writeln!(out, "restart to ready: {restart_s:.2} s, from {from} to entry {head}")?;
    Ok(lived == total)
}

/// One payment's life at terminal `t`; whether it went as planned.
fn live(submitter: &Submitter, id: u128, t: u128) -> bool {
    let payment = PaymentId::from_u128(id);
    let submit = |command| match submitter.submit(command, now()) {
        Ok(Ok(Reply::Payment(view))) => Some(view.state),
        Ok(Ok(_)) => Some(PaymentState::Created),
        _ => None,
    };
    if submit(Command::StartPayment(payment_request(id, t))) != Some(PaymentState::Authorized) {
        return false;
    }
    match id % 100 {
        // Voided by the merchant.
        0 | 1 => submit(Command::Void { payment }) == Some(PaymentState::Voided),
        // Never confirmed: the sweep reverses it once its outcome timeout has passed.
        2 => true,
        _ => {
            if submit(Command::Capture { payment }) != Some(PaymentState::Captured { refunded_minor: 0 }) {
                return false;
            }
            if id % 10 == 3 {
                let refund =
                    Command::Refund { payment, refund_id: TransferId(1 << 64 | id), amount_minor: 40 };
                return submit(refund) == Some(PaymentState::Captured { refunded_minor: 40 });
            }
            if id % 100 == 4 {
                // Opened, then decided: a dispute still open would keep its payment in memory.
                let dispute = DisputeId(id);
                let open = Command::OpenDispute { dispute, payment, amount_minor: 30 };
                let decide = Command::ResolveDispute { dispute, finding: Finding::ShopperAtFault };
                let accepted = |command| submitter.submit(command, now()).is_ok_and(|reply| reply.is_ok());
                return accepted(open) && accepted(decide);
            }
            true
        }
    }
}

/// The sweeper as a node runs it: every 100 ms, a sweep only if something is due.
fn spawn_sweeper(
    node: Arc<Mutex<Node>>,
    submitter: Submitter,
    running: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        while running.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(100));
            let now = now();
            let due = node.lock().unwrap_or_else(PoisonError::into_inner).core().next_due();
            if due.is_some_and(|due: Timestamp| due <= now) {
                let _ = submitter.submit(Command::Sweep, now);
            }
        }
    })
}

/// Seconds from opening the file to a core ready to serve, and the checkpoint it started from.
fn restart(file: &Path) -> io::Result<(f64, Option<u64>)> {
    let started = Instant::now();
    let node =
        JournaledCore::open(soak_config(), SqliteJournal::open_writer(file).map_err(fail)?).map_err(fail)?;
    Ok((started.elapsed().as_secs_f64(), node.started_from().0))
}

/// Windows far shorter than a run of a million payments, so its memory must level off.
const SOAK_RETENTION: Retention = Retention { idempotency_ms: 5_000, refund_window_ms: 20_000 };

fn soak_config() -> CoreConfig {
    CoreConfig { retention: SOAK_RETENTION, ..config() }
}

fn now() -> Timestamp {
    Timestamp::from_unix_ms(facepay_api::now_ms())
}

/// This process's resident memory, from /proc.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn fail(err: JournalError) -> io::Error {
    io::Error::other(format!("{err} [{}]", err.code()))
}
