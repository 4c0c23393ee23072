//! Durability shown, not assumed: no payment's answer leaves the switch before the commit that
//! journaled it is on the disk. The SIGKILL crash test cannot show this, since the kernel's page
//! cache outlives a killed process: it passes with `synchronous = OFF`. Here this binary runs a
//! copy of itself under `strace`, which records, in order, every write to and every sync of the
//! SQLite file's WAL and every answer the copy hands out (a line it prints as soon as the router
//! answers a payment); each answer must come after a sync that began after the last WAL write
//! before it. With `synchronous = OFF`, or `NORMAL` (which in WAL mode syncs only at
//! checkpoints), the WAL's writes before an answer are unsynced and the test fails.
#![allow(clippy::disallowed_methods)] // reads the child's environment
#![allow(clippy::print_stdout)] // the child's answers are lines on its stdout, which strace records

mod common;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use axum::http::StatusCode;
use common::*;
use facepay_store_sqlite::{SqliteBiometricStore, SqliteJournal};
use facepay_vault::Keyring;

/// Set in the child's environment to the SQLite file it pays through.
const CHILD_ENV: &str = "FACEPAY_DURABILITY_CHILD_FILE";
/// What the child prints before a payment's id once its answer is in hand.
const ANSWERED: &str = "answered pay_";
const PAYMENTS: usize = 12;

#[test]
fn no_payment_is_answered_before_its_commit_is_synced() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("facepay.sqlite");
    let trace = folder.path().join("strace.txt");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-s", "256", "-e", "trace=openat,close,pwrite64,write,fsync,fdatasync", "-o"])
        .arg(&trace)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &file)
        .stdout(Stdio::null())
        .status()
        .expect("strace runs (scripts/test installs it)");
    assert!(status.success(), "the child paid without failing");
    let trace = std::fs::read_to_string(&trace).unwrap();
    let checked = check_answers_follow_syncs(&trace);
    let opening: Vec<&str> = trace.lines().take(40).collect();
    assert_eq!(
        checked.answers,
        PAYMENTS,
        "every payment's answer was seen in the trace, which opens:\n{}",
        opening.join("\n")
    );
    assert!(checked.wal_writes > 0 && checked.wal_syncs > 0, "the trace saw the WAL: {checked:?}");
}

/// The child: does nothing unless the test above started this binary under strace.
#[test]
fn child() {
    let Ok(file) = std::env::var(CHILD_ENV) else { return };
    tokio::runtime::Runtime::new().unwrap().block_on(pay_and_announce(Path::new(&file)));
}

/// A node on the SQLite file as `serve` opens it; one shopper pays `PAYMENTS` times, and each
/// answer is announced on stdout the moment the router hands it back.
async fn pay_and_announce(file: &Path) {
    let keys = Keyring::generate("k1").unwrap().expose_secret().clone();
    let node = node_on_stores(
        Box::new(SqliteJournal::open_writer(file).unwrap()),
        Box::new(SqliteJournal::open(file).unwrap()),
        SqliteBiometricStore::open(file).unwrap(),
        &keys,
        config(),
    );
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 1_000_000).await;
    let mut out = std::io::stdout().lock();
    for k in 0..PAYMENTS {
        let body = pay_body(100 + k as i64, &format!("durable-{k}"), "face:1");
        let (status, paid) =
            send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &body)).await;
        assert_eq!(status, StatusCode::OK, "{paid}");
        let id = paid["payment_id"].as_str().unwrap().trim_start_matches("pay_");
        writeln!(out, "{ANSWERED}{id}").and_then(|()| out.flush()).unwrap();
    }
}

#[derive(Debug, Default)]
struct Checked {
    answers: usize,
    wal_writes: usize,
    wal_syncs: usize,
}

