//! The schema, as numbered migrations applied in order and recorded in `schema_migrations`, all
//! pending steps in one transaction (PostgreSQL's DDL is transactional). Nodes starting together
//! take an advisory lock, so exactly one applies each step.

use facepay_payments::JournalError;
use postgres::Client;

use crate::journal::unavailable;

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
            seq     BIGINT PRIMARY KEY,
            at_ms   BIGINT NOT NULL,
            command TEXT   NOT NULL
        );
        -- One row: its lock is the journal's write lock, its seq the last entry.
        CREATE TABLE journal_head (
            only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
            seq      BIGINT NOT NULL
        );
        INSERT INTO journal_head (seq) VALUES (0);
        CREATE TABLE outbox (
            id        BIGSERIAL PRIMARY KEY,
            seq       BIGINT  NOT NULL REFERENCES journal (seq),
            message   TEXT    NOT NULL,
            delivered BOOLEAN NOT NULL DEFAULT FALSE
        );
        CREATE INDEX outbox_undelivered ON outbox (id) WHERE NOT delivered;
    ",
    },
    Migration {
        version: 2,
        name: "biometric records by pseudonym",
        sql: "
        CREATE TABLE enrolled_faces (
            pseudonym   BYTEA PRIMARY KEY,
            wrapped_key BYTEA NOT NULL,
            template    BYTEA NOT NULL
        );
        CREATE TABLE enrollment_images (
            id        BIGSERIAL PRIMARY KEY,
            pseudonym BYTEA NOT NULL REFERENCES enrolled_faces (pseudonym) ON DELETE CASCADE,
            sealed    BYTEA NOT NULL
        );
        CREATE INDEX enrollment_images_by_pseudonym ON enrollment_images (pseudonym);
        CREATE TABLE biometric_changes (
            seq          BIGINT PRIMARY KEY,
            pseudonym BYTEA NOT NULL UNIQUE
        );
        -- One row: its lock orders biometric writers, its seq is the last change number.
        CREATE TABLE biometric_head (
            only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
            seq      BIGINT NOT NULL
        );
        INSERT INTO biometric_head (seq) VALUES (0);
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
            seq          BIGINT PRIMARY KEY,
            format       BIGINT NOT NULL,
            partition_id BIGINT NOT NULL,
            checksum     BYTEA  NOT NULL,
            body         BYTEA  NOT NULL
        );
    ",
    },
    Migration {
        version: 5,
        name: "the audit log in the store",
        sql: "
        -- Each entry with its hash and the one before it, written with the journal entry that
        -- appended it; the core keeps only the length and the head.
        CREATE TABLE audit_log (
            seq      BIGINT PRIMARY KEY,
            at_ms    BIGINT NOT NULL,
            action   TEXT    NOT NULL,
            actor    TEXT    NOT NULL,
            request  TEXT    NOT NULL,
            status   BIGINT NOT NULL,
            previous BYTEA    NOT NULL,
            hash     BYTEA    NOT NULL
        );
        CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);
    ",
    },
    Migration {
        version: 6,
        name: "the read model: payments and ledger movements",
        sql: "
        -- Each payment as the last entry that changed it left it (the core forgets it after its
        -- windows), and every ledger transfer with the sides of its accounts (what settlement
        -- sums), written with the entry; read_model_head says through which entry.
        CREATE TABLE payment_rows (
            id             TEXT   PRIMARY KEY,
            merchant       TEXT   NOT NULL,
            started_ms     BIGINT NOT NULL,
            state          TEXT   NOT NULL,
            decline_reason TEXT,
            body           TEXT   NOT NULL
        );
        CREATE INDEX payment_rows_by_merchant ON payment_rows (merchant, started_ms);
        CREATE INDEX payment_rows_by_start ON payment_rows (started_ms);
        CREATE TABLE ledger_movements (
            number BIGINT PRIMARY KEY,
            at_ms  BIGINT NOT NULL,
            body   TEXT   NOT NULL
        );
        CREATE INDEX ledger_movements_by_time ON ledger_movements (at_ms, number);
        CREATE TABLE read_model_head (
            id      INTEGER PRIMARY KEY CHECK (id = 1),
            through BIGINT  NOT NULL
        );
        INSERT INTO read_model_head (id, through) VALUES (1, 0);
    ",
    },
    Migration {
        version: 7,
        name: "each shopper's personal key",
        sql: "
        -- The key the journal's personal fields are sealed under, wrapped under a master key.
        CREATE TABLE personal_keys (
            pseudonym   BYTEA PRIMARY KEY,
            wrapped_key BYTEA NOT NULL
        );
    ",
    },
    Migration {
        version: 8,
        name: "terminal request nonces",
        sql: "
        -- Each signed terminal request's nonce, kept until its timestamp leaves the skew window:
        -- a replay is refused by every node on this database, and after a restart.
        CREATE TABLE terminal_nonces (
            terminal   TEXT   NOT NULL,
            nonce      TEXT   NOT NULL,
            expires_ms BIGINT NOT NULL,
            PRIMARY KEY (terminal, nonce)
        );
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
        CREATE INDEX outbox_pending_by_recipient ON outbox (recipient, id) WHERE NOT delivered;
    ",
    },
    Migration {
        version: 10,
        name: "device templates: the operator's grants and the switch's challenges",
        sql: "
        -- Terminals the operator lets send templates made on the device (none by default).
        CREATE TABLE device_template_grants (
            terminal TEXT PRIMARY KEY
        );
        -- A challenge the switch handed a terminal, signed into one device-template payment.
        CREATE TABLE terminal_challenges (
            terminal   TEXT   NOT NULL,
            challenge  TEXT   NOT NULL,
            expires_ms BIGINT NOT NULL,
            PRIMARY KEY (terminal, challenge)
        );
        CREATE INDEX terminal_challenges_by_expiry ON terminal_challenges (expires_ms);
    ",
    },
    Migration {
        version: 11,
        name: "no index nothing reads",
        sql: "
        -- No query ever looked payments up by merchant; every row paid for the index anyway.
        DROP INDEX payment_rows_by_merchant;
    ",
    },
];

/// An arbitrary constant naming facepay's migration lock among the database's advisory locks.
const MIGRATION_LOCK: i64 = 0x0066_6163_6570_6179;

/// Applies the migrations the current schema lacks; returns the versions applied now.
pub(crate) fn migrate(client: &mut Client) -> Result<Vec<i64>, JournalError> {
    let mut tx = client.transaction().map_err(unavailable)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(unavailable)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name    TEXT NOT NULL
        )",
    )
    .map_err(unavailable)?;
    let current: i64 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])
        .map_err(unavailable)?
        .get(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.version);
    if current > newest {
        return Err(JournalError::SchemaTooNew { found: current, known: newest });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(migration.sql).map_err(unavailable)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .map_err(unavailable)?;
        applied.push(migration.version);
    }
    tx.commit().map_err(unavailable)?;
    Ok(applied)
}
