//! What the outside suite found (issue 22) and what the read model changed, each pinned through
//! the routes: a key reused for another sale, a suspended terminal moving money, a blank
//! dispute note, a payment the core forgot past its windows, answered from the store; and the
//! edges anyone can reach: unauthenticated floods (refused per address, never journaled), the
//! audit log's actors (proven callers only), every operator access recorded whatever its path
//! bytes, and metric labels a caller cannot multiply.
mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use facepay_payments::{CoreConfig, Retention};
use serde_json::{Value, json};
use tower::ServiceExt;

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

/// The request `method path` from client address `address`, as the listener would pass it on.
fn from_address(address: [u8; 4], method: &str, path: &str, body: &str) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let peer = std::net::SocketAddr::from((address, 40_000));
    request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
    request
}

fn audit_length(node: &TestNode) -> u64 {
    node.switch.read(|core| core.audit_head().0)
}

/// A counter's value in the node's metrics text (0 when it has no line yet).
async fn metric(node: &TestNode, line_start: &str) -> u64 {
    let request = Request::get("/metrics").body(Body::empty()).unwrap();
    let response = node.router.clone().oneshot(request).await.unwrap();
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(line_start))
        .map_or(0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn an_unauthenticated_flood_is_refused_at_the_door_and_never_journaled() {
    let node = node();
    let before = audit_length(&node);
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let request = from_address([203, 0, 113, 7], "POST", "/v1/terminal/activation", "{not json");
        statuses.push(send(&node.router, request).await.0);
    }
    let limited = statuses.iter().filter(|&&status| status == StatusCode::TOO_MANY_REQUESTS).count();
    let malformed = statuses.iter().filter(|&&status| status == StatusCode::BAD_REQUEST).count();
    let burst = config().open_rate.burst as usize;
    assert!(malformed <= burst + 1 && limited >= 200 - burst - 1, "{malformed} read, {limited} refused");
    assert_eq!(audit_length(&node), before, "nobody proven: nothing reaches the journal");
    let counted = r#"facepay_unauthenticated_refusals_total{route="/v1/terminal/activation"}"#;
    assert_eq!(metric(&node, counted).await, 200);

    // The same bodies signed with nobody's key on a signed route: refused and counted, not logged.
    let terminal = facepay_domain::TerminalId::from_u128(7);
    let mut spoofed = from_address([203, 0, 113, 8], "POST", "/v1/terminal/payments", "{}");
    spoofed.headers_mut().insert("x-facepay-terminal", terminal.to_string().parse().unwrap());
    let (status, _) = send(&node.router, spoofed).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(audit_length(&node), before);
}

#[tokio::test]
async fn one_address_flooding_sign_up_leaves_every_other_address_its_own() {
    let rate = facepay_api::Rate { per_second: 0.001, burst: 3.0 };
    let node = node_with(facepay_api::ApiConfig { open_rate: rate, ..config() });
    let sign_up =
        json!({"consent_text_version": "2026-11", "phone_last4": "1234", "name": "Ann"}).to_string();
    // The token is taken before the body is read: malformed bodies use up the flooder's bucket.
    for _ in 0..3 {
        let (status, body) =
            send(&node.router, from_address([198, 51, 100, 1], "POST", "/v1/shoppers", "{")).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "body_malformed"));
    }
    let limited = from_address([198, 51, 100, 1], "POST", "/v1/shoppers", &sign_up);
    let response = node.router.clone().oneshot(limited).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1", "a refusal for load says when to come back");
    let (status, body) =
        send(&node.router, from_address([198, 51, 100, 2], "POST", "/v1/shoppers", &sign_up)).await;
    assert_eq!(status, StatusCode::OK, "another address signs up: {body}");
}

