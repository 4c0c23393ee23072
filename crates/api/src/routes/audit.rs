//! The audit log from the API's side: which requests are sensitive (`audited`, called by the
//! router's middleware for every request), who made them, and the operator's route to read the
//! chain with each entry's hash and the hash before it, so that anyone can check an entry, and
//! an auditor who kept an earlier head can check that nothing before it changed.
//!
//! Only a caller who proved who they are is recorded, under that name (an API key's id, a
//! terminal's id): a request whose credentials failed, or that presented none and was refused,
//! could come from anyone without limit; the journal is no place for that flood, and metrics
//! count it. The request is written escaped, so any path, whatever its bytes, is recorded.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{Method, Uri};
use facepay_payments::{AUDIT_REQUEST_MAX, AuditAction, AuditEvent, AuditFilter, Command};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::hex;
use crate::caller::Operator;
use crate::error::{ApiError, ErrorBody};
use crate::switch::Switch;
use crate::wire;

/// What a request to `route` (the matched template) with `method` is, if it is sensitive.
pub fn audited(method: &Method, route: &str) -> Option<AuditAction> {
    let action = match (method.as_str(), route) {
        (_, route) if route.starts_with("/v1/operator/") => AuditAction::OperatorAccess,
        ("PUT", "/v1/shopper/face") => AuditAction::Enrollment,
        ("POST", "/v1/terminal/payments" | "/v1/terminal/payments/{payment_id}/phone-digits") => {
            AuditAction::Identification
        }
        ("DELETE", "/v1/shopper") => AuditAction::Deletion,
        (
            "POST",
            "/v1/shoppers"
            | "/v1/terminal/activation"
            | "/v1/merchant/terminals"
            | "/v1/merchant/terminals/{terminal_id}/activation-code",
        )
        | ("DELETE", "/v1/merchant/terminals/{terminal_id}")
        | ("PUT", "/v1/shopper/pin") => AuditAction::Credentials,
        _ => return None,
    };
    Some(action)
}

/// The request as the log keeps it: the method and the path, every byte that is not printable
/// ASCII (or is `%` itself) written `%XX`, cut to the log's length at a whole escape. The query
/// is left out: it may carry a search term, and the path names what was touched.
pub fn request_text(method: &Method, uri: &Uri) -> String {
    let mut text = format!("{} ", method.as_str());
    for &byte in uri.path().as_bytes() {
        let escaped = if byte.is_ascii_graphic() && byte != b'%' {
            char::from(byte).to_string()
        } else {
            format!("%{byte:02X}")
        };
        if text.len() + escaped.len() > AUDIT_REQUEST_MAX {
            break;
        }
        text.push_str(&escaped);
    }
    text
}

/// Appends a proven caller's request to the log.
pub async fn record(switch: &Arc<Switch>, action: AuditAction, actor: String, request: String, status: u16) {
    let event = AuditEvent { action, actor, request, status };
    if let Err(err) = switch.execute(Command::RecordAudit(event)).await {
        // The request's own effect stands; the missing entry must be seen.
        crate::router::log_problem("audit_unrecorded", err.code);
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryOut {
    pub seq: u64,
    pub at_ms: i64,
    pub action: String,
    pub actor: String,
    pub request: String,
    pub status: u16,
    /// Hex SHA-256 of the entry before (64 zeros for the first), then of this one.
    pub previous_hash: String,
    pub hash: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Entries in the whole log, and the newest one's hash: keep both to check the log later.
    pub length: u64,
    pub head_hash: String,
    pub entries: Vec<AuditEntryOut>,
}

const AUDIT_PAGE_MAX: usize = 1000;

#[utoipa::path(get, path = "/v1/operator/audit", tag = "operator", security(("api_key" = [])),
    params(wire::AuditQuery), responses((status = 200, body = AuditPage), (status = "4XX", body = ErrorBody)))]
pub async fn search(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    query: Result<Query<wire::AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::bad_request("query_malformed", "the query parameters are malformed"))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=AUDIT_PAGE_MAX).contains(&limit) {
        return Err(ApiError::bad_request("limit_out_of_range", format!("limit is 1 to {AUDIT_PAGE_MAX}")));
    }
    let action = match query.action.as_deref() {
        None => None,
        Some(code) => Some(AuditAction::from_code(code).ok_or_else(|| {
            ApiError::bad_request("audit_action_unknown", "action is one of the audited actions' codes")
        })?),
    };
    let filter = AuditFilter { after_seq: query.after_seq.unwrap_or(0), action, actor: query.actor, limit };
    // The entries live in the store; the core knows the length and the head.
    let entries = switch.with_journal(move |journal| journal.audit_entries(&filter)).await?;
    let (length, head) = switch.read(|core| core.audit_head());
    let entries = entries
        .into_iter()
        .map(|entry| AuditEntryOut {
            seq: entry.seq,
            at_ms: entry.at.unix_ms,
            action: entry.event.action.code().to_owned(),
            actor: entry.event.actor,
            request: entry.event.request,
            status: entry.event.status,
            previous_hash: hex(&entry.previous),
            hash: hex(&entry.hash),
        })
        .collect();
    Ok(Json(AuditPage { length, head_hash: hex(&head), entries }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_kept_escaped_and_cut_at_a_whole_escape() {
        let uri: Uri = "/v1/operator/merchants/caf\u{e9}%20x/status?secret=1".parse().unwrap();
        assert_eq!(request_text(&Method::PUT, &uri), "PUT /v1/operator/merchants/caf%C3%A9%2520x/status");
        for pad in 230..260 {
            let uri: Uri = format!("/v1/operator/{}\u{20AC}", "a".repeat(pad)).parse().unwrap();
            let text = request_text(&Method::GET, &uri);
            assert!(text.len() <= AUDIT_REQUEST_MAX, "{pad}");
            assert!(
                !text.ends_with('%') && text.rsplit('%').next().is_some_and(|last| last.len() >= 2),
                "{text}"
            );
            let event = AuditEvent {
                action: AuditAction::OperatorAccess,
                actor: "key_a".into(),
                request: text,
                status: 200,
            };
            assert!(event.is_valid());
        }
    }
}
