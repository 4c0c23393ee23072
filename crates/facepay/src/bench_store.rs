//! `facepay bench store`: durable authorizations per second and commit latency through the real
//! journal (group commit, one writer, many terminals waiting), on SQLite and on PostgreSQL. The
//! peer, measured in the same run, does the same durable work without the payment core: as many
//! terminals, each handing one row of a journal entry's size to one writer that commits whatever
//! has queued (up to the same batch) as one transaction. Beside them: single rows, one durable
//! commit each, and the disk's own rate of synced writes, the limit on commits a second.

use std::io::{self, Write};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use facepay_domain::{Currency, MerchantId, Money, PaymentId, ShopperId, TerminalId, Timestamp};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    AcquirerId, Command, CoreConfig, CountRule, Identification, Journal, JournalError, JournaledCore,
    LimitTable, MerchantRisk, PaymentState, PinPolicy, Reply, Retention, RiskConfig, StartPayment,
    TransactionType, group_commit_queue, write_batches,
};
use facepay_store_postgres::PostgresJournal;
use facepay_store_sqlite::SqliteJournal;
use facepay_vault::{Keyring, PersonalField, Vault};

use crate::bench::percentile;

#[derive(Debug, Clone)]
pub struct StoreBenchArgs {
    /// Terminals paying at once, each waiting for its answer before the next payment.
    pub terminals: usize,
    /// Payments per store (rounded down to a multiple of `terminals`).
    pub payments: usize,
    /// Single-row inserts timed for the raw rate.
    pub raw_inserts: usize,
    /// Where SQLite files go (a temporary folder inside it).
    pub dir: PathBuf,
    /// PostgreSQL to measure; `None` skips it.
    pub postgres: Option<String>,
    /// Also measure this many nodes (processes) sharing the PostgreSQL database, when above 1.
    pub nodes: usize,
    pub json: Option<PathBuf>,
}

/// The most commands one commit takes.
pub(crate) const MAX_BATCH: usize = 512;
/// A journal entry's size in bytes, roughly, for the raw inserts' payload.
const ENTRY_BYTES: usize = 400;

/// One store's figures.
#[derive(Debug)]
struct Measured {
    store: String,
    auth_per_s: f64,
    auth_median_ms: f64,
    auth_p99_ms: f64,
    authorized: usize,
    peer_per_s: f64,
    peer_median_ms: f64,
    peer_p99_ms: f64,
    single_per_s: f64,
}

pub fn store(args: &StoreBenchArgs, out: &mut dyn Write) -> io::Result<bool> {
    let folder = tempfile::tempdir_in(&args.dir)?;
    let sqlite_file = folder.path().join("bench.sqlite");
    let raw_file = folder.path().join("raw.sqlite");
    let disk_syncs_per_s = synced_writes_per_s(&folder.path().join("fsync.probe"), args.raw_inserts)?;
    writeln!(out, "SQLite (WAL, synchronous=FULL) in {}", folder.path().display())?;
    let mut results = Vec::new();
    let raw_sqlite = || facepay_store_sqlite::probe::RawInserts::open(&raw_file).map_err(fail);
    let single = time_single_rows(args.raw_inserts, || {
        let mut raw = raw_sqlite()?;
        Ok(move |payload: &[u8]| raw.insert_one(payload).map_err(fail))
    })?;
    let peer = time_row_batches(args, || {
        let mut raw = raw_sqlite()?;
        Ok(move |rows: &[Vec<u8>]| raw.insert_batch(rows).map_err(fail))
    })?;
    let auth = time_authorizations(args, || SqliteJournal::open_writer(&sqlite_file).map_err(fail))?;
    results.push(measured("sqlite".into(), per_s(&single), peer, auth));
    if let Some(url) = &args.postgres {
        let schema = format!("facepay_bench_{}", std::process::id());
        writeln!(out, "PostgreSQL, schema {schema} (dropped afterwards)")?;
        let raw_postgres = || facepay_store_postgres::probe::RawInserts::open(url, &schema).map_err(fail);
        let single = time_single_rows(args.raw_inserts, || {
            let mut raw = raw_postgres()?;
            Ok(move |payload: &[u8]| raw.insert_one(payload).map_err(fail))
        });
        let measured_all = single.and_then(|single| {
            let peer = time_row_batches(args, || {
                let mut raw = raw_postgres()?;
                Ok(move |rows: &[Vec<u8>]| raw.insert_batch(rows).map_err(fail))
            })?;
            let auth = time_authorizations(args, || PostgresJournal::connect(url, &schema).map_err(fail))?;
            Ok(measured("postgres".into(), per_s(&single), peer, auth))
        });
        facepay_store_postgres::probe::drop_schema(url, &schema).map_err(fail)?;
        let single_node = measured_all?;
        let single_per_s = single_node.single_per_s;
        results.push(single_node);
        if args.nodes > 1 {
            writeln!(out, "PostgreSQL, {} nodes in processes of their own on one schema", args.nodes)?;
            let (peer, auth) = crate::bench_store_nodes::across_nodes(args, url, args.nodes)?;
            results.push(measured(format!("postgres, {} nodes", args.nodes), single_per_s, peer, auth));
        }
    }
    print_table(args, &results, disk_syncs_per_s, out)?;
    if let Some(path) = &args.json {
        std::fs::write(path, to_json(args, &results, disk_syncs_per_s).to_string())?;
        writeln!(out, "wrote {}", path.display())?;
    }
    // Every payment must have been authorized, or the bench measured refusals.
    let expected = args.payments / args.terminals * args.terminals;
    Ok(results.iter().all(|m| m.authorized == expected))
}

