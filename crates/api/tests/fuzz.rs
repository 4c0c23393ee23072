//! A fuzzing harness that runs on stable Rust, through the whole router: the request parsers, the
//! signature check and the JSON bodies. Each target mutates the committed seed corpus
//! (`tests/fuzz-corpus`) for `FACEPAY_FUZZ_SECONDS` (3 by default, 60 in CI) from a seed it
//! prints (`FACEPAY_FUZZ_SEED` replays one), keeping every input that drew an answer not seen
//! before as a new seed. The properties: no request panics a handler or draws a 5xx, every
//! refusal is the JSON error, and a signed request changed after signing is never accepted.
//! (The image decoder has its own target in `biometric/tests/hostile_files.rs`.)

// A run's budget and seed come from the environment or the clock, and are printed to replay it.
#![allow(clippy::disallowed_methods, clippy::print_stdout)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use facepay_api::TerminalSigner;
use facepay_domain::SplitMix64;
use serde_json::Value;
use tower::ServiceExt;

/// One request of the corpus: route, who sends it, and its body as bytes.
#[derive(Debug, Clone)]
struct Seed {
    method: String,
    path: String,
    caller: Option<String>,
    body: Vec<u8>,
}

fn corpus() -> Vec<Seed> {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    let mut seeds = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let seed: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            seeds.push(Seed {
                method: seed["method"].as_str().unwrap().to_owned(),
                path: seed["path"].as_str().unwrap().to_owned(),
                caller: seed["caller"].as_str().map(str::to_owned),
                body: seed["body"].to_string().into_bytes(),
            });
        }
    }
    assert!(seeds.len() >= 10, "the corpus is committed with the harness");
    seeds
}

