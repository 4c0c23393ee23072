//! What `DELETE /v1/shopper` leaves behind, read from the stores themselves: a shopper with
//! every personal field (phone digits typed at a till, a masked name, a PIN, a bank reference,
//! a dispute note) pays, disputes and deletes everything; then the stored bytes (SQLite's file
//! and WAL, every row of a PostgreSQL schema) hold none of those fields in clear, no longer hold
//! the key they were sealed under, and a node started again from them shows none of them.

mod common;

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use facepay_api::{ApiConfig, TerminalSigner};
use facepay_domain::ShopperId;
use facepay_payments::{CheckpointPolicy, Journal};
use facepay_store_postgres::{PostgresBiometricStore, PostgresJournal};
use facepay_store_sqlite::{SqliteBiometricStore, SqliteJournal};
use facepay_vault::{BiometricStore, Keyring, Vault};
use serde_json::{Value, json};

const DIGITS: &str = "4711";
const NAME: &str = "Zebulon Quartermaine";
const PIN: &str = "271828";
const REFERENCE: &str = "tok-zebulon-77413";
const NOTE: &str = "zebulon-note-31337 I was never there";
/// Not personal, so kept in clear: the positive control that the scan reads the entries.
const ORDER: &str = "order-erasure-9931";

/// Where a node's bytes are kept, read back whole.
trait Stored {
    fn node(&self, keys: &str) -> TestNode;
    fn biometric(&self) -> Box<dyn BiometricStore>;
    fn journal(&self) -> Box<dyn Journal>;
    /// Every stored byte, in whatever form the store keeps it.
    fn everything(&self) -> Vec<u8>;
}

/// Checkpoints every few entries, so that the sealed fields are in checkpoints as well.
fn checkpointing() -> ApiConfig {
    ApiConfig { checkpoints: CheckpointPolicy { every_entries: 5, every_ms: 0, prune: false }, ..config() }
}

struct SqliteFile {
    _folder: tempfile::TempDir,
    file: PathBuf,
}

impl Stored for SqliteFile {
    fn node(&self, keys: &str) -> TestNode {
        let journal = || Box::new(SqliteJournal::open(&self.file).unwrap());
        node_on_stores(
            journal(),
            journal(),
            SqliteBiometricStore::open(&self.file).unwrap(),
            keys,
            checkpointing(),
        )
    }

    fn biometric(&self) -> Box<dyn BiometricStore> {
        Box::new(SqliteBiometricStore::open(&self.file).unwrap())
    }

    fn journal(&self) -> Box<dyn Journal> {
        Box::new(SqliteJournal::open(&self.file).unwrap())
    }

    /// The database file, its WAL and its shared-memory index, as the disk holds them.
    fn everything(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let path = Path::new(&format!("{}{suffix}", self.file.display())).to_owned();
            bytes.extend(std::fs::read(path).unwrap_or_default());
        }
        bytes
    }
}

struct PostgresSchema {
    url: String,
    name: String,
}

impl Stored for PostgresSchema {
    fn node(&self, keys: &str) -> TestNode {
        let journal = || Box::new(PostgresJournal::connect(&self.url, &self.name).unwrap());
        let biometric = PostgresBiometricStore::connect(&self.url, &self.name).unwrap();
        node_on_stores(journal(), journal(), biometric, keys, checkpointing())
    }

    fn biometric(&self) -> Box<dyn BiometricStore> {
        Box::new(PostgresBiometricStore::connect(&self.url, &self.name).unwrap())
    }

    fn journal(&self) -> Box<dyn Journal> {
        Box::new(PostgresJournal::connect(&self.url, &self.name).unwrap())
    }

    /// Every row of every table in the schema, as text (bytes as `\x` hex).
    fn everything(&self) -> Vec<u8> {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        let tables = client
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
                &[&self.name],
            )
            .unwrap();
        assert!(tables.len() >= 5, "the schema has its tables");
        let mut text = String::new();
        for table in tables {
            let table: String = table.get(0);
            let rows = client.query(&format!("SELECT t::text FROM {}.{table} t", self.name), &[]).unwrap();
            for row in rows {
                text.push_str(&row.get::<_, String>(0));
                text.push('\n');
            }
        }
        text.into_bytes()
    }
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whether `bytes` appear in `haystack` raw, or as the lower-case hex that JSON and
/// PostgreSQL's text form write them in.
fn holds(haystack: &[u8], bytes: &[u8]) -> bool {
    let found = |needle: &[u8]| haystack.windows(needle.len()).any(|window| window == needle);
    found(bytes) || found(hex(bytes).as_bytes())
}

