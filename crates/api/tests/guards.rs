//! What a hostile caller meets: forged, tampered, expired and replayed signatures, revoked
//! terminals, oversized and malformed bodies, rate limits; each a 4xx with a stable code that
//! changes nothing. Also the node's own routes: metrics, the OpenAPI document, a real socket.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use facepay_api::{Rate, TerminalSigner};
use serde_json::{Value, json};

fn payments(node: &TestNode) -> usize {
    node.switch.read(|core| core.payments().count())
}

fn request_with(headers: [(&'static str, String); 4], path: &str, body: &Value) -> Request<Body> {
    let mut builder = Request::builder().method("POST").uri(path).header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn forged_tampered_expired_and_replayed_signatures_are_refused_and_change_nothing() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;
    let path = "/v1/terminal/payments";
    let body = pay_body(100, "k", "face:1");
    let bytes = body.to_string().into_bytes();
    let now = facepay_api::now_ms();

    let impostor = TerminalSigner::generate(terminal.terminal);
    let (status, refused) =
        send(&node.router, request_with(impostor.headers("POST", path, &bytes, now), path, &body)).await;
    assert_eq!((status, code(&refused)), (StatusCode::UNAUTHORIZED, "signature_invalid"), "another key");

    let tampered = pay_body(1, "k", "face:1");
    let (status, refused) =
        send(&node.router, request_with(terminal.headers("POST", path, &bytes, now), path, &tampered)).await;
    assert_eq!((status, code(&refused)), (StatusCode::UNAUTHORIZED, "signature_invalid"), "a changed body");
    let (status, _) = send(
        &node.router,
        request_with(terminal.headers("POST", "/v1/terminal/heartbeat", &bytes, now), path, &body),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a signature for another path");

    let old = now - 301_000;
    let (status, refused) =
        send(&node.router, request_with(terminal.headers("POST", path, &bytes, old), path, &body)).await;
    assert_eq!((status, code(&refused)), (StatusCode::UNAUTHORIZED, "signature_expired"));
    let ahead = now + 301_000;
    let (_, refused) =
        send(&node.router, request_with(terminal.headers("POST", path, &bytes, ahead), path, &body)).await;
    assert_eq!(code(&refused), "signature_expired");
    // Found by the outside suite: now + i64::MIN made the distance wrap into the window.
    for far in [now.wrapping_add(i64::MIN), i64::MIN, i64::MAX] {
        let (status, refused) =
            send(&node.router, request_with(terminal.headers("POST", path, &bytes, far), path, &body)).await;
        assert_eq!((status, code(&refused)), (StatusCode::UNAUTHORIZED, "signature_expired"), "{far}");
    }
    assert_eq!(payments(&node), 0);

    let headers = terminal.headers_with("POST", path, &bytes, now, "nonce-0123456789abcdef");
    let (status, _) = send(&node.router, request_with(headers.clone(), path, &body)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = send(&node.router, request_with(headers, path, &body)).await;
    assert_eq!((status, code(&refused)), (StatusCode::UNAUTHORIZED, "signature_replayed"));
    assert_eq!(payments(&node), 1);

    let mut missing = Request::builder().method("POST").uri(path).body(Body::from(bytes.clone())).unwrap();
    missing.headers_mut().insert("x-facepay-terminal", terminal.terminal.to_string().parse().unwrap());
    let (status, refused) = send(&node.router, missing).await;
    assert_eq!((status, code(&refused)), (StatusCode::UNAUTHORIZED, "signature_missing"));
    let mut headers = terminal.headers("POST", path, &bytes, now);
    headers[2].1 = "short".into();
    let (_, refused) = send(&node.router, request_with(headers, path, &body)).await;
    assert_eq!(code(&refused), "signature_malformed");
    let unknown = TerminalSigner::generate(facepay_domain::TerminalId::from_u128(5));
    let (_, refused) =
        send(&node.router, request_with(unknown.headers("POST", path, &bytes, now), path, &body)).await;
    assert_eq!(code(&refused), "terminal_not_active");
}

#[tokio::test]
async fn a_revoked_terminal_is_locked_out_and_its_activation_code_works_once() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let (_, code_body) =
        send(&node.router, with_key("POST", "/v1/merchant/terminals", &merchant_key, None)).await;
    let id = code_body["terminal_id"].as_str().unwrap();
    let terminal = facepay_domain::TerminalId::from_u128(u128::from_str_radix(&id[4..], 16).unwrap());
    let signer = TerminalSigner::generate(terminal);
    let activate = |code: &str, key: String| {
        let body = json!({"terminal_id": id, "activation_code": code, "public_key": key});
        Request::builder()
            .method("POST")
            .uri("/v1/terminal/activation")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (status, refused) = send(&node.router, activate("wrong-code", signer.public_key_base64())).await;
    assert_eq!((status, code(&refused)), (StatusCode::UNAUTHORIZED, "activation_code_wrong"));
    let (_, refused) =
        send(&node.router, activate(code_body["activation_code"].as_str().unwrap(), "AAAA".into())).await;
    assert_eq!(code(&refused), "public_key_malformed");
    let real = code_body["activation_code"].as_str().unwrap();
    let (status, _) = send(&node.router, activate(real, signer.public_key_base64())).await;
    assert_eq!(status, StatusCode::OK);
    let thief = TerminalSigner::generate(terminal);
    let (status, _) = send(&node.router, activate(real, thief.public_key_base64())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the code is spent");

    let (status, beat) =
        send(&node.router, signed(&signer, "POST", "/v1/terminal/heartbeat", &json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{beat}");
    let (_, seen) =
        send(&node.router, with_key("GET", &format!("/v1/merchant/terminals/{id}"), &merchant_key, None))
            .await;
    assert_eq!((seen["activated"].as_bool(), seen["stale"].as_bool()), (Some(true), Some(false)), "{seen}");
    let (status, _) =
        send(&node.router, with_key("DELETE", &format!("/v1/merchant/terminals/{id}"), &merchant_key, None))
            .await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) =
        send(&node.router, signed(&signer, "POST", "/v1/terminal/heartbeat", &json!({}))).await;
    assert_eq!((status, code(&refused)), (StatusCode::UNAUTHORIZED, "terminal_not_active"));
    let (status, refused) = send(
        &node.router,
        with_key("POST", &format!("/v1/merchant/terminals/{id}/activation-code"), &merchant_key, None),
    )
    .await;
    assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "terminal_revoked"));
}

#[tokio::test]
async fn hostile_bodies_get_a_clear_code_and_make_no_payment() {
    let node = node_with(facepay_api::ApiConfig { max_body_bytes: 64 << 10, ..config() });
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;
    let path = "/v1/terminal/payments";
    let cases = [
        (
            json!({"amount_minor": 1, "currency": "EUR", "order_id": "o", "idempotency_key": "k",
                "captures": [photo(&"x".repeat(100 << 10))]}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (json!({"amount_minor": 1}), StatusCode::BAD_REQUEST, "body_malformed"),
        (
            json!({"amount_minor": 1, "currency": "EUR", "order_id": "o", "idempotency_key": "k", "captures": [], "x": 1}),
            StatusCode::BAD_REQUEST,
            "body_malformed",
        ),
        (json!([1, 2]), StatusCode::BAD_REQUEST, "body_malformed"),
        (pay_body(0, "k", "face:1"), StatusCode::BAD_REQUEST, "amount_not_positive"),
        (pay_body(-5, "k", "face:1"), StatusCode::BAD_REQUEST, "amount_not_positive"),
        (
            json!({"amount_minor": 1, "currency": "USD", "order_id": "o", "idempotency_key": "k", "captures": [photo("face:1")]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "currency_not_supported",
        ),
        (pay_body(1, &"k".repeat(65), "face:1"), StatusCode::BAD_REQUEST, "field_malformed"),
        (pay_body(1, "k y", "face:1"), StatusCode::BAD_REQUEST, "field_malformed"),
        (
            json!({"amount_minor": 1, "currency": "EUR", "order_id": "o", "idempotency_key": "k", "captures": []}),
            StatusCode::BAD_REQUEST,
            "captures_missing",
        ),
        (
            json!({"amount_minor": 1, "currency": "EUR", "order_id": "o", "idempotency_key": "k",
                "captures": [photo("face:1"), photo("face:1"), photo("face:1"), photo("face:1")]}),
            StatusCode::BAD_REQUEST,
            "captures_too_many",
        ),
        (
            json!({"amount_minor": 1, "currency": "EUR", "order_id": "o", "idempotency_key": "k", "captures": ["%%%"]}),
            StatusCode::BAD_REQUEST,
            "capture_malformed",
        ),
    ];
    for (body, status, expected) in cases {
        let (got, refused) = send(&node.router, signed(&terminal, "POST", path, &body)).await;
        assert_eq!(
            (got, code(&refused)),
            (status, expected),
            "{}",
            &body.to_string()[..body.to_string().len().min(120)]
        );
        assert!(refused["error"]["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    }
    assert_eq!(payments(&node), 0);
    let (status, body) = send(&node.router, with_key("GET", "/v1/nowhere", "x", None)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "route_unknown"));
    let (status, body) = send(&node.router, with_key("PATCH", "/v1/shoppers", "x", None)).await;
    assert_eq!((status, code(&body)), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
    let (status, body) =
        send(&node.router, with_key("GET", "/v1/merchant/payments/pay_xyz", &merchant(&node).await.1, None))
            .await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "id_malformed"));
}

#[tokio::test]
async fn a_terminal_over_its_rate_is_told_to_slow_down() {
    let node = node_with(facepay_api::ApiConfig {
        terminal_rate: Rate { per_second: 0.001, burst: 3.0 },
        ..config()
    });
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    for _ in 0..3 {
        let (status, _) =
            send(&node.router, signed(&terminal, "POST", "/v1/terminal/heartbeat", &json!({}))).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, body) =
        send(&node.router, signed(&terminal, "POST", "/v1/terminal/heartbeat", &json!({}))).await;
    assert_eq!((status, code(&body)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
}

#[tokio::test]
async fn metrics_count_requests_and_decisions_and_the_openapi_document_lists_every_route() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;
    send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, "a", "face:1")))
        .await;
    send(&node.router, signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(100, "b", "face:7")))
        .await;
    let response = tower::ServiceExt::oneshot(
        node.router.clone(),
        Request::builder().uri("/metrics").body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    let text = String::from_utf8(
        http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes().to_vec(),
    )
    .unwrap();
    assert!(
        text.contains(
            r#"facepay_http_requests_total{method="POST",route="/v1/terminal/payments",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"facepay_payment_decisions_total{outcome="authorized"} 1"#), "{text}");
    assert!(text.contains(r#"facepay_payment_decisions_total{outcome="no_match"} 1"#), "{text}");
    assert!(text.contains("facepay_index_faces 1"), "{text}");
    assert!(text.contains(
        r#"facepay_http_request_duration_seconds_count{method="POST",route="/v1/terminal/payments"} 2"#
    ));

    let (status, doc) =
        send(&node.router, Request::builder().uri("/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    let paths: Vec<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    let source = include_str!("../src/router.rs");
    let routed: Vec<&str> = source
        .split(".route(")
        .skip(1)
        .map(|rest| rest.trim_start().trim_start_matches('"').split('"').next().unwrap())
        .collect();
    assert_eq!(routed.len(), 72, "{routed:?}");
    for route in routed {
        assert!(paths.contains(&route), "{route} is routed but not documented");
    }
}

#[test]
fn the_api_answers_over_a_real_socket() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let node = node();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(facepay_api::serve(listener, node.switch.clone(), async move {
        let _ = stopped.await;
    }));
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .write_all(
            b"GET /v1/consent HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-request-id: abc-123\r\n\r\n",
        )
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("x-request-id: abc-123"), "{response}");
    assert!(response.contains("\"text_version\":\"2026-11\""), "{response}");
    stop.send(()).unwrap();
    runtime.block_on(server).unwrap().unwrap();
}

#[tokio::test]
async fn the_pages_are_served_beside_the_api_under_a_policy_that_keeps_them_on_this_origin() {
    use tower::ServiceExt as _;
    let node = node();
    for (path, content_type) in [
        ("/", "text/html"),
        ("/kiosk", "text/html"),
        ("/enroll", "text/html"),
        ("/console", "text/html"),
        ("/assets/kiosk.js", "text/javascript"),
        ("/assets/style.css", "text/css"),
    ] {
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        let response = node.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
        assert!(header("content-type").starts_with(content_type), "{path}");
        let policy = header("content-security-policy");
        assert!(policy.contains("connect-src 'self'") && policy.contains("default-src 'none'"), "{policy}");
    }
    let (status, body) =
        send(&node.router, Request::builder().uri("/assets/secrets.txt").body(Body::empty()).unwrap()).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "route_unknown"));
}

/// Found by the outside suite: the framework's own refusals (a path that is not UTF-8) came as
/// plain text. Every refusal has the one JSON shape, with a code.
#[tokio::test]
async fn refusals_made_before_a_handler_runs_are_json_too() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    for path in ["/v1/merchant/payments/%FF", "/v1/merchant/terminals/%C3%28", "/v1/disputes/%80"] {
        let (status, body) = send(&node.router, with_key("GET", path, &merchant_key, None)).await;
        assert!(status.is_client_error(), "{path}: {status}");
        assert_eq!(code(&body), "request_malformed", "{path}: {body}");
        assert!(body["error"]["request_id"].is_string(), "{path}: {body}");
    }
}

/// A node served on a real socket with `config`: its address, and what stops it.
fn served(
    runtime: &tokio::runtime::Runtime,
    config: facepay_api::ApiConfig,
) -> (TestNode, std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let node = node_with(config);
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(facepay_api::serve(listener, node.switch.clone(), async move {
        let _ = stopped.await;
    }));
    (node, address, stop)
}

/// What the server sends on `stream` before it closes it or `within` passes.
fn read_until_closed(stream: &mut std::net::TcpStream, within: Duration) -> (String, bool) {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let closed = match stream.read_to_end(&mut got) {
        Ok(_) => true,
        Err(err) => !matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    };
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

#[test]
#[allow(clippy::disallowed_methods)] // a slow client is wall time: it trickles bytes, and is timed
fn a_slow_loris_is_cut_off_in_the_head_and_in_the_body() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = facepay_api::ApiConfig {
        header_read_timeout: Duration::from_millis(400),
        request_timeout: Duration::from_millis(600),
        ..config()
    };
    let (_node, address, _stop) = served(&runtime, config);
    // The head, a byte at a time and never finished: closed once the head's time is up.
    let mut head = std::net::TcpStream::connect(address).unwrap();
    let started = std::time::Instant::now();
    for byte in b"POST /v1/shoppers HTTP/1.1\r\nhost: x\r\nx-slow: ".iter().chain(b"aaaaaaaaaaaa".iter()) {
        if head.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, closed) = read_until_closed(&mut head, Duration::from_secs(3));
    assert!(closed, "a head still unfinished is not served forever");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());

    // A whole head, then a body that never arrives: answered 408 once the request's time is up.
    let mut body = std::net::TcpStream::connect(address).unwrap();
    body.write_all(b"POST /v1/shoppers HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"na")
        .unwrap();
    let (answer, _) = read_until_closed(&mut body, Duration::from_secs(3));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[test]
fn connections_beyond_the_cap_wait_until_one_closes() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = facepay_api::ApiConfig { max_connections: 2, ..config() };
    let (_node, address, _stop) = served(&runtime, config);
    // Taken from the backlog in the order they came: these two first.
    let held: Vec<_> = (0..2).map(|_| std::net::TcpStream::connect(address).unwrap()).collect();
    let mut third = std::net::TcpStream::connect(address).unwrap();
    third.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let (answer, _) = read_until_closed(&mut third, Duration::from_millis(500));
    assert_eq!(answer, "", "the third waits while two are open");
    drop(held);
    let (answer, closed) = read_until_closed(&mut third, Duration::from_secs(3));
    assert!(answer.starts_with("HTTP/1.1 200") && closed, "{answer}");
}

/// Found by the fuzzer: a timestamp written with a leading zero (or a sign) parsed to the number
/// that was signed, so a request whose header differed from the signed one was accepted. A
/// timestamp has one spelling now.
#[tokio::test]
async fn a_timestamp_written_another_way_is_not_the_signed_one() {
    let node = node();
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    let (path, body) = ("/v1/terminal/heartbeat", json!({}));
    for respelled in ["0", "+"] {
        let mut headers = terminal.headers("POST", path, body.to_string().as_bytes(), facepay_api::now_ms());
        let timestamp = headers.iter_mut().find(|(name, _)| *name == "x-facepay-timestamp").unwrap();
        timestamp.1 = format!("{respelled}{}", timestamp.1);
        let (status, refused) = send(&node.router, request_with(headers, path, &body)).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::UNAUTHORIZED, "signature_malformed"),
            "{respelled}"
        );
    }
}