/// How long each target runs, and the generator it runs from (printed, to replay a failure).
fn budget(target: &str) -> (Duration, SplitMix64) {
    let seconds = std::env::var("FACEPAY_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let seed = std::env::var("FACEPAY_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    println!("fuzz {target}: {seconds} s from FACEPAY_FUZZ_SEED={seed}");
    (Duration::from_secs(seconds), SplitMix64::new(seed))
}

fn below(rng: &mut SplitMix64, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}

/// Text that parsers get wrong: extremes of every number type, escapes, multi-byte and invalid
/// UTF-8, nulls, and long runs.
const NASTY: [&[u8]; 14] = [
    b"-9223372036854775808",
    b"9223372036854775807",
    b"18446744073709551616",
    b"1e999",
    b"-0.0",
    b"NaN",
    b"\"\\u0000\"",
    b"\"\\ud800\"",
    "\"\u{20AC}\u{1F600}\"".as_bytes(),
    b"\xff\xfe\xc3\x28",
    b"null",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    b"{\"a\":",
    b"\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"",
];

/// One to four edits of `bytes`: bit flips, bytes set, inserted or deleted, a range repeated,
/// a nasty value put in, or a splice from `other`.
fn mutate(rng: &mut SplitMix64, bytes: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..=below(rng, 4) {
        let at = below(rng, out.len() + 1);
        match below(rng, 7) {
            0 if !out.is_empty() => {
                let i = below(rng, out.len());
                out[i] ^= 1 << below(rng, 8);
            }
            1 if !out.is_empty() => {
                let i = below(rng, out.len());
                out[i] = rng.next_u64() as u8;
            }
            2 => out.insert(at, rng.next_u64() as u8),
            3 if at < out.len() => {
                let end = (at + 1 + below(rng, 16)).min(out.len());
                out.drain(at..end);
            }
            4 if at < out.len() => {
                let end = (at + 1 + below(rng, 32)).min(out.len());
                let copy = out[at..end].to_vec();
                out.splice(at..at, copy);
            }
            5 => {
                let nasty = NASTY[below(rng, NASTY.len())];
                out.splice(at..at, nasty.iter().copied());
            }
            _ => {
                let from = below(rng, other.len() + 1);
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
        }
    }
    out
}

/// A node with a merchant, an activated terminal and a shopper, and rate limits out of the way.
async fn fuzzed_node() -> (TestNode, TerminalSigner, String, String) {
    let wide = facepay_api::Rate { per_second: 1e9, burst: 1e9 };
    let config =
        facepay_api::ApiConfig { terminal_rate: wide, api_key_rate: wide, open_rate: wide, ..config() };
    let node = node_with(config);
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let shopper = shopper(&node, 1, "1234", 10_000).await;
    (node, terminal, merchant_key, shopper)
}

fn request(seed: &Seed, body: Vec<u8>, terminal: &TerminalSigner, keys: (&str, &str, &str)) -> Request<Body> {
    let mut builder = Request::builder()
        .method(seed.method.as_str())
        .uri(&seed.path)
        .header("content-type", "application/json");
    let (operator, merchant, shopper) = keys;
    match seed.caller.as_deref() {
        Some("terminal") => {
            for (name, value) in terminal.headers(&seed.method, &seed.path, &body, facepay_api::now_ms()) {
                builder = builder.header(name, value);
            }
        }
        Some(role) => {
            let key = match role {
                "operator" => operator,
                "merchant" => merchant,
                _ => shopper,
            };
            builder = builder.header("authorization", format!("Bearer {key}"));
        }
        None => {}
    }
    builder.body(Body::from(body)).unwrap()
}

/// Sends `request`; its status and error code, after checking it is not a 5xx and that a
/// refusal is the JSON error.
async fn answered(node: &TestNode, request: Request<Body>, what: &str) -> (u16, String) {
    let response = node.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    assert!(!status.is_server_error(), "{what}: {status} {}", String::from_utf8_lossy(&bytes));
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    assert!(status.is_success() || !code.is_empty(), "{what}: {status} without the JSON error");
    (status.as_u16(), code)
}

#[tokio::test]
async fn fuzz_request_bodies_past_the_signature_and_the_keys() {
    let (node, terminal, merchant_key, shopper_key) = fuzzed_node().await;
    let keys = (node.operator_key.as_str(), merchant_key.as_str(), shopper_key.as_str());
    let (time, mut rng) = budget("request bodies");
    let mut seeds = corpus();
    let mut seen = BTreeSet::new();
    let (started, mut runs) = (Instant::now(), 0u64);
    while started.elapsed() < time {
        let seed = seeds[below(&mut rng, seeds.len())].clone();
        let other = seeds[below(&mut rng, seeds.len())].body.clone();
        let body = mutate(&mut rng, &seed.body, &other);
        let what = format!("{} {} {:?}", seed.method, seed.path, String::from_utf8_lossy(&body));
        let outcome = answered(&node, request(&seed, body.clone(), &terminal, keys), &what).await;
        if seen.insert((seed.path.clone(), outcome)) {
            seeds.push(Seed { body, ..seed });
        }
        runs += 1;
    }
    println!("fuzz request bodies: {runs} requests, {} distinct answers by route", seen.len());
    assert!(runs > 0 && seen.len() >= corpus().len(), "{seen:?}");
}

#[tokio::test]
async fn fuzz_a_signed_request_changed_after_signing_is_never_accepted() {
    let (node, terminal, merchant_key, shopper_key) = fuzzed_node().await;
    let keys = (node.operator_key.as_str(), merchant_key.as_str(), shopper_key.as_str());
    let (time, mut rng) = budget("signature check");
    let signed: Vec<Seed> =
        corpus().into_iter().filter(|seed| seed.caller.as_deref() == Some("terminal")).collect();
    let (started, mut runs) = (Instant::now(), 0u64);
    let mut refusals = BTreeSet::new();
    while started.elapsed() < time {
        let seed = &signed[below(&mut rng, signed.len())];
        let mut request = request(seed, seed.body.clone(), &terminal, keys);
        // Change one signed part after signing: the body, or one of the four headers.
        let (name, original) = match below(&mut rng, 5) {
            0 => ("body", seed.body.clone()),
            n => {
                let name =
                    ["x-facepay-terminal", "x-facepay-timestamp", "x-facepay-nonce", "x-facepay-signature"]
                        [n - 1];
                (name, request.headers()[name].as_bytes().to_vec())
            }
        };
        let changed = mutate(&mut rng, &original, b"0123456789abcdef+/=");
        if changed == original {
            continue;
        }
        if name == "body" {
            *request.body_mut() = Body::from(changed.clone());
        } else {
            match axum::http::HeaderValue::from_bytes(&changed) {
                Ok(value) => {
                    request.headers_mut().insert(name, value);
                }
                Err(_) => continue,
            }
        }
        let what = format!("{} with {name} changed to {:?}", seed.path, String::from_utf8_lossy(&changed));
        let (status, code) = answered(&node, request, &what).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED.as_u16(), "{what}: {code}");
        refusals.insert(code);
        runs += 1;
    }
    println!("fuzz signature check: {runs} changed requests, all refused: {refusals:?}");
    assert!(runs > 0);
}

/// The corpus is what the routes take: each seed, sent as it is, is not refused for its shape.
#[tokio::test]
async fn the_seed_corpus_is_read_by_its_routes() {
    let (node, terminal, merchant_key, shopper_key) = fuzzed_node().await;
    let keys = (node.operator_key.as_str(), merchant_key.as_str(), shopper_key.as_str());
    for seed in corpus() {
        let (status, code) =
            answered(&node, request(&seed, seed.body.clone(), &terminal, keys), &seed.path).await;
        assert!(
            !matches!(code.as_str(), "body_malformed" | "route_unknown"),
            "{} {status} {code}",
            seed.path
        );
    }
}
