//! The peer `facepay bench store` measures the journal against: single-row inserts, one durable
//! commit each, in the same database. No store can commit one row durably faster through the
//! same server and disk, so it is the closest thing to a physical limit here.

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