#[tokio::test]
async fn the_audit_log_names_only_callers_who_proved_who_they_are() {
    let node = node();
    let (merchant_id, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;
    let before = audit_length(&node);

    // An unsigned 8 MiB body naming the terminal: refused, and no entry names the terminal.
    let big = "x".repeat(8 << 20);
    let mut unsigned = from_address([203, 0, 113, 9], "POST", "/v1/terminal/payments", &big);
    unsigned.headers_mut().insert("x-facepay-terminal", terminal.terminal.to_string().parse().unwrap());
    let (status, _) = send(&node.router, unsigned).await;
    assert!(status.is_client_error(), "{status}");
    // A forged signature naming it: refused at the signature check, no entry either.
    let mut forged = signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, "f-1", "face:1"));
    forged.headers_mut().insert("x-facepay-signature", "AAAA".parse().unwrap());
    assert_eq!(send(&node.router, forged).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(audit_length(&node), before, "no entry for a terminal that did not sign");

    // Signed, it is recorded under the terminal; a merchant key at an operator route under its id.
    let paid = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, "p-1", "face:1")),
    );
    assert_eq!(paid.await.0, StatusCode::OK);
    let (status, _) = send(&node.router, with_key("GET", "/v1/operator/limits", &merchant_key, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, page) =
        send(&node.router, with_key("GET", "/v1/operator/audit?limit=1000", &node.operator_key, None)).await;
    let entries = page["entries"].as_array().unwrap();
    let actors: Vec<(&str, &str)> =
        entries.iter().map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap())).collect();
    let terminal_id = terminal.terminal.to_string();
    assert!(actors.contains(&("identification", terminal_id.as_str())), "{actors:?}");
    let merchant_key_id = format!("key_{}", &merchant_key[4..36]);
    assert!(actors.contains(&("operator_access", merchant_key_id.as_str())), "{actors:?}");
    assert!(
        actors.iter().all(|&(_, actor)| actor.starts_with("key_") || actor.starts_with("trm_")),
        "{actors:?}"
    );
    assert!(actors.iter().all(|&(_, actor)| actor != merchant_id), "a merchant's key is named by its id");
}

/// Path segments that put a multi-byte character, a percent-encoded byte and an invalid UTF-8
/// byte at every place around the audit log's length, once escaped, after a prefix of `prefix`.
fn hostile_segments(prefix: usize) -> Vec<Vec<u8>> {
    let mut segments = Vec::new();
    let room = facepay_payments::AUDIT_REQUEST_MAX.saturating_sub(prefix);
    for pad in room.saturating_sub(20)..=room {
        let fill = "a".repeat(pad);
        segments.push(format!("{fill}\u{20AC}\u{20AC}").into_bytes());
        segments.push(format!("{fill}%FF%FE").into_bytes());
        segments.push(format!("{fill}\u{1F600}").into_bytes());
        let mut invalid = fill.into_bytes();
        invalid.extend([0xFF, 0xC3, 0x28]);
        segments.push(invalid);
    }
    segments
}

/// The request with `method`, the operator's key, a JSON body and these raw path bytes, if a
/// client could send them at all.
fn raw_request(node: &TestNode, method: &str, path: Vec<u8>) -> Option<Request<Body>> {
    let uri = axum::http::Uri::from_maybe_shared(path).ok()?;
    let mut request = with_key(method, "/", &node.operator_key, Some(json!({})));
    *request.uri_mut() = uri;
    Some(request)
}

