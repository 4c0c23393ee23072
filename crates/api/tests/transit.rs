//! Transit through the API: the operator imports fares and places gates; riders enter and leave
//! by face or payment code, one passage one tap; an exit gate finds only riders inside; a rider a
//! gate saw but who never passed is not charged; uploads repeat without effect; and a rider reads
//! their trips and the day's one charge, and claims where a journey with no exit ended. A gate cut
//! off from the switch lets travel passes through on its own and uploads them later.

mod common;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use ed25519_dalek::SigningKey;
use facepay_api::{TerminalSigner, show_travel_pass};
use facepay_domain::Timestamp;
use serde_json::{Value, json};

/// Two zones: 2.00 inside one, 3.00 across, 6.00 the maximum fare, 7.00 a day at most.
fn fare_files() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("networks.txt", "network_id,network_name\nmetro,Metro\n"),
        ("areas.txt", "area_id,area_name\nz1,Zone 1\nz2,Zone 2\n"),
        ("stop_areas.txt", "area_id,stop_id\nz1,central\nz1,market\nz2,harbour\n"),
        (
            "fare_products.txt",
            "fare_product_id,fare_product_name,amount,currency,colour\ninner,Inner,2.00,EUR,red\nacross,Across,3.00,EUR,blue\n",
        ),
        (
            "fare_leg_rules.txt",
            "leg_group_id,network_id,from_area_id,to_area_id,fare_product_id\n\
             inner,metro,z1,z1,inner\ninner,metro,z2,z2,inner\nacross,metro,z1,z2,across\nacross,metro,z2,z1,across\n",
        ),
        (
            "facepay_networks.txt",
            "network_id,maximum_fare,max_journey_minutes,currency\nmetro,6.00,120,EUR\n",
        ),
        (
            "facepay_fare_caps.txt",
            "cap_id,network_id,rider_category_id,period,week_start_day,amount,currency\nday,,,day,,7.00,EUR\n",
        ),
    ])
}

struct Metro {
    node: TestNode,
    merchant_id: String,
    central: TerminalSigner,
    market: TerminalSigner,
    harbour: TerminalSigner,
}

