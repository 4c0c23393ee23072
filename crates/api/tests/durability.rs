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

use std::collections::HashMap;
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
        .args(["-f", "-y", "-qq", "-s", "64", "-e", "trace=pwrite64,write,fsync,fdatasync", "-o"])
        .arg(&trace)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &file)
        .stdout(Stdio::null())
        .status()
        .expect("strace runs (scripts/test installs it)");
    assert!(status.success(), "the child paid without failing");
    let checked = check_answers_follow_syncs(&std::fs::read_to_string(&trace).unwrap());
    assert_eq!(checked.answers, PAYMENTS, "every payment's answer was seen in the trace");
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

/// Walks an `strace -f -y` log in order. A call another thread interrupts is split into an
/// `<unfinished ...>` line and a `<... resumed>` line; a write counts from where it finished,
/// a sync covers the writes finished before it began, and an answer counts from where it began.
fn check_answers_follow_syncs(trace: &str) -> Checked {
    let mut checked = Checked::default();
    // Per thread: the call left unfinished, and the line it began on.
    let mut unfinished: HashMap<&str, (Call, usize)> = HashMap::new();
    let (mut last_wal_write, mut synced_before) = (None::<usize>, 0);
    for (line_number, line) in trace.lines().enumerate() {
        let Some((thread, rest)) = line.split_once(' ') else { continue };
        let (call, began) = if rest.starts_with("<... ") {
            match unfinished.remove(thread) {
                Some(begun) => begun,
                None => continue,
            }
        } else {
            let call = Call::of(rest);
            if rest.ends_with("<unfinished ...>") {
                unfinished.insert(thread, (call, line_number));
                if call == Call::Answer {
                    checked.answers += 1;
                    assert_durable(last_wal_write, synced_before, line);
                }
                continue;
            }
            (call, line_number)
        };
        match call {
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
    WalWrite,
    WalSync,
    Answer,
    Other,
}

impl Call {
    fn of(call: &str) -> Call {
        let on_wal = call.contains(".sqlite-wal>");
        if on_wal && (call.starts_with("pwrite64(") || call.starts_with("write(")) {
            Call::WalWrite
        } else if on_wal && (call.starts_with("fsync(") || call.starts_with("fdatasync(")) {
            Call::WalSync
        } else if call.starts_with("write(1<") && call.contains(ANSWERED) {
            Call::Answer
        } else {
            Call::Other
        }
    }
}
