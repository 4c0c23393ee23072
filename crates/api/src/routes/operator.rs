//! The operator's routes: onboard merchants (with their risk level and first API key), suspend
//! or blacklist them, the emergency switch for one terminal, one merchant or everywhere, and
//! top-ups of built-in wallets (standing in for money arriving from a bank).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use facepay_domain::MerchantId;
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{AcquirerId, Command, MerchantRisk, MerchantStatus, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{new_api_key, parse_prefixed, parse_terminal_id, random_u128};
use crate::caller::Operator;
use crate::error::{ApiError, ErrorBody};
use crate::switch::Switch;
use crate::wire;

pub(crate) fn merchant_id(text: &str) -> Result<MerchantId, ApiError> {
    parse_prefixed(text, "mer_")
        .map(MerchantId::from_u128)
        .ok_or_else(|| ApiError::bad_request("id_malformed", "a merchant id reads mer_<32 hex digits>"))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

impl From<RiskLevel> for MerchantRisk {
    fn from(level: RiskLevel) -> MerchantRisk {
        match level {
            RiskLevel::Low => MerchantRisk::Low,
            RiskLevel::Medium => MerchantRisk::Medium,
            RiskLevel::High => MerchantRisk::High,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMerchant {
    pub risk: RiskLevel,
    /// The acquirer that serves the merchant and settles with it.
    #[schema(minimum = 0)]
    pub acquirer: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MerchantCreated {
    pub merchant_id: String,
    /// The merchant's API key, shown once.
    pub api_key: String,
}

#[utoipa::path(post, path = "/v1/operator/merchants", tag = "operator", security(("api_key" = [])),
    request_body = NewMerchant, responses((status = 200, body = MerchantCreated), (status = "4XX", body = ErrorBody)))]
pub async fn create_merchant(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<MerchantCreated>, ApiError> {
    let input: NewMerchant = wire::json(&wire::body(body)?)?;
    let merchant = MerchantId::from_u128(random_u128());
    let risk = MerchantRisk::from(input.risk);
    let (key, api_key, secret_hash) = new_api_key();
    switch
        .execute_each(vec![
            Command::RegisterMerchant {
                merchant,
                acquirer: AcquirerId(input.acquirer),
                risk,
                account: AccountId(random_u128()),
            },
            Command::IssueApiKey { key, secret_hash, role: Role::Merchant(merchant) },
        ])
        .await?;
    Ok(Json(MerchantCreated { merchant_id: merchant.to_string(), api_key }))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Active,
    Suspended,
    Blacklisted,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantStanding {
    pub status: Standing,
}

#[utoipa::path(put, path = "/v1/operator/merchants/{merchant_id}/status", tag = "operator",
    security(("api_key" = [])), params(("merchant_id" = String, Path)), request_body = MerchantStanding,
    responses((status = 200, body = MerchantStanding), (status = "4XX", body = ErrorBody)))]
pub async fn set_merchant_status(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<MerchantStanding>, ApiError> {
    let merchant = merchant_id(&id)?;
    let input: MerchantStanding = wire::json(&wire::body(body)?)?;
    let status = match input.status {
        Standing::Active => MerchantStatus::Active,
        Standing::Suspended => MerchantStatus::Suspended,
        Standing::Blacklisted => MerchantStatus::Blacklisted,
    };
    switch.execute(Command::SetMerchantStatus { merchant, status }).await?;
    Ok(Json(input))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SwitchScope {
    Everywhere,
    Merchant,
    Terminal,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencySwitch {
    pub scope: SwitchScope,
    /// The merchant or terminal id; none for `everywhere`.
    pub id: Option<String>,
    /// True turns face payment off, false back on.
    pub off: bool,
}

#[utoipa::path(put, path = "/v1/operator/emergency-switch", tag = "operator", security(("api_key" = [])),
    request_body = EmergencySwitch, responses((status = 200, body = EmergencySwitch), (status = "4XX", body = ErrorBody)))]
pub async fn emergency_switch(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EmergencySwitch>, ApiError> {
    let input: EmergencySwitch = wire::json(&wire::body(body)?)?;
    let id =
        || input.id.as_deref().ok_or_else(|| ApiError::bad_request("id_missing", "this scope needs an id"));
    let command = match input.scope {
        SwitchScope::Everywhere if input.id.is_some() => {
            return Err(ApiError::bad_request("id_unexpected", "`everywhere` takes no id"));
        }
        SwitchScope::Everywhere => Command::SwitchFacePaymentEverywhere { off: input.off },
        SwitchScope::Merchant => {
            Command::SwitchFacePaymentForMerchant { merchant: merchant_id(id()?)?, off: input.off }
        }
        SwitchScope::Terminal => {
            let terminal = parse_terminal_id(id()?).ok_or_else(|| {
                ApiError::bad_request("id_malformed", "a terminal id reads trm_<32 hex digits>")
            })?;
            Command::SwitchFacePaymentForTerminal { terminal, off: input.off }
        }
    };
    switch.execute(command).await?;
    Ok(Json(input))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUp {
    /// The wallet's account id, as the shopper app shows it.
    #[schema(pattern = "^acc_[0-9a-f]{32}$")]
    pub account: String,
    #[schema(minimum = 1)]
    pub amount_minor: i64,
    /// The caller's id for this top-up: a retry with the same id credits once.
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    pub top_up_id: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Balance {
    pub account: String,
    pub balance_minor: i64,
    pub currency: String,
}

#[utoipa::path(post, path = "/v1/operator/top-ups", tag = "operator", security(("api_key" = [])),
    request_body = TopUp, responses((status = 200, body = Balance), (status = "4XX", body = ErrorBody)))]
pub async fn top_up(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Balance>, ApiError> {
    let input: TopUp = wire::json(&wire::body(body)?)?;
    let account = parse_account(&input.account)?;
    wire::token("top_up_id", &input.top_up_id, crate::routes::terminal::TOKEN_MAX)?;
    let transfer_id = TransferId(wire::derived_id(&[b"top-up", input.top_up_id.as_bytes()]));
    switch.execute(Command::TopUp { account, amount_minor: input.amount_minor, transfer_id }).await?;
    Ok(Json(balance(&switch, account)))
}

pub(crate) fn parse_account(text: &str) -> Result<AccountId, ApiError> {
    parse_prefixed(text, "acc_")
        .map(AccountId)
        .ok_or_else(|| ApiError::bad_request("id_malformed", "an account id reads acc_<32 hex digits>"))
}

pub(crate) fn account_text(account: AccountId) -> String {
    format!("acc_{:032x}", account.0)
}

pub(crate) fn balance(switch: &Switch, account: AccountId) -> Balance {
    let balance_minor = switch.read(|core| {
        core.ledger().account(account).map_or(0, |a| i64::try_from(a.posted_balance()).unwrap_or(i64::MAX))
    });
    Balance {
        account: account_text(account),
        balance_minor,
        currency: switch.config.currency.code().to_owned(),
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIssuer {
    /// The bank's number on this switch (0 is the built-in wallets).
    #[schema(minimum = 1)]
    pub issuer: u32,
    /// Whether the bank approves each account a shopper binds (a zero-amount authorization)
    /// before it pays; false if not given (the bank must answer `verify` messages).
    #[serde(default)]
    pub verifies_accounts: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuerCreated {
    pub issuer: u32,
    /// The bank's API key, shown once.
    pub api_key: String,
}

#[utoipa::path(post, path = "/v1/operator/issuers", tag = "operator", security(("api_key" = [])),
    request_body = NewIssuer, responses((status = 200, body = IssuerCreated), (status = "4XX", body = ErrorBody)))]
pub async fn register_issuer(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IssuerCreated>, ApiError> {
    let input: NewIssuer = wire::json(&wire::body(body)?)?;
    let issuer = facepay_payments::IssuerId(input.issuer);
    let (key, api_key, secret_hash) = new_api_key();
    switch
        .execute_each(vec![
            Command::RegisterIssuer {
                issuer,
                clearing_account: AccountId(random_u128()),
                verifies_accounts: input.verifies_accounts.unwrap_or(false),
            },
            Command::IssueApiKey { key, secret_hash, role: Role::Issuer(issuer) },
        ])
        .await?;
    Ok(Json(IssuerCreated { issuer: input.issuer, api_key }))
}

#[utoipa::path(get, path = "/v1/operator/settlement", tag = "operator", security(("api_key" = [])),
    params(wire::Window),
    responses((status = 200, body = serde_json::Value, description = "every issuer's and acquirer's line and the reserve's"),
        (status = "4XX", body = ErrorBody)))]
pub async fn settlement(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    query: Result<axum::extract::Query<wire::Window>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let report = crate::routes::issuer::report(&switch, &crate::routes::issuer::window(query)?).await?;
    let balances = report.balances();
    let mut body =
        serde_json::to_value(&report).map_err(|_| ApiError::internal("the report does not serialize"))?;
    body["balances"] = serde_json::Value::Bool(balances);
    Ok(Json(body))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RiskEventOut {
    /// Acknowledge it by this id once it is handled; until then it is listed again.
    pub event_id: u64,
    pub payment_id: String,
    pub at_ms: i64,
    /// The rule's stable code (`risk_terminal_velocity`, ...).
    pub rule: String,
    /// `step_up` or `decline`.
    pub verdict: String,
    /// The numbers behind it, in words (counts and amounts, nothing personal).
    pub detail: String,
}

/// Risk events at most per page.
const RISK_PAGE: usize = 500;

async fn risk_events(switch: &Arc<Switch>) -> Result<Vec<RiskEventOut>, ApiError> {
    Ok(switch
        .outbox(facepay_payments::Recipient::Operator, RISK_PAGE)
        .await?
        .into_iter()
        .filter_map(|delivery| match delivery.outbound {
            facepay_payments::Outbound::Risk(event) => Some(RiskEventOut {
                event_id: delivery.id,
                payment_id: event.payment.to_string(),
                at_ms: event.at.ms_since(facepay_domain::Timestamp::from_unix_ms(0)),
                rule: event.rule.code().to_owned(),
                verdict: match event.verdict {
                    facepay_payments::RiskVerdict::Allow => "allow",
                    facepay_payments::RiskVerdict::StepUp => "step_up",
                    facepay_payments::RiskVerdict::Decline => "decline",
                }
                .to_owned(),
                detail: event.detail,
            }),
            facepay_payments::Outbound::Issuer(_) => None,
        })
        .collect())
}

#[utoipa::path(get, path = "/v1/operator/risk-events", tag = "operator", security(("api_key" = [])),
    responses((status = 200, body = Vec<RiskEventOut>), (status = "4XX", body = ErrorBody)))]
pub async fn list_risk_events(
    State(switch): State<Arc<Switch>>,
    _: Operator,
) -> Result<Json<Vec<RiskEventOut>>, ApiError> {
    Ok(Json(risk_events(&switch).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Handled {
    pub event_ids: Vec<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HandledCount {
    pub acknowledged: usize,
}

#[utoipa::path(post, path = "/v1/operator/risk-events/ack", tag = "operator", security(("api_key" = [])),
    request_body = Handled, responses((status = 200, body = HandledCount), (status = "4XX", body = ErrorBody)))]
pub async fn acknowledge_risk_events(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<HandledCount>, ApiError> {
    let input: Handled = wire::json(&wire::body(body)?)?;
    if input.event_ids.len() > RISK_PAGE {
        return Err(ApiError::bad_request("ids_too_many", format!("at most {RISK_PAGE} ids at once")));
    }
    let own: Vec<u64> = risk_events(&switch)
        .await?
        .into_iter()
        .map(|event| event.event_id)
        .filter(|id| input.event_ids.contains(id))
        .collect();
    let acknowledged = own.len();
    switch.mark_delivered(own).await?;
    Ok(Json(HandledCount { acknowledged }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceTemplates {
    /// Whether the terminal may pay with templates it makes on the device (with its own
    /// liveness score) instead of sending the captures.
    pub allowed: bool,
}

#[utoipa::path(put, path = "/v1/operator/terminals/{terminal_id}/device-templates", tag = "operator",
    security(("api_key" = [])), params(("terminal_id" = String, Path)), request_body = DeviceTemplates,
    responses((status = 200, body = DeviceTemplates), (status = "4XX", body = ErrorBody)))]
/// Grants (or withdraws) one terminal the right to send device templates; none has it by default.
pub async fn device_templates(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DeviceTemplates>, ApiError> {
    let terminal = parse_terminal_id(&id)
        .ok_or_else(|| ApiError::bad_request("id_malformed", "a terminal id reads trm_<32 hex digits>"))?;
    let input: DeviceTemplates = wire::json(&wire::body(body)?)?;
    if switch.read_fresh(move |core| core.terminal_merchant(terminal)).await?.is_none() {
        return Err(ApiError::not_found("terminal_unknown", "no such terminal"));
    }
    let allowed = input.allowed;
    switch.with_journal(move |store| store.allow_device_templates(terminal, allowed)).await?;
    Ok(Json(input))
}
