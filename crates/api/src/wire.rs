//! What travels on the wire and the checks every body goes through before anything runs: the
//! size limit, strict JSON (unknown fields refused; a parse error names the place, never the
//! value, which could be a PIN), bounded text, base64 frames, and typed ids in their printed
//! form (`pay_<32 hex>`). The payment as a caller sees it is here too: state, reason, amounts
//! and a masked name, never a template, an image or an account.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use facepay_domain::{Money, PaymentId, ShopperId};
use facepay_payments::{PaymentCore, PaymentRow, PaymentState, PaymentView, SecretHash};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{parse_prefixed, sha256};
use crate::error::ApiError;
use crate::personal::Unnamed;

/// The body, or 413 when it is over the limit.
pub fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is over the size limit",
            )
        } else {
            ApiError::bad_request("body_unreadable", "the request body could not be read")
        }
    })
}

/// Strict JSON: the error says where, never what (the value may be a secret).
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|err| {
        let what = match err.classify() {
            serde_json::error::Category::Data => "a field is missing, unknown or of the wrong type",
            _ => "the body is not JSON",
        };
        ApiError::bad_request(
            "body_malformed",
            format!("{what} (line {}, column {})", err.line(), err.column()),
        )
    })
}

/// 1 to `max` printable ASCII characters (idempotency keys, order ids, refund ids).
pub fn token(field: &'static str, value: &str, max: usize) -> Result<(), ApiError> {
    let ok = !value.is_empty() && value.len() <= max && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "field_malformed",
            format!("{field} is 1 to {max} printable ASCII characters"),
        ))
    }
}

/// Decodes base64 frames within the count and size limits.
pub fn frames(encoded: &[String], max_frames: usize, max_bytes: usize) -> Result<Vec<Vec<u8>>, ApiError> {
    if encoded.is_empty() {
        return Err(ApiError::bad_request("captures_missing", "send at least one capture"));
    }
    if encoded.len() > max_frames {
        return Err(ApiError::bad_request(
            "captures_too_many",
            format!("at most {max_frames} captures per request"),
        ));
    }
    encoded
        .iter()
        .map(|text| {
            // base64 is 4/3 of the bytes: refuse before decoding what is surely too big.
            if text.len() / 4 * 3 > max_bytes + 3 {
                return Err(frame_too_large(max_bytes));
            }
            let bytes = BASE64.decode(text).map_err(|_| {
                ApiError::bad_request("capture_malformed", "a capture is a base64-encoded image")
            })?;
            if bytes.len() > max_bytes { Err(frame_too_large(max_bytes)) } else { Ok(bytes) }
        })
        .collect()
}

fn frame_too_large(max_bytes: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "capture_too_large",
        format!("a capture is at most {max_bytes} bytes"),
    )
}

/// The hash the core keeps of a payment code, which is 18 ASCII digits.
pub fn payment_code_hash(code: &str) -> Result<SecretHash, ApiError> {
    if code.len() == 18 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(sha256(code.as_bytes()))
    } else {
        Err(ApiError::bad_request("payment_code_malformed", "a payment code is 18 digits"))
    }
}

pub fn payment_id(text: &str) -> Result<PaymentId, ApiError> {
    parse_prefixed(text, "pay_")
        .map(PaymentId::from_u128)
        .ok_or_else(|| ApiError::bad_request("id_malformed", "a payment id reads pay_<32 hex digits>"))
}

/// A stable 128-bit id from parts (payment ids from a terminal's idempotency key, refund
/// transfer ids from a merchant's refund id), so a retry names the same thing.
pub fn derived_id(parts: &[&[u8]]) -> u128 {
    let mut joined = Vec::new();
    for part in parts {
        joined.extend_from_slice(&(part.len() as u64).to_le_bytes());
        joined.extend_from_slice(part);
    }
    let hash = sha256(&joined);
    u128::from_le_bytes(hash[..16].try_into().expect("16 bytes"))
}

