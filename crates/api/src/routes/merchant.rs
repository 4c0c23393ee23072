//! The merchant's routes (its API key, or its acquirer's acting for it): register terminals and
//! hand out their one-time activation codes, replace, suspend or revoke them, and read and
//! refund its own payments. Another merchant's terminal or payment answers 404, as if it did not
//! exist. The operator may suspend and revoke any terminal through the same routes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use facepay_domain::{MerchantId, PaymentId, TerminalId};
use facepay_payments::{Command, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{hex, parse_terminal_id, random_bytes, random_u128, sha256};
use crate::caller::{ApiCaller, MerchantCaller};
use crate::error::{ApiError, ErrorBody};
use crate::routes::terminal::{RefundRequest, payment_reply, refund_command};
use crate::switch::{PaymentOwner, Switch, now_ms};
use crate::wire::{self, PaymentOut};

async fn own_terminal(switch: &Arc<Switch>, merchant: MerchantId, id: &str) -> Result<TerminalId, ApiError> {
    terminal_of(switch, Some(merchant), id).await
}

/// The terminal `id` if it exists and, when `merchant` is given, is that merchant's.
async fn terminal_of(
    switch: &Arc<Switch>,
    merchant: Option<MerchantId>,
    id: &str,
) -> Result<TerminalId, ApiError> {
    let terminal = parse_terminal_id(id)
        .ok_or_else(|| ApiError::bad_request("id_malformed", "a terminal id reads trm_<32 hex digits>"))?;
    match switch.read_fresh(move |core| core.terminal_merchant(terminal)).await? {
        Some(owner) if merchant.is_none_or(|merchant| owner == merchant) => Ok(terminal),
        _ => Err(ApiError::not_found("terminal_unknown", "no such terminal of this merchant")),
    }
}

/// A terminal its merchant, or the operator, may suspend or revoke.
async fn managed_terminal(switch: &Arc<Switch>, role: Role, id: &str) -> Result<TerminalId, ApiError> {
    match role {
        Role::Merchant(merchant) => terminal_of(switch, Some(merchant), id).await,
        Role::Operator => terminal_of(switch, None, id).await,
        _ => Err(ApiError::forbidden("this route is for the terminal's merchant or the operator")),
    }
}

/// The payment, if it is this merchant's (another's is reported as not found), and whose it is.
async fn own_payment(
    switch: &Arc<Switch>,
    merchant: MerchantId,
    id: &str,
) -> Result<(PaymentId, PaymentOwner), ApiError> {
    let payment = wire::payment_id(id)?;
    match switch.payment_owner(payment).await? {
        Some(owner) if owner.merchant == merchant => Ok((payment, owner)),
        _ => Err(ApiError::not_found("payment_unknown", "no such payment of this merchant")),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActivationCode {
    pub terminal_id: String,
    /// Shown once; the terminal activates with it before `expires_at_ms`.
    pub activation_code: String,
    pub expires_at_ms: i64,
}

async fn new_code(switch: &Arc<Switch>, terminal: TerminalId) -> Result<ActivationCode, ApiError> {
    let code = hex(&random_bytes::<16>());
    let expires_at_ms = now_ms() + switch.config.activation_code_ttl_ms;
    let expires_at = facepay_domain::Timestamp::from_unix_ms(expires_at_ms);
    switch
        .execute(Command::IssueActivationCode { terminal, code_hash: sha256(code.as_bytes()), expires_at })
        .await?;
    Ok(ActivationCode { terminal_id: terminal.to_string(), activation_code: code, expires_at_ms })
}

#[utoipa::path(post, path = "/v1/merchant/terminals", tag = "merchant", security(("api_key" = [])),
    responses((status = 200, body = ActivationCode), (status = "4XX", body = ErrorBody)))]
pub async fn register_terminal(
    State(switch): State<Arc<Switch>>,
    MerchantCaller(merchant): MerchantCaller,
) -> Result<Json<ActivationCode>, ApiError> {
    let terminal = TerminalId::from_u128(random_u128());
    switch.execute(Command::RegisterTerminal { terminal, merchant }).await?;
    Ok(Json(new_code(&switch, terminal).await?))
}

#[utoipa::path(post, path = "/v1/merchant/terminals/{terminal_id}/activation-code", tag = "merchant",
    security(("api_key" = [])), params(("terminal_id" = String, Path)),
    responses((status = 200, body = ActivationCode), (status = "4XX", body = ErrorBody)))]