pub(crate) fn fail(err: JournalError) -> io::Error {
    io::Error::other(format!("{err} [{}]", err.code()))
}

/// Single rows, one durable commit each, from one thread, after a short untimed warm-up.
fn time_single_rows<F: FnMut(&[u8]) -> io::Result<()>>(
    n: usize,
    open: impl FnOnce() -> io::Result<F>,
) -> io::Result<Timed> {
    let mut insert = open()?;
    let payload = vec![0x5a; ENTRY_BYTES];
    for _ in 0..10 {
        insert(&payload)?;
    }
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        insert(&payload)?;
        latencies.push(t0.elapsed().as_secs_f64());
    }
    Ok(Timed { wall: started.elapsed(), latencies, authorized: n })
}

/// The peer: `args.terminals` threads each hand one row to a writer and wait until it is
/// durable, `args.payments` rows in all; the writer takes whatever has queued, up to the
/// journal's batch, and commits it as one transaction, as `write_batches` does with commands.
pub(crate) fn time_row_batches<F: FnMut(&[Vec<u8>]) -> io::Result<()> + Send + 'static>(
    args: &StoreBenchArgs,
    open: impl FnOnce() -> io::Result<F>,
) -> io::Result<Timed> {
    let mut commit = open()?;
    let (queue, queued) =
        std::sync::mpsc::sync_channel::<(Vec<u8>, std::sync::mpsc::Sender<bool>)>(args.terminals * 2);
    let writer = thread::spawn(move || {
        while let Ok(first) = queued.recv() {
            let mut batch = vec![first];
            batch.extend(queued.try_iter().take(MAX_BATCH - 1));
            let (rows, waiting): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let committed = commit(&rows).is_ok();
            for caller in waiting {
                let _ = caller.send(committed);
            }
        }
    });
    let timed = time_terminals(args, move |_, _| {
        let (answer, answered) = std::sync::mpsc::channel();
        queue.send((vec![0x5a; ENTRY_BYTES], answer)).is_ok() && answered.recv().unwrap_or(false)
    })?;
    writer.join().map_err(|_| io::Error::other("the peer's writer panicked"))?;
    if timed.authorized != timed.latencies.len() {
        return Err(io::Error::other(format!("the peer committed {} of its rows", timed.authorized)));
    }
    Ok(timed)
}

/// `args.terminals` threads, each calling `call(terminal, k)` for k in 0..`args.payments /
/// args.terminals`, one call after another, each timed; the calls that answer `true` are
/// counted. `call` (and whatever sender it holds) is dropped once every thread is done.
pub(crate) fn time_terminals<F: Fn(usize, usize) -> bool + Clone + Send + 'static>(
    args: &StoreBenchArgs,
    call: F,
) -> io::Result<Timed> {
    let per_terminal = args.payments / args.terminals;
    let started = Instant::now();
    let terminals: Vec<_> = (0..args.terminals)
        .map(|t| {
            let call = call.clone();
            thread::spawn(move || {
                let mut latencies = Vec::with_capacity(per_terminal);
                let mut succeeded = 0;
                for k in 0..per_terminal {
                    let t0 = Instant::now();
                    let ok = call(t, k);
                    latencies.push(t0.elapsed().as_secs_f64());
                    succeeded += usize::from(ok);
                }
                (latencies, succeeded)
            })
        })
        .collect();
    drop(call);
    let (mut latencies, mut succeeded) = (Vec::with_capacity(per_terminal * args.terminals), 0);
    for terminal in terminals {
        let (mine, ok) = terminal.join().map_err(|_| io::Error::other("a terminal thread panicked"))?;
        latencies.extend(mine);
        succeeded += ok;
    }
    Ok(Timed { wall: started.elapsed(), latencies, authorized: succeeded })
}