#[tokio::test]
async fn every_operator_access_is_recorded_whatever_its_path_and_no_route_panics() {
    let wide = facepay_api::Rate { per_second: 1e9, burst: 1e9 };
    let node = node_with(facepay_api::ApiConfig { api_key_rate: wide, ..config() });
    let (_, openapi) = send(&node.router, Request::get("/openapi.json").body(Body::empty()).unwrap()).await;
    let (mut sent, mut unsendable) = (0, 0);
    for (template, methods) in openapi["paths"].as_object().unwrap() {
        for method in methods.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let (head, tail) = match (template.find('{'), template.find('}')) {
                (Some(start), Some(end)) => (&template[..start], &template[end + 1..]),
                _ => (template.as_str(), ""),
            };
            let templated = template.contains('{');
            for segment in hostile_segments(method.len() + 1 + head.len()) {
                let mut path = head.as_bytes().to_vec();
                if templated {
                    path.extend(&segment);
                    path.extend(tail.as_bytes());
                }
                path.extend(b"?q=");
                path.extend(&segment);
                let Some(request) = raw_request(&node, &method, path) else {
                    unsendable += 1;
                    continue;
                };
                let before = audit_length(&node);
                let response = node.router.clone().oneshot(request).await.unwrap();
                let status = response.status();
                let kind = response.headers().get("content-type").cloned();
                let json = kind.is_some_and(|kind| kind.as_bytes().starts_with(b"application/json"));
                assert!(json || status.is_success(), "{method} {template}: {status} without the JSON error");
                if template.starts_with("/v1/operator/") {
                    assert_eq!(audit_length(&node), before + 1, "{method} {template} ({status}) unrecorded");
                }
                sent += 1;
            }
        }
    }
    assert!(sent > 1_000 && sent > unsendable, "{sent} sent, {unsendable} not sendable");
    let newest = format!("/v1/operator/audit?limit=1000&after_seq={}", audit_length(&node) - 1_000);
    let (_, page) = send(&node.router, with_key("GET", &newest, &node.operator_key, None)).await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 1_000);
    for entry in page["entries"].as_array().unwrap() {
        let request = entry["request"].as_str().unwrap();
        assert!(request.len() <= facepay_payments::AUDIT_REQUEST_MAX && request.is_ascii(), "{request}");
    }
}

#[tokio::test]
async fn a_made_up_method_does_not_make_a_metric_label() {
    let node = node();
    for method in ["FOO", "BAR", "get"] {
        let request =
            Request::builder().method(method).uri("/v1/operator/limits").body(Body::empty()).unwrap();
        send(&node.router, request).await;
    }
    let other = r#"facepay_http_requests_total{method="OTHER",route="/v1/operator/limits",status="405"}"#;
    assert_eq!(metric(&node, other).await, 3);
    let request = Request::get("/metrics").body(Body::empty()).unwrap();
    let response = node.router.clone().oneshot(request).await.unwrap();
    let text = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert!(!text.contains("FOO") && !text.contains("method=\"get\""), "{text}");
}

async fn set_pin(node: &TestNode, key: &str, body: Value) -> (StatusCode, String) {
    let (status, body) = send(&node.router, with_key("PUT", "/v1/shopper/pin", key, Some(body))).await;
    (status, code(&body).to_owned())
}

#[tokio::test]
async fn a_pin_is_changed_only_with_the_current_one_and_never_while_locked() {
    let node = node();
    let alice = shopper(&node, 1, "1234", 0).await;
    let ok = (StatusCode::OK, "<no error code>".to_owned());
    assert_eq!(set_pin(&node, &alice, json!({"pin": "271828"})).await, ok, "the first PIN needs none");
    let required = (StatusCode::UNPROCESSABLE_ENTITY, "pin_current_required".to_owned());
    assert_eq!(set_pin(&node, &alice, json!({"pin": "314159"})).await, required);
    let changed = json!({"pin": "314159", "current_pin": "271828"});
    assert_eq!(set_pin(&node, &alice, changed).await, ok);
    // The old PIN is no longer the current one; wrong tries count up to the lock.
    let wrong = (StatusCode::UNPROCESSABLE_ENTITY, "pin_wrong".to_owned());
    for _ in 0..facepay_payments::PIN_TRIES_MAX {
        assert_eq!(set_pin(&node, &alice, json!({"pin": "161803", "current_pin": "271828"})).await, wrong);
    }
    let (_, me) = send(&node.router, with_key("GET", "/v1/shopper", &alice, None)).await;
    let id = me["shopper_id"].as_str().unwrap();
    let id = facepay_domain::ShopperId::from_u128(u128::from_str_radix(&id[4..], 16).unwrap());
    let kept = node.switch.read(|core| core.sealed_pin_hash(id).cloned());
    // Locked: even the right current PIN changes nothing, and the lockout stays.
    let locked = (StatusCode::LOCKED, "pin_locked".to_owned());
    assert_eq!(set_pin(&node, &alice, json!({"pin": "161803", "current_pin": "314159"})).await, locked);
    assert_eq!(set_pin(&node, &alice, json!({"pin": "161803"})).await, required);
    assert_eq!(node.switch.read(|core| core.sealed_pin_hash(id).cloned()), kept, "the PIN is as it was");
    assert_eq!(set_pin(&node, &alice, json!({"pin": "161803", "current_pin": "314159"})).await, locked);
}

