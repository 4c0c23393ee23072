//! `facepay audit verify`: recomputes the audit log's hash chain from the store and checks it
//! ends at the head the journal built, so an auditor can compare that head with the one they
//! kept. `serve` runs the same check at every start and refuses to serve over a broken log.

use std::io::{self, Write};

use facepay_payments::JournaledCore;

use crate::config::Config;
use crate::serve::{core_config, open_journal, store_error};

pub fn verify(config: &Config, out: &mut dyn Write) -> io::Result<bool> {
    let checked = open_journal(&config.database).and_then(|journal| {
        let mut node = JournaledCore::open(core_config(), journal).map_err(store_error)?;
        node.verify_audit().map_err(|err| format!("{err} [{}]", err.code()))
    });
    match checked {
        Ok((length, head)) => {
            writeln!(out, "{}: the audit log checks out", config.database.describe())?;
            writeln!(out, "entries: {length}\nhead: {}", facepay_api::hex(&head))?;
            Ok(true)
        }
        Err(err) => {
            writeln!(out, "{}: {err}", config.database.describe())?;
            Ok(false)
        }
    }
}
