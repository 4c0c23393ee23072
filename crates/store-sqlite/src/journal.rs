//! The journal port on one SQLite file: entries with their outbound messages, audit entries and
//! read-model rows, written in one `BEGIN IMMEDIATE` transaction per batch, and the core's
//! checkpoints beside them.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use facepay_domain::{PaymentId, TerminalId, Timestamp};
use facepay_payments::{
    Append, AuditEntry, AuditFilter, Checkpoint, Delivery, Entry, Journal, JournalError, MINUTE_MS, Movement,
    PaymentRow, PaymentTally, ReadModel, Recipient, StoredAudit,
};
use rusqlite::{Connection, MAIN_DB, OptionalExtension, TransactionBehavior};

use crate::migrations::migrate;

/// How long a writer waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Pages of the database a node's writer keeps in memory (negative: KiB, so 64 MiB): the
/// read model's indexes are written at random places (payment ids are hashes), and a page the
/// cache lacks is read from the file inside the commit.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// One connection to the store's file; open one per node (or per process).
#[derive(Debug)]
pub struct SqliteJournal {
    connection: Connection,
}

impl SqliteJournal {
    /// Opens (creating if needed) the file at `path`, durable as the crate header says, and
    /// brings its schema up to date: a connection for reads and the odd small write.
    pub fn open(path: &Path) -> Result<SqliteJournal, JournalError> {
        let mut connection = connect(path)?;
        migrate(&mut connection)?;
        Ok(SqliteJournal { connection })
    }

    /// Opens the file at `path` as `open` does, for the connection a node's group commit writes
    /// through, with a page cache large enough for the read model's indexes. (A larger WAL
    /// before each checkpoint, or checkpoints on a thread of their own, measured no faster in
    /// `bench soak`.)
    pub fn open_writer(path: &Path) -> Result<SqliteJournal, JournalError> {
        let SqliteJournal { connection } = SqliteJournal::open(path)?;
        connection.execute_batch(&format!("PRAGMA cache_size = -{WRITER_CACHE_KIB}")).map_err(unavailable)?;
        Ok(SqliteJournal { connection })
    }
}

/// Brings the file at `path` (created if missing) up to the newest schema; returns the
/// versions applied now (`facepay migrate`).
pub fn migrate_file(path: &Path) -> Result<Vec<i64>, JournalError> {
    migrate(&mut connect(path)?)
}

/// A connection to the file at `path` in WAL mode with durable commits.
pub(crate) fn connect(path: &Path) -> Result<Connection, JournalError> {
    let connection = Connection::open(path).map_err(unavailable)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
    let mode: String =
        connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(unavailable)?;
    if mode != "wal" {
        return Err(JournalError::Unavailable(format!("the file refused WAL mode (it is in {mode} mode)")));
    }
    connection.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;").map_err(unavailable)?;
    Ok(connection)
}

impl Journal for SqliteJournal {
    fn read_after(&mut self, after: u64) -> Result<Vec<Entry>, JournalError> {
        read_after(&self.connection, after)
    }

