//! The bank's routes (an issuer's API key): the messages the switch has for it (authorize,
//! release or capture a payment's amount on an account it holds, or credit money back to it),
//! pulled and then acknowledged, which is
//! how the outbox reaches banks; its answers to authorizations; and its line of the day's
//! settlement. A bank sees only payments funded from its own accounts. The switch keeps each
//! account's reference sealed under its shopper's personal key and opens it as the bank reads.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use facepay_payments::{Command, IssuerAnswer, IssuerId, IssuerMessage, Outbound};
use facepay_vault::PersonalField;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::IssuerCaller;
use crate::error::{ApiError, ErrorBody};
use crate::routes::terminal::payment_reply;
use crate::switch::Switch;
use crate::wire::{self, PaymentOut};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BankMessage {
    /// Acknowledge it by this id once it is acted on; until then it is offered again.
    pub message_id: u64,
    /// `authorize` (hold the amount), `release` (drop any hold for the payment), `capture` (post
    /// this much of the hold, let the rest go) or `credit` (pay this back to the account).
    /// Or `verify`: is this account (the reference) one its shopper may pay from? Answer it at
    /// `/v1/issuer/verifications/{verification_id}/answer`; the amount is zero.
    pub kind: String,
    /// The payment it is about; none on a verification.
    pub payment_id: Option<String>,
    /// A verification's number, to answer it by.
    pub verification_id: Option<u64>,
    /// On a credit: its own id (apply each once) and why: `refund`, `reversal` (a captured
    /// payment undone) or `compensation` (a dispute the shopper won, paid from the reserve).
    pub credit_id: Option<String>,
    pub reason: Option<String>,
    /// The bank's own reference for the shopper's account, on an authorization; `null` on a
    /// release (the payment id names it), and on an authorization whose shopper deleted their
    /// data before it was delivered (decline it).
    pub reference: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
}

/// Most messages one pull returns.
const PULL_MAX: usize = 500;

async fn own_messages(switch: &Arc<Switch>, issuer: IssuerId) -> Result<Vec<BankMessage>, ApiError> {
    let pending = switch.outbox(facepay_payments::Recipient::Issuer(issuer), PULL_MAX).await?;
    let own: Vec<(u64, IssuerMessage)> = pending
        .into_iter()
        .filter_map(|delivery| match delivery.outbound {
            Outbound::Issuer(message) if message.issuer() == issuer => Some((delivery.id, message)),
            _ => None,
        })
        .collect();
    let payers = own.iter().filter_map(|(_, message)| match message {
        IssuerMessage::Authorize { shopper, .. } | IssuerMessage::VerifyAccount { shopper, .. } => {
            Some(*shopper)
        }
        _ => None,
    });
    let keys = switch.personal_keys(payers.collect()).await?;
    Ok(own
        .into_iter()
        .map(|(id, message)| {
            let (kind, reference, credit) = match &message {
                IssuerMessage::Authorize { shopper, reference, .. } => {
                    ("authorize", keys.open(*shopper, PersonalField::BankReference, reference), None)
                }
                IssuerMessage::Release { .. } => ("release", None, None),
                IssuerMessage::Capture { .. } => ("capture", None, None),
                IssuerMessage::Credit { credit, reason, .. } => ("credit", None, Some((credit, reason))),
                IssuerMessage::VerifyAccount { shopper, reference, .. } => {
                    ("verify", keys.open(*shopper, PersonalField::BankReference, reference), None)
                }
            };
            let (amount, verification_id) = match &message {
                IssuerMessage::Authorize { amount, .. }
                | IssuerMessage::Release { amount, .. }
                | IssuerMessage::Capture { amount, .. }
                | IssuerMessage::Credit { amount, .. } => (*amount, None),
                IssuerMessage::VerifyAccount { currency, trace, .. } => {
                    (facepay_domain::Money::zero(*currency), Some(trace.number))
                }
            };
            BankMessage {
                message_id: id,
                kind: kind.into(),
                payment_id: message.payment().map(|payment| payment.to_string()),
                verification_id,
                credit_id: credit.map(|(credit, _)| facepay_payments::credit_reference(*credit)),
                reason: credit.map(|(_, reason)| reason.code().to_owned()),
                reference,
                amount_minor: amount.amount_minor,
                currency: amount.currency.code().to_owned(),
            }
        })
        .collect())
}

