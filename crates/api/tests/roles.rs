//! Every role's happy path through the real router, and every role denied what is not theirs.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
async fn a_shopper_pays_by_face_the_merchant_refunds_and_a_retry_never_charges_twice() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let alice = shopper(&node, 1, "1234", 10_000).await;
    shopper(&node, 2, "5678", 10_000).await;

    let body = pay_body(2_500, "k-1", "face:1");
    let (status, paid) = send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &body)).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["state"], "authorized");
    assert_eq!(paid["shopper"], "P***** 1", "the terminal sees only the masked name");
    assert_eq!(paid["order_id"], "order-k-1");
    let id = paid["payment_id"].as_str().unwrap().to_owned();

    // The terminal never heard back and retries the same request: the same payment, no new hold.
    let (status, again) = send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &body)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["payment_id"], id.as_str());

    let confirm = format!("/v1/terminal/payments/{id}/confirm");
    let (status, captured) = send(&node.router, signed(&terminal, "POST", &confirm, &json!({}))).await;
    assert_eq!((status, captured["state"].as_str()), (StatusCode::OK, Some("captured")), "{captured}");
    let (_, me) = send(&node.router, with_key("GET", "/v1/shopper", &alice, None)).await;
    assert_eq!(me["wallets"][0]["balance_minor"], 7_500, "charged once: {me}");

    let refund = format!("/v1/merchant/payments/{id}/refunds");
    let part = json!({"refund_id": "r-1", "amount_minor": 1_000});
    let (status, refunded) =
        send(&node.router, with_key("POST", &refund, &merchant_key, Some(part.clone()))).await;
    assert_eq!((status, refunded["refunded_minor"].as_i64()), (StatusCode::OK, Some(1_000)), "{refunded}");
    let (_, retried) = send(&node.router, with_key("POST", &refund, &merchant_key, Some(part))).await;
    assert_eq!(retried["refunded_minor"], 1_000, "a retried refund moves money once: {retried}");
    let too_much = json!({"refund_id": "r-2", "amount_minor": 1_501});
    let (status, refused) =
        send(&node.router, with_key("POST", &refund, &merchant_key, Some(too_much))).await;
    assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "refund_exceeds_captured"));
    let (_, me) = send(&node.router, with_key("GET", "/v1/shopper", &alice, None)).await;
    assert_eq!(me["wallets"][0]["balance_minor"], 8_500);

    let (status, seen) =
        send(&node.router, with_key("GET", &format!("/v1/merchant/payments/{id}"), &merchant_key, None))
            .await;
    assert_eq!((status, seen["state"].as_str()), (StatusCode::OK, Some("captured")));
    let text = seen.to_string();
    assert!(!text.contains("template") && !text.contains("Person"), "no biometric data or full name: {text}");
}

#[tokio::test]
async fn strangers_spoofs_and_unusable_photos_never_pay() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;

    let (_, stranger) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, "s", "face:99")),
    )
    .await;
    assert_eq!(
        (stranger["state"].as_str(), stranger["decline_reason"].as_str()),
        (Some("declined"), Some("no_match"))
    );
    assert!(stranger["shopper"].is_null());
    let (_, spoof) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, "p", "spoof:1")),
    )
    .await;
    assert_eq!(spoof["decline_reason"], "liveness_failed", "{spoof}");
    let (status, blank) =
        send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, "b", "wall")))
            .await;
    assert_eq!((status, code(&blank)), (StatusCode::UNPROCESSABLE_ENTITY, "face_not_found"));
    assert!(node.switch.read(|core| core.payments().count()) == 2, "an unusable photo makes no payment");
}

#[tokio::test]
async fn a_face_like_two_people_asks_for_the_phone_digits_which_pick_the_right_one() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1111", 10_000).await;
    shopper(&node, 2, "2222", 10_000).await;
    let (_, asked) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(300, "m", "mix:1:2")),
    )
    .await;
    assert_eq!(asked["state"], "needs_phone_digits", "{asked}");
    assert!(asked["shopper"].is_null(), "nobody is named before the digits");
    let path = format!("/v1/terminal/payments/{}/phone-digits", asked["payment_id"].as_str().unwrap());
    let (status, paid) =
        send(&node.router, signed(&terminal, "POST", &path, &json!({"digits": "2222"}))).await;
    assert_eq!((status, paid["state"].as_str()), (StatusCode::OK, Some("authorized")), "{paid}");
    assert_eq!(paid["shopper"], "P***** 2");
}

#[tokio::test]
async fn a_pin_is_asked_above_the_policy_amount_and_checked_without_being_journaled() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let alice = shopper(&node, 1, "1234", 100_000).await;
    let (status, body) =
        send(&node.router, with_key("PUT", "/v1/shopper/pin", &alice, Some(json!({"pin": "123456"})))).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "pin_too_simple"));
    let (status, _) =
        send(&node.router, with_key("PUT", "/v1/shopper/pin", &alice, Some(json!({"pin": "271828"})))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, asked) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(60_000, "big", "face:1")),
    )
    .await;
    assert_eq!(asked["state"], "needs_pin", "{asked}");
    let path = format!("/v1/terminal/payments/{}/pin", asked["payment_id"].as_str().unwrap());
    let (status, wrong) =
        send(&node.router, signed(&terminal, "POST", &path, &json!({"pin": "999999"}))).await;
    assert_eq!((status, code(&wrong)), (StatusCode::UNPROCESSABLE_ENTITY, "pin_wrong"), "{wrong}");
    let (_, paid) = send(&node.router, signed(&terminal, "POST", &path, &json!({"pin": "271828"}))).await;
    assert_eq!(paid["state"], "authorized", "{paid}");
    let journal = format!("{:?}", node.journal);
    assert!(!journal.contains("271828") && !journal.contains("999999"), "no PIN in the journal");
}

