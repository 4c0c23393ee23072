//! The vault's port on the same SQLite file, in tables of their own: `enrolled_faces` (wrapped
//! data key and sealed template by pseudonym), `enrollment_images`, `personal_keys` (the wrapped
//! key each shopper's journaled personal fields are sealed under) and `biometric_changes` (the
//! feed other processes follow). No table here holds a shopper id, a phone number or an account.
//!
//! The connection deletes with `secure_delete` on, and a shred ends with a WAL checkpoint, so a
//! destroyed data key does not linger in the file's free pages or in old WAL frames.

use std::path::Path;

use facepay_payments::JournalError;
use facepay_vault::{
    BiometricStore, KeyKind, Pseudonym, SealedEnrollment, StoredTemplate, VaultError, WrappedKey,
};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior};

use crate::journal::connect;
use crate::migrations::migrate;

/// One connection to the store's file for biometric records; open one per node.
#[derive(Debug)]
pub struct SqliteBiometricStore {
    connection: Connection,
}

impl SqliteBiometricStore {
    /// Opens (creating if needed) the file at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteBiometricStore, JournalError> {
        let mut connection = connect(path)?;
        migrate(&mut connection)?;
        connection.execute_batch("PRAGMA secure_delete = ON").map_err(crate::journal::unavailable)?;
        Ok(SqliteBiometricStore { connection })
    }
}

