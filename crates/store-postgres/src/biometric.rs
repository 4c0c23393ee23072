//! The vault's port on PostgreSQL, in tables of their own: `enrolled_faces` (wrapped data key
//! and sealed template by pseudonym), `enrollment_images`, `personal_keys` (the wrapped key each
//! shopper's journaled personal fields are sealed under) and `biometric_changes` (the feed
//! every node follows). No table here holds a shopper id, a phone number or an account.
//!
//! Change numbers come from the `biometric_head` row, taken under its row lock, so they are
//! handed out in commit order: a follower that read change `n` can never later meet a smaller one
//! committed late (which a sequence would allow).
//!
//! A shred deletes the rows; PostgreSQL keeps dead tuples until vacuum reuses them, and its WAL
//! and backups keep what they kept. The data key there is still wrapped under a master key, so
//! the shred is complete everywhere once a rotation has retired that master key.

use facepay_payments::JournalError;
use facepay_vault::{
    BiometricStore, KeyKind, Pseudonym, SealedEnrollment, StoredTemplate, VaultError, WrappedKey,
};
use postgres::{Client, Row, Transaction};

use crate::migrations::migrate;
use crate::session::Session;

/// One connection for biometric records; open one per node.
pub struct PostgresBiometricStore {
    session: Session,
}

impl std::fmt::Debug for PostgresBiometricStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresBiometricStore")
    }
}

impl PostgresBiometricStore {
    /// Connects with `url`, uses `schema` (created if missing) and brings it up to date.
    pub fn connect(url: &str, schema: &str) -> Result<PostgresBiometricStore, JournalError> {
        let mut session = Session::open(url, schema)?;
        migrate(session.client()?)?;
        Ok(PostgresBiometricStore { session })
    }

    fn client(&mut self) -> Result<&mut Client, VaultError> {
        self.session.client().map_err(|err| VaultError::StoreUnavailable(err.to_string()))
    }
}

impl BiometricStore for PostgresBiometricStore {
    fn put(
        &mut self,
        enrollment: &SealedEnrollment,
        unchanged_since: Option<u64>,
    ) -> Result<bool, VaultError> {
        let pseudonym = &enrollment.pseudonym.as_bytes()[..];
        let mut tx = self.client()?.transaction().map_err(failed)?;
        // Taking the next number locks the head row until commit: a change committed since the
        // caller looked shows as a gap, and this one is dropped (rolled back with `tx`).
        let change = next_change(&mut tx)?;
        if unchanged_since.is_some_and(|seen| change as u64 != seen + 1) {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO enrolled_faces (pseudonym, wrapped_key, template) VALUES ($1, $2, $3)
             ON CONFLICT (pseudonym) DO UPDATE SET wrapped_key = excluded.wrapped_key, template = excluded.template",
            &[&pseudonym, &enrollment.wrapped_key.as_bytes(), &enrollment.template],
        )
        .map_err(failed)?;
        tx.execute("DELETE FROM enrollment_images WHERE pseudonym = $1", &[&pseudonym]).map_err(failed)?;
        let insert = tx
            .prepare("INSERT INTO enrollment_images (pseudonym, sealed) VALUES ($1, $2)")
            .map_err(failed)?;
        for image in &enrollment.images {
            tx.execute(&insert, &[&pseudonym, image]).map_err(failed)?;
        }
        record_change(&mut tx, change, pseudonym)?;
        tx.commit().map_err(failed)?;
        Ok(true)
    }

    fn shred(&mut self, pseudonym: &Pseudonym) -> Result<bool, VaultError> {
        let pseudonym = &pseudonym.as_bytes()[..];
        let mut tx = self.client()?.transaction().map_err(failed)?;
        let change = next_change(&mut tx)?;
        // The images go with their face (ON DELETE CASCADE).
        let deleted =
            tx.execute("DELETE FROM enrolled_faces WHERE pseudonym = $1", &[&pseudonym]).map_err(failed)?;
        let personal =
            tx.execute("DELETE FROM personal_keys WHERE pseudonym = $1", &[&pseudonym]).map_err(failed)?;
        if deleted + personal == 0 {
            // Nothing changed: roll the change number back with the rest.
            return Ok(false);
        }
        if deleted > 0 {
            record_change(&mut tx, change, pseudonym)?;
        }
        tx.commit().map_err(failed)?;
        Ok(true)
    }

    fn keep_personal_key(
        &mut self,
        pseudonym: &Pseudonym,
        wrapped: &WrappedKey,
    ) -> Result<WrappedKey, VaultError> {
        let pseudonym = &pseudonym.as_bytes()[..];
        let mut tx = self.client()?.transaction().map_err(failed)?;
        tx.execute(
            "INSERT INTO personal_keys (pseudonym, wrapped_key) VALUES ($1, $2) ON CONFLICT (pseudonym) DO NOTHING",
            &[&pseudonym, &wrapped.as_bytes()],
        )
        .map_err(failed)?;
        let kept = tx
            .query_one("SELECT wrapped_key FROM personal_keys WHERE pseudonym = $1", &[&pseudonym])
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
        WrappedKey::from_stored(kept.get(0))
    }

    fn personal_key(&mut self, pseudonym: &Pseudonym) -> Result<Option<WrappedKey>, VaultError> {
        self.client()?
            .query_opt(
                "SELECT wrapped_key FROM personal_keys WHERE pseudonym = $1",
                &[&&pseudonym.as_bytes()[..]],
            )
            .map_err(failed)?
            .map(|row| WrappedKey::from_stored(row.get(0)))
            .transpose()
    }

