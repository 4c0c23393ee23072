//! facepay's HTTP API: the routes of every role under `/v1`, signed terminal requests and API
//! keys (`auth`), the limits on every input (`wire`, `rate`), the one error shape and its map to
//! HTTP statuses (`error`), metrics, and the OpenAPI document generated from the routes.
//!
//! Owns: HTTP (axum, hyper), request authentication, the wire types.
//!
//! Must never: return a face image, a template or a full name to anyone (a terminal gets the
//! decision and a masked name); log a body, a key, a PIN or a template; change anything for a
//! request that was refused; see pixels (the `Biometrics` port does) or SQL (the stores do).

// The API is an edge: it reads the wall clock (request times, a signature's clock skew) and the
// operating system's randomness (ids, API keys, activation codes); the core gets both as values.
#![allow(clippy::disallowed_methods)]

mod auth;
mod caller;
mod client;
mod error;
mod metrics;
mod openapi;
mod pages;
mod personal;
mod ports;
mod rate;
mod router;
mod routes;
mod server;
mod switch;
mod wire;

pub use auth::{TerminalSigner, hex, new_api_key, signed_message};
pub use client::{Answer, Client, TimedAnswer};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use openapi::ApiDoc;
pub use ports::{Biometrics, CaptureRefused, Captured, Faces};
pub use rate::Rate;
pub use router::router;
pub use routes::merchant::{ActivationCode, TerminalOut};
pub use routes::operator::{Balance, MerchantCreated};
pub use routes::shopper::{Deleted, Enrolled, SignedUp};
pub use routes::terminal::Activated;
pub use server::{DRAIN, Server, serve_until_stopped};
pub use switch::{ApiConfig, Node, Running, SAFE_OPEN_THRESHOLD, Switch, now_ms};
pub use wire::PaymentOut;

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    switch: std::sync::Arc<Switch>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer's address reaches the router: the open routes' rate is taken per address.
    let service = router(switch).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await
}