/// A new code for replacing the terminal's hardware: its old key stops working once the new
/// device activates.
pub async fn replace_terminal(
    State(switch): State<Arc<Switch>>,
    MerchantCaller(merchant): MerchantCaller,
    Path(id): Path<String>,
) -> Result<Json<ActivationCode>, ApiError> {
    let terminal = own_terminal(&switch, merchant, &id).await?;
    Ok(Json(new_code(&switch, terminal).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Suspension {
    pub suspended: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TerminalOut {
    pub terminal_id: String,
    pub suspended: bool,
    pub revoked: bool,
    pub activated: bool,
    /// When this node last heard from it, unix ms; none since this node started.
    pub last_heard_ms: Option<i64>,
    /// Silent for longer than the switch allows.
    pub stale: bool,
}

#[utoipa::path(put, path = "/v1/merchant/terminals/{terminal_id}/suspension", tag = "merchant",
    security(("api_key" = [])), params(("terminal_id" = String, Path)), request_body = Suspension,
    responses((status = 200, body = TerminalOut), (status = "4XX", body = ErrorBody)))]
pub async fn suspend_terminal(
    State(switch): State<Arc<Switch>>,
    ApiCaller(role): ApiCaller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TerminalOut>, ApiError> {
    let terminal = managed_terminal(&switch, role, &id).await?;
    let input: Suspension = wire::json(&wire::body(body)?)?;
    switch.execute(Command::SuspendTerminal { terminal, suspended: input.suspended }).await?;
    Ok(Json(terminal_out(&switch, terminal)))
}

#[utoipa::path(delete, path = "/v1/merchant/terminals/{terminal_id}", tag = "merchant",
    security(("api_key" = [])), params(("terminal_id" = String, Path)),
    responses((status = 200, body = TerminalOut), (status = "4XX", body = ErrorBody)))]
pub async fn revoke_terminal(
    State(switch): State<Arc<Switch>>,
    ApiCaller(role): ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<TerminalOut>, ApiError> {
    let terminal = managed_terminal(&switch, role, &id).await?;
    switch.execute(Command::RevokeTerminal { terminal }).await?;
    Ok(Json(terminal_out(&switch, terminal)))
}

#[utoipa::path(get, path = "/v1/merchant/terminals/{terminal_id}", tag = "merchant",
    security(("api_key" = [])), params(("terminal_id" = String, Path)),
    responses((status = 200, body = TerminalOut), (status = "4XX", body = ErrorBody)))]
pub async fn terminal(
    State(switch): State<Arc<Switch>>,
    MerchantCaller(merchant): MerchantCaller,
    Path(id): Path<String>,
) -> Result<Json<TerminalOut>, ApiError> {
    let terminal = own_terminal(&switch, merchant, &id).await?;
    Ok(Json(terminal_out(&switch, terminal)))
}

pub(crate) fn terminal_out(switch: &Switch, terminal: TerminalId) -> TerminalOut {
    let (credentials, suspended) = switch.read(|core| {
        (core.terminal_credentials(terminal).cloned().unwrap_or_default(), core.terminal_suspended(terminal))
    });
    let last_heard_ms = switch.last_heard(terminal);
    TerminalOut {
        terminal_id: terminal.to_string(),
        suspended: suspended.unwrap_or(false),
        revoked: credentials.revoked,
        activated: credentials.public_key.is_some(),
        last_heard_ms,
        stale: last_heard_ms.is_none_or(|heard| now_ms() - heard > switch.config.heartbeat_stale_ms),
    }
}

#[utoipa::path(get, path = "/v1/merchant/payments/{payment_id}", tag = "merchant",
    security(("api_key" = [])), params(("payment_id" = String, Path)),
    responses((status = 200, body = PaymentOut), (status = "4XX", body = ErrorBody)))]
pub async fn payment(
    State(switch): State<Arc<Switch>>,
    MerchantCaller(merchant): MerchantCaller,
    Path(id): Path<String>,
) -> Result<Json<PaymentOut>, ApiError> {
    let (payment, _) = own_payment(&switch, merchant, &id).await?;
    let out = switch.payment_out(payment).await?;
    out.map(Json).ok_or_else(|| ApiError::not_found("payment_unknown", "no such payment of this merchant"))
}

#[utoipa::path(post, path = "/v1/merchant/payments/{payment_id}/refunds", tag = "merchant",
    security(("api_key" = [])), params(("payment_id" = String, Path)), request_body = RefundRequest,
    responses((status = 200, body = PaymentOut), (status = "4XX", body = ErrorBody)))]
pub async fn refund(
    State(switch): State<Arc<Switch>>,
    MerchantCaller(merchant): MerchantCaller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PaymentOut>, ApiError> {
    let (payment, owner) = own_payment(&switch, merchant, &id).await?;
    owner.commandable(payment)?;
    let input: RefundRequest = wire::json(&wire::body(body)?)?;
    let view = payment_reply(switch.execute(refund_command(payment, input)?).await?)?;
    Ok(Json(switch.named(switch.read(|core| PaymentOut::of_view(&view, core))).await?))
}
