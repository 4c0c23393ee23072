//! The router: every route under `/v1` (and the node's own), the body limit, and the one
//! middleware every request passes through: it gives the request an id (`x-request-id`, the
//! caller's if well-formed), turns every error (a route's, an unknown route, a wrong method) into
//! the one JSON error shape carrying that id, counts the request for `/metrics` by route
//! template, says in `server-timing` how long this node took, and writes one structured log line: method, route, status, code, milliseconds and
//! the request id; never a body, a header value or an id of a person. It also takes the open
//! routes' rate per client address before anything is read, and writes the audit entry of a
//! sensitive request under the identity its handler's caller extractor proved (`caller`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::auth::{hex, random_bytes};
use crate::caller::{self, VerifiedSlot};
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::routes::{
    audit, console, disputes, gates, issuer, limits, merchant, operator, settlement, shopper, system,
    terminal, transit,
};
use crate::switch::Switch;

pub fn router(switch: Arc<Switch>) -> Router {
    let body_limit = switch.config.max_body_bytes;
    Router::new()
        .route("/health", get(system::health))
        .route("/ready", get(system::ready))
        .route("/metrics", get(system::metrics))
        .route("/openapi.json", get(system::openapi))
        .route("/v1/terminal/activation", post(terminal::activate))
        .route("/v1/terminal/heartbeat", post(terminal::heartbeat))
        .route("/v1/terminal/challenge", post(terminal::challenge))
        .route("/v1/terminal/payments", post(terminal::pay))
        .route("/v1/terminal/payments/{payment_id}", get(terminal::status))
        .route("/v1/terminal/payments/{payment_id}/phone-digits", post(terminal::phone_digits))
        .route("/v1/terminal/payments/{payment_id}/pin", post(terminal::pin))
        .route("/v1/terminal/payments/{payment_id}/confirm", post(terminal::confirm))
        .route("/v1/terminal/payments/{payment_id}/void", post(terminal::void))
        .route("/v1/terminal/payments/{payment_id}/refunds", post(terminal::refund))
        .route("/v1/gate/setup", get(gates::setup))
        .route("/v1/gate/decisions", post(gates::decide_passage))
        .route("/v1/gate/passages", post(gates::report_passages))
        .route("/v1/gate/offline-pack", get(gates::offline_pack))
        .route("/v1/operator/transit/scheme", put(transit::set_scheme))
        .route("/v1/operator/transit/gates/{terminal_id}", put(transit::place_gate))
        .route("/v1/operator/transit/deny-list", get(transit::deny_list))
        .route("/v1/operator/transit/riders/{shopper_id}", get(transit::rider_trips))
        .route("/v1/shopper/transit", get(transit::my_trips))
        .route("/v1/shopper/transit/claims", post(transit::claim))
        .route("/v1/shopper/transit/pass", post(transit::travel_pass))
        .route("/v1/merchant/terminals", post(merchant::register_terminal))
        .route(
            "/v1/merchant/terminals/{terminal_id}",
            get(merchant::terminal).delete(merchant::revoke_terminal),
        )
        .route("/v1/merchant/terminals/{terminal_id}/activation-code", post(merchant::replace_terminal))
        .route("/v1/merchant/terminals/{terminal_id}/suspension", put(merchant::suspend_terminal))
        .route("/v1/merchant/payments/{payment_id}", get(merchant::payment))
        .route("/v1/merchant/payments/{payment_id}/refunds", post(merchant::refund))
        .route("/v1/operator/merchants", get(console::merchants).post(operator::create_merchant))
        .route("/v1/operator/dashboard", get(console::dashboard))
        .route("/v1/operator/disputes", get(console::disputes))
        .route("/v1/operator/merchants/{merchant_id}/status", put(operator::set_merchant_status))
        .route("/v1/operator/merchants/{merchant_id}/risk", put(limits::rate_merchant))
        .route("/v1/operator/shoppers/{shopper_id}/tier", put(limits::rate_shopper))
        .route("/v1/operator/limits", get(limits::read_policy).put(limits::set_policy))
        .route("/v1/operator/audit", get(audit::search))
        .route("/v1/operator/emergency-switch", put(operator::emergency_switch))
        .route("/v1/operator/terminals/{terminal_id}/device-templates", put(operator::device_templates))
        .route("/v1/operator/top-ups", post(operator::top_up))
        .route("/v1/operator/issuers", post(operator::register_issuer))
        .route("/v1/operator/risk-events", get(operator::list_risk_events))
        .route("/v1/operator/risk-events/ack", post(operator::acknowledge_risk_events))
        .route("/v1/operator/settlement", get(operator::settlement))
        .route("/v1/operator/settlement/days/{day}", get(settlement::day))
        .route("/v1/operator/settlement/days/{day}/files/{party}", get(settlement::operator_file))
        .route("/v1/issuer/settlement/days/{day}", get(settlement::issuer_file))
        .route("/v1/issuer/accounts", get(issuer::accounts))
        .route("/v1/issuer/messages", get(issuer::messages))
        .route("/v1/issuer/messages/ack", post(issuer::acknowledge))
        .route("/v1/issuer/payments/{payment_id}/answer", post(issuer::answer))
        .route("/v1/issuer/verifications/{verification_id}/answer", post(issuer::verify))
        .route("/v1/issuer/settlement", get(issuer::settlement))
        .route("/v1/shopper/bank-accounts", post(shopper::bind_bank_account))
        .route("/v1/shopper/default-funding", put(shopper::choose_default))
        .route("/v1/shopper/funding/unbind", post(shopper::unbind))
        .route("/v1/shopper/limit", put(shopper::set_limit))
        .route("/v1/shopper/disputes", post(disputes::open))
        .route("/v1/disputes/{dispute_id}", get(disputes::read))
        .route("/v1/disputes/{dispute_id}/evidence", post(disputes::add_evidence))
        .route("/v1/operator/disputes/{dispute_id}/resolution", post(disputes::resolve))
        .route("/v1/operator/disputes/{dispute_id}/charge-back", post(disputes::charge_back))
        .route("/v1/operator/reserve", post(disputes::fund_reserve))
        .route("/v1/consent", get(shopper::consent))
        .route("/v1/shoppers", post(shopper::sign_up))
        .route("/v1/shopper", get(shopper::me).delete(shopper::delete_everything))
        .route("/v1/shopper/face", put(shopper::enroll_face))
        .route("/v1/shopper/pin", put(shopper::set_pin))
        .route("/v1/shopper/paused", put(shopper::pause))
        .route("/v1/shopper/payment-code", post(shopper::payment_code))
        .merge(crate::pages::routes())
        .fallback(|| async { ApiError::not_found("route_unknown", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(switch.clone(), every_request))
        .with_state(switch)
}

const REQUEST_ID: &str = "x-request-id";

async fn every_request(State(switch): State<Arc<Switch>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map_or_else(|| hex(&random_bytes::<12>()), str::to_owned);
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let address = caller::client_address(&request);
    let mut audit = audit::audited(request.method(), &route)
        .map(|action| (action, audit::request_text(request.method(), request.uri())));
    let verified = VerifiedSlot::default();
    request.extensions_mut().insert(verified.clone());
    // A stopping node answers what is under way and refuses what is new, so a caller hears a
    // clear 503 (and retries elsewhere) instead of a connection cut when the listener closes.
    let mut response = if switch.is_stopping() && route != "/health" {
        audit = None;
        ApiError::unavailable("node_stopping", "this node is stopping; send the request to another")
            .into_response()
    } else if let Err(limited) = open_route_rate(&switch, &method, &route, address) {
        limited.into_response()
    } else {
        match tokio::time::timeout(switch.config.request_timeout, next.run(request)).await {
            Ok(response) => response,
            // The body still trickling in, or the work stuck: the caller hears it, and a
            // payment retried under its idempotency key is answered, never charged twice.
            Err(_) => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request was not answered in time; retry it",
            )
            .into_response(),
        }
    };
    let error = response.extensions_mut().remove::<ApiError>().or_else(|| framework_error(&response));
    if let Some(error) = &error {
        let body = ErrorBody {
            error: ErrorDetail {
                code: error.code.to_owned(),
                message: error.message.clone(),
                request_id: request_id.clone(),
            },
        };
        response = (error.status, axum::Json(body)).into_response();
        if matches!(error.status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
            // A refusal for load, not for the request: the same request may be sent again.
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
    }
    let status = response.status().as_u16();
    match (audit, verified.proven()) {
        (Some((action, request)), Some(actor)) => {
            audit::record(&switch, action, actor, request, status).await
        }
        // Nobody proven: anyone can send this without limit, so it is counted, never journaled.
        (_, None) if status >= 400 => switch.metrics.observe_unauthenticated_refusal(&route),
        _ => {}
    }
    let seconds = started.elapsed().as_secs_f64();
    switch.metrics.observe_request(&method, &route, status, seconds);
    if switch.config.access_log {
        log_line(&request_id, &method, &route, status, error.as_ref().map(|e| e.code), seconds);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    // The time this node spent, for clients and benchmarks to tell it from the network's.
    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={:.3}", seconds * 1000.0)) {
        response.headers_mut().insert("server-timing", value);
    }
    response
}

/// The routes anyone may call without a credential (sign-up, activation), each write to the
/// journal: a token per client address is taken before the body is read, so one address's
/// flood is refused at the door and leaves everyone else's bucket alone.
fn open_route_rate(
    switch: &Switch,
    method: &str,
    route: &str,
    address: Option<SocketAddr>,
) -> Result<(), ApiError> {
    if !matches!((method, route), ("POST", "/v1/shoppers" | "/v1/terminal/activation")) {
        return Ok(());
    }
    let bucket = address.map_or_else(|| "address unknown".to_owned(), |a| format!("address {}", a.ip()));
    switch.open_rate.take(&bucket, crate::switch::now_ms())
}

/// An error the framework answered before a handler ran (a path that is not UTF-8, a body of
/// the wrong type): in plain text, unless it goes through the one error shape like the rest.
fn framework_error(response: &Response) -> Option<ApiError> {
    let status = response.status();
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|kind| kind.as_bytes().starts_with(b"application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("route_unknown", "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this route does not take that method"),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "the body is larger than this route takes"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("content_type_unsupported", "send application/json"),
        status if status.is_server_error() => ("internal", "the node could not answer"),
        _ => ("request_malformed", "the request's path, query or body cannot be read"),
    };
    Some(ApiError::new(status, code, message))
}

/// One JSON line per request on stderr, where a service's logs are collected.
#[allow(clippy::print_stderr)]
fn log_line(request_id: &str, method: &str, route: &str, status: u16, code: Option<&str>, seconds: f64) {
    let line = serde_json::json!({
        "ts_ms": crate::switch::now_ms(),
        "request_id": request_id,
        "method": method,
        "route": route,
        "status": status,
        "code": code,
        "ms": (seconds * 1000.0 * 100.0).round() / 100.0,
    });
    eprintln!("{line}");
}

/// A JSON line on stderr for something an operator must look at that no response shows.
#[allow(clippy::print_stderr)]
pub(crate) fn log_problem(problem: &str, code: &str) {
    let line = serde_json::json!({"ts_ms": crate::switch::now_ms(), "problem": problem, "code": code});
    eprintln!("{line}");
}
