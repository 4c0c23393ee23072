//! The journal port on PostgreSQL: entries with their outbound messages, audit entries and
//! read-model rows, written under the `journal_head` row lock in one transaction per batch, and the core's
//! checkpoints beside them.

use facepay_domain::{PaymentId, TerminalId, Timestamp};
use facepay_payments::{
    Append, AuditEntry, AuditFilter, Checkpoint, Delivery, Entry, Journal, JournalError, MINUTE_MS, Movement,
    PaymentRow, PaymentTally, ReadModel, Recipient, StoredAudit,
};
use postgres::error::SqlState;
use postgres::{Client, GenericClient, NoTls};

use crate::migrations::migrate;
use crate::session::Session;

/// Tries of a write whose lock or read ends in a serialization failure or deadlock.
const LOCK_ATTEMPTS: usize = 5;

/// One connection to the database; open one per node.
pub struct PostgresJournal {
    session: Session,
}

impl std::fmt::Debug for PostgresJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresJournal")
    }
}

impl PostgresJournal {
    /// Connects with `url` (a libpq connection string or `postgres://` URL), uses `schema`
    /// (created if missing) and brings it up to date.
    pub fn connect(url: &str, schema: &str) -> Result<PostgresJournal, JournalError> {
        let mut session = Session::open(url, schema)?;
        migrate(session.client()?)?;
        Ok(PostgresJournal { session })
    }
}

/// Brings `schema` (created if missing) up to the newest schema; returns the versions applied
/// now (`facepay migrate`).
pub fn migrate_schema(url: &str, schema: &str) -> Result<Vec<i64>, JournalError> {
    migrate(&mut connect(url, schema)?)
}

/// A connection whose `search_path` is `schema`, created if missing.
pub(crate) fn connect(url: &str, schema: &str) -> Result<Client, JournalError> {
    let valid = !schema.is_empty()
        && schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err(JournalError::Unavailable(format!(
            "schema name {schema:?} must be lowercase letters, digits and _"
        )));
    }
    let mut client = Client::connect(url, NoTls).map_err(unavailable)?;
    client
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"))
        .map_err(unavailable)?;
    Ok(client)
}

impl Journal for PostgresJournal {
    fn read_after(&mut self, after: u64) -> Result<Vec<Entry>, JournalError> {
        read_after(self.session.client()?, after)
    }

    fn append_with(
        &mut self,
        after: u64,
        write: &mut dyn FnMut(Vec<Entry>) -> Vec<Append>,
    ) -> Result<u64, JournalError> {
        let mut ran = false;
        for attempt in 1.. {
            match append_once(self.session.client()?, after, write, &mut ran) {
                // Nothing ran yet (the lock or the read failed), so trying again is safe.
                Err(Failure::Sql(err)) if !ran && attempt < LOCK_ATTEMPTS && is_transient(&err) => continue,
                Err(Failure::Sql(err)) => return Err(unavailable(err)),
                Err(Failure::Journal(err)) => return Err(err),
                Ok(last) => return Ok(last),
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    fn undelivered(
        &mut self,
        recipient: Option<Recipient>,
        limit: usize,
    ) -> Result<Vec<Delivery>, JournalError> {
        // Rows from before recipients were kept have none, and go to whoever asks.
        let recipient = recipient.map(Recipient::to_stored);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .session
            .client()?
            .query(
                "SELECT id, message FROM outbox WHERE NOT delivered
                 AND ($1::TEXT IS NULL OR recipient = $1 OR recipient IS NULL) ORDER BY id LIMIT $2",
                &[&recipient, &limit],
            )
            .map_err(unavailable)?;
        let mut deliveries = Vec::with_capacity(rows.len());
        for row in rows {
            let (id, message): (i64, String) = (row.get(0), row.get(1));
            deliveries.push(Delivery::from_stored(id as u64, &message)?);
        }
        Ok(deliveries)
    }

    fn mark_delivered(&mut self, ids: &[u64]) -> Result<(), JournalError> {
        let ids: Vec<i64> = ids.iter().map(|&id| id as i64).collect();
        self.session
            .client()?
            .execute("UPDATE outbox SET delivered = TRUE WHERE id = ANY($1)", &[&ids])
            .map_err(unavailable)?;
        Ok(())
    }

    fn write_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), JournalError> {
        let client = self.session.client()?;
        let mut tx = client.transaction().map_err(unavailable)?;
        let (seq, format, partition) =
            (checkpoint.seq as i64, i64::from(checkpoint.format), i64::from(checkpoint.partition));
        tx.execute(
            "INSERT INTO checkpoints (seq, format, partition_id, checksum, body) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (seq) DO NOTHING",
            &[&seq, &format, &partition, &checkpoint.checksum.as_slice(), &checkpoint.body],
        )
        .map_err(unavailable)?;
        tx.execute(
            "DELETE FROM checkpoints WHERE seq < (SELECT min(seq) FROM
                (SELECT seq FROM checkpoints ORDER BY seq DESC LIMIT 2) AS newest)",
            &[],
        )
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)
    }

