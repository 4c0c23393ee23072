//! The crash test on SQLite: this binary kills copies of itself mid-payment with SIGKILL (20
//! times in CI, `FACEPAY_CRASH_KILLS` for more) and checks the file after each.
#![allow(clippy::disallowed_methods)] // reads the crash test's environment

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use facepay_store_contract::Database;
use facepay_store_contract::crash::{CHILD_ENV, crash_child, crash_test};
use facepay_store_sqlite::SqliteJournal;

const FILE_ENV: &str = "FACEPAY_CRASH_SQLITE_FILE";

struct File(PathBuf);

impl Database for File {
    type Journal = SqliteJournal;
    fn connect(&self) -> SqliteJournal {
        SqliteJournal::open_writer(&self.0).expect("the file opens")
    }
    fn corrupt_checkpoint(&self, seq: u64) {
        let connection = rusqlite::Connection::open(&self.0).expect("the file opens");
        let sql = "UPDATE checkpoints SET body = CAST(body || x'00' AS BLOB) WHERE seq = ?1";
        connection.execute(sql, [seq as i64]).expect("the update runs");
    }
    fn tamper_audit(&self, seq: u64) {
        let connection = rusqlite::Connection::open(&self.0).expect("the file opens");
        let sql = "UPDATE audit_log SET actor = 'key_someone_else' WHERE seq = ?1";
        connection.execute(sql, [seq as i64]).expect("the update runs");
    }
    fn drop_stored_audit(&self) {
        let connection = rusqlite::Connection::open(&self.0).expect("the file opens");
        connection.execute("DELETE FROM audit_log", []).expect("the delete runs");
    }
}

#[test]
fn acknowledged_payments_survive_sigkill() {
    let folder = tempfile::tempdir().unwrap();
    let file = File(folder.path().join("facepay.sqlite"));
    let kills = std::env::var("FACEPAY_CRASH_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(20);
    let spawn = |first_id: u128| {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, first_id.to_string())
            .env(FILE_ENV, &file.0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the test binary starts again as the child")
    };
    crash_test(&file, spawn, kills, 0x5eed, Duration::from_millis(300));
}

/// The child: does nothing unless the crash test started this binary.
#[test]
fn child() {
    let (Ok(first_id), Ok(path)) = (std::env::var(CHILD_ENV), std::env::var(FILE_ENV)) else { return };
    crash_child(&File(path.into()), first_id.parse().expect("a payment id"));
}
