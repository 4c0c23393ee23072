//! The storage contract on SQLite: each case on a new file in its own temporary folder.

use facepay_store_contract::{Database, contract_tests};
use facepay_store_sqlite::SqliteJournal;

struct SqliteDatabase(tempfile::TempDir);

impl Database for SqliteDatabase {
    type Journal = SqliteJournal;
    fn connect(&self) -> SqliteJournal {
        // Every node writes through the connection `serve` writes through.
        SqliteJournal::open_writer(&self.0.path().join("facepay.sqlite")).expect("the file opens")
    }
    fn corrupt_checkpoint(&self, seq: u64) {
        corrupt_checkpoint(&self.0.path().join("facepay.sqlite"), seq);
    }
    fn tamper_audit(&self, seq: u64) {
        let connection =
            rusqlite::Connection::open(self.0.path().join("facepay.sqlite")).expect("the file opens");
        let sql = "UPDATE audit_log SET actor = 'key_someone_else' WHERE seq = ?1";
        assert_eq!(connection.execute(sql, [seq as i64]).expect("the update runs"), 1);
    }
    fn drop_stored_audit(&self) {
        let connection =
            rusqlite::Connection::open(self.0.path().join("facepay.sqlite")).expect("the file opens");
        connection.execute("DELETE FROM audit_log", []).expect("the delete runs");
    }
}

/// Appends a byte to the checkpoint's body, behind the store's back.
pub fn corrupt_checkpoint(file: &std::path::Path, seq: u64) {
    let connection = rusqlite::Connection::open(file).expect("the file opens");
    let sql = "UPDATE checkpoints SET body = CAST(body || x'00' AS BLOB) WHERE seq = ?1";
    assert_eq!(connection.execute(sql, [seq as i64]).expect("the update runs"), 1);
}

fn fresh() -> SqliteDatabase {
    SqliteDatabase(tempfile::tempdir().expect("a temporary folder"))
}

contract_tests!(fresh());