    fn checkpoint_seqs(&mut self) -> Result<Vec<u64>, JournalError> {
        let rows = (self.session.client()?)
            .query("SELECT seq FROM checkpoints ORDER BY seq DESC", &[])
            .map_err(unavailable)?;
        Ok(rows.iter().map(|row| row.get::<_, i64>(0) as u64).collect())
    }

    fn read_checkpoint(&mut self, seq: u64) -> Result<Option<Checkpoint>, JournalError> {
        let row = (self.session.client()?)
            .query_opt(
                "SELECT format, partition_id, checksum, body FROM checkpoints WHERE seq = $1",
                &[&(seq as i64)],
            )
            .map_err(unavailable)?;
        Ok(row.map(|row| Checkpoint::from_stored(seq, row.get(0), row.get(1), row.get(2), row.get(3))))
    }

    fn store_missing_audit(&mut self, entries: &[AuditEntry]) -> Result<(), JournalError> {
        let client = self.session.client()?;
        let mut tx = client.transaction().map_err(unavailable)?;
        let insert = tx
            .prepare(
                "INSERT INTO audit_log (seq, at_ms, action, actor, request, status, previous, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (seq) DO NOTHING",
            )
            .map_err(unavailable)?;
        for entry in entries {
            insert_audit_row(&mut tx, &insert, entry).map_err(unavailable)?;
        }
        tx.commit().map_err(unavailable)
    }

    fn prune_through(&mut self, seq: u64) -> Result<u64, JournalError> {
        let client = self.session.client()?;
        let mut tx = client.transaction().map_err(unavailable)?;
        let seq = seq as i64;
        tx.execute("DELETE FROM outbox WHERE seq <= $1 AND delivered", &[&seq]).map_err(unavailable)?;
        let removed = tx
            .execute(
                "DELETE FROM journal WHERE seq <= coalesce((SELECT min(seq) - 1 FROM outbox WHERE seq <= $1), $1)",
                &[&seq],
            )
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        Ok(removed)
    }

    fn payment_row(&mut self, id: PaymentId) -> Result<Option<PaymentRow>, JournalError> {
        let row = (self.session.client()?)
            .query_opt("SELECT body FROM payment_rows WHERE id = $1", &[&id.to_string()])
            .map_err(unavailable)?;
        row.map(|row| PaymentRow::from_stored(row.get(0))).transpose()
    }

    fn movements(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Movement>, JournalError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = (self.session.client()?)
            .query(
                "SELECT body FROM ledger_movements WHERE at_ms >= $1 AND at_ms < $2 AND number > $3
                 ORDER BY number LIMIT $4",
                &[&from.unix_ms, &to.unix_ms, &(after as i64), &limit],
            )
            .map_err(unavailable)?;
        rows.iter().map(|row| Movement::from_stored(row.get(0))).collect()
    }

    fn read_model_through(&mut self) -> Result<u64, JournalError> {
        let row = (self.session.client()?)
            .query_one("SELECT through FROM read_model_head", &[])
            .map_err(unavailable)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn store_read_model(&mut self, through: u64, rows: &ReadModel) -> Result<(), JournalError> {
        let client = self.session.client()?;
        let mut tx = client.transaction().map_err(unavailable)?;
        let writes = ReadModelWrites::prepare(&mut tx, "ON CONFLICT DO NOTHING").map_err(unavailable)?;
        writes.write(&mut tx, rows).map_err(unavailable)?;
        tx.execute("UPDATE read_model_head SET through = greatest(through, $1)", &[&(through as i64)])
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)
    }

    fn read_model_size(&mut self) -> Result<(u64, u64), JournalError> {
        let row = (self.session.client()?)
            .query_one(
                "SELECT (SELECT count(*) FROM payment_rows), (SELECT coalesce(max(number), 0) FROM ledger_movements)",
                &[],
            )
            .map_err(unavailable)?;
        Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
    }

    fn payment_tallies(&mut self, since: Timestamp) -> Result<Vec<PaymentTally>, JournalError> {
        let rows = (self.session.client()?)
            .query(
                "SELECT (started_ms - $1) / $2, state, decline_reason, count(*) FROM payment_rows
                 WHERE started_ms >= $1 GROUP BY 1, 2, 3",
                &[&since.unix_ms, &MINUTE_MS],
            )
            .map_err(unavailable)?;
        Ok(rows
            .iter()
            .map(|row| PaymentTally {
                minute: row.get(0),
                state: row.get(1),
                decline_reason: row.get(2),
                count: row.get::<_, i64>(3) as u64,
            })
            .collect())
    }

