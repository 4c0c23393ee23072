//! What the outside suite found (issue 22) and what the read model changed, each pinned through
//! the routes: a key reused for another sale, a suspended terminal moving money, a blank
//! dispute note, and a payment the core forgot past its windows, answered from the store.

mod common;

use axum::http::StatusCode;
use common::*;
use facepay_payments::{CoreConfig, Retention};
use serde_json::{Value, json};

/// Payments the store's read model holds.
fn stored_payments(node: &TestNode) -> usize {
    node.journal.payment_rows().len()
}

/// A payment id as the routes write it (`pay_<hex>`).
fn wire_id(id: &str) -> facepay_domain::PaymentId {
    facepay_domain::PaymentId::from_u128(u128::from_str_radix(&id[4..], 16).unwrap())
}

fn payment_count(node: &TestNode) -> usize {
    node.switch.read(|core| core.payments_held())
}

#[tokio::test]
async fn a_key_reused_for_another_amount_or_order_is_refused_not_answered_with_the_first_payment() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;
    let first = pay_body(1_250, "k-1", "face:1");
    let (status, paid) = send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &first)).await;
    assert_eq!((status, paid["state"].as_str()), (StatusCode::OK, Some("authorized")), "{paid}");

    let mut more = first.clone();
    more["amount_minor"] = json!(99_000);
    let (status, refused) =
        send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &more)).await;
    assert_eq!((status, code(&refused)), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));
    let mut other_order = first.clone();
    other_order["order_id"] = json!("order-other");
    let (status, refused) =
        send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &other_order)).await;
    assert_eq!((status, code(&refused)), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));
    let (status, again) =
        send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &first)).await;
    assert_eq!((status, &again["payment_id"]), (StatusCode::OK, &paid["payment_id"]), "a true retry");
    assert_eq!(payment_count(&node), 1);
}

#[tokio::test]
async fn a_suspended_terminal_reads_but_moves_no_money() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;
    let pay = |key: &str| pay_body(1_000, key, "face:1");
    let (_, captured) =
        send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &pay("a"))).await;
    let captured = captured["payment_id"].as_str().unwrap().to_owned();
    send(
        &node.router,
        signed(&terminal, "POST", &format!("/v1/terminal/payments/{captured}/confirm"), &json!({})),
    )
    .await;
    let (_, held) = send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &pay("b"))).await;
    let held = held["payment_id"].as_str().unwrap().to_owned();

    let suspension = format!("/v1/merchant/terminals/{}/suspension", terminal.terminal);
    let (status, _) =
        send(&node.router, with_key("PUT", &suspension, &merchant_key, Some(json!({"suspended": true}))))
            .await;
    assert_eq!(status, StatusCode::OK);
    // The money and both payments as they stand (the audit log may grow: identification
    // attempts are recorded, refused or not).
    let ids = [&captured, &held].map(|id| wire_id(id));
    let standing = |node: &TestNode| {
        node.switch.read(|core| (core.ledger().clone(), ids.map(|id| core.payment_row(id))))
    };
    let before = standing(&node);
    let moves: [(String, Value); 5] = [
        (format!("/v1/terminal/payments/{captured}/refunds"), json!({"refund_id": "r", "amount_minor": 10})),
        (format!("/v1/terminal/payments/{held}/void"), json!({})),
        (format!("/v1/terminal/payments/{held}/confirm"), json!({})),
        (format!("/v1/terminal/payments/{held}/phone-digits"), json!({"digits": "1234"})),
        (format!("/v1/terminal/payments/{held}/pin"), json!({"pin": "123456"})),
    ];
    for (path, body) in moves {
        let (status, refused) = send(&node.router, signed(&terminal, "POST", &path, &body)).await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "terminal_suspended"), "{path}");
    }
    assert!(standing(&node) == before, "nothing moved");
    let (status, read) =
        send(&node.router, signed(&terminal, "GET", &format!("/v1/terminal/payments/{held}"), &json!({})))
            .await;
    assert_eq!((status, read["state"].as_str()), (StatusCode::OK, Some("authorized")), "it may still read");
    let (status, declined) =
        send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &pay("c"))).await;
    assert_eq!((status, declined["decline_reason"].as_str()), (StatusCode::OK, Some("terminal_suspended")));

    // The merchant itself still refunds with its own key.
    let refund = json!({"refund_id": "m-1", "amount_minor": 10});
    let path = format!("/v1/merchant/payments/{captured}/refunds");
    let (status, refunded) = send(&node.router, with_key("POST", &path, &merchant_key, Some(refund))).await;
    assert_eq!((status, refunded["refunded_minor"].as_i64()), (StatusCode::OK, Some(10)), "{refunded}");
}