    fn template(&mut self, pseudonym: &Pseudonym) -> Result<Option<StoredTemplate>, VaultError> {
        self.client()?
            .query_opt(
                "SELECT pseudonym, wrapped_key, template FROM enrolled_faces WHERE pseudonym = $1",
                &[&&pseudonym.as_bytes()[..]],
            )
            .map_err(failed)?
            .map(read_template)
            .transpose()
    }

    fn images(&mut self, pseudonym: &Pseudonym) -> Result<Vec<Vec<u8>>, VaultError> {
        let rows = self
            .client()?
            .query(
                "SELECT sealed FROM enrollment_images WHERE pseudonym = $1 ORDER BY id",
                &[&&pseudonym.as_bytes()[..]],
            )
            .map_err(failed)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn templates_after(
        &mut self,
        after: Option<&Pseudonym>,
        limit: usize,
    ) -> Result<Vec<StoredTemplate>, VaultError> {
        // Every pseudonym is 32 bytes, so the empty string sorts before all of them.
        let after: &[u8] = after.map_or(&[], |p| &p.as_bytes()[..]);
        let rows = self
            .client()?
            .query(
                "SELECT pseudonym, wrapped_key, template FROM enrolled_faces
                 WHERE pseudonym > $1 ORDER BY pseudonym LIMIT $2",
                &[&after, &(limit as i64)],
            )
            .map_err(failed)?;
        rows.into_iter().map(read_template).collect()
    }

    fn last_change(&mut self) -> Result<u64, VaultError> {
        let row = self.client()?.query_one("SELECT seq FROM biometric_head", &[]).map_err(failed)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn changes_after(&mut self, after: u64, limit: usize) -> Result<Vec<(u64, Pseudonym)>, VaultError> {
        let rows = self
            .client()?
            .query(
                "SELECT seq, pseudonym FROM biometric_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&(after as i64), &(limit as i64)],
            )
            .map_err(failed)?;
        rows.iter()
            .map(|row| Ok((row.get::<_, i64>(0) as u64, Pseudonym::from_stored(row.get(1))?)))
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
        let mut found = Vec::new();
        // Every pseudonym is 32 bytes, so the empty string sorts before all of them.
        let mut after: Vec<u8> = after.map_or_else(Vec::new, |p| p.as_bytes().to_vec());
        while found.len() < limit {
            let rows = self
                .client()?
                .query(
                    match kind {
                        KeyKind::Face => {
                            "SELECT pseudonym, wrapped_key FROM enrolled_faces WHERE pseudonym > $1
                             ORDER BY pseudonym LIMIT 1024"
                        }
                        KeyKind::Personal => {
                            "SELECT pseudonym, wrapped_key FROM personal_keys WHERE pseudonym > $1
                             ORDER BY pseudonym LIMIT 1024"
                        }
                    },
                    &[&after],
                )
                .map_err(failed)?;
            let Some(last) = rows.last() else { break };
            after = last.get(0);
            for row in &rows {
                let wrapped = WrappedKey::from_stored(row.get(1))?;
                if wrapped.master_id() != master_id && found.len() < limit {
                    found.push((Pseudonym::from_stored(row.get(0))?, wrapped));
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
                "UPDATE enrolled_faces SET wrapped_key = $3 WHERE pseudonym = $1 AND wrapped_key = $2"
            }
            KeyKind::Personal => {
                "UPDATE personal_keys SET wrapped_key = $3 WHERE pseudonym = $1 AND wrapped_key = $2"
            }
        };
        let replaced = self
            .client()?
            .execute(update, &[&&pseudonym.as_bytes()[..], &old.as_bytes(), &new.as_bytes()])
            .map_err(failed)?;
        Ok(replaced == 1)
    }
}

/// Takes the `biometric_head` row lock (held until commit) and the next change number.
fn next_change(tx: &mut Transaction<'_>) -> Result<i64, VaultError> {
    let row = tx.query_one("UPDATE biometric_head SET seq = seq + 1 RETURNING seq", &[]).map_err(failed)?;
    Ok(row.get(0))
}

/// One change row per pseudonym, at its newest change: the feed says what changed, a follower
/// reads how it is now.
fn record_change(tx: &mut Transaction<'_>, change: i64, pseudonym: &[u8]) -> Result<(), VaultError> {
    tx.execute("DELETE FROM biometric_changes WHERE pseudonym = $1", &[&pseudonym]).map_err(failed)?;
    tx.execute("INSERT INTO biometric_changes (seq, pseudonym) VALUES ($1, $2)", &[&change, &pseudonym])
        .map_err(failed)?;
    Ok(())
}

fn read_template(row: Row) -> Result<StoredTemplate, VaultError> {
    Ok(StoredTemplate {
        pseudonym: Pseudonym::from_stored(row.get(0))?,
        wrapped_key: WrappedKey::from_stored(row.get(1))?,
        template: row.get(2),
    })
}

fn failed(err: postgres::Error) -> VaultError {
    match crate::journal::unavailable(err) {
        JournalError::Unavailable(message) => VaultError::StoreUnavailable(message),
        other => VaultError::StoreUnavailable(other.to_string()),
    }
}
