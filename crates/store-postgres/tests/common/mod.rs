//! A scratch schema in the local test database (`FACEPAY_TEST_POSTGRES_URL`, by default the
//! trust-auth server these machines run), dropped when the value is dropped.

use facepay_store_contract::Database;
use facepay_store_contract::biometric::BiometricDatabase;
use facepay_store_postgres::{PostgresBiometricStore, PostgresJournal};

pub struct Schema {
    pub url: String,
    pub name: String,
}

impl Schema {
    pub fn new(name: String) -> Schema {
        #[allow(clippy::disallowed_methods)] // the test database's address
        let url = std::env::var("FACEPAY_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
        Schema { url, name }
    }
}

impl Database for Schema {
    type Journal = PostgresJournal;
    fn connect(&self) -> PostgresJournal {
        PostgresJournal::connect(&self.url, &self.name).expect("the test database is reachable")
    }
    fn corrupt_checkpoint(&self, seq: u64) {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).expect("reachable");
        let sql =
            format!("UPDATE {}.checkpoints SET body = body || '\\x00'::bytea WHERE seq = $1", self.name);
        assert_eq!(client.execute(&sql, &[&(seq as i64)]).expect("the update runs"), 1);
    }
    fn tamper_audit(&self, seq: u64) {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).expect("reachable");
        let sql = format!("UPDATE {}.audit_log SET actor = 'key_someone_else' WHERE seq = $1", self.name);
        assert_eq!(client.execute(&sql, &[&(seq as i64)]).expect("the update runs"), 1);
    }
    fn drop_stored_audit(&self) {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).expect("reachable");
        client.execute(&format!("DELETE FROM {}.audit_log", self.name), &[]).expect("the delete runs");
    }
}

impl BiometricDatabase for Schema {
    type Store = PostgresBiometricStore;
    fn connect(&self) -> PostgresBiometricStore {
        PostgresBiometricStore::connect(&self.url, &self.name).expect("the test database is reachable")
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}
