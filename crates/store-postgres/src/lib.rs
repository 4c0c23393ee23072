//! facepay's storage on PostgreSQL: the same journal and biometric contracts as `store-sqlite`,
//! for several facepay nodes sharing one database.
//!
//! The journal's write lock is an explicit row lock (`SELECT ... FROM journal_head FOR
//! UPDATE`), taken before a node replays what others wrote and runs its own commands, so money
//! moves in one order across nodes. A lock that fails with a serialization failure or deadlock
//! is retried before any command ran. Commits are durable with PostgreSQL's defaults
//! (`fsync`, `synchronous_commit = on`); each node's schema lives where `search_path` says.
//!
//! Connections: one per role per node (the journal's writer, the gallery's biometric store),
//! each made again when the server drops it (`session`). A node serializes its writes through one
//! writer and serves reads from memory, so a pool of interchangeable connections would have
//! nothing to share out.
//!
//! Owns: SQL for PostgreSQL and the schema's migrations.
//!
//! Must never: make a business decision (that is `payments`), store a template or image that
//! `vault` has not encrypted, or know about HTTP.

mod biometric;
mod journal;
mod migrations;
pub mod probe;
mod session;

pub use biometric::PostgresBiometricStore;
pub use journal::{PostgresJournal, migrate_schema};
pub use migrations::{MIGRATIONS, Migration};
