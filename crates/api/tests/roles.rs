//! Every role's happy path through the real router, and every role denied what is not theirs.

mod common;

use axum::http::StatusCode;
use common::*;
use facepay_api::{ApiConfig, Biometrics};
use serde_json::{Value, json};

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

/// How alike the face a photo text shows is to person `n`'s.
fn likeness(photo_text: &str, n: u64) -> f32 {
    let captured = FakeBiometrics.capture(&[photo_text.as_bytes()]).unwrap().template;
    captured.expose_embedding().iter().zip(face(n).expose_embedding()).map(|(a, b)| a * b).sum()
}

#[tokio::test]
async fn the_phone_digits_search_their_bucket_so_a_shopper_outside_the_top_candidates_is_found() {
    // Only the best candidate among everyone is kept; the digits must search their bucket.
    let node = node_with(ApiConfig { search_k: 1, ..config() });
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    for (n, digits) in [(1, "1111"), (2, "2222"), (3, "3333")] {
        shopper(&node, n, digits, 10_000).await;
    }
    let rule = ApiConfig::default().decision;
    for n in 1..=3 {
        let alike = likeness("mix:1:2:3", n);
        assert!(
            alike >= rule.pin_free_threshold && alike < rule.open_threshold,
            "the face's premise: {alike}"
        );
    }
    for (k, digits) in ["1111", "2222", "3333"].into_iter().enumerate() {
        let body = pay_body(100, &format!("three-{k}"), "mix:1:2:3");
        let (_, asked) = send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &body)).await;
        assert_eq!(asked["state"], "needs_phone_digits", "{asked}");
        let path = format!("/v1/terminal/payments/{}/phone-digits", asked["payment_id"].as_str().unwrap());
        let (status, paid) =
            send(&node.router, signed(&terminal, "POST", &path, &json!({"digits": digits}))).await;
        assert_eq!((status, paid["state"].as_str()), (StatusCode::OK, Some("authorized")), "{paid}");
        assert_eq!(paid["shopper"], format!("P***** {}", k + 1), "the digits' owner, whatever their rank");
    }
}

#[tokio::test]
async fn a_stranger_who_types_a_victims_digits_meets_the_victims_pin() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let victim = shopper(&node, 1, "4321", 10_000).await;
    let rule = ApiConfig::default().decision;
    // A stranger's face (people 41 to 44 are not enrolled) somewhat like the victim's: a 1:1
    // score a face alone may not pay on, but one the digits' bucket finds.
    let stranger = "mix:1:41:42:43:44";
    let alike = likeness(stranger, 1);
    assert!(alike >= rule.bucket_threshold && alike < rule.pin_free_threshold, "the face's premise: {alike}");
    let (_, asked) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, "stranger", stranger)),
    )
    .await;
    assert_eq!(asked["state"], "needs_phone_digits", "{asked}");
    let path = format!("/v1/terminal/payments/{}/phone-digits", asked["payment_id"].as_str().unwrap());
    let (_, refused) = send(&node.router, signed(&terminal, "POST", &path, &json!({"digits": "4321"}))).await;
    // 100 is far below the PIN policy's amount, yet the weak match needs the PIN the victim never set.
    assert_eq!(
        (refused["decline_reason"].as_str(), &refused["shopper"]),
        (Some("pin_not_set"), &Value::Null),
        "{refused}"
    );
    // With a PIN set, only the PIN lets such a match pay.
    let (status, _) =
        send(&node.router, with_key("PUT", "/v1/shopper/pin", &victim, Some(json!({"pin": "271828"})))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, asked) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, "stranger-2", stranger)),
    )
    .await;
    let id = asked["payment_id"].as_str().unwrap();
    let digits = format!("/v1/terminal/payments/{id}/phone-digits");
    let (_, at_pin) =
        send(&node.router, signed(&terminal, "POST", &digits, &json!({"digits": "4321"}))).await;
    assert_eq!(at_pin["state"], "needs_pin", "{at_pin}");
    let pin = format!("/v1/terminal/payments/{id}/pin");
    let (status, wrong) =
        send(&node.router, signed(&terminal, "POST", &pin, &json!({"pin": "999999"}))).await;
    assert_eq!((status, code(&wrong)), (StatusCode::UNPROCESSABLE_ENTITY, "pin_wrong"), "{wrong}");
}

