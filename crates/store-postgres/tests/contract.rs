//! The storage contract on PostgreSQL: each case in a new schema of the local test database
//! (`FACEPAY_TEST_POSTGRES_URL`, by default the trust-auth server these machines run), dropped
//! afterwards.
#![allow(clippy::disallowed_methods)] // reads FACEPAY_TEST_POSTGRES_URL

use std::sync::atomic::{AtomicUsize, Ordering};

use facepay_store_contract::{Database, contract_tests};
use facepay_store_postgres::PostgresJournal;

struct PostgresDatabase {
    url: String,
    schema: String,
}

impl Database for PostgresDatabase {
    type Journal = PostgresJournal;
    fn connect(&self) -> PostgresJournal {
        PostgresJournal::connect(&self.url, &self.schema).expect("the test database is reachable")
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}

fn fresh() -> PostgresDatabase {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let url = std::env::var("FACEPAY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let schema = format!("facepay_contract_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    PostgresDatabase { url, schema }
}

contract_tests!(fresh());
