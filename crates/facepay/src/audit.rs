//! `facepay audit verify`: recomputes the audit log's hash chain from the store and checks it
//! ends at the head the journal built, so an auditor can compare that head with the one they
//! kept. `serve` runs the same check at every start and refuses to serve over a broken log.

use std::io::{self, Write};

use facepay_payments::{Journal, JournaledCore};
use facepay_store_postgres::PostgresJournal;
use facepay_store_sqlite::SqliteJournal;

use crate::config::{Config, Database};
use crate::serve::{core_config, store_error};

pub fn verify(config: &Config, out: &mut dyn Write) -> io::Result<bool> {
    let journal: Result<Box<dyn Journal + Send>, String> = match &config.database {
        Database::Sqlite { path } => SqliteJournal::open(path).map(|j| Box::new(j) as _).map_err(store_error),
        Database::Postgres { url } => PostgresJournal::connect(url, crate::POSTGRES_SCHEMA)
            .map(|j| Box::new(j) as _)
            .map_err(store_error),
    };
    let checked = journal.and_then(|journal| {
        let mut node = JournaledCore::open(core_config(), journal).map_err(store_error)?;
        node.verify_audit().map_err(|err| format!("{err} [{}]", err.code()))
    });
    match checked {
        Ok((length, head)) => {
            writeln!(out, "{}: the audit log checks out", config.database.describe())?;
            writeln!(out, "entries: {length}\nhead: {}", hex(&head))?;
            Ok(true)
        }
        Err(err) => {
            writeln!(out, "{}: {err}", config.database.describe())?;
            Ok(false)
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