#[tokio::test]
async fn merchants_see_and_refund_only_their_own_payments_and_terminals() {
    let node = node();
    let (_, key_a) = merchant(&node).await;
    let (_, key_b) = merchant(&node).await;
    let terminal_a = terminal(&node, &key_a).await;
    let terminal_b = terminal(&node, &key_b).await;
    shopper(&node, 1, "1234", 10_000).await;
    let (_, paid) = send(
        &node.router,
        signed(&terminal_a, "POST", "/v1/terminal/payments", &pay_body(500, "a", "face:1")),
    )
    .await;
    let id = paid["payment_id"].as_str().unwrap();

    let (status, body) =
        send(&node.router, with_key("GET", &format!("/v1/merchant/payments/{id}"), &key_b, None)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "payment_unknown"));
    let refund = json!({"refund_id": "x", "amount_minor": 1});
    let (status, _) = send(
        &node.router,
        with_key("POST", &format!("/v1/merchant/payments/{id}/refunds"), &key_b, Some(refund)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        send(&node.router, signed(&terminal_b, "GET", &format!("/v1/terminal/payments/{id}"), &json!({})))
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another merchant's terminal cannot read it");
    let (status, _) = send(
        &node.router,
        signed(&terminal_b, "POST", &format!("/v1/terminal/payments/{id}/void"), &json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let other_terminal = format!("/v1/merchant/terminals/{}", terminal_a.terminal);
    let (status, _) = send(&node.router, with_key("DELETE", &other_terminal, &key_b, None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nor revoke another merchant's terminal");
    assert_eq!(
        node.switch.read(|core| core
            .payment_record(facepay_domain::PaymentId::from_u128(u128::from_str_radix(&id[4..], 16).unwrap()))
            .map(|p| p.state)),
        Some(facepay_payments::PaymentState::Authorized)
    );

    // Roles: a merchant key is not an operator's, a shopper's is not a merchant's, none is nothing.
    let (status, body) = send(
        &node.router,
        with_key("POST", "/v1/operator/merchants", &key_a, Some(json!({"risk": "low", "acquirer": 1}))),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let alice = shopper(&node, 2, "1234", 0).await;
    let (status, _) = send(&node.router, with_key("POST", "/v1/merchant/terminals", &alice, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let request = axum::http::Request::builder()
        .method("GET")
        .uri("/v1/shopper")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body) = send(&node.router, request).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "api_key_missing"));
    let forged = format!("{}0", &key_a[..key_a.len() - 1]);
    let (status, body) = send(&node.router, with_key("POST", "/v1/merchant/terminals", &forged, None)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "api_key_invalid"));
}

#[tokio::test]
async fn the_operator_switches_face_payment_off_and_blacklists_merchants() {
    let node = node();
    let (merchant_id, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;
    let off = json!({"scope": "everywhere", "off": true});
    let (status, _) =
        send(&node.router, with_key("PUT", "/v1/operator/emergency-switch", &node.operator_key, Some(off)))
            .await;
    assert_eq!(status, StatusCode::OK);
    let (_, declined) =
        send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, "1", "face:1")))
            .await;
    assert_eq!(declined["decline_reason"], "face_payment_off");
    let on = json!({"scope": "everywhere", "off": false});
    send(&node.router, with_key("PUT", "/v1/operator/emergency-switch", &node.operator_key, Some(on))).await;
    let bad = json!({"scope": "merchant", "off": true});
    let (status, body) =
        send(&node.router, with_key("PUT", "/v1/operator/emergency-switch", &node.operator_key, Some(bad)))
            .await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "id_missing"));

    let path = format!("/v1/operator/merchants/{merchant_id}/status");
    let (status, _) = send(
        &node.router,
        with_key("PUT", &path, &node.operator_key, Some(json!({"status": "blacklisted"}))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, declined) =
        send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, "2", "face:1")))
            .await;
    assert_eq!(declined["decline_reason"], "merchant_blacklisted");
}

#[tokio::test]
async fn shoppers_consent_cannot_enroll_a_face_taken_and_deleting_everything_is_real() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let outdated = json!({"consent_text_version": "2020-01", "phone_last4": "1234", "name": "Eve"});
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/shoppers")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(outdated.to_string()))
        .unwrap();
    let (status, body) = send(&node.router, request).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "consent_version_outdated"));

    let alice = shopper(&node, 1, "1234", 1_000).await;
    let mallory = shopper(&node, 2, "9999", 0).await;
    let steal = json!({"captures": [photo("face:1")]});
    let (status, body) = send(&node.router, with_key("PUT", "/v1/shopper/face", &mallory, Some(steal))).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "face_already_enrolled"));

    let (status, deleted) = send(&node.router, with_key("DELETE", "/v1/shopper", &alice, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["face_shredded"], true);
    let (status, body) = send(&node.router, with_key("GET", "/v1/shopper", &alice, None)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "api_key_invalid"),
        "the app's key is revoked"
    );
    let (_, paid) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, "after", "face:1")),
    )
    .await;
    assert_eq!(paid["decline_reason"], "no_match", "the face is gone from the index: {paid}");
}
