//! The embedded default storage: one SQLite file behind the `payments` journal port and the
//! `vault` biometric port, with its migrations, so that `facepay demo` needs no server.
//!
//! Durability: WAL with `synchronous = FULL`, so every commit fsyncs the WAL before it returns and
//! an acknowledged payment survives `kill -9` and power loss as far as the disk honours fsync.
//! (`NORMAL` would be faster but may lose the last commits on power loss; throughput comes from
//! committing a batch of commands at once instead, see `JournaledCore::execute_all`.) The
//! journal's write lock is SQLite's own (`BEGIN IMMEDIATE`), so several processes on one file
//! still append in one order.
//!
//! Owns: SQL for SQLite, transactions, and the schema's migrations.
//!
//! Must never: make a business decision (that is `payments`), store a template or image that
//! `vault` has not encrypted, or know about HTTP.

mod biometric;
mod journal;
mod migrations;
pub mod probe;

pub use biometric::SqliteBiometricStore;
pub use journal::{SqliteJournal, migrate_file};
pub use migrations::{MIGRATIONS, Migration};