#[tokio::test]
async fn phone_digits_after_the_face_is_no_longer_held_are_refused_and_change_nothing() {
    let node = node_with(ApiConfig { probe_hold_ms: 0, ..config() });
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1111", 10_000).await;
    shopper(&node, 2, "2222", 10_000).await;
    let (_, asked) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(300, "late", "mix:1:2")),
    )
    .await;
    let id = asked["payment_id"].as_str().unwrap();
    let path = format!("/v1/terminal/payments/{id}/phone-digits");
    let (status, refused) =
        send(&node.router, signed(&terminal, "POST", &path, &json!({"digits": "2222"}))).await;
    assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "capture_not_held"), "{refused}");
    let (_, still) =
        send(&node.router, signed(&terminal, "GET", &format!("/v1/terminal/payments/{id}"), &json!({})))
            .await;
    assert_eq!(still["state"], "needs_phone_digits", "{still}");
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
    let suspend = format!("{other_terminal}/suspension");
    let (status, out) =
        send(&node.router, with_key("PUT", &suspend, &node.operator_key, Some(json!({"suspended": true}))))
            .await;
    assert_eq!((status, out["suspended"].as_bool()), (StatusCode::OK, Some(true)), "the operator may: {out}");
    send(&node.router, with_key("PUT", &suspend, &node.operator_key, Some(json!({"suspended": false}))))
        .await;
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
    // The real key with its last hex digit changed.
    let last = if key_a.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &key_a[..key_a.len() - 1]);
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

    let (_, events) =
        send(&node.router, with_key("GET", "/v1/operator/risk-events", &node.operator_key, None)).await;
    assert_eq!(events, json!([]), "nothing risky yet");

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
    let (_, events) =
        send(&node.router, with_key("GET", "/v1/operator/risk-events", &node.operator_key, None)).await;
    assert_eq!(
        (events[0]["rule"].as_str(), events[0]["verdict"].as_str()),
        (Some("risk_merchant_blacklisted"), Some("decline"))
    );
    assert_eq!(events[0]["payment_id"], declined["payment_id"]);
    let ack = json!({"event_ids": [events[0]["event_id"]]});
    let (_, acked) =
        send(&node.router, with_key("POST", "/v1/operator/risk-events/ack", &node.operator_key, Some(ack)))
            .await;
    assert_eq!(acked["acknowledged"], 1);
    let (_, events) =
        send(&node.router, with_key("GET", "/v1/operator/risk-events", &node.operator_key, None)).await;
    assert_eq!(events, json!([]));
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
    // Another photo of the same face (about 0.7 alike, below the open threshold) is caught too.
    let another_photo = json!({"captures": [photo("mix:1:77")]});
    let (status, body) =
        send(&node.router, with_key("PUT", "/v1/shopper/face", &mallory, Some(another_photo))).await;
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

