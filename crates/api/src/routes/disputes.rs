//! Disputes, across the roles: the shopper opens one on their own payment with a note; the
//! merchant adds its evidence on its own payments; the operator reads them, funds the reserve,
//! decides (a shopper not shown at fault is paid back from the reserve first) and charges the
//! merchant back later. Each sees only the disputes on payments that are theirs. Notes are
//! sealed under the key of the shopper who paid, so they go when that shopper deletes
//! everything (a dispute then shows its notes as `null`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use facepay_domain::ShopperId;
use facepay_ledger::TransferId;
use facepay_payments::{Command, Dispute, DisputeId, DisputeState, Finding, Party, Reply, Role};
use facepay_vault::{PersonalField, PersonalKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{parse_prefixed, random_u128};
use crate::caller::{ApiCaller, Operator, ShopperCaller};
use crate::error::{ApiError, ErrorBody};
use crate::switch::Switch;
use crate::wire;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EvidenceOut {
    /// shopper, merchant or operator.
    pub party: String,
    pub at_ms: i64,
    /// What the party said; `null` once the shopper who paid deleted their data.
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DisputeOut {
    pub dispute_id: String,
    pub payment_id: String,
    pub amount_minor: i64,
    /// open, rejected, compensated or charged_back.
    pub state: String,
    pub evidence: Vec<EvidenceOut>,
}

fn party_name(party: Party) -> &'static str {
    match party {
        Party::Shopper => "shopper",
        Party::Merchant => "merchant",
        Party::Operator => "operator",
    }
}

impl DisputeOut {
    /// The dispute with its notes opened under `payer_key`, the key of the shopper who paid.
    pub(crate) fn new(dispute: &Dispute, payer_key: Option<&PersonalKey>) -> DisputeOut {
        let epoch = facepay_domain::Timestamp::from_unix_ms(0);
        DisputeOut {
            dispute_id: format!("dsp_{:032x}", dispute.id.0),
            payment_id: dispute.payment.to_string(),
            amount_minor: dispute.amount_minor,
            state: match dispute.state {
                DisputeState::Open => "open",
                DisputeState::Rejected => "rejected",
                DisputeState::Compensated => "compensated",
                DisputeState::ChargedBack => "charged_back",
            }
            .to_owned(),
            evidence: dispute
                .evidence
                .iter()
                .map(|e| EvidenceOut {
                    party: party_name(e.party).into(),
                    at_ms: e.at.ms_since(epoch),
                    note: payer_key.and_then(|key| key.open_text(PersonalField::DisputeNote, &e.note).ok()),
                })
                .collect(),
        }
    }
}

fn dispute_id(text: &str) -> Result<DisputeId, ApiError> {
    parse_prefixed(text, "dsp_")
        .map(DisputeId)
        .ok_or_else(|| ApiError::bad_request("id_malformed", "a dispute id reads dsp_<32 hex digits>"))
}

/// The dispute and who paid, if the caller may see it: the operator any, a shopper or merchant
/// only those on their own payments (others are reported as not found).
async fn visible(
    switch: &Arc<Switch>,
    role: Role,
    id: &str,
) -> Result<(Dispute, Option<ShopperId>), ApiError> {
    let id = dispute_id(id)?;
    let found = switch
        .read_fresh(move |core| {
            let dispute = core.dispute(id)?.clone();
            let payment = core.payment_record(dispute.payment)?;
            let allowed = match role {
                Role::Operator => true,
                Role::Shopper(shopper) => payment.shopper == Some(shopper),
                Role::Merchant(merchant) => payment.merchant == merchant,
                Role::Issuer(_) => false,
            };
            allowed.then_some((dispute, payment.shopper))
        })
        .await?;
    found.ok_or_else(|| ApiError::not_found("dispute_unknown", "no such dispute of yours"))
}

/// The dispute as its parties see it, its notes opened with the payer's key.
pub(crate) async fn dispute_out(
    switch: &Arc<Switch>,
    dispute: &Dispute,
    payer: Option<ShopperId>,
) -> Result<DisputeOut, ApiError> {
    let key = match payer {
        Some(payer) => switch.personal_key(payer).await?,
        None => None,
    };
    Ok(DisputeOut::new(dispute, key.as_ref()))
}

async fn visible_out(switch: &Arc<Switch>, role: Role, id: &str) -> Result<DisputeOut, ApiError> {
    let (dispute, payer) = visible(switch, role, id).await?;
    dispute_out(switch, &dispute, payer).await
}

async fn dispute_reply(switch: &Arc<Switch>, reply: Reply) -> Result<DisputeOut, ApiError> {
    match reply {
        Reply::Dispute(dispute) => {
            let payer = switch.read(|core| core.payment_record(dispute.payment).and_then(|p| p.shopper));
            dispute_out(switch, &dispute, payer).await
        }
        _ => Err(ApiError::internal("the core answered a dispute command without a dispute")),
    }
}

/// A note checked with the core's rule and sealed under the payer's key; a payer who deleted
/// their data has no key, and their disputes take no more notes.
async fn sealed_note(
    switch: &Arc<Switch>,
    payer: Option<ShopperId>,
    note: &str,
) -> Result<facepay_domain::Sealed, ApiError> {
    if !facepay_payments::evidence_note_valid(note) {
        let message =
            format!("a note is 1 to {} bytes, not only blanks", facepay_payments::EVIDENCE_NOTE_MAX);
        return Err(ApiError::bad_request("evidence_note_malformed", message));
    }
    let key = match payer {
        Some(payer) => switch.personal_key(payer).await?,
        None => None,
    };
    let key = key.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "shopper_erased",
            "the shopper who paid deleted their data",
        )
    })?;
    Ok(key.seal(PersonalField::DisputeNote, note.as_bytes()))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenDispute {
    pub payment_id: String,
    /// How much of the captured amount is disputed.
    pub amount_minor: i64,
    /// What happened, in the shopper's words.
    pub note: String,
}