#[tokio::test]
async fn a_suspended_merchant_gets_no_new_terminals_codes_or_activations() {
    let node = node();
    let (merchant_id, merchant_key) = merchant(&node).await;
    let (status, registered) =
        send(&node.router, with_key("POST", "/v1/merchant/terminals", &merchant_key, None)).await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    let standing = format!("/v1/operator/merchants/{merchant_id}/status");
    let suspend = with_key("PUT", &standing, &node.operator_key, Some(json!({"status": "suspended"})));
    assert_eq!(send(&node.router, suspend).await.0, StatusCode::OK);

    let refused = (StatusCode::FORBIDDEN, "merchant_suspended");
    let (status, body) =
        send(&node.router, with_key("POST", "/v1/merchant/terminals", &merchant_key, None)).await;
    assert_eq!((status, code(&body)), refused, "no new terminal");
    let terminal_id = registered["terminal_id"].as_str().unwrap();
    let new_code = format!("/v1/merchant/terminals/{terminal_id}/activation-code");
    let (status, body) = send(&node.router, with_key("POST", &new_code, &merchant_key, None)).await;
    assert_eq!((status, code(&body)), refused, "no new activation code");
    let signer = facepay_api::TerminalSigner::generate(facepay_domain::TerminalId::from_u128(
        u128::from_str_radix(&terminal_id[4..], 16).unwrap(),
    ));
    let activation = json!({"terminal_id": terminal_id, "activation_code": registered["activation_code"],
                            "public_key": signer.public_key_base64()});
    let (status, body) = send(
        &node.router,
        from_address([192, 0, 2, 1], "POST", "/v1/terminal/activation", &activation.to_string()),
    )
    .await;
    assert_eq!((status, code(&body)), refused, "no activation with the code issued before");
}

#[tokio::test]
async fn an_id_has_one_spelling_upper_case_hex_is_refused() {
    let node = node();
    let upper = format!("fpk_{}", node.operator_key[4..].to_uppercase());
    let (status, body) = send(&node.router, with_key("GET", "/v1/operator/limits", &upper, None)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "api_key_malformed"));
    let (_, merchant_key) = merchant(&node).await;
    let payment = format!("/v1/merchant/payments/pay_{}", "AB".repeat(16));
    let (status, body) = send(&node.router, with_key("GET", &payment, &merchant_key, None)).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "id_malformed"));
}

/// A node on the SQLite file `file`: another node on the same store, or a restart.
fn sqlite_node(file: &std::path::Path, keys: &str) -> TestNode {
    let journal = || Box::new(facepay_store_sqlite::SqliteJournal::open(file).unwrap());
    let biometric = facepay_store_sqlite::SqliteBiometricStore::open(file).unwrap();
    node_on_stores(journal(), journal(), biometric, keys, config())
}