#[tokio::test]
async fn a_bank_pulls_its_authorization_answers_it_and_settles_only_its_own_line() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let bank_key = |issuer: u32| {
        let router = node.router.clone();
        let operator = node.operator_key.clone();
        async move {
            let (status, body) = send(
                &router,
                with_key("POST", "/v1/operator/issuers", &operator, Some(json!({"issuer": issuer}))),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["api_key"].as_str().unwrap().to_owned()
        }
    };
    let bank = bank_key(7).await;
    let other_bank = bank_key(8).await;
    let alice = shopper(&node, 1, "1234", 0).await;
    let account = json!({"issuer": 7, "reference": "tok-alice-7", "make_default": true});
    let (status, _) =
        send(&node.router, with_key("POST", "/v1/shopper/bank-accounts", &alice, Some(account))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, accounts) = send(&node.router, with_key("GET", "/v1/issuer/accounts", &bank, None)).await;
    assert_eq!(accounts, json!([{"reference": "tok-alice-7", "default": true}]));
    let (_, none) = send(&node.router, with_key("GET", "/v1/issuer/accounts", &other_bank, None)).await;
    assert_eq!(none, json!([]), "a bank sees only its own accounts");
    let (status, _) = send(&node.router, with_key("GET", "/v1/issuer/accounts", &merchant_key, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let from = facepay_api::now_ms() - 1;
    let (_, asked) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(4_200, "b1", "face:1")),
    )
    .await;
    assert_eq!(asked["state"], "awaiting_issuer", "{asked}");
    let id = asked["payment_id"].as_str().unwrap().to_owned();
    let (_, none) = send(&node.router, with_key("GET", "/v1/issuer/messages", &other_bank, None)).await;
    assert_eq!(none, json!([]), "another bank sees nothing");
    let (_, messages) = send(&node.router, with_key("GET", "/v1/issuer/messages", &bank, None)).await;
    assert_eq!(messages[0]["kind"], "authorize", "{messages}");
    assert_eq!(
        (messages[0]["payment_id"].as_str(), messages[0]["reference"].as_str()),
        (Some(id.as_str()), Some("tok-alice-7"))
    );
    assert_eq!(messages[0]["amount_minor"], 4_200);

    let path = format!("/v1/issuer/payments/{id}/answer");
    let (status, _) =
        send(&node.router, with_key("POST", &path, &other_bank, Some(json!({"answer": "approved"})))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only the account's bank answers");
    let (status, approved) =
        send(&node.router, with_key("POST", &path, &bank, Some(json!({"answer": "approved"})))).await;
    assert_eq!((status, approved["state"].as_str()), (StatusCode::OK, Some("authorized")), "{approved}");
    let ack = json!({"message_ids": [messages[0]["message_id"]]});
    let (_, acked) = send(&node.router, with_key("POST", "/v1/issuer/messages/ack", &bank, Some(ack))).await;
    assert_eq!(acked["acknowledged"], 1);
    let (_, after) = send(&node.router, with_key("GET", "/v1/issuer/messages", &bank, None)).await;
    assert_eq!(after, json!([]), "an acknowledged message is not offered again");

    let (_, captured) = send(
        &node.router,
        signed(&terminal, "POST", &format!("/v1/terminal/payments/{id}/confirm"), &json!({})),
    )
    .await;
    assert_eq!(captured["state"], "captured");
    let refund = json!({"refund_id": "r-bank-1", "amount_minor": 1_200});
    let path = format!("/v1/merchant/payments/{id}/refunds");
    let (status, _) = send(&node.router, with_key("POST", &path, &merchant_key, Some(refund))).await;
    assert_eq!(status, StatusCode::OK);
    // The bank hears of the capture and of the refund, each with what it needs to post it once.
    let (_, told) = send(&node.router, with_key("GET", "/v1/issuer/messages", &bank, None)).await;
    let told: Vec<(&str, i64, Option<&str>)> = told
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["kind"].as_str().unwrap(), m["amount_minor"].as_i64().unwrap(), m["reason"].as_str()))
        .collect();
    assert_eq!(told, [("capture", 4_200, None), ("credit", 1_200, Some("refund"))]);
    let (_, again) = send(&node.router, with_key("GET", "/v1/issuer/messages", &bank, None)).await;
    assert!(again[1]["credit_id"].as_str().is_some_and(|id| id.starts_with("crd_")), "{again}");
    let window = format!("?from_ms={from}&to_ms={}", facepay_api::now_ms() + 1);
    let (status, line) =
        send(&node.router, with_key("GET", &format!("/v1/issuer/settlement{window}"), &bank, None)).await;
    assert_eq!(status, StatusCode::OK, "{line}");
    assert_eq!(
        (line["payments_minor"].as_i64(), line["net_minor"].as_i64()),
        (Some(4_200), Some(3_000)),
        "{line}"
    );
    let (_, other) =
        send(&node.router, with_key("GET", &format!("/v1/issuer/settlement{window}"), &other_bank, None))
            .await;
    assert_eq!(other["payments_minor"], 0);
    let (status, report) = send(
        &node.router,
        with_key("GET", &format!("/v1/operator/settlement{window}"), &node.operator_key, None),
    )
    .await;
    assert_eq!((status, report["balances"].as_bool()), (StatusCode::OK, Some(true)), "{report}");
    let (status, body) =
        send(&node.router, with_key("GET", "/v1/operator/settlement?from_ms=5", &node.operator_key, None))
            .await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "query_malformed"));
    let (status, _) =
        send(&node.router, with_key("GET", &format!("/v1/operator/settlement{window}"), &bank, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a bank reads its own line, not everyone's");

    // The day's statements: the operator's view and each party's files; a bank downloads its own.
    let today = facepay_domain::civil_date_text(facepay_api::now_ms().div_euclid(86_400_000));
    let (status, day) = send(
        &node.router,
        with_key("GET", &format!("/v1/operator/settlement/days/{today}"), &node.operator_key, None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{day}");
    let bank_line = day["statements"].as_array().unwrap().iter().find(|s| s["party"] == "issuer-7").unwrap();
    if day["from_ms"].as_i64().unwrap() <= from {
        // (A run across UTC midnight splits the payment and its refund over two days.)
        assert_eq!(
            (
                bank_line["lines"].as_u64(),
                bank_line["debits_minor"].as_i64(),
                bank_line["closing_minor"].as_i64()
            ),
            (Some(2), Some(4_200), Some(-3_000)),
            "{day}"
        );
    }
    assert_eq!((bank_line["equals_ledger"].as_bool(), day["balances"].as_bool()), (Some(true), Some(true)));
    let raw = |path: String, key: &str| {
        let request = with_key("GET", &path, key, None);
        let router = node.router.clone();
        async move {
            let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
            let (status, kind) = (response.status(), response.headers().get("content-type").cloned());
            let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
            (
                status,
                kind.map(|kind| kind.to_str().unwrap().to_owned()),
                String::from_utf8(body.to_vec()).unwrap(),
            )
        }
    };
    let (status, kind, csv) = raw(format!("/v1/issuer/settlement/days/{today}"), &bank).await;
    assert_eq!((status, kind.as_deref()), (StatusCode::OK, Some("text/csv; charset=utf-8")), "{csv}");
    assert!(csv.starts_with(facepay_clearing::CSV_HEADER), "{csv}");
    assert!(csv.contains(&format!(",payment,debit,4200,EUR,{id},")), "{csv}");
    let (_, _, empty) = raw(format!("/v1/issuer/settlement/days/{today}"), &other_bank).await;
    assert_eq!(empty.lines().count(), 1, "another bank's statement has none of this bank's lines");
    let (status, kind, xml) = raw(
        format!("/v1/operator/settlement/days/{today}/files/issuer-7?format=camt053"),
        &node.operator_key,
    )
    .await;
    assert_eq!((status, kind.as_deref()), (StatusCode::OK, Some("application/xml")));
    assert!(xml.contains("<Amt Ccy=\"EUR\">42.00</Amt><CdtDbtInd>DBIT</CdtDbtInd>"), "{xml}");
    for (path, key, expected) in [
        (
            "/v1/operator/settlement/days/2026-02-30".to_owned(),
            &node.operator_key,
            (StatusCode::BAD_REQUEST, "settlement_day_malformed"),
        ),
        (
            format!("/v1/operator/settlement/days/{today}/files/issuer-0"),
            &node.operator_key,
            (StatusCode::NOT_FOUND, "settlement_party_unknown"),
        ),
        (
            format!("/v1/operator/settlement/days/{today}/files/bank-7"),
            &node.operator_key,
            (StatusCode::NOT_FOUND, "settlement_party_unknown"),
        ),
        (
            format!("/v1/operator/settlement/days/{today}/files/acquirer-1?format=pdf"),
            &node.operator_key,
            (StatusCode::BAD_REQUEST, "settlement_format_unknown"),
        ),
        (format!("/v1/issuer/settlement/days/{today}/x"), &bank, (StatusCode::NOT_FOUND, "route_unknown")),
        (
            format!("/v1/operator/settlement/days/{today}/files/issuer-7"),
            &bank,
            (StatusCode::FORBIDDEN, "forbidden"),
        ),
    ] {
        let (status, body) = send(&node.router, with_key("GET", &path, key, None)).await;
        assert_eq!((status, code(&body)), expected, "{path}: {body}");
    }
}

#[tokio::test]
async fn a_shopper_sets_their_own_limit_picks_the_default_account_and_unbinds_safely() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let alice = shopper(&node, 1, "1234", 10_000).await;
    let (_, me) = send(&node.router, with_key("GET", "/v1/shopper", &alice, None)).await;
    let wallet = me["wallets"][0]["account"].as_str().unwrap().to_owned();

    let bad = json!({"per_transaction_minor": 5_000, "daily_minor": 1_000});
    let (status, body) = send(&node.router, with_key("PUT", "/v1/shopper/limit", &alice, Some(bad))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "limit_malformed"));
    let limit = json!({"per_transaction_minor": 1_000, "daily_minor": 3_000});
    let (status, _) = send(&node.router, with_key("PUT", "/v1/shopper/limit", &alice, Some(limit))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, declined) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(2_500, "l1", "face:1")),
    )
    .await;
    assert_eq!(declined["decline_reason"], "limit_per_transaction_exceeded", "{declined}");

    send(
        &node.router,
        with_key("POST", "/v1/operator/issuers", &node.operator_key, Some(json!({"issuer": 3}))),
    )
    .await;
    let account = json!({"issuer": 3, "reference": "tok-3"});
    let (status, _) =
        send(&node.router, with_key("POST", "/v1/shopper/bank-accounts", &alice, Some(account))).await;
    assert_eq!(status, StatusCode::OK);
    let bank = json!({"issuer": 3, "reference": "tok-3"});
    let (_, list) =
        send(&node.router, with_key("PUT", "/v1/shopper/default-funding", &alice, Some(bank.clone()))).await;
    assert_eq!(
        (list["accounts"].as_array().map(Vec::len), list["default"]["reference"].as_str()),
        (Some(2), Some("tok-3"))
    );
    let (_, list) =
        send(&node.router, with_key("POST", "/v1/shopper/funding/unbind", &alice, Some(bank))).await;
    assert_eq!(list["default"]["wallet"].as_str(), Some(wallet.as_str()), "the default falls back: {list}");
    let (status, body) = send(
        &node.router,
        with_key("POST", "/v1/shopper/funding/unbind", &alice, Some(json!({"wallet": wallet}))),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "wallet_not_empty"));
    let (status, body) = send(
        &node.router,
        with_key("POST", "/v1/shopper/funding/unbind", &alice, Some(json!({"issuer": 3}))),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "funding_malformed"));
}