#[tokio::test]
async fn a_blank_dispute_note_opens_no_dispute_and_freezes_no_money() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let alice = shopper(&node, 1, "1234", 10_000).await;
    let (_, paid) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(3_000, "d", "face:1")),
    )
    .await;
    let id = paid["payment_id"].as_str().unwrap().to_owned();
    send(&node.router, signed(&terminal, "POST", &format!("/v1/terminal/payments/{id}/confirm"), &json!({})))
        .await;
    for blank in ["   ", "\n\t"] {
        let claim = json!({"payment_id": id, "amount_minor": 3_000, "note": blank});
        let (status, refused) =
            send(&node.router, with_key("POST", "/v1/shopper/disputes", &alice, Some(claim))).await;
        assert_eq!((status, code(&refused)), (StatusCode::BAD_REQUEST, "evidence_note_malformed"));
    }
    assert_eq!(node.switch.read(|core| core.disputes().count()), 0);
    let refund = json!({"refund_id": "r", "amount_minor": 3_000});
    let path = format!("/v1/merchant/payments/{id}/refunds");
    let (status, refunded) = send(&node.router, with_key("POST", &path, &merchant_key, Some(refund))).await;
    assert_eq!(
        (status, refunded["refunded_minor"].as_i64()),
        (StatusCode::OK, Some(3_000)),
        "nothing frozen"
    );
}

#[tokio::test]
async fn a_payment_past_its_windows_is_read_from_the_store_and_commands_on_it_are_refused() {
    let windows = Retention { idempotency_ms: 200, refund_window_ms: 400 };
    let node = node_with_core(config(), CoreConfig { retention: windows, ..core_config() });
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let alice = shopper(&node, 1, "1234", 10_000).await;
    let body = pay_body(1_000, "old", "face:1");
    let (_, paid) = send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &body)).await;
    let id = paid["payment_id"].as_str().unwrap().to_owned();
    send(&node.router, signed(&terminal, "POST", &format!("/v1/terminal/payments/{id}/confirm"), &json!({})))
        .await;
    // The sweeper forgets it once both windows have passed.
    let mut waited = 0;
    while payment_count(&node) > 0 && waited < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(payment_count(&node), 0, "forgotten by the core");
    assert_eq!(stored_payments(&node), 1, "kept by the store");

    let (status, read) =
        send(&node.router, signed(&terminal, "GET", &format!("/v1/terminal/payments/{id}"), &json!({})))
            .await;
    assert_eq!((status, read["state"].as_str()), (StatusCode::OK, Some("captured")), "{read}");
    let (status, read) =
        send(&node.router, with_key("GET", &format!("/v1/merchant/payments/{id}"), &merchant_key, None))
            .await;
    assert_eq!((status, read["amount_minor"].as_i64()), (StatusCode::OK, Some(1_000)));
    let refund = json!({"refund_id": "late", "amount_minor": 10});
    let path = format!("/v1/merchant/payments/{id}/refunds");
    let (status, refused) = send(&node.router, with_key("POST", &path, &merchant_key, Some(refund))).await;
    assert_eq!((status, code(&refused)), (StatusCode::UNPROCESSABLE_ENTITY, "payment_window_closed"));
    let claim = json!({"payment_id": id, "amount_minor": 10, "note": "not me"});
    let (status, refused) =
        send(&node.router, with_key("POST", "/v1/shopper/disputes", &alice, Some(claim))).await;
    assert_eq!((status, code(&refused)), (StatusCode::UNPROCESSABLE_ENTITY, "payment_window_closed"));
    // The same key again: answered from the store, never a second payment under its id.
    let (status, again) = send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &body)).await;
    assert_eq!((status, again["state"].as_str()), (StatusCode::OK, Some("captured")), "{again}");
    let mut other = body.clone();
    other["amount_minor"] = json!(5);
    let (status, refused) =
        send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &other)).await;
    assert_eq!((status, code(&refused)), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));
    assert_eq!((payment_count(&node), stored_payments(&node)), (0, 1));
}