    fn append_with(
        &mut self,
        after: u64,
        write: &mut dyn FnMut(Vec<Entry>) -> Vec<Append>,
    ) -> Result<u64, JournalError> {
        let tx =
            self.connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
        let others = read_after(&tx, after)?;
        let mut last = others.last().map_or(after, |entry| entry.seq);
        let appends = write(others);
        {
            let mut insert_entry = tx
                .prepare_cached("INSERT INTO journal (seq, at_ms, command, refused) VALUES (?1, ?2, ?3, ?4)")
                .map_err(unavailable)?;
            let mut insert_outbound = tx
                .prepare_cached("INSERT INTO outbox (seq, recipient, message) VALUES (?1, ?2, ?3)")
                .map_err(unavailable)?;
            let mut insert_audit = tx
                .prepare_cached(
                    "INSERT INTO audit_log (seq, at_ms, action, actor, request, status, previous, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(unavailable)?;
            for append in appends {
                last += 1;
                let command = append.command.to_stored();
                insert_entry
                    .execute((last as i64, append.at.unix_ms, command, &append.refused))
                    .map_err(unavailable)?;
                for outbound in &append.outbound {
                    let (recipient, message) = (outbound.recipient().to_stored(), outbound.to_stored());
                    insert_outbound.execute((last as i64, recipient, message)).map_err(unavailable)?;
                }
                for entry in &append.audit {
                    let event = &entry.event;
                    let row = (
                        entry.seq as i64,
                        entry.at.unix_ms,
                        event.action.code(),
                        &event.actor,
                        &event.request,
                    );
                    let (status, previous, hash) =
                        (event.status, entry.previous.as_slice(), entry.hash.as_slice());
                    insert_audit
                        .execute((row.0, row.1, row.2, row.3, row.4, status, previous, hash))
                        .map_err(unavailable)?;
                }
                write_read_model(&tx, &append.read_model, INSERT_MOVEMENT)?;
            }
            let mut mark_head =
                tx.prepare_cached("UPDATE read_model_head SET through = ?1").map_err(unavailable)?;
            mark_head.execute([last as i64]).map_err(unavailable)?;
        }
        tx.commit().map_err(unavailable)?;
        Ok(last)
    }

    fn undelivered(
        &mut self,
        recipient: Option<Recipient>,
        limit: usize,
    ) -> Result<Vec<Delivery>, JournalError> {
        // Rows from before recipients were kept have none, and go to whoever asks.
        let mut select = self
            .connection
            .prepare_cached(
                "SELECT id, message FROM outbox WHERE delivered = 0
                 AND (?1 IS NULL OR recipient = ?1 OR recipient IS NULL) ORDER BY id LIMIT ?2",
            )
            .map_err(unavailable)?;
        let recipient = recipient.map(Recipient::to_stored);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = select
            .query_map((recipient, limit), |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))
            .map_err(unavailable)?;
        let mut deliveries = Vec::new();
        for row in rows {
            let (id, message) = row.map_err(unavailable)?;
            deliveries.push(Delivery::from_stored(id as u64, &message)?);
        }
        Ok(deliveries)
    }

    fn mark_delivered(&mut self, ids: &[u64]) -> Result<(), JournalError> {
        let tx = self.connection.transaction().map_err(unavailable)?;
        {
            let mut mark =
                tx.prepare_cached("UPDATE outbox SET delivered = 1 WHERE id = ?1").map_err(unavailable)?;
            for &id in ids {
                mark.execute([id as i64]).map_err(unavailable)?;
            }
        }
        tx.commit().map_err(unavailable)
    }