#[tokio::test]
async fn a_replayed_request_is_refused_by_another_node_and_after_a_restart() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("facepay.sqlite");
    let keys = facepay_vault::Keyring::generate("k1").unwrap().expose_secret().clone();
    let a = sqlite_node(&file, &keys);
    let b = sqlite_node(&file, &keys);
    let (_, merchant_key) = merchant(&a).await;
    let terminal = terminal(&a, &merchant_key).await;
    // One signed request, captured on the wire: sent to A, then replayed to B and after a restart.
    let path = "/v1/terminal/heartbeat";
    let headers = terminal.headers_with("POST", path, b"{}", facepay_api::now_ms(), "nonce-captured-0000001");
    let request = || {
        let mut builder =
            Request::builder().method("POST").uri(path).header("content-type", "application/json");
        for (name, value) in headers.clone() {
            builder = builder.header(name, value);
        }
        builder.body(Body::from("{}")).unwrap()
    };
    assert_eq!(send(&a.router, request()).await.0, StatusCode::OK);
    let replayed = (StatusCode::UNAUTHORIZED, "signature_replayed");
    let (status, body) = send(&b.router, request()).await;
    assert_eq!((status, code(&body)), replayed, "node B knows what node A accepted");
    drop((a, b));
    let restarted = sqlite_node(&file, &keys);
    let (status, body) = send(&restarted.router, request()).await;
    assert_eq!((status, code(&body)), replayed, "a restart forgets no nonce");
    // A fresh nonce from the same terminal still passes.
    let fresh = signed(&terminal, "POST", path, &json!({}));
    assert_eq!(send(&restarted.router, fresh).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_bank_hears_of_its_payment_behind_hundreds_of_risk_events() {
    let wide = facepay_api::Rate { per_second: 1e9, burst: 1e9 };
    // Every failed try raises a risk event, and none suspends the terminal, so one flooding
    // terminal fills the operator's queue as the outside suite's many did.
    let loud = facepay_payments::CountRule { window_ms: 600_000, step_up_at: 1, decline_at: u32::MAX };
    let risk =
        facepay_payments::RiskConfig { terminal_failures: loud, ..facepay_payments::RiskConfig::default() };
    let core = CoreConfig { risk, ..core_config() };
    let node = node_with_core(facepay_api::ApiConfig { terminal_rate: wide, ..config() }, core);
    let (_, merchant_key) = merchant(&node).await;
    let (status, bank) = send(
        &node.router,
        with_key("POST", "/v1/operator/issuers", &node.operator_key, Some(json!({"issuer": 7}))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{bank}");
    let bank = bank["api_key"].as_str().unwrap().to_owned();
    let alice = shopper(&node, 1, "1234", 0).await;
    let account = json!({"issuer": 7, "reference": "tok-alice-7", "make_default": true});
    send(&node.router, with_key("POST", "/v1/shopper/bank-accounts", &alice, Some(account))).await;

    // Found by the outside suite: failed payment-code tries leave a risk event each, more than
    // one pull takes, and the bank's authorization came after them all.
    let flooding = terminal(&node, &merchant_key).await;
    for n in 0..560 {
        let body = json!({"amount_minor": 100, "currency": "EUR", "order_id": format!("f-{n}"),
                          "idempotency_key": format!("f-{n}"), "payment_code": format!("{:018}", n)});
        send(&node.router, signed(&flooding, "POST", "/v1/terminal/payments", &body)).await;
    }
    let (_, events) =
        send(&node.router, with_key("GET", "/v1/operator/risk-events", &node.operator_key, None)).await;
    assert_eq!(events.as_array().unwrap().len(), 500, "a full page of risk events waits");

    let till = terminal(&node, &merchant_key).await;
    let (_, asked) =
        send(&node.router, signed(&till, "POST", "/v1/terminal/payments", &pay_body(4_200, "b1", "face:1")))
            .await;
    assert_eq!(asked["state"], "awaiting_issuer", "{asked}");
    let (_, messages) = send(&node.router, with_key("GET", "/v1/issuer/messages", &bank, None)).await;
    assert_eq!(messages.as_array().map(Vec::len), Some(1), "{messages}");
    assert_eq!(messages[0]["payment_id"], asked["payment_id"]);
}

#[tokio::test]
async fn a_terminal_sends_device_templates_only_when_granted_and_each_challenge_once() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;
    let alice: Vec<f32> = face(1).expose_embedding().to_vec();
    let pay = |key: &str, challenge: &str| {
        json!({"amount_minor": 700, "currency": "EUR", "order_id": key, "idempotency_key": key,
               "template": {"model": "fake", "model_version": "1", "embedding": alice.clone(), "live_score": 1.0,
                            "challenge": challenge}})
    };
    let challenge = || send(&node.router, signed(&terminal, "POST", "/v1/terminal/challenge", &json!({})));
    let paid = |body: Value| send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &body));

    // Off by default: no challenge, no template payment, whatever the live score says.
    let not_allowed = (StatusCode::FORBIDDEN, "device_templates_not_allowed");
    let (status, body) = challenge().await;
    assert_eq!((status, code(&body)), not_allowed);
    let (status, body) = paid(pay("t1", "made-up")).await;
    assert_eq!((status, code(&body)), not_allowed);

    let grant = |allowed: bool| {
        let path = format!("/v1/operator/terminals/{}/device-templates", terminal.terminal);
        send(&node.router, with_key("PUT", &path, &node.operator_key, Some(json!({"allowed": allowed}))))
    };
    assert_eq!(grant(true).await.0, StatusCode::OK);
    let invalid = (StatusCode::UNAUTHORIZED, "challenge_invalid");
    let (status, body) = paid(pay("t2", "made-up")).await;
    assert_eq!((status, code(&body)), invalid, "a challenge the switch never gave");
    let (status, body) = paid(pay("t2", &"c".repeat(65))).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "field_malformed"),
        "bounded before the store"
    );
    let (status, given) = challenge().await;
    assert_eq!(status, StatusCode::OK, "{given}");
    let given = given["challenge"].as_str().unwrap().to_owned();
    let (status, body) = paid(pay("t3", &given)).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::OK, Some("authorized")), "{body}");
    // The same template and challenge in a new request (a new nonce, a new key): refused.
    let (status, body) = paid(pay("t4", &given)).await;
    assert_eq!((status, code(&body)), invalid, "a challenge is good once");
    // A retry of the paid request is answered from its payment, not refused.
    let (status, body) = paid(pay("t3", &given)).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::OK, Some("authorized")));

    assert_eq!(grant(false).await.0, StatusCode::OK);
    let (status, body) = challenge().await;
    assert_eq!((status, code(&body)), not_allowed, "withdrawn");
}

