//! The peers `facepay bench store` measures the journal against, in the same database: rows of
//! a journal entry's size committed in batches as the journal's writer batches commands (the
//! like-for-like peer: the same durable commits without the payment core or the read model),
//! and single rows, one durable commit each.

use facepay_payments::JournalError;
use postgres::Client;

use crate::journal::{connect, unavailable};

pub struct RawInserts {
    client: Client,
}

impl std::fmt::Debug for RawInserts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawInserts")
    }
}

impl RawInserts {
    /// A scratch table in `schema` (created if missing).
    pub fn open(url: &str, schema: &str) -> Result<RawInserts, JournalError> {
        let mut client = connect(url, schema)?;
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS raw_inserts (id BIGSERIAL PRIMARY KEY, payload BYTEA NOT NULL)",
            )
            .map_err(unavailable)?;
        Ok(RawInserts { client })
    }

    /// Inserts `rows` and commits them durably, as one transaction.
    pub fn insert_batch(&mut self, rows: &[Vec<u8>]) -> Result<(), JournalError> {
        let mut transaction = self.client.transaction().map_err(unavailable)?;
        let insert =
            transaction.prepare("INSERT INTO raw_inserts (payload) VALUES ($1)").map_err(unavailable)?;
        for row in rows {
            transaction.execute(&insert, &[row]).map_err(unavailable)?;
        }
        transaction.commit().map_err(unavailable)
    }

    /// Inserts one row and commits it durably (autocommit).
    pub fn insert_one(&mut self, payload: &[u8]) -> Result<(), JournalError> {
        self.client
            .execute("INSERT INTO raw_inserts (payload) VALUES ($1)", &[&payload])
            .map_err(unavailable)?;
        Ok(())
    }
}

/// Drops `schema` and everything in it: the bench's scratch schema when it is done.
pub fn drop_schema(url: &str, schema: &str) -> Result<(), JournalError> {
    let mut client = connect(url, schema)?;
    client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).map_err(unavailable)
}