/// Synced 4 KiB writes a second to a file in `path`'s folder: how many durable commits a
/// second the disk itself allows, whatever a database does around them.
fn synced_writes_per_s(path: &std::path::Path, n: usize) -> io::Result<f64> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::create(path)?;
    let page = [0x5a_u8; 4096];
    let started = Instant::now();
    for k in 0..n {
        file.write_all_at(&page, (k % 16 * page.len()) as u64)?;
        file.sync_data()?;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    std::fs::remove_file(path)?;
    Ok(rate)
}

pub(crate) struct Timed {
    pub(crate) wall: Duration,
    pub(crate) latencies: Vec<f64>,
    pub(crate) authorized: usize,
}

fn per_s(timed: &Timed) -> f64 {
    timed.latencies.len() as f64 / timed.wall.as_secs_f64()
}

fn measured(store: String, single_per_s: f64, peer: Timed, auth: Timed) -> Measured {
    Measured {
        store,
        auth_per_s: per_s(&auth),
        auth_median_ms: percentile(&auth.latencies, 0.5) * 1e3,
        auth_p99_ms: percentile(&auth.latencies, 0.99) * 1e3,
        authorized: auth.authorized,
        peer_per_s: per_s(&peer),
        peer_median_ms: percentile(&peer.latencies, 0.5) * 1e3,
        peer_p99_ms: percentile(&peer.latencies, 0.99) * 1e3,
        single_per_s,
    }
}

/// `args.terminals` terminals each pay as their own shopper, one payment after another, through
/// one group-commit writer; every answer is durable before the terminal sees it.
fn time_authorizations<J: Journal + Send + 'static>(
    args: &StoreBenchArgs,
    open: impl Fn() -> io::Result<J>,
) -> io::Result<Timed> {
    let mut node = JournaledCore::open(config(), open()?).map_err(fail)?;
    let world: Vec<_> = world(args.terminals).into_iter().map(|command| (command, at(0))).collect();
    for reply in node.execute_all(world).map_err(fail)? {
        reply.map_err(|refused| io::Error::other(format!("the bench's world was refused: {refused}")))?;
    }
    let (submitter, submissions) = group_commit_queue(args.terminals * 2);
    let writer = thread::spawn(move || write_batches(&std::sync::Mutex::new(node), submissions, MAX_BATCH));
    let per_terminal = args.payments / args.terminals;
    let timed = time_terminals(args, move |t, k| {
        let id = (t * per_terminal + k + 1) as u128;
        let answer = submitter.submit(Command::StartPayment(payment(id, t as u128)), at(id as i64));
        matches!(answer, Ok(Ok(Reply::Payment(view))) if view.state == PaymentState::Authorized)
    })?;
    writer.join().map_err(|_| io::Error::other("the writer panicked"))?.map_err(io::Error::other)?;
    Ok(timed)
}

fn eur() -> Currency {
    Currency::new("EUR").expect("a valid currency")
}

pub(crate) fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_800_000_000_000 + ms)
}

pub(crate) fn config() -> CoreConfig {
    // Risk rules off in effect: the bench measures storage, not how fast terminals may pay.
    let never = CountRule { window_ms: 60_000, step_up_at: u32::MAX, decline_at: u32::MAX };
    CoreConfig {
        currency: eur(),
        limits: LimitTable::default(),
        pin_policy: PinPolicy { always: false, above_amount_minor: None, on_elevated_risk: false },
        outcome_timeout_ms: 30_000,
        hold_timeout_ms: 600_000,
        funding_source: AccountId(1),
        reserve_account: AccountId(2),
        risk: RiskConfig { shopper_velocity: never, terminal_velocity: never, ..RiskConfig::default() },
        retention: Retention::DEFAULT,
    }
}