#[utoipa::path(post, path = "/v1/shopper/disputes", tag = "shopper", security(("api_key" = [])),
    request_body = OpenDispute, responses((status = 200, body = DisputeOut), (status = "4XX", body = ErrorBody)))]
pub async fn open(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DisputeOut>, ApiError> {
    let input: OpenDispute = wire::json(&wire::body(body)?)?;
    let payment = wire::payment_id(&input.payment_id)?;
    match switch.payment_owner(payment).await? {
        Some(owner) if owner.shopper == Some(shopper) => owner.commandable(payment)?,
        _ => return Err(ApiError::not_found("payment_unknown", "no such payment of yours")),
    }
    // Checked and sealed before the dispute opens, so that a dispute is never opened (and its
    // money set aside) on a note that is then refused.
    let note = sealed_note(&switch, Some(shopper), &input.note).await?;
    let dispute = DisputeId(random_u128());
    switch.execute(Command::OpenDispute { dispute, payment, amount_minor: input.amount_minor }).await?;
    switch.execute(Command::AddDisputeEvidence { dispute, party: Party::Shopper, note }).await?;
    let id = format!("dsp_{:032x}", dispute.0);
    Ok(Json(visible_out(&switch, Role::Shopper(shopper), &id).await?))
}

#[utoipa::path(get, path = "/v1/disputes/{dispute_id}", tag = "disputes", security(("api_key" = [])),
    params(("dispute_id" = String, Path)),
    responses((status = 200, body = DisputeOut), (status = "4XX", body = ErrorBody)))]
/// The dispute as the operator, or the shopper or merchant whose payment it is, sees it.
pub async fn read(
    State(switch): State<Arc<Switch>>,
    ApiCaller(role): ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<DisputeOut>, ApiError> {
    Ok(Json(visible_out(&switch, role, &id).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
}

#[utoipa::path(post, path = "/v1/disputes/{dispute_id}/evidence", tag = "disputes", security(("api_key" = [])),
    params(("dispute_id" = String, Path)), request_body = Note,
    responses((status = 200, body = DisputeOut), (status = "4XX", body = ErrorBody)))]
/// Evidence from whichever party the caller is.
pub async fn add_evidence(
    State(switch): State<Arc<Switch>>,
    ApiCaller(role): ApiCaller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DisputeOut>, ApiError> {
    let party = match role {
        Role::Shopper(_) => Party::Shopper,
        Role::Merchant(_) => Party::Merchant,
        Role::Operator => Party::Operator,
        Role::Issuer(_) => return Err(ApiError::forbidden("banks take no part in disputes here")),
    };
    let (dispute, payer) = visible(&switch, role, &id).await?;
    let input: Note = wire::json(&wire::body(body)?)?;
    let note = sealed_note(&switch, payer, &input.note).await?;
    switch.execute(Command::AddDisputeEvidence { dispute: dispute.id, party, note }).await?;
    Ok(Json(visible_out(&switch, role, &id).await?))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    ShopperAtFault,
    ShopperNotShownAtFault,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    pub finding: Decision,
}

#[utoipa::path(post, path = "/v1/operator/disputes/{dispute_id}/resolution", tag = "operator", security(("api_key" = [])),
    params(("dispute_id" = String, Path)), request_body = Resolution,
    responses((status = 200, body = DisputeOut), (status = "4XX", body = ErrorBody)))]
pub async fn resolve(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DisputeOut>, ApiError> {
    let dispute = dispute_id(&id)?;
    let input: Resolution = wire::json(&wire::body(body)?)?;
    let finding = match input.finding {
        Decision::ShopperAtFault => Finding::ShopperAtFault,
        Decision::ShopperNotShownAtFault => Finding::ShopperNotShownAtFault,
    };
    Ok(Json(
        dispute_reply(&switch, switch.execute(Command::ResolveDispute { dispute, finding }).await?).await?,
    ))
}

#[utoipa::path(post, path = "/v1/operator/disputes/{dispute_id}/charge-back", tag = "operator", security(("api_key" = [])),
    params(("dispute_id" = String, Path)),
    responses((status = 200, body = DisputeOut), (status = "4XX", body = ErrorBody)))]
pub async fn charge_back(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<DisputeOut>, ApiError> {
    let dispute = dispute_id(&id)?;
    Ok(Json(dispute_reply(&switch, switch.execute(Command::ChargeBack { dispute }).await?).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveFunding {
    #[schema(minimum = 1)]
    pub amount_minor: i64,
    /// The caller's id for this funding: a retry with the same id funds once.
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    pub funding_id: String,
}

#[utoipa::path(post, path = "/v1/operator/reserve", tag = "operator", security(("api_key" = [])),
    request_body = ReserveFunding, responses((status = 200, body = crate::routes::operator::Balance), (status = "4XX", body = ErrorBody)))]
/// Money into the reserve that compensates shoppers first.
pub async fn fund_reserve(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<crate::routes::operator::Balance>, ApiError> {
    let input: ReserveFunding = wire::json(&wire::body(body)?)?;
    wire::token("funding_id", &input.funding_id, crate::routes::terminal::TOKEN_MAX)?;
    let transfer_id = TransferId(wire::derived_id(&[b"reserve", input.funding_id.as_bytes()]));
    switch.execute(Command::FundReserve { amount_minor: input.amount_minor, transfer_id }).await?;
    let reserve = switch.read(|core| core.config().reserve_account);
    Ok(Json(crate::routes::operator::balance(&switch, reserve)))
}
