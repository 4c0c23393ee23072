//! Two nodes on one PostgreSQL schema: what one node journals (a merchant's key, a terminal's
//! activation, a risk event) is honoured by the other through the routes that replay the
//! journal on a miss. PostgreSQL's client blocks, so this also proves no route calls the store
//! on an async worker (that panics inside tokio).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use facepay_api::TerminalSigner;
use facepay_payments::MemoryJournal;
use facepay_store_postgres::PostgresJournal;
use serde_json::json;

struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn new() -> Schema {
        #[allow(clippy::disallowed_methods)] // the test database's address
        let url = std::env::var("FACEPAY_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
        Schema { url, name: format!("api_{:016x}", rand_id()) }
    }

    fn node(&self) -> TestNode {
        let connect =
            || PostgresJournal::connect(&self.url, &self.name).expect("the test database is reachable");
        node_on(Box::new(connect()), Box::new(connect()), MemoryJournal::default(), config())
    }
}

fn rand_id() -> u64 {
    let bytes = TerminalSigner::generate(facepay_domain::TerminalId::from_u128(0)).public_key_base64();
    bytes.bytes().fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b))
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

#[test]
fn what_one_node_journals_the_other_honours_without_blocking_its_workers() {
    let schema = Schema::new();
    // Connecting blocks, so the nodes are made before the runtime, as `facepay serve` does.
    let a = schema.node();
    let b = schema.node();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(both(&a, &b));
    drop(runtime);
}

async fn both(a: &TestNode, b: &TestNode) {
    let (_, merchant_key) = merchant(a).await;
    // The key was journaled through A; B has not seen it and replays the journal to find it.
    let (status, code_body) =
        send(&b.router, with_key("POST", "/v1/merchant/terminals", &merchant_key, None)).await;
    assert_eq!(status, StatusCode::OK, "{code_body}");
    let id = code_body["terminal_id"].as_str().unwrap();
    let terminal = facepay_domain::TerminalId::from_u128(u128::from_str_radix(&id[4..], 16).unwrap());
    let signer = TerminalSigner::generate(terminal);
    let activation = json!({"terminal_id": id, "activation_code": code_body["activation_code"], "public_key": signer.public_key_base64()});
    let request = Request::builder()
        .method("POST")
        .uri("/v1/terminal/activation")
        .header("content-type", "application/json")
        .body(Body::from(activation.to_string()))
        .unwrap();
    let (status, body) = send(&a.router, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(&b.router, signed(&signer, "POST", "/v1/terminal/heartbeat", &json!({}))).await;
    assert_eq!(status, StatusCode::OK, "activated on A, signing on B: {body}");
    let (status, body) =
        send(&b.router, with_key("GET", &format!("/v1/merchant/terminals/{id}"), &merchant_key, None)).await;
    assert_eq!((status, body["activated"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
    let (status, events) =
        send(&b.router, with_key("GET", "/v1/operator/risk-events", &b.operator_key, None)).await;
    assert_eq!((status, events), (StatusCode::OK, json!([])));
    let (status, _) = send(&b.router, Request::builder().uri("/ready").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}