    fn latest_payments(&mut self, limit: usize) -> Result<Vec<PaymentRow>, JournalError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = (self.session.client()?)
            .query("SELECT body FROM payment_rows ORDER BY started_ms DESC, id DESC LIMIT $1", &[&limit])
            .map_err(unavailable)?;
        rows.iter().map(|row| PaymentRow::from_stored(row.get(0))).collect()
    }

    fn claim_nonce(
        &mut self,
        terminal: TerminalId,
        nonce: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<bool, JournalError> {
        let client = self.session.client()?;
        let mut tx = client.transaction().map_err(unavailable)?;
        tx.execute("DELETE FROM terminal_nonces WHERE expires_ms < $1", &[&now.unix_ms])
            .map_err(unavailable)?;
        let claimed = tx
            .execute(
                "INSERT INTO terminal_nonces (terminal, nonce, expires_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (terminal, nonce) DO NOTHING",
                &[&terminal.to_string(), &nonce, &expires.unix_ms],
            )
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        Ok(claimed == 1)
    }

    fn device_templates_allowed(&mut self, terminal: TerminalId) -> Result<bool, JournalError> {
        let row = (self.session.client()?)
            .query_opt("SELECT 1 FROM device_template_grants WHERE terminal = $1", &[&terminal.to_string()])
            .map_err(unavailable)?;
        Ok(row.is_some())
    }

    fn allow_device_templates(&mut self, terminal: TerminalId, allowed: bool) -> Result<(), JournalError> {
        let sql = if allowed {
            "INSERT INTO device_template_grants (terminal) VALUES ($1) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM device_template_grants WHERE terminal = $1"
        };
        (self.session.client()?).execute(sql, &[&terminal.to_string()]).map(drop).map_err(unavailable)
    }

    fn issue_challenge(
        &mut self,
        terminal: TerminalId,
        challenge: &str,
        expires: Timestamp,
    ) -> Result<(), JournalError> {
        (self.session.client()?)
            .execute(
                "INSERT INTO terminal_challenges (terminal, challenge, expires_ms) VALUES ($1, $2, $3)",
                &[&terminal.to_string(), &challenge, &expires.unix_ms],
            )
            .map(drop)
            .map_err(unavailable)
    }

    fn take_challenge(
        &mut self,
        terminal: TerminalId,
        challenge: &str,
        now: Timestamp,
    ) -> Result<bool, JournalError> {
        let client = self.session.client()?;
        let mut tx = client.transaction().map_err(unavailable)?;
        tx.execute("DELETE FROM terminal_challenges WHERE expires_ms < $1", &[&now.unix_ms])
            .map_err(unavailable)?;
        let taken = tx
            .execute(
                "DELETE FROM terminal_challenges WHERE terminal = $1 AND challenge = $2",
                &[&terminal.to_string(), &challenge],
            )
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        Ok(taken == 1)
    }

    fn audit_entries(&mut self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, JournalError> {
        let action = filter.action.map(|action| action.code());
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let rows = (self.session.client()?)
            .query(
                "SELECT seq, at_ms, action, actor, request, status, previous, hash FROM audit_log
                 WHERE seq > $1 AND ($2::TEXT IS NULL OR action = $2) AND ($3::TEXT IS NULL OR actor = $3)
                 ORDER BY seq LIMIT $4",
                &[&(filter.after_seq as i64), &action, &filter.actor, &limit],
            )
            .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let stored = StoredAudit {
                    seq: row.get(0),
                    at_ms: row.get(1),
                    action: row.get(2),
                    actor: row.get(3),
                    request: row.get(4),
                    status: row.get(5),
                    previous: row.get(6),
                    hash: row.get(7),
                };
                stored.into_entry()
            })
            .collect()
    }
}

enum Failure {
    Sql(postgres::Error),
    Journal(JournalError),
}

impl From<postgres::Error> for Failure {
    fn from(err: postgres::Error) -> Failure {
        Failure::Sql(err)
    }
}

