//! The peer `facepay bench store` measures the journal against: single-row inserts, one durable
//! commit each, on a file with the journal's own settings. No store can commit one row durably
//! faster on the same disk, so it is the closest thing to a physical limit here.

use std::path::Path;

use facepay_payments::JournalError;
use rusqlite::Connection;

use crate::journal::{connect, unavailable};

#[derive(Debug)]
pub struct RawInserts {
    connection: Connection,
}

impl RawInserts {
    /// A scratch table in the file at `path` (WAL, `synchronous = FULL`).
    pub fn open(path: &Path) -> Result<RawInserts, JournalError> {
        let connection = connect(path)?;
        connection
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS raw_inserts (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)",
            )
            .map_err(unavailable)?;
        Ok(RawInserts { connection })
    }

    /// Inserts one row and commits it durably.
    pub fn insert_one(&mut self, payload: &[u8]) -> Result<(), JournalError> {
        let mut insert = self
            .connection
            .prepare_cached("INSERT INTO raw_inserts (payload) VALUES (?1)")
            .map_err(unavailable)?;
        insert.execute([payload]).map_err(unavailable)?;
        Ok(())
    }
}
