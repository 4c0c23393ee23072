//! A whole node in memory for the API tests: the real router, payment core (on a memory
//! journal), gallery and vault, with a fake biometric engine that reads a "photo" as text:
//! `face:<n>` is person n, live; `mix:<a>:<b>` looks equally like a and b; `spoof:<n>` is person
//! n held up on a screen; anything else shows no face.

#![allow(dead_code)] // each test file uses its own part of this

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use facepay_api::{
    ApiConfig, Biometrics, CaptureRefused, Captured, Faces, Node, Running, Switch, TerminalSigner,
    new_api_key,
};
use facepay_domain::{FaceTemplate, RecognizerTag, SplitMix64};
use facepay_face_index::FaceIndex;
use facepay_gallery::Gallery;
use facepay_payments::{
    Command, CoreConfig, JournaledCore, LimitTable, MemoryJournal, PinPolicy, Retention, RiskConfig, Role,
};
use facepay_vault::{BiometricStore, Keyring, MemoryBiometricStore};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const DIMENSION: usize = 64;

pub fn recognizer() -> RecognizerTag {
    RecognizerTag { name: "fake".into(), version: "1".into() }
}

/// Person `n`'s face: random 64-d directions are nearly orthogonal, so people are far apart.
pub fn face(n: u64) -> FaceTemplate {
    let mut rng = SplitMix64::new(n);
    let embedding =
        (0..DIMENSION).map(|_| (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 - 0.5).collect();
    FaceTemplate::new(recognizer(), embedding).expect("a random vector is a valid embedding")
}

#[derive(Debug)]
pub struct FakeBiometrics;

impl Biometrics for FakeBiometrics {
    fn capture(&self, frames: &[&[u8]]) -> Result<Captured, CaptureRefused> {
        let text = std::str::from_utf8(frames[0]).unwrap_or("");
        let refuse =
            |code: &'static str| Err(CaptureRefused { code, message: code.into(), engine_failed: false });
        if let Some(n) = text.strip_prefix("face:").and_then(|n| n.parse().ok()) {
            return Ok(Captured { template: face(n), live_score: 0.9 });
        }
        // "mix:1:2:3": a face between people 1, 2 and 3, about 1/sqrt(3) alike to each.
        if let Some(people) = text.strip_prefix("mix:") {
            let mut sum = vec![0f32; DIMENSION];
            for person in people.split(':') {
                for (total, x) in sum.iter_mut().zip(face(person.parse().unwrap()).expose_embedding()) {
                    *total += x;
                }
            }
            return Ok(Captured { template: FaceTemplate::new(recognizer(), sum).unwrap(), live_score: 0.9 });
        }
        if text.starts_with("spoof:") {
            return refuse("face_not_live");
        }
        refuse("face_not_found")
    }
}

pub fn photo(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

pub struct TestNode {
    pub switch: Arc<Switch>,
    pub router: Router,
    pub operator_key: String,
    pub journal: MemoryJournal,
    _running: Running,
}

pub fn core_config() -> CoreConfig {
    CoreConfig {
        currency: facepay_domain::Currency::new("EUR").unwrap(),
        limits: LimitTable::default(),
        pin_policy: PinPolicy { always: false, above_amount_minor: Some(50_000), on_elevated_risk: false },
        outcome_timeout_ms: 60_000,
        hold_timeout_ms: 600_000,
        funding_source: facepay_ledger::AccountId(1),
        reserve_account: facepay_ledger::AccountId(2),
        risk: RiskConfig::default(),
        retention: Retention::DEFAULT,
    }
}

pub fn config() -> ApiConfig {
    ApiConfig { access_log: false, ..ApiConfig::default() }
}

pub fn node() -> TestNode {
    node_with(config())
}

pub fn node_with(config: ApiConfig) -> TestNode {
    let journal = MemoryJournal::default();
    node_on(Box::new(journal.clone()), Box::new(journal.clone()), journal, config)
}

/// A node on a memory journal whose core runs with `core` instead of `core_config()`.
pub fn node_with_core(config: ApiConfig, core: CoreConfig) -> TestNode {
    let journal = MemoryJournal::default();
    start_node(Box::new(journal.clone()), Box::new(journal.clone()), journal, config, core)
}

/// A node on `store`, its readers on `reader`, another connection to the same store (`journal`
/// is kept for tests that read a memory journal's entries).
pub fn node_on(
    store: Box<dyn facepay_payments::Journal + Send>,
    reader: Box<dyn facepay_payments::Journal + Send>,
    journal: MemoryJournal,
    config: ApiConfig,
) -> TestNode {
    start_node(store, reader, journal, config, core_config())
}

fn start_node(
    store: Box<dyn facepay_payments::Journal + Send>,
    reader: Box<dyn facepay_payments::Journal + Send>,
    journal: MemoryJournal,
    config: ApiConfig,
    core: CoreConfig,
) -> TestNode {
    let keys = Keyring::generate("k1").unwrap().expose_secret().clone();
    start_node_with_vault(store, reader, MemoryBiometricStore::default(), &keys, journal, config, core)
}

/// A node whose journal and biometric records are in real stores, under the key file `keys`.
pub fn node_on_stores<S: BiometricStore + Send + 'static>(
    store: Box<dyn facepay_payments::Journal + Send>,
    reader: Box<dyn facepay_payments::Journal + Send>,
    biometric: S,
    keys: &str,
    config: ApiConfig,
) -> TestNode {
    start_node_with_vault(store, reader, biometric, keys, MemoryJournal::default(), config, core_config())
}

fn start_node_with_vault<S: BiometricStore + Send + 'static>(
    store: Box<dyn facepay_payments::Journal + Send>,
    reader: Box<dyn facepay_payments::Journal + Send>,
    biometric: S,
    keys: &str,
    journal: MemoryJournal,
    config: ApiConfig,
    core: CoreConfig,
) -> TestNode {
    let mut node: Node = JournaledCore::open(core, store).unwrap();
    let (key, operator_key, secret_hash) = new_api_key();
    node.execute(
        Command::IssueApiKey { key, secret_hash, role: Role::Operator },
        facepay_domain::Timestamp::from_unix_ms(facepay_api::now_ms()),
    )
    .unwrap()
    .unwrap();
    let reload = keys.to_owned();
    let reload: facepay_gallery::KeySource = Box::new(move || Keyring::parse(&reload));
    let index = FaceIndex::new(recognizer(), DIMENSION);
    let (gallery, _) = Gallery::open(Keyring::parse(keys).unwrap(), reload, biometric, index).unwrap();
    let faces: Arc<dyn Faces> = Arc::new(Mutex::new(gallery));
    let (switch, running) =
        Switch::start(config, node, reader, faces, Arc::new(FakeBiometrics), Box::new(|| Ok(())));
    let router = facepay_api::router(switch.clone());
    TestNode { switch, router, operator_key, journal, _running: running }
}