#[utoipa::path(get, path = "/v1/issuer/messages", tag = "issuer", security(("api_key" = [])),
    responses((status = 200, body = Vec<BankMessage>), (status = "4XX", body = ErrorBody)))]
pub async fn messages(
    State(switch): State<Arc<Switch>>,
    IssuerCaller(issuer): IssuerCaller,
) -> Result<Json<Vec<BankMessage>>, ApiError> {
    Ok(Json(own_messages(&switch, issuer).await?))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BoundAccount {
    /// The bank's own reference for the account, as the shopper bound it.
    pub reference: String,
    /// Whether its shopper pays from it unless they pick another.
    pub default: bool,
}

/// The bank's accounts that shoppers bound for face payment (never who the shoppers are).
#[utoipa::path(get, path = "/v1/issuer/accounts", tag = "issuer", security(("api_key" = [])),
    responses((status = 200, body = Vec<BoundAccount>), (status = "4XX", body = ErrorBody)))]
pub async fn accounts(
    State(switch): State<Arc<Switch>>,
    IssuerCaller(issuer): IssuerCaller,
) -> Result<Json<Vec<BoundAccount>>, ApiError> {
    let accounts = switch.read(|core| core.bank_accounts_at(issuer));
    let keys = switch.personal_keys(accounts.iter().map(|(shopper, _, _)| *shopper).collect()).await?;
    let mut listed: Vec<BoundAccount> = accounts
        .iter()
        .filter_map(|(shopper, sealed, default)| {
            let reference = keys.open(*shopper, PersonalField::BankReference, sealed)?;
            Some(BoundAccount { reference, default: *default })
        })
        .collect();
    listed.sort_by(|a, b| (&a.reference, a.default).cmp(&(&b.reference, b.default)));
    Ok(Json(listed))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Acknowledge {
    pub message_ids: Vec<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Acknowledged {
    /// How many of the ids were this bank's pending messages (others are ignored).
    pub acknowledged: usize,
}

#[utoipa::path(post, path = "/v1/issuer/messages/ack", tag = "issuer", security(("api_key" = [])),
    request_body = Acknowledge, responses((status = 200, body = Acknowledged), (status = "4XX", body = ErrorBody)))]
pub async fn acknowledge(
    State(switch): State<Arc<Switch>>,
    IssuerCaller(issuer): IssuerCaller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Acknowledged>, ApiError> {
    let input: Acknowledge = wire::json(&wire::body(body)?)?;
    if input.message_ids.len() > PULL_MAX {
        return Err(ApiError::bad_request("ids_too_many", format!("at most {PULL_MAX} ids at once")));
    }
    let own: Vec<u64> = own_messages(&switch, issuer)
        .await?
        .into_iter()
        .map(|message| message.message_id)
        .filter(|id| input.message_ids.contains(id))
        .collect();
    let acknowledged = own.len();
    switch.mark_delivered(own).await?;
    Ok(Json(Acknowledged { acknowledged }))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Approved,
    Declined,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    pub answer: Answer,
}

#[utoipa::path(post, path = "/v1/issuer/payments/{payment_id}/answer", tag = "issuer", security(("api_key" = [])),
    params(("payment_id" = String, Path)), request_body = Authorization,
    responses((status = 200, body = PaymentOut), (status = "4XX", body = ErrorBody)))]