#[tokio::test]
async fn a_shopper_disputes_a_payment_the_operator_compensates_from_the_reserve_and_charges_back() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let (_, other_merchant) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let alice = shopper(&node, 1, "1234", 10_000).await;
    let bob = shopper(&node, 2, "5678", 0).await;
    let (_, paid) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(3_000, "d1", "face:1")),
    )
    .await;
    let id = paid["payment_id"].as_str().unwrap().to_owned();
    send(&node.router, signed(&terminal, "POST", &format!("/v1/terminal/payments/{id}/confirm"), &json!({})))
        .await;

    let claim = json!({"payment_id": id, "amount_minor": 3_000, "note": "I never paid there"});
    let (status, body) =
        send(&node.router, with_key("POST", "/v1/shopper/disputes", &bob, Some(claim.clone()))).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "payment_unknown"), "not Bob's payment");
    let (status, opened) =
        send(&node.router, with_key("POST", "/v1/shopper/disputes", &alice, Some(claim))).await;
    assert_eq!((status, opened["state"].as_str()), (StatusCode::OK, Some("open")), "{opened}");
    let dispute = opened["dispute_id"].as_str().unwrap().to_owned();

    let evidence = format!("/v1/disputes/{dispute}/evidence");
    let (status, _) =
        send(&node.router, with_key("POST", &evidence, &other_merchant, Some(json!({"note": "x"})))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another merchant cannot see it");
    let (status, noted) = send(
        &node.router,
        with_key("POST", &evidence, &merchant_key, Some(json!({"note": "camera log attached"}))),
    )
    .await;
    assert_eq!(
        (status, noted["evidence"][1]["party"].as_str()),
        (StatusCode::OK, Some("merchant")),
        "{noted}"
    );

    let (_, listed) =
        send(&node.router, with_key("GET", "/v1/operator/disputes", &node.operator_key, None)).await;
    assert_eq!(listed[0]["dispute_id"], dispute.as_str(), "the operator's list shows it: {listed}");
    assert_eq!(listed[0]["evidence"].as_array().map(Vec::len), Some(2));

    let fund = json!({"amount_minor": 50_000, "funding_id": "f-1"});
    let (status, reserve) =
        send(&node.router, with_key("POST", "/v1/operator/reserve", &node.operator_key, Some(fund))).await;
    assert_eq!((status, reserve["balance_minor"].as_i64()), (StatusCode::OK, Some(50_000)), "{reserve}");
    let resolution = format!("/v1/operator/disputes/{dispute}/resolution");
    let (status, body) = send(
        &node.router,
        with_key("POST", &resolution, &merchant_key, Some(json!({"finding": "shopper_not_shown_at_fault"}))),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, decided) = send(
        &node.router,
        with_key(
            "POST",
            &resolution,
            &node.operator_key,
            Some(json!({"finding": "shopper_not_shown_at_fault"})),
        ),
    )
    .await;
    assert_eq!((status, decided["state"].as_str()), (StatusCode::OK, Some("compensated")), "{decided}");
    let (_, me) = send(&node.router, with_key("GET", "/v1/shopper", &alice, None)).await;
    assert_eq!(me["wallets"][0]["balance_minor"], 10_000, "paid back first: {me}");
    let (status, charged) = send(
        &node.router,
        with_key("POST", &format!("/v1/operator/disputes/{dispute}/charge-back"), &node.operator_key, None),
    )
    .await;
    assert_eq!((status, charged["state"].as_str()), (StatusCode::OK, Some("charged_back")), "{charged}");
    let (status, seen) =
        send(&node.router, with_key("GET", &format!("/v1/disputes/{dispute}"), &alice, None)).await;
    assert_eq!((status, seen["state"].as_str()), (StatusCode::OK, Some("charged_back")));
    let (status, _) =
        send(&node.router, with_key("GET", &format!("/v1/disputes/{dispute}"), &bob, None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_terminal_that_extracts_on_the_device_pays_with_a_signed_template_of_the_switchs_model() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;
    let grant = format!("/v1/operator/terminals/{}/device-templates", terminal.terminal);
    let (status, _) =
        send(&node.router, with_key("PUT", &grant, &node.operator_key, Some(json!({"allowed": true})))).await;
    assert_eq!(status, StatusCode::OK);
    let mut challenges = Vec::new();
    for _ in 0..8 {
        let (_, given) =
            send(&node.router, signed(&terminal, "POST", "/v1/terminal/challenge", &json!({}))).await;
        challenges.push(given["challenge"].as_str().unwrap().to_owned());
    }
    let challenges = std::sync::Mutex::new(challenges);
    let body = |key: &str, model: &str, embedding: Vec<f32>, live: f32| {
        let challenge = challenges.lock().unwrap().pop().unwrap();
        json!({"amount_minor": 700, "currency": "EUR", "order_id": key, "idempotency_key": key,
               "template": {"model": model, "model_version": "1", "embedding": embedding, "live_score": live,
                            "challenge": challenge}})
    };
    let alice: Vec<f32> = face(1).expose_embedding().to_vec();
    let (status, paid) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &body("t1", "fake", alice.clone(), 0.9)),
    )
    .await;
    assert_eq!((status, paid["state"].as_str()), (StatusCode::OK, Some("authorized")), "{paid}");
    assert_eq!(paid["shopper"], "P***** 1");

    let (_, spoof) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &body("t2", "fake", alice.clone(), 0.1)),
    )
    .await;
    assert_eq!(spoof["decline_reason"], "liveness_failed", "{spoof}");
    let cases = [
        (
            body("t3", "other_model", alice.clone(), 0.9),
            StatusCode::UNPROCESSABLE_ENTITY,
            "template_model_mismatch",
        ),
        (
            body("t4", "fake", alice[..32].to_vec(), 0.9),
            StatusCode::UNPROCESSABLE_ENTITY,
            "template_model_mismatch",
        ),
        (body("t5", "fake", vec![0.0; 64], 0.9), StatusCode::BAD_REQUEST, "template_invalid_embedding"),
        (body("t6", "fake", alice.clone(), 1.5), StatusCode::BAD_REQUEST, "live_score_malformed"),
    ];
    for (request, status, expected) in cases {
        let (got, refused) =
            send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &request)).await;
        assert_eq!((got, code(&refused)), (status, expected), "{refused}");
    }
    let mut both = body("t7", "fake", alice, 0.9);
    both["captures"] = json!([photo("face:1")]);
    let (status, refused) =
        send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &both)).await;
    assert_eq!((status, code(&refused)), (StatusCode::BAD_REQUEST, "identification_ambiguous"));
    assert_eq!(node.switch.read(|core| core.payments().count()), 2, "refused requests made no payment");
}

