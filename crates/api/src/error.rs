//! The one error type every route returns and the one place that maps it to HTTP: a stable
//! machine code, a message a person can act on, and the request id (added by the middleware in
//! `router.rs`, which also gives axum's own rejections, unknown routes and wrong methods this
//! shape). Messages never carry a secret: core and store errors are mapped by code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use facepay_gallery::GalleryError;
use facepay_payments::{CoreError, JournalError};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `signature_invalid`.
    pub code: String,
    pub message: String,
    /// The `x-request-id` of the request, to quote to the operator.
    pub request_id: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// Also what a caller gets for something that exists but is not theirs, so that ids of
    /// other merchants' payments cannot be probed.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> ApiError {
        let status = match &err {
            CoreError::UnknownTerminal(_)
            | CoreError::UnknownMerchant(_)
            | CoreError::UnknownShopper(_)
            | CoreError::UnknownPayment(_)
            | CoreError::UnknownIssuer(_)
            | CoreError::VerificationUnknown(..) => StatusCode::NOT_FOUND,
            CoreError::AlreadyRegistered(_)
            | CoreError::PaymentIdTaken(_)
            | CoreError::RefundIdReused(_)
            | CoreError::Transition(_) => StatusCode::CONFLICT,
            CoreError::Pin(facepay_payments::PinError::Locked { .. }) => StatusCode::LOCKED,
            CoreError::Access(facepay_payments::AccessError::ActivationCodeWrong)
            | CoreError::Access(facepay_payments::AccessError::ActivationCodeExpired) => {
                StatusCode::UNAUTHORIZED
            }
            CoreError::Access(facepay_payments::AccessError::TerminalRevoked)
            | CoreError::NotInStanding(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, err.code(), err.to_string())
    }
}

impl From<JournalError> for ApiError {
    fn from(err: JournalError) -> ApiError {
        // The outcome is unknown to the caller: a retry under the same idempotency key is safe.
        ApiError::unavailable(err.code(), "the store did not answer; retry with the same idempotency key")
    }
}

impl From<GalleryError> for ApiError {
    fn from(err: GalleryError) -> ApiError {
        match err {
            GalleryError::Index(index) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, index.code(), index.to_string())
            }
            GalleryError::FaceTaken => ApiError::new(StatusCode::CONFLICT, err.code(), err.to_string()),
            GalleryError::Contended => ApiError::unavailable(err.code(), err.to_string()),
            other => ApiError::unavailable(other.code(), "the biometric store did not answer; retry"),
        }
    }
}

/// The response carries the parts; the middleware writes the body with the request id.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}