/// One merchant; per terminal, the terminal and its own shopper with a full wallet.
pub(crate) fn world(terminals: usize) -> Vec<Command> {
    let merchant = MerchantId::from_u128(1);
    let mut commands = vec![Command::RegisterMerchant {
        merchant,
        acquirer: AcquirerId(1),
        risk: MerchantRisk::Low,
        account: AccountId(10),
    }];
    // Real personal keys, so each sign-up journals what a real one does.
    let keys = Keyring::generate("bench").expect("a fresh key file");
    let vault = Vault::new(Keyring::parse(keys.expose_secret()).expect("the key file just made"));
    for t in 0..terminals as u128 {
        let (shopper, wallet) = (ShopperId::from_u128(t + 1), AccountId(1_000 + t));
        let (personal, _) = vault.new_personal_key(shopper);
        let digits = format!("{:04}", t % 10_000);
        let phone = personal.seal(PersonalField::PhoneDigits, digits.as_bytes());
        let phone_digest = personal.digest(PersonalField::PhoneDigits, digits.as_bytes());
        commands.extend([
            Command::RegisterTerminal { terminal: TerminalId::from_u128(t + 1), merchant },
            Command::EnrollShopper { shopper, phone, phone_digest },
            Command::BindWallet { shopper, account: wallet, make_default: true },
            Command::TopUp { account: wallet, amount_minor: 1_000_000_000, transfer_id: TransferId(t + 1) },
        ]);
    }
    commands
}

pub(crate) fn payment(id: u128, terminal: u128) -> StartPayment {
    StartPayment {
        payment_id: PaymentId::from_u128(id),
        terminal: TerminalId::from_u128(terminal + 1),
        idempotency_key: format!("order-{id}"),
        amount: Money::new(100, eur()),
        transaction_type: TransactionType::Purchase,
        liveness_passed: true,
        identification: Identification::Match(ShopperId::from_u128(terminal + 1)),
        order_id: None,
    }
}

fn print_table(
    args: &StoreBenchArgs,
    results: &[Measured],
    disk_syncs_per_s: f64,
    out: &mut dyn Write,
) -> io::Result<()> {
    let payments = args.payments / args.terminals * args.terminals;
    writeln!(
        out,
        "\n{payments} payments from {} terminals at once, up to {MAX_BATCH} a commit; the peer commits \
         {payments} rows of {ENTRY_BYTES} bytes the same way (same terminals, same batching, no core); \
         single = {} rows, one durable commit each, from one thread\n",
        args.terminals, args.raw_inserts
    )?;
    writeln!(
        out,
        "| store | durable authorizations/s | median / p99 ms | peer: batched durable rows/s | median / p99 ms | \
         facepay/peer | single-row commits/s |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    for m in results {
        writeln!(
            out,
            "| {} | {:.0} ({} authorized) | {:.2} / {:.2} | {:.0} | {:.2} / {:.2} | {:.2}x | {:.0} |",
            m.store,
            m.auth_per_s,
            m.authorized,
            m.auth_median_ms,
            m.auth_p99_ms,
            m.peer_per_s,
            m.peer_median_ms,
            m.peer_p99_ms,
            m.auth_per_s / m.peer_per_s,
            m.single_per_s,
        )?;
    }
    writeln!(
        out,
        "\nthe disk under SQLite: {disk_syncs_per_s:.0} synced 4 KiB writes/s, the most durable commits a second \
         any store can make there"
    )?;
    Ok(())
}

fn to_json(args: &StoreBenchArgs, results: &[Measured], disk_syncs_per_s: f64) -> serde_json::Value {
    let stores: Vec<_> = results
        .iter()
        .map(|m| {
            serde_json::json!({
                "store": m.store,
                "auth_per_s": m.auth_per_s,
                "auth_ms_median": m.auth_median_ms,
                "auth_ms_p99": m.auth_p99_ms,
                "authorized": m.authorized,
                "peer_rows_per_s": m.peer_per_s,
                "peer_ms_median": m.peer_median_ms,
                "peer_ms_p99": m.peer_p99_ms,
                "ratio_to_peer": m.auth_per_s / m.peer_per_s,
                "single_row_commits_per_s": m.single_per_s,
            })
        })
        .collect();
    serde_json::json!({
        "payments": args.payments,
        "terminals": args.terminals,
        "max_batch": MAX_BATCH,
        "disk_synced_writes_per_s": disk_syncs_per_s,
        "stores": stores,
    })
}