#[tokio::test]
async fn a_payment_code_pays_once_when_the_face_cannot_and_never_again() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let alice = shopper(&node, 1, "1234", 10_000).await;
    let pay_with = |code: &str, key: &str| {
        json!({"amount_minor": 300, "currency": "EUR", "order_id": key, "idempotency_key": key,
               "payment_code": code})
    };

    // Alice paused face payment and the operator switched it off everywhere: the code still pays.
    send(&node.router, with_key("PUT", "/v1/shopper/paused", &alice, Some(json!({"paused": true})))).await;
    let off = json!({"scope": "everywhere", "off": true});
    send(&node.router, with_key("PUT", "/v1/operator/emergency-switch", &node.operator_key, Some(off))).await;
    let (status, first) =
        send(&node.router, with_key("POST", "/v1/shopper/payment-code", &alice, None)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, second) = send(&node.router, with_key("POST", "/v1/shopper/payment-code", &alice, None)).await;
    let (first, second) = (first["code"].as_str().unwrap(), second["code"].as_str().unwrap());
    assert!(second.len() == 18 && second.bytes().all(|b| b.is_ascii_digit()), "{second}");

    let pay = |body: Value| signed(&terminal, "POST", "/v1/terminal/payments", &body);
    let (_, retired) = send(&node.router, pay(pay_with(first, "c-1"))).await;
    assert_eq!(retired["decline_reason"], "payment_code_invalid", "a new code retires the old: {retired}");
    let (status, paid) = send(&node.router, pay(pay_with(second, "c-2"))).await;
    assert_eq!((status, paid["state"].as_str()), (StatusCode::OK, Some("authorized")), "{paid}");
    assert_eq!(paid["shopper"], "P***** 1");
    let (_, again) = send(&node.router, pay(pay_with(second, "c-3"))).await;
    assert_eq!(again["decline_reason"], "payment_code_invalid", "a code pays once: {again}");
    let (_, retried) = send(&node.router, pay(pay_with(second, "c-2"))).await;
    assert_eq!(retried["payment_id"], paid["payment_id"], "a retry is the same payment, not a second use");

    let (status, body) = send(&node.router, pay(pay_with("12345", "c-4"))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "payment_code_malformed"));
    let mut both = pay_with(second, "c-5");
    both["captures"] = json!([photo("face:1")]);
    let (status, body) = send(&node.router, pay(both)).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "identification_ambiguous"));
    let (status, body) =
        send(&node.router, with_key("POST", "/v1/shopper/payment-code", &merchant_key, None)).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "{body}");
}

