//! The schema, as numbered migrations applied in order, each in its own transaction and
//! recorded in `schema_migrations`, so opening any older file brings it up to date and opening
//! a newer one is refused.

use rusqlite::Connection;

use crate::journal::unavailable;
use facepay_payments::JournalError;

/// One step of the schema.
#[derive(Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "journal and outbox",
        sql: "
        CREATE TABLE journal (
            seq     INTEGER PRIMARY KEY,
            at_ms   INTEGER NOT NULL,
            command TEXT    NOT NULL
        ) STRICT;
        CREATE TABLE outbox (
            id        INTEGER PRIMARY KEY,
            seq       INTEGER NOT NULL REFERENCES journal (seq),
            message   TEXT    NOT NULL,
            delivered INTEGER NOT NULL DEFAULT 0
        ) STRICT;
        CREATE INDEX outbox_undelivered ON outbox (id) WHERE delivered = 0;
    ",
    },
    Migration {
        version: 2,
        name: "biometric records by pseudonym",
        sql: "
        CREATE TABLE enrolled_faces (
            pseudonym   BLOB PRIMARY KEY,
            wrapped_key BLOB NOT NULL,
            template    BLOB NOT NULL
        ) STRICT;
        CREATE TABLE enrollment_images (
            id        INTEGER PRIMARY KEY,
            pseudonym BLOB NOT NULL REFERENCES enrolled_faces (pseudonym) ON DELETE CASCADE,
            sealed    BLOB NOT NULL
        ) STRICT;
        CREATE INDEX enrollment_images_by_pseudonym ON enrollment_images (pseudonym);
        -- AUTOINCREMENT: a change number is never reused, even after the newest row goes.
        CREATE TABLE biometric_changes (
            seq       INTEGER PRIMARY KEY AUTOINCREMENT,
            pseudonym BLOB NOT NULL UNIQUE
        ) STRICT;
    ",
    },
    Migration {
        version: 3,
        name: "every command journaled with its refusal",
        sql: "
        -- The code of the core's refusal; NULL for an accepted command.
        ALTER TABLE journal ADD COLUMN refused TEXT;
    ",
    },
    Migration {
        version: 4,
        name: "checkpoints of the payment core",
        sql: "
        -- The core's state as of journal entry seq (see payments' checkpoint.rs); two are kept.
        CREATE TABLE checkpoints (
            seq          INTEGER PRIMARY KEY,
            format       INTEGER NOT NULL,
            partition_id INTEGER NOT NULL,
            checksum     BLOB    NOT NULL,
            body         BLOB    NOT NULL
        ) STRICT;
    ",
    },
    Migration {
        version: 5,
        name: "the audit log in the store",
        sql: "
        -- Each entry with its hash and the one before it, written with the journal entry that
        -- appended it; the core keeps only the length and the head.
        CREATE TABLE audit_log (
            seq      INTEGER PRIMARY KEY,
            at_ms    INTEGER NOT NULL,
            action   TEXT    NOT NULL,
            actor    TEXT    NOT NULL,
            request  TEXT    NOT NULL,
            status   INTEGER NOT NULL,
            previous BLOB    NOT NULL,
            hash     BLOB    NOT NULL
        ) STRICT;
        CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);
    ",
    },
    Migration {
        version: 6,
        name: "the read model: payments and ledger movements",
        sql: "
        -- Each payment as the last entry that changed it left it (the core forgets it after its
        -- windows), and every ledger transfer with the sides of its accounts (what settlement
        -- sums), written with the entry; read_model_head says through which entry. A rowid
        -- table: its rows are a few hundred bytes, too wide to sit in a key's B-tree.
        CREATE TABLE payment_rows (
            id             TEXT    NOT NULL UNIQUE,
            merchant       TEXT    NOT NULL,
            started_ms     INTEGER NOT NULL,
            state          TEXT    NOT NULL,
            decline_reason TEXT,
            body           TEXT    NOT NULL
        ) STRICT;
        CREATE INDEX payment_rows_by_merchant ON payment_rows (merchant, started_ms);
        CREATE INDEX payment_rows_by_start ON payment_rows (started_ms);
        CREATE TABLE ledger_movements (
            number INTEGER PRIMARY KEY,
            at_ms  INTEGER NOT NULL,
            body   TEXT    NOT NULL
        ) STRICT;
        CREATE INDEX ledger_movements_by_time ON ledger_movements (at_ms, number);
        CREATE TABLE read_model_head (
            id      INTEGER PRIMARY KEY CHECK (id = 1),
            through INTEGER NOT NULL
        ) STRICT;
        INSERT INTO read_model_head (id, through) VALUES (1, 0);
    ",
    },
    Migration {
        version: 7,
        name: "each shopper's personal key",
        sql: "
        -- The key the journal's personal fields are sealed under, wrapped under a master key;
        -- deleting the row (secure_delete, then a WAL checkpoint) leaves those fields unreadable.
        CREATE TABLE personal_keys (
            pseudonym   BLOB PRIMARY KEY,
            wrapped_key BLOB NOT NULL
        ) STRICT;
    ",
    },
    Migration {
        version: 8,
        name: "terminal request nonces",
        sql: "
        -- Each signed terminal request's nonce, kept until its timestamp leaves the skew window:
        -- a replay is refused by every node sharing this file, and after a restart.
        CREATE TABLE terminal_nonces (
            terminal   TEXT    NOT NULL,
            nonce      TEXT    NOT NULL,
            expires_ms INTEGER NOT NULL,
            PRIMARY KEY (terminal, nonce)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX terminal_nonces_by_expiry ON terminal_nonces (expires_ms);
    ",
    },
    Migration {
        version: 9,
        name: "an outbox queue per recipient",
        sql: "
        -- Whose message it is (a bank's, the operator's): each pulls its own queue, so one
        -- recipient's backlog never hides another's messages. Older rows stay NULL.
        ALTER TABLE outbox ADD COLUMN recipient TEXT;
        CREATE INDEX outbox_pending_by_recipient ON outbox (recipient, id) WHERE delivered = 0;
    ",
    },
    Migration {
        version: 10,
        name: "device templates: the operator's grants and the switch's challenges",
        sql: "
        -- Terminals the operator lets send templates made on the device (none by default).
        CREATE TABLE device_template_grants (
            terminal TEXT PRIMARY KEY
        ) STRICT;
        -- A challenge the switch handed a terminal, signed into one device-template payment.
        CREATE TABLE terminal_challenges (
            terminal   TEXT   NOT NULL,
            challenge  TEXT   NOT NULL,
            expires_ms INTEGER NOT NULL,
            PRIMARY KEY (terminal, challenge)
        ) STRICT;
        CREATE INDEX terminal_challenges_by_expiry ON terminal_challenges (expires_ms);
    ",
    },
    Migration {
        version: 11,
        name: "the read model found by the order it was written in",
        sql: "
        -- Rows are written in journal order and an entry's time never runs back, so a payment
        -- row's rowid rises with its start and a movement's number with its time: the reads
        -- find a time by a binary search over those keys (journal.rs, first_key_at), and the
        -- writer keeps one B-tree per table fewer. Nothing ever read the merchant index.
        DROP INDEX payment_rows_by_merchant;
        DROP INDEX payment_rows_by_start;
        DROP INDEX ledger_movements_by_time;
    ",
    },
];

/// Applies the migrations `connection` lacks; returns the versions applied now.
pub(crate) fn migrate(connection: &mut Connection) -> Result<Vec<i64>, JournalError> {
    connection
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                name    TEXT NOT NULL
            ) STRICT",
        )
        .map_err(unavailable)?;
    let current: i64 = connection
        .query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |row| row.get(0))
        .map_err(unavailable)?;
    let newest = MIGRATIONS.last().map_or(0, |m| m.version);
    if current > newest {
        return Err(JournalError::SchemaTooNew { found: current, known: newest });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        let tx = connection.transaction().map_err(unavailable)?;
        tx.execute_batch(migration.sql).map_err(unavailable)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
            (migration.version, migration.name),
        )
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        applied.push(migration.version);
    }
    Ok(applied)
}