#[tokio::test]
async fn a_terminal_probing_the_gallery_is_suspended_and_the_operator_told() {
    let wide = facepay_api::Rate { per_second: 1e9, burst: 1e9 };
    let node = node_with(facepay_api::ApiConfig { terminal_rate: wide, ..config() });
    let (_, merchant_key) = merchant(&node).await;
    let probing = terminal(&node, &merchant_key).await;
    let decline_at = facepay_payments::RiskConfig::default().terminal_failures.decline_at;
    let mut last = Value::Null;
    // The tries before it are counted; the one after the limit is declined.
    for n in 0..=decline_at {
        let (status, body) = send(
            &node.router,
            signed(&probing, "POST", "/v1/terminal/payments", &pay_body(100, &format!("p-{n}"), "face:999")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        last = body;
    }
    assert_eq!(last["decline_reason"], "risk_declined", "{last}");
    let (status, refused) = send(
        &node.router,
        signed(&probing, "POST", "/v1/terminal/payments", &pay_body(100, "p-next", "face:999")),
    )
    .await;
    assert_eq!(
        (status, refused["decline_reason"].as_str()),
        (StatusCode::OK, Some("terminal_suspended")),
        "{refused}"
    );
    let (_, events) =
        send(&node.router, with_key("GET", "/v1/operator/risk-events", &node.operator_key, None)).await;
    let declined = events.as_array().unwrap().iter().any(|event| {
        event["rule"] == "risk_terminal_failed_identifications" && event["verdict"] == "decline"
    });
    assert!(declined, "{events}");
}