async fn metro() -> Metro {
    // A gate's 45 riders a minute are squeezed into fractions of a second here.
    let fast = facepay_api::Rate { per_second: 1_000.0, burst: 1_000.0 };
    let node = node_with(facepay_api::ApiConfig { terminal_rate: fast, ..config() });
    let (operator_merchant, merchant_key) = merchant(&node).await;
    let scheme = json!({
        "merchant_id": operator_merchant, "fare_files": fare_files(), "day_hold_minor": 700,
        "day_starts_minute": 270,
    });
    let (status, body) =
        send(&node.router, with_key("PUT", "/v1/operator/transit/scheme", &node.operator_key, Some(scheme)))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["networks"], json!(["metro"]));
    // An unknown column is reported, not ignored.
    assert!(
        body["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["file"] == "fare_products.txt" && n["detail"].as_str().unwrap().contains("colour")),
        "{body}"
    );
    let mut gates = Vec::new();
    for station in ["central", "market", "harbour"] {
        let gate = terminal(&node, &merchant_key).await;
        let path = format!("/v1/operator/transit/gates/{}", gate.terminal);
        let place = json!({"network": "metro", "station": station});
        let (status, body) =
            send(&node.router, with_key("PUT", &path, &node.operator_key, Some(place))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        gates.push(gate);
    }
    let [central, market, harbour] = <[TerminalSigner; 3]>::try_from(gates).unwrap();
    Metro { node, merchant_id: operator_merchant, central, market, harbour }
}

async fn decide(metro: &Metro, gate: &TerminalSigner, body: Value) -> Value {
    let (status, body) = send(&metro.node.router, signed(gate, "POST", "/v1/gate/decisions", &body)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn by_face(metro: &Metro, gate: &TerminalSigner, direction: &str, photo_text: &str) -> Value {
    decide(metro, gate, json!({"direction": direction, "captures": [photo(photo_text)]})).await
}

/// Reports that the rider of `ticket` passed, now; the outcome.
async fn passed(metro: &Metro, gate: &TerminalSigner, ticket: &Value, seq: u64) -> String {
    report(metro, gate, ticket, seq).await["outcome"].as_str().unwrap().to_owned()
}

/// Reports that the rider of `ticket` passed, now (a moment after the passage before: a rider's
/// taps are ordered by their time); what the switch said of it.
async fn report(metro: &Metro, gate: &TerminalSigner, ticket: &Value, seq: u64) -> Value {
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    report_at(metro, gate, ticket, seq, facepay_api::now_ms()).await
}

/// Reports that the rider of `ticket` passed at `at_ms`; what the switch said of it.
async fn report_at(metro: &Metro, gate: &TerminalSigner, ticket: &Value, seq: u64, at_ms: i64) -> Value {
    let report = json!({"passages": [{"ticket": ticket, "seq": seq, "at_ms": at_ms}]});
    let (status, body) = send(&metro.node.router, signed(gate, "POST", "/v1/gate/passages", &report)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["passages"][0].clone()
}

async fn trips(metro: &Metro, key: &str) -> Value {
    let (status, body) = send(&metro.node.router, with_key("GET", "/v1/shopper/transit", key, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn payment_code(metro: &Metro, key: &str) -> String {
    let (status, body) =
        send(&metro.node.router, with_key("POST", "/v1/shopper/payment-code", key, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_face_entry_and_a_face_exit_make_one_journey_priced_across_zones() {
    let metro = metro().await;
    let carol = shopper(&metro.node, 1, "1111", 5_000).await;
    let entry = by_face(&metro, &metro.central, "entry", "face:1").await;
    assert_eq!((entry["open"].as_bool(), entry["code"].as_str()), (Some(true), Some("gate_open")));
    assert_eq!(passed(&metro, &metro.central, &entry["ticket"], 1).await, "recorded");
    let exit = by_face(&metro, &metro.harbour, "exit", "face:1").await;
    assert_eq!(exit["open"], true, "{exit}");
    let left = report(&metro, &metro.harbour, &exit["ticket"], 1).await;
    assert_eq!((left["outcome"].as_str(), left["day_charge_minor"].as_i64()), (Some("recorded"), Some(300)));
    let trips = trips(&metro, &carol).await;
    let day = &trips["days"][0];
    assert_eq!(trips["days"].as_array().unwrap().len(), 1, "{trips}");
    assert_eq!(day["journeys"].as_array().unwrap().len(), 1, "{trips}");
    let journey = &day["journeys"][0];
    assert_eq!((journey["kind"].as_str(), journey["fare_minor"].as_i64()), (Some("complete"), Some(300)));
    assert_eq!(
        (journey["entry"]["station"].as_str(), journey["exit"]["station"].as_str()),
        (Some("central"), Some("harbour"))
    );
    assert_eq!(day["charge_minor"], 300);
    assert_eq!(trips["denied"], false);
}

#[tokio::test]
async fn a_code_entry_and_a_face_exit_are_one_journey_and_the_day_is_capped() {
    let metro = metro().await;
    let dan = shopper(&metro.node, 2, "2222", 5_000).await;
    let code = payment_code(&metro, &dan).await;
    let entry = decide(&metro, &metro.market, json!({"direction": "entry", "payment_code": code})).await;
    assert_eq!(entry["open"], true, "{entry}");
    // The same code shown again (a photo of Dan's phone) opens nothing.
    let copied = decide(&metro, &metro.central, json!({"direction": "entry", "payment_code": code})).await;
    assert_eq!((copied["open"].as_bool(), copied["code"].as_str()), (Some(false), Some("code_unknown")));
    assert_eq!(passed(&metro, &metro.market, &entry["ticket"], 1).await, "recorded");
    let exit = by_face(&metro, &metro.harbour, "exit", "face:2").await;
    assert_eq!(passed(&metro, &metro.harbour, &exit["ticket"], 1).await, "recorded");
    // Back and across again: 3.00 + 3.00 + 3.00 is capped at 7.00.
    for (n, (from, to)) in
        [(&metro.harbour, &metro.central), (&metro.central, &metro.harbour)].into_iter().enumerate()
    {
        // By code: a third entry in ten minutes by face alone is refused (see below).
        let code = payment_code(&metro, &dan).await;
        let entry = decide(&metro, from, json!({"direction": "entry", "payment_code": code})).await;
        assert_eq!(passed(&metro, from, &entry["ticket"], 10 + n as u64).await, "recorded");
        let exit = by_face(&metro, to, "exit", "face:2").await;
        assert_eq!(passed(&metro, to, &exit["ticket"], 20 + n as u64).await, "recorded");
    }
    let trips = trips(&metro, &dan).await;
    let day = &trips["days"][0];
    let journeys = day["journeys"].as_array().unwrap();
    assert_eq!(journeys.len(), 3, "{trips}");
    assert_eq!(journeys[0]["entry"]["medium"], "payment_code");
    assert_eq!(journeys[0]["exit"]["medium"], "face");
    assert_eq!(
        (day["fares_minor"].as_i64(), day["charge_minor"].as_i64()),
        (Some(900), Some(700)),
        "{trips}"
    );
    assert_eq!(day["capped_by"], json!(["day"]));
}

#[tokio::test]
async fn an_exit_gate_knows_only_riders_inside_and_an_unpassed_decision_charges_nothing() {
    let metro = metro().await;
    let erin = shopper(&metro.node, 3, "3333", 5_000).await;
    let _frank = shopper(&metro.node, 4, "4444", 5_000).await;
    // Frank never entered: the exit gate does not know him, however well his face matches.
    let exit = by_face(&metro, &metro.harbour, "exit", "face:4").await;
    assert_eq!(
        (exit["open"].as_bool(), exit["code"].as_str()),
        (Some(false), Some("rider_not_inside")),
        "{exit}"
    );
    // Erin is let in but turns back before the barrier: the gate reports nothing.
    let entry = by_face(&metro, &metro.central, "entry", "face:3").await;
    assert_eq!(entry["open"], true);
    assert!(trips(&metro, &erin).await["days"].as_array().unwrap().is_empty());
    let exit = by_face(&metro, &metro.harbour, "exit", "face:3").await;
    assert_eq!(exit["code"], "rider_not_inside", "an unreported entry is no entry");
    // Strangers and spoofs stay outside.
    assert_eq!(by_face(&metro, &metro.central, "entry", "face:99").await["code"], "rider_unknown");
    assert_eq!(by_face(&metro, &metro.central, "entry", "spoof:3").await["code"], "face_not_live");
}

#[tokio::test]
async fn a_face_uncertain_among_everyone_enters_with_the_phone_digits() {
    let metro = metro().await;
    let _ivy = shopper(&metro.node, 7, "7777", 5_000).await;
    let _jon = shopper(&metro.node, 8, "8888", 5_000).await;
    // A face as like Ivy as Jon: not certain among everyone, certain among those with her digits.
    let unsure = by_face(&metro, &metro.central, "entry", "mix:7:8").await;
    assert_eq!(
        (unsure["open"].as_bool(), unsure["code"].as_str()),
        (Some(false), Some("phone_digits_needed"))
    );
    let with_digits = json!({"direction": "entry", "captures": [photo("mix:7:8")], "phone_last4": "7777"});
    let entry = decide(&metro, &metro.central, with_digits).await;
    assert_eq!(entry["open"], true, "{entry}");
    let wrong = json!({"direction": "entry", "captures": [photo("mix:7:8")], "phone_last4": "1234"});
    assert_eq!(decide(&metro, &metro.central, wrong).await["code"], "rider_unknown");
    for (body, expected) in [
        (
            json!({"direction": "exit", "captures": [photo("face:7")], "phone_last4": "7777"}),
            "phone_digits_unexpected",
        ),
        (
            json!({"direction": "entry", "captures": [photo("face:7")], "phone_last4": "77a7"}),
            "index_hint_malformed",
        ),
    ] {
        let (status, reply) =
            send(&metro.node.router, signed(&metro.central, "POST", "/v1/gate/decisions", &body)).await;
        assert!(status.is_client_error(), "{reply}");
        assert_eq!(code(&reply), expected);
    }
}

#[tokio::test]
async fn a_rider_entering_again_and_again_needs_the_code_then_is_stopped_and_rush_hour_is_not() {
    let metro = metro().await;
    let kim = shopper(&metro.node, 9, "9999", 50_000).await;
    // Kim's rides, a minute apart (one gate reads one rider once a minute), in the last five.
    let start = facepay_api::now_ms() - 299_000;
    let ride = |n: i64, entry: Value| {
        let metro = &metro;
        async move {
            let at = start + n * 61_000;
            let entered = report_at(metro, &metro.central, &entry["ticket"], 100 + n as u64, at).await;
            assert_eq!(entered["outcome"], "recorded");
            let exit = by_face(metro, &metro.harbour, "exit", "face:9").await;
            let left = report_at(metro, &metro.harbour, &exit["ticket"], 100 + n as u64, at + 1_000).await;
            assert_eq!(left["outcome"], "recorded");
        }
    };
    for n in 0..2 {
        let entry = by_face(&metro, &metro.central, "entry", "face:9").await;
        assert_eq!(entry["open"], true, "{entry}");
        ride(n, entry).await;
    }
    // The third entry in ten minutes: not by face alone.
    let third = by_face(&metro, &metro.central, "entry", "face:9").await;
    assert_eq!((third["open"].as_bool(), third["code"].as_str()), (Some(false), Some("payment_code_needed")));
    for n in 2..5 {
        let code = payment_code(&metro, &kim).await;
        let entry = decide(&metro, &metro.central, json!({"direction": "entry", "payment_code": code})).await;
        assert_eq!(entry["open"], true, "{entry}");
        ride(n, entry).await;
    }
    let code = payment_code(&metro, &kim).await;
    let sixth = decide(&metro, &metro.central, json!({"direction": "entry", "payment_code": code})).await;
    assert_eq!(sixth["code"], "rider_entries_too_many");
    // Rush hour at one gate: 70 riders in well under a minute all enter, past a till's limits.
    for n in 0..70 {
        let _ = shopper(&metro.node, 1_000 + n, &format!("{:04}", 1_000 + n), 1_000).await;
    }
    for n in 0..70 {
        let entry = by_face(&metro, &metro.market, "entry", &format!("face:{}", 1_000 + n)).await;
        assert_eq!(entry["open"], true, "rider {n}: {entry}");
        assert_eq!(passed(&metro, &metro.market, &entry["ticket"], n).await, "recorded");
    }
    let (_, list) = send(
        &metro.node.router,
        with_key("GET", "/v1/operator/transit/deny-list", &metro.node.operator_key, None),
    )
    .await;
    assert_eq!(list["riders"], json!([]), "every rush-hour hold went through");
}

#[tokio::test]
async fn a_rider_whose_account_did_not_verify_is_denied_until_it_does() {
    let metro = metro().await;
    let hal = shopper(&metro.node, 6, "6666", 0).await;
    let entry = by_face(&metro, &metro.central, "entry", "face:6").await;
    assert_eq!(passed(&metro, &metro.central, &entry["ticket"], 1).await, "recorded");
    let (status, list) = send(
        &metro.node.router,
        with_key("GET", "/v1/operator/transit/deny-list", &metro.node.operator_key, None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["riders"].as_array().unwrap().len(), 1, "the day's hold was refused: {list}");
    assert_eq!(trips(&metro, &hal).await["denied"], true);
    let exit = by_face(&metro, &metro.market, "exit", "face:6").await;
    assert_eq!(exit["open"], true, "a rider inside is always let out");
    assert_eq!(passed(&metro, &metro.market, &exit["ticket"], 1).await, "recorded");
    let again = by_face(&metro, &metro.market, "entry", "face:6").await;
    assert_eq!((again["open"].as_bool(), again["code"].as_str()), (Some(false), Some("rider_denied")));
    let wallet = shopper_wallet(&metro, &hal).await;
    let top_up = json!({"account": wallet, "amount_minor": 1_000, "top_up_id": "hal-1"});
    let (status, body) = send(
        &metro.node.router,
        with_key("POST", "/v1/operator/top-ups", &metro.node.operator_key, Some(top_up)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let let_in = by_face(&metro, &metro.market, "entry", "face:6").await;
    assert_eq!(let_in["open"], true, "the gate held the day again and it went through: {let_in}");
    assert_eq!(trips(&metro, &hal).await["denied"], false);
}

async fn shopper_wallet(metro: &Metro, key: &str) -> String {
    let (status, body) = send(&metro.node.router, with_key("GET", "/v1/shopper", key, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["wallets"][0]["account"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn passages_repeat_without_effect_and_tickets_belong_to_their_gate() {
    let metro = metro().await;
    let _gina = shopper(&metro.node, 5, "5555", 5_000).await;
    let entry = by_face(&metro, &metro.central, "entry", "face:5").await;
    // Another gate cannot report this decision's passage.
    assert_eq!(passed(&metro, &metro.market, &entry["ticket"], 1).await, "ticket_unknown");
    assert_eq!(passed(&metro, &metro.central, &entry["ticket"], 1).await, "recorded");
    assert_eq!(passed(&metro, &metro.central, &entry["ticket"], 1).await, "duplicate");
    let never = json!(format!("tkt_{}", "0".repeat(32)));
    assert_eq!(passed(&metro, &metro.central, &never, 2).await, "ticket_unknown");
    for (body, expected) in [
        (json!({"passages": []}), "passages_too_many"),
        (json!({"passages": [{"ticket": "tkt_zz", "seq": 1, "at_ms": 0}]}), "ticket_malformed"),
        (json!({"passages": [{"ticket": never, "seq": 1}]}), "body_malformed"),
    ] {
        let (status, reply) =
            send(&metro.node.router, signed(&metro.central, "POST", "/v1/gate/passages", &body)).await;
        assert!(status.is_client_error(), "{reply}");
        assert_eq!(code(&reply), expected, "{reply}");
    }
    let both = json!({"direction": "entry", "captures": [photo("face:5")], "payment_code": "0".repeat(18)});
    let (status, reply) =
        send(&metro.node.router, signed(&metro.central, "POST", "/v1/gate/decisions", &both)).await;
    assert_eq!((status, code(&reply)), (StatusCode::BAD_REQUEST, "identification_ambiguous"));
}

#[tokio::test]
async fn a_terminal_that_is_not_a_gate_and_bad_schemes_are_refused() {
    let metro = metro().await;
    let (_, shop_key) = merchant(&metro.node).await;
    let till = terminal(&metro.node, &shop_key).await;
    let body = json!({"direction": "entry", "captures": [photo("face:1")]});
    let (status, reply) = send(&metro.node.router, signed(&till, "POST", "/v1/gate/decisions", &body)).await;
    assert!(status.is_client_error());
    assert_eq!(code(&reply), "gate_unknown");
    // Another merchant's terminal cannot be made a gate.
    let path = format!("/v1/operator/transit/gates/{}", till.terminal);
    let place = json!({"network": "metro", "station": "central"});
    let (_, reply) =
        send(&metro.node.router, with_key("PUT", &path, &metro.node.operator_key, Some(place))).await;
    assert_eq!(code(&reply), "gate_not_transit_merchant");
    let mut files = fare_files();
    files.insert("fare_products.txt", "fare_product_id,amount,currency\ninner,two euros,EUR\n");
    let merchant_id = &metro.merchant_id;
    let bad = json!({"merchant_id": merchant_id, "fare_files": files, "day_hold_minor": 700, "day_starts_minute": 270});
    let (status, reply) = send(
        &metro.node.router,
        with_key("PUT", "/v1/operator/transit/scheme", &metro.node.operator_key, Some(bad)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    let late = json!({"merchant_id": merchant_id, "fare_files": fare_files(), "day_hold_minor": 700, "day_starts_minute": 1440});
    let (status, reply) = send(
        &metro.node.router,
        with_key("PUT", "/v1/operator/transit/scheme", &metro.node.operator_key, Some(late)),
    )
    .await;
    assert_eq!((status.is_client_error(), code(&reply)), (true, "transit_scheme_malformed"), "{reply}");
}

/// The travel pass the switch gives the rider whose phone keeps `phone`.
async fn travel_pass(metro: &Metro, key: &str, phone: &SigningKey) -> String {
    let body = json!({"public_key": BASE64.encode(phone.verifying_key().to_bytes())});
    let (status, body) =
        send(&metro.node.router, with_key("POST", "/v1/shopper/transit/pass", key, Some(body))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let week = body["lapses_at_ms"].as_i64().unwrap() - facepay_api::now_ms();
    assert!((facepay_api::PASS_VALID_MS - 60_000..=facepay_api::PASS_VALID_MS).contains(&week), "{body}");
    body["pass"].as_str().unwrap().to_owned()
}

/// The pass as the phone shows it at `at_ms`.
fn showing(pass: &str, phone: &SigningKey, at_ms: i64) -> String {
    show_travel_pass(pass, phone, Timestamp::from_unix_ms(at_ms)).unwrap()
}

/// What the switch said of each passage the gate let through alone.
async fn upload(metro: &Metro, gate: &TerminalSigner, passages: Value) -> Vec<(String, Option<i64>)> {
    let report = json!({ "passages": passages });
    let (status, body) = send(&metro.node.router, signed(gate, "POST", "/v1/gate/passages", &report)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["passages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["outcome"].as_str().unwrap().to_owned(), p["day_charge_minor"].as_i64()))
        .collect()
}

#[tokio::test]
async fn a_gate_cut_off_from_the_switch_lets_travel_passes_through_and_the_switch_prices_them_later() {
    let metro = metro().await;
    let carol = shopper(&metro.node, 1, "1111", 5_000).await;
    let hal = shopper(&metro.node, 6, "6666", 0).await;
    let carol_phone = SigningKey::from_bytes(&[3; 32]);
    let pass = travel_pass(&metro, &carol, &carol_phone).await;

    // Hal's account does not verify: he is on the deny list the gates take offline.
    let entry = by_face(&metro, &metro.central, "entry", "face:6").await;
    assert_eq!(passed(&metro, &metro.central, &entry["ticket"], 1).await, "recorded");
    let (status, me) = send(&metro.node.router, with_key("GET", "/v1/shopper", &hal, None)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, pack) =
        send(&metro.node.router, signed(&metro.market, "GET", "/v1/gate/offline-pack", &Value::Null)).await;
    assert_eq!(status, StatusCode::OK, "{pack}");
    assert_eq!(pack["denied_riders"], json!([me["shopper_id"]]));
    let switch_key = SigningKey::from_bytes(&[0; 32]);
    assert_eq!(pack["pass_public_key"].as_str().unwrap().len(), 44);
    assert_ne!(pack["pass_public_key"], json!(BASE64.encode(switch_key.verifying_key().to_bytes())));
    assert_eq!(
        pack["fares"],
        json!({"currency": "EUR", "maximum_fare_minor": 600, "max_journey_minutes": 120, "day_cap_minor": 700})
    );
    assert_eq!(pack["rider_entries"], json!({"window_minutes": 10, "code_from": 3, "closed_from": 6}));
    assert_eq!(pack["valid_for_ms"], 86_400_000);

    // Online, the pass opens like a payment code, and the showing is one passage.
    let now = facepay_api::now_ms();
    let shown = showing(&pass, &carol_phone, now);
    let entry = decide(&metro, &metro.central, json!({"direction": "entry", "travel_pass": shown})).await;
    assert_eq!(entry["open"], true, "{entry}");
    assert_eq!(passed(&metro, &metro.central, &entry["ticket"], 2).await, "recorded");
    // The exit gate at the harbour lost the switch; Carol's pass let her out, and a picture of
    // her screen let someone in at the market a moment later. Both go up once the switch answers.
    let exit_at = now + 60_000;
    let out = showing(&pass, &carol_phone, exit_at - 2_000);
    let replayed_at = exit_at + 30_000;
    let offline = json!([
        {"travel_pass": out, "direction": "exit", "seq": 1, "at_ms": exit_at},
    ]);
    assert_eq!(upload(&metro, &metro.harbour, offline.clone()).await, [("recorded".to_owned(), Some(300))]);
    assert_eq!(upload(&metro, &metro.harbour, offline).await, [("duplicate".to_owned(), None)], "sent again");
    let copied = json!([{"travel_pass": out, "direction": "entry", "seq": 1, "at_ms": replayed_at}]);
    assert_eq!(upload(&metro, &metro.market, copied).await, [("shown_before".to_owned(), None)]);

    // Showings the switch does not take: a picture kept for later, another phone's signature,
    // a pass from another switch's key; each refused alone, the rest of the batch recorded.
    let thief = SigningKey::from_bytes(&[4; 32]);
    let stale = showing(&pass, &carol_phone, exit_at - 200_000);
    let batch = json!([
        {"travel_pass": stale, "direction": "entry", "seq": 2, "at_ms": exit_at},
        {"travel_pass": showing(&pass, &thief, exit_at), "direction": "entry", "seq": 3, "at_ms": exit_at},
        {"travel_pass": "bm90IGEgcGFzcw", "direction": "entry", "seq": 4, "at_ms": exit_at},
        {"travel_pass": showing(&pass, &carol_phone, exit_at + 60_000), "direction": "entry", "seq": 5,
         "at_ms": exit_at + 60_000},
    ]);
    let outcomes: Vec<String> =
        upload(&metro, &metro.market, batch).await.into_iter().map(|(o, _)| o).collect();
    assert_eq!(outcomes, ["pass_shown_at_other_time", "pass_forged", "pass_malformed", "recorded"]);

    // A report is a ticket or a pass with its direction, never both or neither.
    let ticket = entry["ticket"].clone();
    for bad in [
        json!({"ticket": ticket, "travel_pass": pass, "direction": "entry", "seq": 9, "at_ms": now}),
        json!({"travel_pass": pass, "seq": 9, "at_ms": now}),
        json!({"ticket": ticket, "direction": "entry", "seq": 9, "at_ms": now}),
        json!({"seq": 9, "at_ms": now}),
    ] {
        let report = json!({ "passages": [bad] });
        let (status, body) =
            send(&metro.node.router, signed(&metro.market, "POST", "/v1/gate/passages", &report)).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "passage_malformed"), "{body}");
    }
    // At an online gate a stale or foreign showing keeps the barrier closed, with its reason.
    let closed = decide(&metro, &metro.market, json!({"direction": "entry", "travel_pass": stale})).await;
    assert_eq!(
        (closed["open"].as_bool(), closed["code"].as_str()),
        (Some(false), Some("pass_shown_at_other_time"))
    );
    let both = json!({"direction": "entry", "travel_pass": pass, "payment_code": "123456789012345678"});
    let (status, body) =
        send(&metro.node.router, signed(&metro.market, "POST", "/v1/gate/decisions", &both)).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "identification_ambiguous"));

    // Carol's day: the journey out by pass at 3.00, and the one entered at the market.
    let trips = trips(&metro, &carol).await;
    let day = &trips["days"][0];
    let media: Vec<&str> =
        day["journeys"].as_array().unwrap().iter().map(|j| j["entry"]["medium"].as_str().unwrap()).collect();
    assert_eq!(media, ["travel_pass", "travel_pass"], "{trips}");
    assert_eq!(day["journeys"][0]["exit"]["medium"], "travel_pass", "{trips}");
}