/// Walks an `strace -f` log in order. A call another thread interrupts is split into an
/// `<unfinished ...>` line and a `<... resumed>` line; a write counts from where it finished,
/// a sync covers the writes finished before it began, and an answer counts from where it began.
/// The WAL is known by the descriptor its `openat` returned, not by strace's `-y` decoration,
/// which needs `/proc/PID/fd` links that a sandbox may hide.
fn check_answers_follow_syncs(trace: &str) -> Checked {
    let mut checked = Checked::default();
    // The child is one process, so its threads share one descriptor table.
    let mut wal_descriptors: HashSet<u32> = HashSet::new();
    // Per thread: the call left unfinished, and the line it began on.
    let mut unfinished: HashMap<&str, (Call, usize)> = HashMap::new();
    let (mut last_wal_write, mut synced_before) = (None::<usize>, 0);
    for (line_number, line) in trace.lines().enumerate() {
        // strace pads short thread ids: "812  write(...)".
        let Some((thread, rest)) = line.split_once(' ').map(|(thread, rest)| (thread, rest.trim_start()))
        else {
            continue;
        };
        let (call, began) = if rest.starts_with("<... ") {
            match unfinished.remove(thread) {
                Some(begun) => begun,
                None => continue,
            }
        } else {
            let call = Call::of(rest, &wal_descriptors);
            if rest.ends_with("<unfinished ...>") {
                unfinished.insert(thread, (call, line_number));
                if call == Call::Answer {
                    checked.answers += 1;
                    assert_durable(last_wal_write, synced_before, line);
                }
                if let Call::Close(descriptor) = call {
                    wal_descriptors.remove(&descriptor);
                }
                continue;
            }
            (call, line_number)
        };
        match call {
            Call::OpenWal => {
                if let Some(descriptor) = returned_descriptor(rest) {
                    wal_descriptors.insert(descriptor);
                }
            }
            Call::Close(descriptor) => {
                wal_descriptors.remove(&descriptor);
            }
            Call::WalWrite => {
                checked.wal_writes += 1;
                last_wal_write = Some(line_number);
            }
            Call::WalSync => {
                checked.wal_syncs += 1;
                synced_before = synced_before.max(began);
            }
            Call::Answer if began == line_number => {
                checked.answers += 1;
                assert_durable(last_wal_write, synced_before, line);
            }
            Call::Answer | Call::Other => {}
        }
    }
    checked
}

fn assert_durable(last_wal_write: Option<usize>, synced_before: usize, answer: &str) {
    if let Some(written) = last_wal_write {
        assert!(
            synced_before > written,
            "answered with the WAL written at trace line {} and not synced since: {answer}",
            written + 1
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    OpenWal,
    Close(u32),
    WalWrite,
    WalSync,
    Answer,
    Other,
}

impl Call {
    fn of(call: &str, wal_descriptors: &HashSet<u32>) -> Call {
        let (name, arguments) = call.split_once('(').unwrap_or((call, ""));
        let on_wal = first_descriptor(arguments).is_some_and(|fd| wal_descriptors.contains(&fd));
        match name {
            "openat" if arguments.contains(".sqlite-wal\"") => Call::OpenWal,
            "close" => first_descriptor(arguments).map_or(Call::Other, Call::Close),
            "pwrite64" | "write" if on_wal => Call::WalWrite,
            "fsync" | "fdatasync" if on_wal => Call::WalSync,
            "write" if first_descriptor(arguments) == Some(1) && arguments.contains(ANSWERED) => Call::Answer,
            _ => Call::Other,
        }
    }
}

/// The descriptor a call's first argument names: `7, ...` or `7)`.
fn first_descriptor(arguments: &str) -> Option<u32> {
    let digits = arguments.find(|c: char| !c.is_ascii_digit()).map_or(arguments, |end| &arguments[..end]);
    digits.parse().ok()
}

/// What a finished call returned, when it is a descriptor: the line ends `= 7`.
fn returned_descriptor(line: &str) -> Option<u32> {
    line.rsplit_once(" = ")?.1.trim().parse().ok()
}

#[test]
fn the_trace_reader_finds_the_wal_by_its_descriptor() {
    let synced = "1   openat(AT_FDCWD, \"/t/f.sqlite-wal\", O_RDWR|O_CREAT, 0644) = 7\n\
                  2 pwrite64(7, \"x\", 1, 0 <unfinished ...>\n\
                  1 write(8, \"x\", 1) = 1\n\
                  2 <... pwrite64 resumed>) = 1\n\
                  2 fdatasync(7) = 0\n\
                  3 write(1, \"answered pay_ab\\n\", 16) = 16\n";
    let checked = check_answers_follow_syncs(synced);
    assert_eq!((checked.answers, checked.wal_writes, checked.wal_syncs), (1, 1, 1));
    let unsynced = synced.replace("2 fdatasync(7) = 0", "2 fdatasync(8) = 0");
    let refused = std::panic::catch_unwind(|| check_answers_follow_syncs(&unsynced));
    assert!(refused.is_err(), "an answer after an unsynced WAL write is refused");
    let reopened = synced.replace("2 pwrite64(7", "1 close(7) = 0\n2 pwrite64(7");
    assert_eq!(check_answers_follow_syncs(&reopened).wal_writes, 0, "a closed descriptor is no WAL");
}
