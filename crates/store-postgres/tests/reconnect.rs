//! A node's connections outlive the server dropping them (a restart, a failover): the call that
//! meets the broken connection fails as unavailable, and the next one connects again. A test
//! binary of its own, because it terminates server sessions by name.

mod common;

use common::Schema;
use facepay_payments::Journal;
use facepay_store_postgres::{PostgresBiometricStore, PostgresJournal};
use facepay_vault::BiometricStore;

const NAME: &str = "facepay_reconnect_test";

/// `url` with this test's application name, so only its sessions are terminated.
fn named(url: &str) -> String {
    if url.contains("://") {
        let joiner = if url.contains('?') { '&' } else { '?' };
        format!("{url}{joiner}application_name={NAME}")
    } else {
        format!("{url} application_name={NAME}")
    }
}

fn terminate_sessions(url: &str) -> i64 {
    let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let row = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&NAME],
        )
        .unwrap();
    row.get(0)
}

#[test]
fn a_connection_the_server_dropped_is_made_again_by_the_next_call() {
    let schema = Schema::new(format!("facepay_reconnect_{}", std::process::id()));
    let url = named(&schema.url);
    let mut journal = PostgresJournal::connect(&url, &schema.name).unwrap();
    let mut store = PostgresBiometricStore::connect(&url, &schema.name).unwrap();
    assert!(journal.read_after(0).unwrap().is_empty());
    assert_eq!(store.last_change().unwrap(), 0);

    assert_eq!(terminate_sessions(&schema.url), 2, "both sessions were found by name");

    // The first call may be the one that learns of the break; the one after it works.
    if let Err(err) = journal.read_after(0) {
        assert_eq!(err.code(), "store_unavailable");
    }
    assert!(journal.read_after(0).unwrap().is_empty());
    if let Err(err) = store.last_change() {
        assert_eq!(err.code(), "store_unavailable");
    }
    assert_eq!(store.last_change().unwrap(), 0);
}