    fn write_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), JournalError> {
        let tx = self.connection.transaction().map_err(unavailable)?;
        // The body is written into a zeroed blob in place: bound as a parameter, SQLite would
        // copy it twice (the bound value, then the record) and the node briefly hold three.
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO checkpoints (seq, format, partition_id, checksum, body)
                 VALUES (?1, ?2, ?3, ?4, zeroblob(?5))",
                (
                    checkpoint.seq as i64,
                    checkpoint.format,
                    checkpoint.partition,
                    checkpoint.checksum.as_slice(),
                    checkpoint.body.len() as i64,
                ),
            )
            .map_err(unavailable)?;
        if inserted == 1 {
            let mut body = tx
                .blob_open(MAIN_DB, c"checkpoints", c"body", checkpoint.seq as i64, false)
                .map_err(unavailable)?;
            body.write_all(&checkpoint.body).map_err(|err| JournalError::Unavailable(err.to_string()))?;
            body.close().map_err(unavailable)?;
        }
        tx.execute(
            "DELETE FROM checkpoints WHERE seq < (SELECT min(seq) FROM
                (SELECT seq FROM checkpoints ORDER BY seq DESC LIMIT 2))",
            [],
        )
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)
    }

    fn checkpoint_seqs(&mut self) -> Result<Vec<u64>, JournalError> {
        let mut select = self
            .connection
            .prepare_cached("SELECT seq FROM checkpoints ORDER BY seq DESC")
            .map_err(unavailable)?;
        let rows = select.query_map([], |row| row.get::<_, i64>(0)).map_err(unavailable)?;
        rows.map(|row| row.map(|seq| seq as u64).map_err(unavailable)).collect()
    }

    fn read_checkpoint(&mut self, seq: u64) -> Result<Option<Checkpoint>, JournalError> {
        self.connection
            .query_row(
                "SELECT format, partition_id, checksum, body FROM checkpoints WHERE seq = ?1",
                [seq as i64],
                |row| Ok(Checkpoint::from_stored(seq, row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .map_err(unavailable)
    }

    fn store_missing_audit(&mut self, entries: &[AuditEntry]) -> Result<(), JournalError> {
        let tx = self.connection.transaction().map_err(unavailable)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO audit_log (seq, at_ms, action, actor, request, status, previous, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(unavailable)?;
            for entry in entries {
                insert_audit_row(&mut insert, entry)?;
            }
        }
        tx.commit().map_err(unavailable)
    }

    fn prune_through(&mut self, seq: u64) -> Result<u64, JournalError> {
        let tx = self.connection.transaction().map_err(unavailable)?;
        tx.execute("DELETE FROM outbox WHERE seq <= ?1 AND delivered = 1", [seq as i64])
            .map_err(unavailable)?;
        let removed = tx
            .execute(
                "DELETE FROM journal WHERE seq <= coalesce((SELECT min(seq) - 1 FROM outbox WHERE seq <= ?1), ?1)",
                [seq as i64],
            )
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        Ok(removed as u64)
    }

    fn payment_row(&mut self, id: PaymentId) -> Result<Option<PaymentRow>, JournalError> {
        let body: Option<String> = self
            .connection
            .prepare_cached("SELECT body FROM payment_rows WHERE id = ?1")
            .map_err(unavailable)?
            .query_row([id.to_string()], |row| row.get(0))
            .optional()
            .map_err(unavailable)?;
        body.map(|body| PaymentRow::from_stored(&body)).transpose()
    }

    fn movements(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Movement>, JournalError> {
        let first = first_key_at(&self.connection, "ledger_movements", "at_ms", from)?;
        let end = first_key_at(&self.connection, "ledger_movements", "at_ms", to)?;
        let mut select = self
            .connection
            .prepare_cached(
                "SELECT body FROM ledger_movements WHERE number >= ?1 AND number < ?2 AND number > ?3
                 ORDER BY number LIMIT ?4",
            )
            .map_err(unavailable)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = select
            .query_map((first, end, after as i64, limit), |row| row.get::<_, String>(0))
            .map_err(unavailable)?;
        rows.map(|body| Movement::from_stored(&body.map_err(unavailable)?)).collect()
    }

    fn read_model_through(&mut self) -> Result<u64, JournalError> {
        let through: i64 = self
            .connection
            .query_row("SELECT through FROM read_model_head", [], |row| row.get(0))
            .map_err(unavailable)?;
        Ok(through as u64)
    }

    fn store_read_model(&mut self, through: u64, rows: &ReadModel) -> Result<(), JournalError> {
        let tx = self.connection.transaction().map_err(unavailable)?;
        write_read_model(&tx, rows, INSERT_MOVEMENT_UNLESS_HELD)?;
        tx.execute("UPDATE read_model_head SET through = max(through, ?1)", [through as i64])
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)
    }

    fn read_model_size(&mut self) -> Result<(u64, u64), JournalError> {
        // Payment rows are never deleted and take rowids in order, so the largest rowid is their
        // count: one B-tree descent, where count(*) read every page (minutes at ten million
        // payments, holding the WAL open the while).
        let newest = |sql: &str| -> Result<u64, JournalError> {
            let n: i64 = self.connection.query_row(sql, [], |row| row.get(0)).map_err(unavailable)?;
            Ok(n as u64)
        };
        Ok((
            newest("SELECT coalesce(max(rowid), 0) FROM payment_rows")?,
            newest("SELECT coalesce(max(number), 0) FROM ledger_movements")?,
        ))
    }

    fn payment_tallies(&mut self, since: Timestamp) -> Result<Vec<PaymentTally>, JournalError> {
        let first = first_key_at(&self.connection, "payment_rows", "started_ms", since)?;
        let mut select = self
            .connection
            .prepare_cached(
                "SELECT (started_ms - ?1) / ?2, state, decline_reason, count(*) FROM payment_rows
                 WHERE rowid >= ?3 GROUP BY 1, 2, 3",
            )
            .map_err(unavailable)?;
        let rows = select
            .query_map((since.unix_ms, MINUTE_MS, first), |row| {
                Ok(PaymentTally {
                    minute: row.get(0)?,
                    state: row.get(1)?,
                    decline_reason: row.get(2)?,
                    count: row.get::<_, i64>(3)? as u64,
                })
            })
            .map_err(unavailable)?;
        rows.map(|row| row.map_err(unavailable)).collect()
    }

    fn latest_payments(&mut self, limit: usize) -> Result<Vec<PaymentRow>, JournalError> {
        let mut select = self
            .connection
            .prepare_cached("SELECT body FROM payment_rows ORDER BY rowid DESC LIMIT ?1")
            .map_err(unavailable)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = select.query_map([limit], |row| row.get::<_, String>(0)).map_err(unavailable)?;
        rows.map(|body| PaymentRow::from_stored(&body.map_err(unavailable)?)).collect()
    }

    fn claim_nonce(
        &mut self,
        terminal: TerminalId,
        nonce: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<bool, JournalError> {
        let tx =
            self.connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
        tx.prepare_cached("DELETE FROM terminal_nonces WHERE expires_ms < ?1")
            .map_err(unavailable)?
            .execute([now.unix_ms])
            .map_err(unavailable)?;
        let claimed = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO terminal_nonces (terminal, nonce, expires_ms) VALUES (?1, ?2, ?3)",
            )
            .map_err(unavailable)?
            .execute((terminal.to_string(), nonce, expires.unix_ms))
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        Ok(claimed == 1)
    }

    fn device_templates_allowed(&mut self, terminal: TerminalId) -> Result<bool, JournalError> {
        self.connection
            .prepare_cached("SELECT 1 FROM device_template_grants WHERE terminal = ?1")
            .map_err(unavailable)?
            .exists([terminal.to_string()])
            .map_err(unavailable)
    }

    fn allow_device_templates(&mut self, terminal: TerminalId, allowed: bool) -> Result<(), JournalError> {
        let sql = if allowed {
            "INSERT OR IGNORE INTO device_template_grants (terminal) VALUES (?1)"
        } else {
            "DELETE FROM device_template_grants WHERE terminal = ?1"
        };
        self.connection.execute(sql, [terminal.to_string()]).map(drop).map_err(unavailable)
    }

    fn issue_challenge(
        &mut self,
        terminal: TerminalId,
        challenge: &str,
        expires: Timestamp,
    ) -> Result<(), JournalError> {
        self.connection
            .execute(
                "INSERT INTO terminal_challenges (terminal, challenge, expires_ms) VALUES (?1, ?2, ?3)",
                (terminal.to_string(), challenge, expires.unix_ms),
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
        let tx =
            self.connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
        tx.execute("DELETE FROM terminal_challenges WHERE expires_ms < ?1", [now.unix_ms])
            .map_err(unavailable)?;
        let taken = tx
            .execute(
                "DELETE FROM terminal_challenges WHERE terminal = ?1 AND challenge = ?2",
                (terminal.to_string(), challenge),
            )
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        Ok(taken == 1)
    }

    fn audit_entries(&mut self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, JournalError> {
        let mut select = self
            .connection
            .prepare_cached(
                "SELECT seq, at_ms, action, actor, request, status, previous, hash FROM audit_log
                 WHERE seq > ?1 AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR actor = ?3)
                 ORDER BY seq LIMIT ?4",
            )
            .map_err(unavailable)?;
        let action = filter.action.map(|action| action.code());
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let rows = select
            .query_map((filter.after_seq as i64, action, filter.actor.as_deref(), limit), |row| {
                Ok(StoredAudit {
                    seq: row.get(0)?,
                    at_ms: row.get(1)?,
                    action: row.get(2)?,
                    actor: row.get(3)?,
                    request: row.get(4)?,
                    status: row.get(5)?,
                    previous: row.get(6)?,
                    hash: row.get(7)?,
                })
            })
            .map_err(unavailable)?;
        rows.map(|row| row.map_err(unavailable)?.into_entry()).collect()
    }
}

/// A movement a command applied, new to the store.
const INSERT_MOVEMENT: &str = "INSERT INTO ledger_movements (number, at_ms, body) VALUES (?1, ?2, ?3)";
/// A movement a replay rebuilt, which the store may hold already.
const INSERT_MOVEMENT_UNLESS_HELD: &str =
    "INSERT OR IGNORE INTO ledger_movements (number, at_ms, body) VALUES (?1, ?2, ?3)";

/// Upserts each payment's row and inserts each movement with `insert_movement` (one of the two
/// above).
fn write_read_model(
    connection: &Connection,
    rows: &ReadModel,
    insert_movement: &str,
) -> Result<(), JournalError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut upsert_payment = connection
        .prepare_cached(
            "INSERT INTO payment_rows (id, merchant, started_ms, state, decline_reason, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, decline_reason = excluded.decline_reason,
                 body = excluded.body",
        )
        .map_err(unavailable)?;
    for row in &rows.payments {
        let key = (row.id.to_string(), row.merchant.to_string(), row.started_at.unix_ms);
        let (state, reason) = row.state_columns();
        upsert_payment.execute((key.0, key.1, key.2, state, reason, row.to_stored())).map_err(unavailable)?;
    }
    let mut insert_movement = connection.prepare_cached(insert_movement).map_err(unavailable)?;
    for movement in &rows.movements {
        let row = (movement.number as i64, movement.at.unix_ms, movement.to_stored());
        insert_movement.execute(row).map_err(unavailable)?;
    }
    Ok(())
}

/// The first key (rowid) of `table` whose `time_column` is at or after `at`, or one past the
/// last row when none is. The read model is written in journal order and an entry's time never
/// runs back, so times rise with keys: a binary search over the keys stands in for an index on
/// time, which every row written would otherwise pay for (migration 11). Keys may have gaps, so
/// each probe reads the first row at or after the key it tries.
fn first_key_at(
    connection: &Connection,
    table: &str,
    time_column: &str,
    at: Timestamp,
) -> Result<i64, JournalError> {
    let bounds = format!("SELECT coalesce(min(rowid), 1), coalesce(max(rowid), 0) + 1 FROM {table}");
    let (mut low, mut high): (i64, i64) =
        connection.query_row(&bounds, [], |row| Ok((row.get(0)?, row.get(1)?))).map_err(unavailable)?;
    let mut probe = connection
        .prepare_cached(&format!(
            "SELECT {time_column} FROM {table} WHERE rowid >= ?1 ORDER BY rowid LIMIT 1"
        ))
        .map_err(unavailable)?;
    // Rows before `low` are earlier than `at`; the first row from `high` on is not.
    while low < high {
        let middle = low + (high - low) / 2;
        let time: Option<i64> =
            probe.query_row([middle], |row| row.get(0)).optional().map_err(unavailable)?;
        if time.is_none_or(|time| time >= at.unix_ms) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Ok(low)
}

/// One audit entry through a prepared insert of all eight columns.
fn insert_audit_row(
    insert: &mut rusqlite::CachedStatement<'_>,
    entry: &AuditEntry,
) -> Result<(), JournalError> {
    let event = &entry.event;
    let (seq, action) = (entry.seq as i64, event.action.code());
    let (previous, hash) = (entry.previous.as_slice(), entry.hash.as_slice());
    insert
        .execute((seq, entry.at.unix_ms, action, &event.actor, &event.request, event.status, previous, hash))
        .map_err(unavailable)?;
    Ok(())
}

fn read_after(connection: &Connection, after: u64) -> Result<Vec<Entry>, JournalError> {
    let mut select = connection
        .prepare_cached("SELECT seq, at_ms, command, refused FROM journal WHERE seq > ?1 ORDER BY seq")
        .map_err(unavailable)?;
    let rows = select
        .query_map([after as i64], |row| {
            let (seq, at_ms) = (row.get::<_, i64>(0)?, row.get::<_, i64>(1)?);
            Ok((seq, at_ms, row.get::<_, String>(2)?, row.get::<_, Option<String>>(3)?))
        })
        .map_err(unavailable)?;
    let mut entries = Vec::new();
    for row in rows {
        let (seq, at_ms, command, refused) = row.map_err(unavailable)?;
        entries.push(Entry::from_stored(seq as u64, at_ms, &command, refused)?);
    }
    Ok(entries)
}

pub(crate) fn unavailable(err: rusqlite::Error) -> JournalError {
    JournalError::Unavailable(err.to_string())
}