impl BiometricStore for SqliteBiometricStore {
    fn put(
        &mut self,
        enrollment: &SealedEnrollment,
        unchanged_since: Option<u64>,
    ) -> Result<bool, VaultError> {
        let pseudonym = &enrollment.pseudonym.as_bytes()[..];
        // The write lock first: no other writer can move the last change until this commits.
        let tx = self.connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        if let Some(seen) = unchanged_since
            && last_change(&tx)? != seen
        {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO enrolled_faces (pseudonym, wrapped_key, template) VALUES (?1, ?2, ?3)
             ON CONFLICT (pseudonym) DO UPDATE SET wrapped_key = excluded.wrapped_key, template = excluded.template",
            (pseudonym, enrollment.wrapped_key.as_bytes(), &enrollment.template),
        )
        .map_err(failed)?;
        tx.execute("DELETE FROM enrollment_images WHERE pseudonym = ?1", [pseudonym]).map_err(failed)?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO enrollment_images (pseudonym, sealed) VALUES (?1, ?2)")
                .map_err(failed)?;
            for image in &enrollment.images {
                insert.execute((pseudonym, image)).map_err(failed)?;
            }
        }
        record_change(&tx, pseudonym)?;
        tx.commit().map_err(failed)?;
        Ok(true)
    }

    fn shred(&mut self, pseudonym: &Pseudonym) -> Result<bool, VaultError> {
        let pseudonym = &pseudonym.as_bytes()[..];
        let tx = self.connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        // The images go with their face (ON DELETE CASCADE).
        let deleted =
            tx.execute("DELETE FROM enrolled_faces WHERE pseudonym = ?1", [pseudonym]).map_err(failed)?;
        if deleted > 0 {
            record_change(&tx, pseudonym)?;
        }
        let personal =
            tx.execute("DELETE FROM personal_keys WHERE pseudonym = ?1", [pseudonym]).map_err(failed)?;
        tx.commit().map_err(failed)?;
        // Copies the zeroed pages into the file and empties the WAL, whose older frames still
        // hold the key. Busy readers can make it stop early; the frames are then overwritten as
        // the WAL is reused. Either way the key was wrapped under a master key.
        self.connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(failed)?;
        Ok(deleted + personal > 0)
    }

    fn keep_personal_key(
        &mut self,
        pseudonym: &Pseudonym,
        wrapped: &WrappedKey,
    ) -> Result<WrappedKey, VaultError> {
        let pseudonym = &pseudonym.as_bytes()[..];
        let tx = self.connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        tx.execute(
            "INSERT INTO personal_keys (pseudonym, wrapped_key) VALUES (?1, ?2) ON CONFLICT (pseudonym) DO NOTHING",
            (pseudonym, wrapped.as_bytes()),
        )
        .map_err(failed)?;
        let kept: Vec<u8> = tx
            .query_row("SELECT wrapped_key FROM personal_keys WHERE pseudonym = ?1", [pseudonym], |row| {
                row.get(0)
            })
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
        WrappedKey::from_stored(kept)
    }

    fn personal_key(&mut self, pseudonym: &Pseudonym) -> Result<Option<WrappedKey>, VaultError> {
        self.connection
            .prepare_cached("SELECT wrapped_key FROM personal_keys WHERE pseudonym = ?1")
            .map_err(failed)?
            .query_row([&pseudonym.as_bytes()[..]], |row| row.get::<_, Vec<u8>>(0))
            .optional()
            .map_err(failed)?
            .map(WrappedKey::from_stored)
            .transpose()
    }

    fn template(&mut self, pseudonym: &Pseudonym) -> Result<Option<StoredTemplate>, VaultError> {
        self.connection
            .prepare_cached(
                "SELECT pseudonym, wrapped_key, template FROM enrolled_faces WHERE pseudonym = ?1",
            )
            .map_err(failed)?
            .query_row([&pseudonym.as_bytes()[..]], template_row)
            .optional()
            .map_err(failed)?
            .map(stored_template)
            .transpose()
    }

    fn images(&mut self, pseudonym: &Pseudonym) -> Result<Vec<Vec<u8>>, VaultError> {
        let mut select = self
            .connection
            .prepare_cached("SELECT sealed FROM enrollment_images WHERE pseudonym = ?1 ORDER BY id")
            .map_err(failed)?;
        let rows = select.query_map([&pseudonym.as_bytes()[..]], |row| row.get(0)).map_err(failed)?;
        rows.collect::<Result<_, _>>().map_err(failed)
    }

    fn templates_after(
        &mut self,
        after: Option<&Pseudonym>,
        limit: usize,
    ) -> Result<Vec<StoredTemplate>, VaultError> {
        let mut select = self
            .connection
            .prepare_cached(
                "SELECT pseudonym, wrapped_key, template FROM enrolled_faces
                 WHERE pseudonym > ?1 ORDER BY pseudonym LIMIT ?2",
            )
            .map_err(failed)?;
        // Every pseudonym is 32 bytes, so the empty blob sorts before all of them.
        let after: &[u8] = after.map_or(&[], |p| &p.as_bytes()[..]);
        let rows = select.query_map((after, limit as i64), template_row).map_err(failed)?;
        rows.map(|row| stored_template(row.map_err(failed)?)).collect()
    }

    fn last_change(&mut self) -> Result<u64, VaultError> {
        last_change(&self.connection)
    }

    fn changes_after(&mut self, after: u64, limit: usize) -> Result<Vec<(u64, Pseudonym)>, VaultError> {
        let mut select = self
            .connection
            .prepare_cached(
                "SELECT seq, pseudonym FROM biometric_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(failed)?;
        let rows = select
            .query_map((after as i64, limit as i64), |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
            })
            .map_err(failed)?;
        rows.map(|row| {
            let (seq, pseudonym) = row.map_err(failed)?;
            Ok((seq as u64, Pseudonym::from_stored(&pseudonym)?))
        })
        .collect()
    }

    fn keys_not_under(
        &mut self,
        kind: KeyKind,
        master_id: &str,
        after: Option<&Pseudonym>,
        limit: usize,
    ) -> Result<Vec<(Pseudonym, WrappedKey)>, VaultError> {
        // The master id sits in the wrapped key's header (see `vault::WrappedKey`); the filter
        // is done here rather than in SQL so the layout stays the vault's business.
        let mut select = self
            .connection
            .prepare_cached(match kind {
                KeyKind::Face => {
                    "SELECT pseudonym, wrapped_key FROM enrolled_faces WHERE pseudonym > ?1 ORDER BY pseudonym"
                }
                KeyKind::Personal => {
                    "SELECT pseudonym, wrapped_key FROM personal_keys WHERE pseudonym > ?1 ORDER BY pseudonym"
                }
            })
            .map_err(failed)?;
        // Every pseudonym is 32 bytes, so the empty blob sorts before all of them.
        let after: &[u8] = after.map_or(&[], |p| &p.as_bytes()[..]);
        let rows = select
            .query_map([after], |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?)))
            .map_err(failed)?;
        let mut found = Vec::new();
        for row in rows {
            let (pseudonym, wrapped) = row.map_err(failed)?;
            let wrapped = WrappedKey::from_stored(wrapped)?;
            if wrapped.master_id() != master_id {
                found.push((Pseudonym::from_stored(&pseudonym)?, wrapped));
                if found.len() == limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    fn replace_key(
        &mut self,
        kind: KeyKind,
        pseudonym: &Pseudonym,
        old: &WrappedKey,
        new: &WrappedKey,
    ) -> Result<bool, VaultError> {
        let update = match kind {
            KeyKind::Face => {
                "UPDATE enrolled_faces SET wrapped_key = ?3 WHERE pseudonym = ?1 AND wrapped_key = ?2"
            }
            KeyKind::Personal => {
                "UPDATE personal_keys SET wrapped_key = ?3 WHERE pseudonym = ?1 AND wrapped_key = ?2"
            }
        };
        let replaced = self
            .connection
            .execute(update, (&pseudonym.as_bytes()[..], old.as_bytes(), new.as_bytes()))
            .map_err(failed)?;
        Ok(replaced == 1)
    }
}

/// One change row per pseudonym, at its newest change: the feed says what changed, a follower
/// reads how it is now.
/// The last change's number: the AUTOINCREMENT counter, which a shred of the newest row does
/// not roll back.
fn last_change(connection: &Connection) -> Result<u64, VaultError> {
    let seq: Option<i64> = connection
        .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'biometric_changes'", [], |row| row.get(0))
        .optional()
        .map_err(failed)?;
    Ok(seq.unwrap_or(0) as u64)
}

fn record_change(tx: &Connection, pseudonym: &[u8]) -> Result<(), VaultError> {
    tx.execute("DELETE FROM biometric_changes WHERE pseudonym = ?1", [pseudonym]).map_err(failed)?;
    tx.execute("INSERT INTO biometric_changes (pseudonym) VALUES (?1)", [pseudonym]).map_err(failed)?;
    Ok(())
}

/// `pseudonym, wrapped_key, template` as the row holds them.
type TemplateRow = (Vec<u8>, Vec<u8>, Vec<u8>);

fn template_row(row: &Row<'_>) -> rusqlite::Result<TemplateRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn stored_template((pseudonym, wrapped, template): TemplateRow) -> Result<StoredTemplate, VaultError> {
    Ok(StoredTemplate {
        pseudonym: Pseudonym::from_stored(&pseudonym)?,
        wrapped_key: WrappedKey::from_stored(wrapped)?,
        template,
    })
}

fn failed(err: rusqlite::Error) -> VaultError {
    VaultError::StoreUnavailable(err.to_string())
}
