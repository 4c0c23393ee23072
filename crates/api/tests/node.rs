//! The node's own machinery as time passes: an idle node journals nothing however often its
//! sweeper looks, and a payment whose outcome never came is swept exactly once, when due.

mod common;

use std::time::Duration;

use common::*;
use facepay_api::ApiConfig;
use facepay_domain::PaymentId;
use facepay_payments::{Journal, MemoryJournal, PaymentState};

fn journaled(journal: &MemoryJournal) -> usize {
    journal.clone().read_after(0).unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_node_journals_nothing_and_sweeps_only_what_is_due() {
    // The sweeper looks every millisecond: a thousand looks a second, each of which journaled
    // a sweep before.
    let config = ApiConfig { sweep_every: Duration::from_millis(1), ..config() };
    let core = facepay_payments::CoreConfig { outcome_timeout_ms: 400, ..core_config() };
    let node = node_with_core(config, core);
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;

    let idle_from = journaled(&node.journal);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(journaled(&node.journal), idle_from, "1.5 s of idle looks journaled nothing");

    // A payment the terminal never confirms: due at its outcome timeout, reversed by one sweep.
    let (_, paid) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(2_500, "k", "face:1")),
    )
    .await;
    assert_eq!(paid["state"], "authorized", "{paid}");
    let paid_at = journaled(&node.journal);
    let hex = paid["payment_id"].as_str().unwrap().trim_start_matches("pay_");
    let id = PaymentId::from_u128(u128::from_str_radix(hex, 16).unwrap());
    let state = || node.switch.read(|core| core.payment(id).unwrap().state);
    for _ in 0..500 {
        if state() != PaymentState::Authorized {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state(), PaymentState::Reversed, "swept within 10 s of its 0.4 s timeout");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(journaled(&node.journal), paid_at + 1, "one sweep, and nothing after it");
}
