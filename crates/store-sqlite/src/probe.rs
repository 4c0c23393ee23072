//! The peers `facepay bench store` measures the journal against, on a file with the journal's
//! own settings: rows of a journal entry's size committed in batches as the journal's writer
//! batches commands (the like-for-like peer: the same durable commits without the payment core
//! or the read model), and single rows, one durable commit each.

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

    /// Inserts `rows` and commits them durably, as one transaction.
    pub fn insert_batch(&mut self, rows: &[Vec<u8>]) -> Result<(), JournalError> {
        let transaction = self.connection.transaction().map_err(unavailable)?;
        {
            let mut insert = transaction
                .prepare_cached("INSERT INTO raw_inserts (payload) VALUES (?1)")
                .map_err(unavailable)?;
            for row in rows {
                insert.execute([row]).map_err(unavailable)?;
            }
        }
        transaction.commit().map_err(unavailable)
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