fn holds_text(haystack: &[u8], text: &str) -> bool {
    holds(haystack, text.as_bytes())
}

/// A request with no credentials.
fn open_request(method: &str, path: &str, body: &Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn ok(node: &TestNode, request: Request<Body>) -> Value {
    let (status, body) = send(&node.router, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The story's parties, as the checks after the deletion need them.
struct Story {
    shopper: ShopperId,
    merchant_key: String,
    bank_key: String,
    dispute: String,
    masked_name: String,
}

/// Zebulon signs up, sets a PIN, binds a bank account, pays twice (once picked from a look-alike
/// by typing the phone digits, once with the PIN), disputes a payment with a note, and Bob, who
/// looks alike, stays.
async fn live_a_little(node: &TestNode, terminal: &TerminalSigner, merchant_key: String) -> (Story, String) {
    let bank_key =
        ok(node, with_key("POST", "/v1/operator/issuers", &node.operator_key, Some(json!({"issuer": 7}))))
            .await["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
    let sign_up = json!({"consent_text_version": "2026-11", "phone_last4": DIGITS, "name": NAME});
    let signed_up = ok(node, open_request("POST", "/v1/shoppers", &sign_up)).await;
    let key = signed_up["api_key"].as_str().unwrap().to_owned();
    let id = signed_up["shopper_id"].as_str().unwrap();
    let shopper = ShopperId::from_u128(u128::from_str_radix(&id[4..], 16).unwrap());
    ok(node, with_key("PUT", "/v1/shopper/face", &key, Some(json!({"captures": [photo("face:1")]})))).await;
    let top_up = json!({"account": signed_up["wallet"], "amount_minor": 200_000, "top_up_id": "t-zebulon"});
    ok(node, with_key("POST", "/v1/operator/top-ups", &node.operator_key, Some(top_up))).await;
    ok(node, with_key("PUT", "/v1/shopper/pin", &key, Some(json!({"pin": PIN})))).await;
    let account = json!({"issuer": 7, "reference": REFERENCE, "make_default": false});
    ok(node, with_key("POST", "/v1/shopper/bank-accounts", &key, Some(account))).await;
    common::shopper(node, 2, "4712", 0).await;

    let mut order = pay_body(1_500, "e1", "mix:1:2");
    order["order_id"] = json!(ORDER);
    let asked = ok(node, signed(terminal, "POST", "/v1/terminal/payments", &order)).await;
    assert_eq!(asked["state"], "needs_phone_digits", "{asked}");
    let paid = asked["payment_id"].as_str().unwrap().to_owned();
    let digits = json!({"digits": DIGITS});
    let answer =
        ok(node, signed(terminal, "POST", &format!("/v1/terminal/payments/{paid}/phone-digits"), &digits))
            .await;
    assert_eq!(answer["state"], "authorized", "{answer}");
    let masked_name = answer["shopper"].as_str().unwrap().to_owned();
    assert!(masked_name.starts_with('Z') && masked_name != NAME, "{masked_name}");
    ok(node, signed(terminal, "POST", &format!("/v1/terminal/payments/{paid}/confirm"), &json!({}))).await;

    let asked =
        ok(node, signed(terminal, "POST", "/v1/terminal/payments", &pay_body(60_000, "e2", "face:1"))).await;
    assert_eq!(asked["state"], "needs_pin", "{asked}");
    let pin_path = format!("/v1/terminal/payments/{}/pin", asked["payment_id"].as_str().unwrap());
    assert_eq!(
        ok(node, signed(terminal, "POST", &pin_path, &json!({"pin": PIN}))).await["state"],
        "authorized"
    );

    let claim = json!({"payment_id": paid, "amount_minor": 1_500, "note": NOTE});
    let opened = ok(node, with_key("POST", "/v1/shopper/disputes", &key, Some(claim))).await;
    let dispute = opened["dispute_id"].as_str().unwrap().to_owned();
    let story = Story { shopper, merchant_key, bank_key, dispute, masked_name };
    (story, key)
}

/// What the merchant and the bank are shown of Zebulon.
async fn shown(node: &TestNode, story: &Story) -> (Value, Value) {
    let dispute =
        ok(node, with_key("GET", &format!("/v1/disputes/{}", story.dispute), &story.merchant_key, None))
            .await;
    let accounts = ok(node, with_key("GET", "/v1/issuer/accounts", &story.bank_key, None)).await;
    (dispute["evidence"][0]["note"].clone(), accounts)
}

/// Runs `work`, which may block on a store's client, off the runtime's workers.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

async fn erase_and_look(stored: &dyn Stored) {
    let keys = Keyring::generate("k1").unwrap().expose_secret().clone();
    let vault = Vault::new(Keyring::parse(&keys).unwrap());
    let node = blocking(|| stored.node(&keys));
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let (story, key) = live_a_little(&node, &terminal, merchant_key).await;
    let pseudonym = vault.pseudonym(story.shopper);

    // Before: the fields are shown to whom they are for, and stored only sealed.
    let (note, accounts) = shown(&node, &story).await;
    assert_eq!(note, json!(NOTE));
    assert_eq!(accounts, json!([{"reference": REFERENCE, "default": false}]));
    let wrapped =
        blocking(|| stored.biometric().personal_key(&pseudonym)).unwrap().expect("a personal key at sign-up");
    let sealed_name = node.switch.read(|core| core.masked_name(story.shopper).cloned()).unwrap();
    let before = blocking(|| stored.everything());
    assert!(holds_text(&before, ORDER), "the scan reads the journal (an order id is kept in clear)");
    assert!(holds(&before, wrapped.as_bytes()), "the scan finds the wrapped personal key");
    assert!(holds(&before, sealed_name.as_bytes()), "the scan finds a sealed field");
    let checkpoints = blocking(|| stored.journal().checkpoint_seqs()).unwrap();
    assert!(!checkpoints.is_empty(), "checkpoints were written");
    for plain in [NAME, &story.masked_name, PIN, REFERENCE, NOTE, &format!("\"{DIGITS}\"")] {
        assert!(!holds_text(&before, plain), "{plain:?} is stored in clear");
    }

    let (status, body) = send(&node.router, with_key("DELETE", "/v1/shopper", &key, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // After: the key is gone from the store and its bytes from the disk, so the sealed fields
    // still in the journal and its checkpoints open for nobody.
    assert!(blocking(|| stored.biometric().personal_key(&pseudonym)).unwrap().is_none());
    let after = blocking(|| stored.everything());
    assert!(holds_text(&after, ORDER), "the payments stay");
    assert!(!holds(&after, wrapped.as_bytes()), "the wrapped personal key is erased from the stored bytes");
    for plain in [NAME, &story.masked_name, PIN, REFERENCE, NOTE, &format!("\"{DIGITS}\"")] {
        assert!(!holds_text(&after, plain), "{plain:?} is stored in clear");
    }
    let core_forgot = node.switch.read(|core| {
        (
            core.masked_name(story.shopper).is_none(),
            core.phone_digits(story.shopper).is_none(),
            core.consent(story.shopper).is_none(),
        )
    });
    assert_eq!(core_forgot, (true, true, true));
    assert_eq!(shown(&node, &story).await, (Value::Null, json!([])), "the note and the account are gone");
    blocking(|| drop(node));

    // A node started again from the same stores (checkpoint and journal) shows nothing either.
    let again = blocking(|| stored.node(&keys));
    assert!(again.switch.read(|core| core.masked_name(story.shopper).is_none()));
    assert_eq!(shown(&again, &story).await, (Value::Null, json!([])));
    blocking(|| drop(again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_shopper_erases_their_personal_fields_from_a_sqlite_file() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("facepay.sqlite3");
    let stored = SqliteFile { _folder: folder, file };
    erase_and_look(&stored).await;
}

#[test]
fn deleting_a_shopper_erases_their_personal_fields_from_a_postgres_schema() {
    #[allow(clippy::disallowed_methods)] // the test database's address
    let url = std::env::var("FACEPAY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let name = format!("erasure_{:016x}", facepay_api::now_ms());
    let stored = PostgresSchema { url, name };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(erase_and_look(&stored));
}