/// A response's status and JSON body (Null when the body is not JSON).
pub async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

pub fn with_key(method: &str, path: &str, key: &str, body: Option<Value>) -> Request<Body> {
    let builder =
        Request::builder().method(method).uri(path).header("authorization", format!("Bearer {key}"));
    match body {
        Some(body) => {
            builder.header("content-type", "application/json").body(Body::from(body.to_string())).unwrap()
        }
        None => builder.body(Body::empty()).unwrap(),
    }
}

pub fn signed(signer: &TerminalSigner, method: &str, path: &str, body: &Value) -> Request<Body> {
    let bytes = body.to_string().into_bytes();
    let mut builder = Request::builder().method(method).uri(path).header("content-type", "application/json");
    for (name, value) in signer.headers(method, path, &bytes, facepay_api::now_ms()) {
        builder = builder.header(name, value);
    }
    builder.body(Body::from(bytes)).unwrap()
}

pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// A merchant (its id and key) made by the operator.
pub async fn merchant(node: &TestNode) -> (String, String) {
    let (status, body) = send(
        &node.router,
        with_key(
            "POST",
            "/v1/operator/merchants",
            &node.operator_key,
            Some(json!({"risk": "low", "acquirer": 1})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (body["merchant_id"].as_str().unwrap().to_owned(), body["api_key"].as_str().unwrap().to_owned())
}

/// A terminal of the merchant, registered and activated with a fresh key pair.
pub async fn terminal(node: &TestNode, merchant_key: &str) -> TerminalSigner {
    let (status, code_body) =
        send(&node.router, with_key("POST", "/v1/merchant/terminals", merchant_key, None)).await;
    assert_eq!(status, StatusCode::OK, "{code_body}");
    let id = code_body["terminal_id"].as_str().unwrap();
    let terminal = facepay_domain::TerminalId::from_u128(u128::from_str_radix(&id[4..], 16).unwrap());
    let signer = TerminalSigner::generate(terminal);
    let activation = json!({
        "terminal_id": id,
        "activation_code": code_body["activation_code"],
        "public_key": signer.public_key_base64(),
    });
    let request = Request::builder()
        .method("POST")
        .uri("/v1/terminal/activation")
        .header("content-type", "application/json")
        .body(Body::from(activation.to_string()))
        .unwrap();
    let (status, body) = send(&node.router, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    signer
}

/// A shopper signed up, with face `n` enrolled and `balance` in their wallet; their key.
pub async fn shopper(node: &TestNode, n: u64, phone_last4: &str, balance: i64) -> String {
    let sign_up =
        json!({"consent_text_version": "2026-11", "phone_last4": phone_last4, "name": format!("Person {n}")});
    let (status, body) = send(
        &node.router,
        Request::builder()
            .method("POST")
            .uri("/v1/shoppers")
            .header("content-type", "application/json")
            .body(Body::from(sign_up.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key = body["api_key"].as_str().unwrap().to_owned();
    let wallet = body["wallet"].as_str().unwrap().to_owned();
    let enroll = json!({"captures": [photo(&format!("face:{n}"))]});
    let (status, body) = send(&node.router, with_key("PUT", "/v1/shopper/face", &key, Some(enroll))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    if balance > 0 {
        let top_up = json!({"account": wallet, "amount_minor": balance, "top_up_id": format!("t-{n}")});
        let (status, body) =
            send(&node.router, with_key("POST", "/v1/operator/top-ups", &node.operator_key, Some(top_up)))
                .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    key
}

pub fn pay_body(amount: i64, key: &str, photo_text: &str) -> Value {
    json!({"amount_minor": amount, "currency": "EUR", "order_id": format!("order-{key}"), "idempotency_key": key,
           "captures": [photo(photo_text)]})
}
