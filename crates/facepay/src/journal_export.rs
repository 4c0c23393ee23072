//! `facepay journal export`: every journal entry the store still holds, as JSON lines, so the
//! entries a pruning node drops can be kept elsewhere first. The last line gives the count, the
//! first and last entry numbers and the SHA-256 of every line before it, so an auditor checks
//! the file with `head -n -1 FILE | sha256sum`.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::serve::{open_journal, store_error};

pub fn export(config: &Config, to: &Path, out: &mut dyn Write) -> io::Result<bool> {
    let entries =
        open_journal(&config.database).and_then(|mut journal| journal.read_after(0).map_err(store_error));
    let entries = match entries {
        Ok(entries) => entries,
        Err(err) => {
            writeln!(out, "{}: {err}", config.database.describe())?;
            return Ok(false);
        }
    };
    let mut file = BufWriter::new(std::fs::File::create(to)?);
    let mut hash = Sha256::new();
    for entry in &entries {
        let line = serde_json::json!({
            "seq": entry.seq,
            "at_ms": entry.at.unix_ms,
            "refused": entry.refused,
            "command": serde_json::from_str::<serde_json::Value>(&entry.command.to_stored())?,
        });
        let line = format!("{line}\n");
        hash.update(line.as_bytes());
        file.write_all(line.as_bytes())?;
    }
    let digest = facepay_api::hex(&hash.finalize());
    let closing = serde_json::json!({
        "entries": entries.len(),
        "first_seq": entries.first().map(|entry| entry.seq),
        "last_seq": entries.last().map(|entry| entry.seq),
        "sha256": digest,
    });
    writeln!(file, "{closing}")?;
    file.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()?;
    writeln!(
        out,
        "wrote {} entries to {} (sha256 of the entry lines {digest})",
        entries.len(),
        to.display()
    )?;
    Ok(true)
}
