//! The biometric contract on PostgreSQL: each case in a new schema of the local test database,
//! dropped afterwards.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::Schema;
use facepay_store_contract::biometric_contract_tests;

fn fresh() -> Schema {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    Schema::new(format!("facepay_biometric_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)))
}

biometric_contract_tests!(fresh());