pub async fn answer(
    State(switch): State<Arc<Switch>>,
    IssuerCaller(issuer): IssuerCaller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PaymentOut>, ApiError> {
    let payment = wire::payment_id(&id)?;
    if switch.read_fresh(move |core| core.payment_issuer(payment)).await? != Some(issuer) {
        return Err(ApiError::not_found("payment_unknown", "no such payment funded by this bank"));
    }
    let input: Authorization = wire::json(&wire::body(body)?)?;
    let answer = match input.answer {
        Answer::Approved => IssuerAnswer::Approved,
        Answer::Declined => IssuerAnswer::Declined,
    };
    let view = payment_reply(switch.execute(Command::IssuerAnswered { payment, answer }).await?)?;
    Ok(Json(switch.named(switch.read(|core| PaymentOut::of_view(&view, core))).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    pub answer: Answer,
    /// Why, on a refusal: an ISO 8583 response code (`14` no such account, `05` do not honour,
    /// `62` restricted, ...), which the shopper's app turns into a sentence; `05` if not given.
    pub response_code: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Verified {
    pub verification_id: u64,
    /// `usable` or `refused`.
    pub account: String,
}

/// The bank's answer to an account's verification.
#[utoipa::path(post, path = "/v1/issuer/verifications/{verification_id}/answer", tag = "issuer", security(("api_key" = [])),
    params(("verification_id" = u64, Path)), request_body = Verification,
    responses((status = 200, body = Verified), (status = "4XX", body = ErrorBody)))]
pub async fn verify(
    State(switch): State<Arc<Switch>>,
    IssuerCaller(issuer): IssuerCaller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Verified>, ApiError> {
    let trace: u64 = id.parse().map_err(|_| {
        ApiError::not_found("verification_unknown", "no verification of this bank has that number")
    })?;
    let input: Verification = wire::json(&wire::body(body)?)?;
    let (answer, response_code, account) = match input.answer {
        Answer::Approved => (IssuerAnswer::Approved, "00".to_owned(), "usable"),
        Answer::Declined => {
            (IssuerAnswer::Declined, input.response_code.unwrap_or_else(|| "05".into()), "refused")
        }
    };
    switch.execute(Command::AccountVerified { issuer, trace, answer, response_code }).await?;
    Ok(Json(Verified { verification_id: trace, account: account.to_owned() }))
}

pub(crate) fn window(query: Result<Query<wire::Window>, QueryRejection>) -> Result<wire::Window, ApiError> {
    query
        .map(|Query(window)| window)
        .map_err(|_| ApiError::bad_request("query_malformed", "give from_ms and to_ms, unix milliseconds"))
}

/// The settlement report (or one party's part of it) as JSON, summed from the ledger's
/// movements in the read model on the readers' store connection (the writer never waits).
pub(crate) async fn report(
    switch: &Arc<Switch>,
    window: &wire::Window,
) -> Result<facepay_payments::SettlementReport, ApiError> {
    let from = facepay_domain::Timestamp::from_unix_ms(window.from_ms);
    let to = facepay_domain::Timestamp::from_unix_ms(window.to_ms);
    let currency = switch.read(|core| core.config().currency.code().to_owned());
    let report = switch
        .with_journal(move |journal| facepay_payments::settlement_report(journal, &currency, from, to))
        .await?;
    report.map_err(settlement_error)
}

/// A report that could not be made, as its answer.
pub(crate) fn settlement_error(err: facepay_payments::SettlementError) -> ApiError {
    let status = match err {
        facepay_payments::SettlementError::EmptyWindow => axum::http::StatusCode::BAD_REQUEST,
        // Top-ups or fundings so large their sum leaves i64: reportable in a smaller window.
        facepay_payments::SettlementError::TotalOverflow => axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        facepay_payments::SettlementError::Unclassified(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, err.code(), err.to_string())
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuerSettlement {
    pub currency: String,
    pub from_unix_ms: i64,
    pub to_unix_ms: i64,
    pub payments_minor: i64,
    pub refunds_minor: i64,
    pub reversals_minor: i64,
    pub compensations_minor: i64,
    pub chargebacks_minor: i64,
    /// What this bank owes the switch for the window (negative: the other way round).
    pub net_minor: i64,
}

#[utoipa::path(get, path = "/v1/issuer/settlement", tag = "issuer", security(("api_key" = [])), params(wire::Window),
    responses((status = 200, body = IssuerSettlement), (status = "4XX", body = ErrorBody)))]
pub async fn settlement(
    State(switch): State<Arc<Switch>>,
    IssuerCaller(issuer): IssuerCaller,
    query: Result<Query<wire::Window>, QueryRejection>,
) -> Result<Json<IssuerSettlement>, ApiError> {
    let window = window(query)?;
    let report = report(&switch, &window).await?;
    let position = report
        .issuers
        .iter()
        .find(|line| line.issuer == issuer)
        .map(|line| line.position)
        .unwrap_or_default();
    Ok(Json(IssuerSettlement {
        currency: report.currency,
        from_unix_ms: report.from_unix_ms,
        to_unix_ms: report.to_unix_ms,
        payments_minor: position.payments_minor,
        refunds_minor: position.refunds_minor,
        reversals_minor: position.reversals_minor,
        compensations_minor: position.compensations_minor,
        chargebacks_minor: position.chargebacks_minor,
        net_minor: position.net_minor,
    }))
}
