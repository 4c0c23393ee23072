//! The embedded default storage: one SQLite file behind the `payments` store port, with its
//! migrations, so that `facepay demo` needs no server.
//!
//! Owns: SQL for SQLite, transactions, and the schema's migrations.
//!
//! Must never: make a business decision (that is `payments`), store a template or image that
//! `vault` has not encrypted, or know about HTTP.