/// "Alice Smith" becomes "A**** S****": enough for the shopper to recognise, too little for
/// anyone else to learn from. Only this form is ever kept.
pub fn mask_name(name: &str) -> Option<String> {
    let words: Vec<String> = name
        .split_whitespace()
        .map(|word| {
            let mut chars = word.chars();
            let first = chars.next().expect("split_whitespace yields no empty words");
            std::iter::once(first).chain(chars.map(|_| '*')).collect()
        })
        .collect();
    let masked = words.join(" ");
    (!masked.is_empty()).then_some(masked)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
/// A settlement window.
pub struct Window {
    /// Start of the window, unix ms, included.
    pub from_ms: i64,
    /// End of the window, unix ms, excluded.
    pub to_ms: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
/// Which file of a settlement statement.
pub struct FileQuery {
    /// `csv` (one row per movement) or `camt053` (ISO 20022 camt.053.001.02); `csv` if not given.
    pub format: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
/// A search of the audit log.
pub struct AuditQuery {
    /// Only this action: enrollment, identification, deletion, credentials or operator_access.
    pub action: Option<String>,
    /// Only this caller (`key_<hex>` or `trm_<hex>`: the log names proven callers only).
    pub actor: Option<String>,
    /// Only entries after this sequence number (to page on).
    pub after_seq: Option<u64>,
    /// At most this many entries, 1 to 1000 (100 if not given).
    pub limit: Option<usize>,
}

/// A payment as terminals and merchants see it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentOut {
    pub payment_id: String,
    /// The merchant's order reference the terminal sent with it.
    pub order_id: Option<String>,
    /// created, needs_phone_digits, needs_pin, awaiting_issuer, authorized, captured, declined,
    /// voided, reversed or expired.
    pub state: String,
    /// Why it was declined, as a stable code (`no_match`, `liveness_failed`, ...).
    pub decline_reason: Option<String>,
    /// What the terminal shows the shopper about the decline, in words they can act on.
    pub decline_message: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub refunded_minor: i64,
    /// The shopper's masked name once identified, for the terminal to show.
    pub shopper: Option<String>,
}

impl PaymentOut {
    /// A payment as a command's reply left it, with what the core holds of it (a core whose
    /// windows are shorter than a request may have forgotten it already: then the reply alone).
    pub(crate) fn of_view(view: &PaymentView, core: &PaymentCore) -> Unnamed {
        match core.payment_row(view.id) {
            Some(row) => PaymentOut::from_row(&row, core),
            None => PaymentOut::of(view.id, view.state, view.amount, None, None, core),
        }
    }

    /// A payment as the read model keeps it (the core forgets payments past their windows);
    /// the shopper's masked name, while they are enrolled, comes from the core, sealed.
    pub(crate) fn from_row(row: &PaymentRow, core: &PaymentCore) -> Unnamed {
        PaymentOut::of(row.id, row.state, row.amount, row.order_id.clone(), row.shopper, core)
    }

    fn of(
        id: PaymentId,
        state: PaymentState,
        amount: Money,
        order_id: Option<String>,
        shopper: Option<ShopperId>,
        core: &PaymentCore,
    ) -> Unnamed {
        let identified = matches!(
            state,
            PaymentState::NeedsPin
                | PaymentState::AwaitingIssuer
                | PaymentState::Authorized
                | PaymentState::Captured { .. }
        );
        let declined = match state {
            PaymentState::Declined(reason) => Some(reason),
            _ => None,
        };
        let name = shopper.filter(|_| identified).and_then(|s| Some((s, core.masked_name(s)?.clone())));
        let out = PaymentOut {
            payment_id: id.to_string(),
            order_id,
            state: state.name().to_owned(),
            decline_reason: declined.map(|reason| reason.code().to_owned()),
            decline_message: declined.map(|reason| reason.message().to_owned()),
            amount_minor: amount.amount_minor,
            currency: amount.currency.code().to_owned(),
            refunded_minor: match state {
                PaymentState::Captured { refunded_minor } => refunded_minor,
                _ => 0,
            },
            shopper: None,
        };
        Unnamed { out, name }
    }

    /// The decision as the metrics count it.
    pub fn outcome(&self) -> &str {
        self.decline_reason.as_deref().unwrap_or(&self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_masked_to_their_initials() {
        assert_eq!(mask_name("Alice  Smith").as_deref(), Some("A**** S****"));
        assert_eq!(mask_name("Żaneta").as_deref(), Some("Ż*****"));
        assert_eq!(mask_name(" \t "), None);
    }

    #[test]
    fn derived_ids_depend_on_every_part_and_on_where_parts_split() {
        let a = derived_id(&[b"t1", b"key"]);
        assert_eq!(a, derived_id(&[b"t1", b"key"]));
        assert_ne!(a, derived_id(&[b"t1", b"kez"]));
        assert_ne!(a, derived_id(&[b"t1k", b"ey"]));
    }

    #[test]
    fn frames_are_bounded_in_count_and_size() {
        let one = BASE64.encode([1u8; 10]);
        assert_eq!(frames(&[], 2, 10).unwrap_err().code, "captures_missing");
        assert_eq!(
            frames(&[one.clone(), one.clone(), one.clone()], 2, 10).unwrap_err().code,
            "captures_too_many"
        );
        assert_eq!(frames(&[BASE64.encode([1u8; 11])], 2, 10).unwrap_err().code, "capture_too_large");
        assert_eq!(frames(&["***".into()], 2, 10).unwrap_err().code, "capture_malformed");
        assert_eq!(frames(&[one], 2, 10).unwrap(), vec![vec![1u8; 10]]);
    }

    #[test]
    fn parse_errors_name_the_place_not_the_value() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Pin {
            pin: String,
        }
        let err = json::<Pin>(br#"{"pin": 271828}"#).unwrap_err();
        assert_eq!(err.code, "body_malformed");
        assert!(!err.message.contains("271828"), "{}", err.message);
    }
}
