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
mod gate;
mod metrics;
mod openapi;
mod pages;
mod personal;
mod ports;
mod probes;
mod rate;
mod router;
mod routes;
mod server;
mod switch;
mod travel_pass;
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
pub use switch::{ApiConfig, Node, Running, Switch, now_ms};
pub use travel_pass::{PASS_VALID_MS, PassRefused, SHOWN_WITHIN_MS, show as show_travel_pass};
pub use wire::PaymentOut;

/// Serves the switch's router on `listener` until `shutdown` completes, then lets the requests
/// under way finish. Bounded as `ApiConfig` says: at most `max_connections` at once (the rest
/// wait in the backlog), a request head within `header_read_timeout` (a slow-loris trickle is
/// cut), and each request answered within `request_timeout` (the router's middleware).
pub async fn serve(
    listener: tokio::net::TcpListener,
    switch: std::sync::Arc<Switch>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let (max_connections, header_read_timeout) =
        (switch.config.max_connections.max(1), switch.config.header_read_timeout);
    let router = router(switch);
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(max_connections));
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A connection reset before it was taken, or no descriptor left for now.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The peer's address reaches the router: the open routes' rate is taken per address.
        let service =
            router.clone().map_request(move |request: axum::http::Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
        let connection = http
            .serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service));
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}
