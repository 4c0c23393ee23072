//! Storage on PostgreSQL: the same store port contract as `store-sqlite`, passing the same
//! contract tests, for deployments that run many facepay nodes.
//!
//! Owns: SQL for PostgreSQL, transactions and row locking, and the schema's migrations.
//!
//! Must never: make a business decision, store a template or image that `vault` has not
//! encrypted, or know about HTTP.