/// One try at `append_with`: lock, read what others wrote, run `write` (noting that it ran),
/// append, commit.
fn append_once(
    client: &mut Client,
    after: u64,
    write: &mut dyn FnMut(Vec<Entry>) -> Vec<Append>,
    ran: &mut bool,
) -> Result<u64, Failure> {
    let mut tx = client.transaction()?;
    tx.query_one("SELECT seq FROM journal_head FOR UPDATE", &[])?;
    let others = read_after(&mut tx, after).map_err(Failure::Journal)?;
    let mut last = others.last().map_or(after, |entry| entry.seq);
    *ran = true;
    let appends = write(others);
    let insert_entry =
        tx.prepare("INSERT INTO journal (seq, at_ms, command, refused) VALUES ($1, $2, $3, $4)")?;
    let insert_outbound = tx.prepare("INSERT INTO outbox (seq, recipient, message) VALUES ($1, $2, $3)")?;
    let insert_audit = tx.prepare(
        "INSERT INTO audit_log (seq, at_ms, action, actor, request, status, previous, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )?;
    let read_model = ReadModelWrites::prepare(&mut tx, "")?;
    for append in appends {
        last += 1;
        let seq = last as i64;
        let command = append.command.to_stored();
        tx.execute(&insert_entry, &[&seq, &append.at.unix_ms, &command, &append.refused])?;
        for outbound in &append.outbound {
            let (recipient, message) = (outbound.recipient().to_stored(), outbound.to_stored());
            tx.execute(&insert_outbound, &[&seq, &recipient, &message])?;
        }
        for entry in &append.audit {
            insert_audit_row(&mut tx, &insert_audit, entry)?;
        }
        read_model.write(&mut tx, &append.read_model)?;
    }
    tx.execute("UPDATE journal_head SET seq = $1", &[&(last as i64)])?;
    tx.execute("UPDATE read_model_head SET through = $1", &[&(last as i64)])?;
    tx.commit()?;
    Ok(last)
}

/// The read model's two writes, prepared once per transaction: a payment's row upserted, a
/// movement inserted (`on_conflict` is empty, or `ON CONFLICT DO NOTHING` for the movements a
/// replay rebuilt, some of which may be held).
struct ReadModelWrites {
    upsert_payment: postgres::Statement,
    insert_movement: postgres::Statement,
}

impl ReadModelWrites {
    fn prepare(
        tx: &mut postgres::Transaction<'_>,
        on_conflict: &str,
    ) -> Result<ReadModelWrites, postgres::Error> {
        Ok(ReadModelWrites {
            upsert_payment: tx.prepare(
                "INSERT INTO payment_rows (id, merchant, started_ms, state, decline_reason, body)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state,
                     decline_reason = excluded.decline_reason, body = excluded.body",
            )?,
            insert_movement: tx.prepare(&format!(
                "INSERT INTO ledger_movements (number, at_ms, body) VALUES ($1, $2, $3) {on_conflict}"
            ))?,
        })
    }

    fn write(&self, tx: &mut postgres::Transaction<'_>, rows: &ReadModel) -> Result<(), postgres::Error> {
        for row in &rows.payments {
            let (id, merchant, body) = (row.id.to_string(), row.merchant.to_string(), row.to_stored());
            let (state, reason) = row.state_columns();
            tx.execute(
                &self.upsert_payment,
                &[&id, &merchant, &row.started_at.unix_ms, &state, &reason, &body],
            )?;
        }
        for movement in &rows.movements {
            let (number, body) = (movement.number as i64, movement.to_stored());
            tx.execute(&self.insert_movement, &[&number, &movement.at.unix_ms, &body])?;
        }
        Ok(())
    }
}

/// One audit entry through a prepared insert of all eight columns.
fn insert_audit_row(
    tx: &mut postgres::Transaction<'_>,
    insert: &postgres::Statement,
    entry: &AuditEntry,
) -> Result<(), postgres::Error> {
    let event = &entry.event;
    let (seq, status) = (entry.seq as i64, i64::from(event.status));
    let (previous, hash) = (entry.previous.as_slice(), entry.hash.as_slice());
    let action = event.action.code();
    tx.execute(
        insert,
        &[&seq, &entry.at.unix_ms, &action, &event.actor, &event.request, &status, &previous, &hash],
    )?;
    Ok(())
}

fn is_transient(err: &postgres::Error) -> bool {
    matches!(err.code(), Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED)
}

fn read_after(client: &mut impl GenericClient, after: u64) -> Result<Vec<Entry>, JournalError> {
    let rows = client
        .query(
            "SELECT seq, at_ms, command, refused FROM journal WHERE seq > $1 ORDER BY seq",
            &[&(after as i64)],
        )
        .map_err(unavailable)?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let (seq, at_ms, command): (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
        entries.push(Entry::from_stored(seq as u64, at_ms, &command, row.get(3))?);
    }
    Ok(entries)
}

pub(crate) fn unavailable(err: postgres::Error) -> JournalError {
    // The server's own message; `Display` alone says only "db error".
    match err.as_db_error() {
        Some(db) => JournalError::Unavailable(format!("{}: {}", db.code().code(), db.message())),
        None => JournalError::Unavailable(err.to_string()),
    }
}
