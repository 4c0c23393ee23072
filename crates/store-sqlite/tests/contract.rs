//! The storage contract on SQLite: each case on a new file in its own temporary folder.

use facepay_store_contract::{Database, contract_tests};
use facepay_store_sqlite::SqliteJournal;

struct SqliteDatabase(tempfile::TempDir);

impl Database for SqliteDatabase {
    type Journal = SqliteJournal;
    fn connect(&self) -> SqliteJournal {
        SqliteJournal::open(&self.0.path().join("facepay.sqlite")).expect("the file opens")
    }
}

fn fresh() -> SqliteDatabase {
    SqliteDatabase(tempfile::tempdir().expect("a temporary folder"))
}

contract_tests!(fresh());