#[tokio::test]
async fn a_payment_code_lapses_after_its_time() {
    let node = node_with(ApiConfig { payment_code_ttl_ms: 1, ..config() });
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let alice = shopper(&node, 1, "1234", 10_000).await;
    let (_, issued) = send(&node.router, with_key("POST", "/v1/shopper/payment-code", &alice, None)).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let body = json!({"amount_minor": 300, "currency": "EUR", "order_id": "o", "idempotency_key": "k",
                      "payment_code": issued["code"]});
    let (_, lapsed) = send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &body)).await;
    assert_eq!(lapsed["decline_reason"], "payment_code_invalid", "{lapsed}");
}

#[tokio::test]
async fn the_operator_sets_the_limits_policy_and_a_merchants_own_limit_and_the_tightest_applies() {
    let node = node();
    let (merchant_id, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;
    let op = |method: &str, path: &str, body: Option<Value>| with_key(method, path, &node.operator_key, body);
    let pay = |amount: i64, key: &str| {
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(amount, key, "face:1"))
    };

    let (status, mut policy) = send(&node.router, op("GET", "/v1/operator/limits", None)).await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    let before = policy.clone();
    policy["purchase"] = json!({"per_transaction_minor": 1_000, "daily_minor": 5_000});
    let (status, set) = send(&node.router, op("PUT", "/v1/operator/limits", Some(policy.clone()))).await;
    assert_eq!((status, &set), (StatusCode::OK, &policy));
    let (_, declined) = send(&node.router, pay(1_001, "l-1")).await;
    assert_eq!(declined["decline_reason"], "limit_per_transaction_exceeded", "{declined}");

    let rating = json!({"risk": "low", "limit": {"per_transaction_minor": 500, "daily_minor": 800}});
    let path = format!("/v1/operator/merchants/{merchant_id}/risk");
    let (status, _) = send(&node.router, op("PUT", &path, Some(rating))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, declined) = send(&node.router, pay(600, "l-2")).await;
    assert_eq!(declined["decline_reason"], "limit_per_transaction_exceeded", "the merchant's own is tighter");
    let (_, paid) = send(&node.router, pay(500, "l-3")).await;
    assert_eq!(paid["state"], "authorized", "{paid}");
    let (_, declined) = send(&node.router, pay(400, "l-4")).await;
    assert_eq!(declined["decline_reason"], "limit_daily_exceeded", "500 + 400 is past the merchant's 800");

    // Bad limits change nothing; only the operator may set them.
    let mut inverted = before.clone();
    inverted["transit"] = json!({"per_transaction_minor": 10, "daily_minor": 9});
    let (status, body) = send(&node.router, op("PUT", "/v1/operator/limits", Some(inverted))).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "limit_malformed"));
    let mut far = before.clone();
    far["day_offset_ms"] = json!(15 * 3_600_000);
    let (status, body) = send(&node.router, op("PUT", "/v1/operator/limits", Some(far))).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "limit_malformed"));
    let zero = json!({"risk": "high", "limit": {"per_transaction_minor": 0, "daily_minor": 0}});
    let (status, body) = send(&node.router, op("PUT", &path, Some(zero))).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "limit_malformed"));
    let (_, now) = send(&node.router, op("GET", "/v1/operator/limits", None)).await;
    assert_eq!(now, policy, "refused tables left the policy as it was");
    let (status, _) =
        send(&node.router, with_key("PUT", "/v1/operator/limits", &merchant_key, Some(before))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sensitive_requests_land_in_a_hash_chained_audit_log_that_an_auditor_can_check() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;
    send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, "a-1", "face:1")))
        .await;
    let (status, _) = send(&node.router, with_key("GET", "/v1/operator/audit", &merchant_key, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(&node.router, with_key("GET", "/v1/operator/audit", "fpk_nobody", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let audit =
        |query: &str| with_key("GET", &format!("/v1/operator/audit{query}"), &node.operator_key, None);
    let (status, page) = send(&node.router, audit("?limit=1000")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let entries = page["entries"].as_array().unwrap();
    let seen: Vec<(&str, u64)> =
        entries.iter().map(|e| (e["action"].as_str().unwrap(), e["status"].as_u64().unwrap())).collect();
    for wanted in [
        ("operator_access", 200), // the merchant onboarded
        ("credentials", 200),     // its terminal registered, activated; the shopper signed up
        ("enrollment", 200),
        ("identification", 200),
        ("operator_access", 403), // the merchant's try at the log
    ] {
        assert!(seen.contains(&wanted), "{wanted:?} missing from {seen:?}");
    }
    assert!(!seen.iter().any(|&(_, status)| status == 401), "unauthenticated floods are not journaled");
    let payment = entries.iter().find(|e| e["action"] == "identification").unwrap();
    assert!(payment["actor"].as_str().unwrap().starts_with("trm_"), "{payment}");
    assert!(!page.to_string().contains(&merchant_key), "an actor is a key id, never the key");

    // An auditor recomputes every hash from the entries alone and keeps the head.
    let decode = |text: &Value| -> [u8; 32] {
        let text = text.as_str().unwrap();
        std::array::from_fn(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
    };
    let mut previous = [0u8; 32];
    for entry in entries {
        assert_eq!(decode(&entry["previous_hash"]), previous);
        let action = match entry["action"].as_str().unwrap() {
            "operator_access" => facepay_payments::AuditAction::OperatorAccess,
            "credentials" => facepay_payments::AuditAction::Credentials,
            "enrollment" => facepay_payments::AuditAction::Enrollment,
            "identification" => facepay_payments::AuditAction::Identification,
            other => panic!("unexpected action {other}"),
        };
        let event = facepay_payments::AuditEvent {
            action,
            actor: entry["actor"].as_str().unwrap().into(),
            request: entry["request"].as_str().unwrap().into(),
            status: entry["status"].as_u64().unwrap() as u16,
        };
        let at = facepay_domain::Timestamp::from_unix_ms(entry["at_ms"].as_i64().unwrap());
        previous = facepay_payments::audit_link(&previous, entry["seq"].as_u64().unwrap(), at, &event);
        assert_eq!(decode(&entry["hash"]), previous);
    }
    assert_eq!(decode(&page["head_hash"]), previous);
    assert_eq!(page["length"].as_u64(), Some(entries.len() as u64));
    // The metrics carry the head as it stands (the read above is itself being recorded, after
    // its answer, so the head is read on both sides of the scrape until it held still).
    let prefix = |head: [u8; 32]| head[..6].iter().fold(0u64, |prefix, &byte| prefix << 8 | u64::from(byte));
    let mut scraped = None;
    for _ in 0..100 {
        let before = node.switch.read(|core| core.audit_head());
        let metrics = node.switch.metrics_text();
        if node.switch.read(|core| core.audit_head()) == before {
            scraped = Some((before, metrics));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let ((length, head), metrics) = scraped.expect("the log held still for one scrape");
    assert!(length >= entries.len() as u64);
    assert!(metrics.contains(&format!("facepay_audit_entries {length}\n")), "{metrics}");
    assert!(metrics.contains(&format!("facepay_audit_head_prefix {}\n", prefix(head))), "{metrics}");

    // Filters and paging; the auditor's own read is in the log too.
    let (_, mine) = send(&node.router, audit("?action=operator_access&after_seq=1&limit=2")).await;
    let mine = mine["entries"].as_array().unwrap();
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|e| e["action"] == "operator_access" && e["seq"].as_u64() > Some(1)));
    let (_, last) = send(&node.router, audit(&format!("?after_seq={}", entries.len()))).await;
    assert_eq!(last["entries"][0]["request"], "GET /v1/operator/audit", "{last}");
    let (status, body) = send(&node.router, audit("?limit=0")).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "limit_out_of_range"));
}

#[tokio::test]
async fn the_console_reads_the_dashboard_merchants_with_their_terminals_and_disputes() {
    let node = node();
    let (merchant_id, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;
    let pay = |key: &str, photo: &str| {
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, key, photo))
    };
    let (_, paid) = send(&node.router, pay("d-1", "face:1")).await;
    assert_eq!(paid["state"], "authorized");
    send(&node.router, pay("d-2", "face:99")).await;
    let op = |path: &str| with_key("GET", path, &node.operator_key, None);

    let (status, board) = send(&node.router, op("/v1/operator/dashboard")).await;
    assert_eq!(status, StatusCode::OK, "{board}");
    assert_eq!(board["per_minute"].as_array().unwrap().len(), 60);
    assert_eq!(board["per_minute"][59], 2, "both payments in this minute: {board}");
    assert_eq!((board["approved"].as_u64(), board["declined"].as_u64()), (Some(1), Some(1)));
    assert_eq!(board["approval_rate"], 0.5);
    assert_eq!(board["declines_by_reason"], json!({"no_match": 1}));
    assert!(board["decision_ms_p95"].as_f64().is_some_and(|ms| ms > 0.0), "{board}");
    assert_eq!(board["recent"].as_array().unwrap().len(), 2);
    assert_eq!(board["recent"][0]["merchant_id"], merchant_id.as_str());

    let (_, merchants) = send(&node.router, op("/v1/operator/merchants")).await;
    let listed = &merchants.as_array().unwrap()[0];
    assert_eq!(
        (listed["merchant_id"].as_str(), listed["status"].as_str()),
        (Some(merchant_id.as_str()), Some("active"))
    );
    assert_eq!(listed["terminals"][0]["activated"], true, "{listed}");
    assert_eq!(listed["terminals"][0]["face_payment_off"], false);

    let (_, disputes) = send(&node.router, op("/v1/operator/disputes")).await;
    assert_eq!(disputes, json!([]));
    for path in ["/v1/operator/dashboard", "/v1/operator/merchants", "/v1/operator/disputes"] {
        let (status, _) = send(&node.router, with_key("GET", path, &merchant_key, None)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn the_operator_rates_a_shopper_and_the_shoppers_own_limit_stays() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let alice = shopper(&node, 1, "1234", 10_000).await;
    let own = json!({"per_transaction_minor": 5_000, "daily_minor": 8_000});
    send(&node.router, with_key("PUT", "/v1/shopper/limit", &alice, Some(own.clone()))).await;
    let (_, me) = send(&node.router, with_key("GET", "/v1/shopper", &alice, None)).await;
    let tier_path = format!("/v1/operator/shoppers/{}/tier", me["shopper_id"].as_str().unwrap());

    let (_, mut policy) =
        send(&node.router, with_key("GET", "/v1/operator/limits", &node.operator_key, None)).await;
    policy["shopper_restricted"] = json!({"per_transaction_minor": 300, "daily_minor": 600});
    send(&node.router, with_key("PUT", "/v1/operator/limits", &node.operator_key, Some(policy))).await;
    let restricted = json!({"tier": "restricted"});
    let (status, _) =
        send(&node.router, with_key("PUT", &tier_path, &node.operator_key, Some(restricted.clone()))).await;
    assert_eq!(status, StatusCode::OK);
    let pay = |key: &str| signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(400, key, "face:1"));
    let (_, declined) = send(&node.router, pay("t-1")).await;
    assert_eq!(declined["decline_reason"], "limit_per_transaction_exceeded", "{declined}");
    let (_, me) = send(&node.router, with_key("GET", "/v1/shopper", &alice, None)).await;
    assert_eq!(me["limit"], own, "the operator's tier left the shopper's own limit alone");

    send(&node.router, with_key("PUT", &tier_path, &node.operator_key, Some(json!({"tier": "standard"}))))
        .await;
    let (_, paid) = send(&node.router, pay("t-2")).await;
    assert_eq!(paid["state"], "authorized", "{paid}");
    let (status, _) = send(&node.router, with_key("PUT", &tier_path, &alice, Some(restricted))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a shopper does not rate themselves");
    let unknown = "/v1/operator/shoppers/shp_000000000000000000000000000000ff/tier";
    let (status, body) =
        send(&node.router, with_key("PUT", unknown, &node.operator_key, Some(json!({"tier": "elevated"}))))
            .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "shopper_unknown"));
}

#[tokio::test]
async fn a_bank_that_verifies_accounts_approves_or_refuses_each_one_a_shopper_binds() {
    let node = node();
    let register = |issuer: u32, verifies: bool| {
        let (router, operator) = (node.router.clone(), node.operator_key.clone());
        async move {
            let body = json!({"issuer": issuer, "verifies_accounts": verifies});
            let (status, body) =
                send(&router, with_key("POST", "/v1/operator/issuers", &operator, Some(body))).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["api_key"].as_str().unwrap().to_owned()
        }
    };
    let bank = register(9, true).await;
    let other_bank = register(10, false).await;
    let alice = shopper(&node, 1, "1234", 0).await;
    let bind = |reference: &str| json!({"issuer": 9, "reference": reference, "make_default": true});
    let accounts = || async {
        let (_, me) = send(&node.router, with_key("GET", "/v1/shopper", &alice, None)).await;
        me["bank_accounts"].clone()
    };
    let (status, _) =
        send(&node.router, with_key("POST", "/v1/shopper/bank-accounts", &alice, Some(bind("tok-9")))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(accounts().await[0]["state"], "awaiting_bank");
    let (_, none) = send(&node.router, with_key("GET", "/v1/issuer/accounts", &bank, None)).await;
    assert_eq!(none, json!([]), "not the bank's bound account until it approves");

    let verification = || async {
        let (_, messages) = send(&node.router, with_key("GET", "/v1/issuer/messages", &bank, None)).await;
        let message = messages.as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (message["kind"].as_str(), message["amount_minor"].as_i64()),
            (Some("verify"), Some(0)),
            "{message}"
        );
        assert_eq!(message["payment_id"], Value::Null);
        (message["verification_id"].as_u64().unwrap(), message["reference"].as_str().unwrap().to_owned())
    };
    let (id, reference) = verification().await;
    assert_eq!(reference, "tok-9");
    let path = format!("/v1/issuer/verifications/{id}/answer");
    let refuse = json!({"answer": "declined", "response_code": "62"});
    for (key, body, expected) in [
        (&other_bank, refuse.clone(), (StatusCode::NOT_FOUND, "verification_unknown")),
        (
            &bank,
            json!({"answer": "declined", "response_code": "6"}),
            (StatusCode::UNPROCESSABLE_ENTITY, "response_code_malformed"),
        ),
        (&bank, json!({"answer": "maybe"}), (StatusCode::BAD_REQUEST, "body_malformed")),
    ] {
        let (status, body) = send(&node.router, with_key("POST", &path, key, Some(body))).await;
        assert_eq!((status, code(&body)), expected, "{body}");
    }
    let (status, said) = send(&node.router, with_key("POST", &path, &bank, Some(refuse))).await;
    assert_eq!((status, said["account"].as_str()), (StatusCode::OK, Some("refused")));
    let refused = accounts().await;
    assert_eq!(
        (refused[0]["state"].as_str(), refused[0]["response_code"].as_str()),
        (Some("refused"), Some("62"))
    );
    assert_eq!(refused[0]["refusal"], "Your bank has restricted this account.");
    assert_eq!(refused[0]["reference"], "tok-9");

    // Tried again, and approved this time: the account pays.
    send(&node.router, with_key("POST", "/v1/shopper/bank-accounts", &alice, Some(bind("tok-9")))).await;
    let (id, _) = verification().await;
    let path = format!("/v1/issuer/verifications/{id}/answer");
    let (status, said) =
        send(&node.router, with_key("POST", &path, &bank, Some(json!({"answer": "approved"})))).await;
    assert_eq!((status, said["account"].as_str()), (StatusCode::OK, Some("usable")));
    let usable = accounts().await;
    assert_eq!(
        (usable[0]["state"].as_str(), usable[0]["default"].as_bool()),
        (Some("usable"), Some(true)),
        "{usable}"
    );
    let (_, bound) = send(&node.router, with_key("GET", "/v1/issuer/accounts", &bank, None)).await;
    assert_eq!(bound, json!([{"reference": "tok-9", "default": true}]));
    let (status, body) =
        send(&node.router, with_key("POST", &path, &bank, Some(json!({"answer": "approved"})))).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "verification_unknown"), "answered once");
}
