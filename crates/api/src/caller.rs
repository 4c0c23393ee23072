//! Who is calling, as proven. A handler names the caller it serves as an argument
//! (`SignedTerminal`, `Operator`, `MerchantCaller`, `IssuerCaller`, `ShopperCaller`, or
//! `ApiCaller` for any key holder) and axum runs the check before the handler: a route cannot
//! forget to verify a signature or a key and still compile with a caller in hand.
//!
//! Each extractor also writes the identity it verified into the request's `VerifiedSlot`, which
//! the router's middleware reads after the handler: the audit log names only proven callers
//! (never a header anyone can type), and a failure with nobody proven is counted, not journaled.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use facepay_domain::{MerchantId, ShopperId, TerminalId};
use facepay_payments::{IssuerId, Role};

use crate::error::ApiError;
use crate::switch::Switch;
use crate::wire;

/// The identity a request proved, if any: an API key's id or a terminal's id. Put into every
/// request by the middleware; also an extractor, for the open routes that prove someone by
/// what they did (an activation proves the terminal, a sign-up makes the shopper).
#[derive(Debug, Clone, Default)]
pub struct VerifiedSlot(Arc<Mutex<Option<String>>>);

impl VerifiedSlot {
    pub fn prove(&self, who: impl ToString) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(who.to_string());
    }

    pub fn proven(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn of(parts: &Parts) -> VerifiedSlot {
        parts.extensions.get::<VerifiedSlot>().cloned().unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedSlot {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(VerifiedSlot::of(parts))
    }
}

/// The peer's address as the listener saw it; `None` when the request did not come through a
/// socket (tests that call the router directly).
pub fn client_address(request: &Request) -> Option<SocketAddr> {
    request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(address)| *address)
}

/// Any valid, unrevoked API key, and its role; rate-limited per key.
pub struct ApiCaller(pub Role);

impl FromRequestParts<Arc<Switch>> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, switch: &Arc<Switch>) -> Result<Self, ApiError> {
        let (key, role) = switch.api_caller(&parts.headers).await?;
        VerifiedSlot::of(parts).prove(key);
        Ok(ApiCaller(role))
    }
}

/// Declares an extractor for the holder of one role's key; another role is refused 403.
macro_rules! role_caller {
    ($(#[$doc:meta])* $name:ident, $pattern:pat => $value:expr, $refusal:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl FromRequestParts<Arc<Switch>> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, switch: &Arc<Switch>) -> Result<Self, ApiError> {
                match ApiCaller::from_request_parts(parts, switch).await?.0 {
                    $pattern => Ok($value),
                    _ => Err(ApiError::forbidden($refusal)),
                }
            }
        }
    };
    ($(#[$doc:meta])* $name:ident($inner:ty), $pattern:pat => $value:expr, $refusal:literal) => {
        $(#[$doc])*
        pub struct $name(pub $inner);

        impl FromRequestParts<Arc<Switch>> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, switch: &Arc<Switch>) -> Result<Self, ApiError> {
                match ApiCaller::from_request_parts(parts, switch).await?.0 {
                    $pattern => Ok($name($value)),
                    _ => Err(ApiError::forbidden($refusal)),
                }
            }
        }
    };
}

role_caller!(
    /// The operator's key.
    Operator,
    Role::Operator => Operator,
    "this route is for the operator"
);
role_caller!(
    /// A merchant's key, and the merchant.
    MerchantCaller(MerchantId),
    Role::Merchant(merchant) => merchant,
    "this route is for merchants"
);
role_caller!(
    /// A bank's key, and the bank.
    IssuerCaller(IssuerId),
    Role::Issuer(issuer) => issuer,
    "this route is for banks"
);
role_caller!(
    /// The shopper app's key, and the shopper.
    ShopperCaller(ShopperId),
    Role::Shopper(shopper) => shopper,
    "this route is for the shopper app"
);

/// A request an activated terminal signed: who, and the body the signature covers. The
/// body is read (within the route's size limit) before the check, since the signature covers it;
/// it is parsed only after.
pub struct SignedTerminal {
    pub terminal: TerminalId,
    pub body: Bytes,
}

impl FromRequest<Arc<Switch>> for SignedTerminal {
    type Rejection = ApiError;

    async fn from_request(request: Request, switch: &Arc<Switch>) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let body = wire::body(Bytes::from_request(Request::from_parts(parts.clone(), body), switch).await)?;
        let terminal = switch.terminal_caller(&parts.method, &parts.uri, &parts.headers, &body).await?;
        VerifiedSlot::of(&parts).prove(terminal);
        Ok(SignedTerminal { terminal, body })
    }
}
