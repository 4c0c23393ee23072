//! The terminal's routes: activation with the merchant's one-time code, then signed requests
//! only: heartbeat, pay (captures, a device template or a scanned payment code in; decision
//! out), the phone-digit and PIN challenges, confirm, void, refund and status. A terminal sees
//! only its own payments, and of a shopper only the masked name.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use facepay_domain::FaceTemplate;
use facepay_domain::{Money, PaymentId, TerminalId};
use facepay_face_index::{Decision, PhoneHint, Scope, decide};
use facepay_ledger::TransferId;
use facepay_payments::{
    BucketMatch, Command, CoreError, Identification, Journal, JournalError, PaymentState, PaymentView,
    PinError, PinHash, Reply, Sale, StartPayment, TransactionType,
};
use facepay_vault::PersonalField;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{parse_public_key, parse_terminal_id, sha256};
use crate::caller::{SignedTerminal, VerifiedSlot};
use crate::error::{ApiError, ErrorBody};
use crate::switch::{PaymentOwner, Switch, now_ms};
use crate::wire::{self, PaymentOut};

/// Longest idempotency key, order id and refund id.
pub const TOKEN_MAX: usize = 64;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// The terminal id the merchant registered (`trm_<32 hex>`).
    #[schema(pattern = "^trm_[0-9a-f]{32}$")]
    pub terminal_id: String,
    /// The one-time code the merchant was given for it.
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    pub activation_code: String,
    /// The Ed25519 public key the terminal made for itself, base64 of 32 bytes.
    #[schema(pattern = "^[A-Za-z0-9+/]{43}=$")]
    pub public_key: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Activated {
    pub terminal_id: String,
    pub merchant_id: String,
}

#[utoipa::path(post, path = "/v1/terminal/activation", tag = "terminal", request_body = ActivateRequest,
    responses((status = 200, body = Activated), (status = "4XX", body = ErrorBody)))]
pub async fn activate(
    State(switch): State<Arc<Switch>>,
    slot: VerifiedSlot,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Activated>, ApiError> {
    let request: ActivateRequest = wire::json(&wire::body(body)?)?;
    let terminal = parse_terminal_id(&request.terminal_id)
        .ok_or_else(|| ApiError::bad_request("id_malformed", "a terminal id reads trm_<32 hex digits>"))?;
    switch.open_rate.take(&request.terminal_id, now_ms())?;
    wire::token("activation_code", &request.activation_code, TOKEN_MAX)?;
    let public_key = parse_public_key(&request.public_key)?;
    let code_hash = sha256(request.activation_code.as_bytes());
    switch.execute(Command::ActivateTerminal { terminal, code_hash, public_key }).await?;
    // The right code proved the terminal: its activation is audited under its own name.
    slot.prove(terminal);
    let merchant = switch
        .read(|core| core.terminal_merchant(terminal))
        .ok_or_else(|| ApiError::internal("activated terminal without merchant"))?;
    Ok(Json(Activated { terminal_id: terminal.to_string(), merchant_id: merchant.to_string() }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Heartbeat {
    /// The switch's clock, unix ms, for the terminal to check its own against.
    pub server_time_ms: i64,
    /// The currency the switch takes (ISO 4217), for the terminal to price in.
    pub currency: String,
}

#[utoipa::path(post, path = "/v1/terminal/heartbeat", tag = "terminal", security(("terminal_signature" = [])),
    responses((status = 200, body = Heartbeat), (status = "4XX", body = ErrorBody)))]
pub async fn heartbeat(
    State(switch): State<Arc<Switch>>,
    _: SignedTerminal,
) -> Result<Json<Heartbeat>, ApiError> {
    Ok(Json(Heartbeat { server_time_ms: now_ms(), currency: switch.config.currency.code().to_owned() }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    /// In minor units of `currency` (cents), above zero.
    pub amount_minor: i64,
    /// ISO 4217, the switch's currency.
    pub currency: String,
    /// The merchant's order reference, kept with the payment.
    pub order_id: String,
    /// Unique per terminal: a retry after a timeout sends the same key (and body) and gets the
    /// first payment back, never a second charge.
    pub idempotency_key: String,
    /// One to three frames of the shopper's face, base64 JPEG, PNG or WebP; or else
    #[serde(default)]
    pub captures: Vec<String>,
    /// the template a terminal that extracts on the device made of the face, with the model
    /// that made it. The request's signature covers it like everything else in the body; or else
    pub template: Option<DeviceTemplate>,
    /// the 18 digits of the payment code the shopper's app shows, scanned instead of a face.
    pub payment_code: Option<String>,
}

/// A face template made on the terminal. It is biometric data: used for this one search and
/// dropped, never stored or logged.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceTemplate {
    /// The recognizer's name and version, which must be the switch's (`mobilefacenet_128`, ...).
    pub model: String,
    pub model_version: String,
    pub embedding: Vec<f32>,
    /// The device's liveness score, 0 to 1, from the same liveness models the switch runs.
    pub live_score: f32,
    /// A challenge from `POST /v1/terminal/challenge`, good for this one payment: a template
    /// captured with an earlier request cannot be sent again.
    pub challenge: String,
}

/// How long a device-template challenge stays good.
const CHALLENGE_TTL_MS: i64 = 60_000;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Challenge {
    /// Sign it into the next device-template payment's `template.challenge`.
    pub challenge: String,
    pub expires_ms: i64,
}

#[utoipa::path(post, path = "/v1/terminal/challenge", tag = "terminal", security(("terminal_signature" = [])),
    responses((status = 200, body = Challenge), (status = "4XX", body = ErrorBody)))]
/// A fresh challenge for one payment with a template made on the device; only for terminals the
/// operator let send them.
pub async fn challenge(
    State(switch): State<Arc<Switch>>,
    signed: SignedTerminal,
) -> Result<Json<Challenge>, ApiError> {
    let terminal = signed.terminal;
    let challenge = crate::auth::hex(&crate::auth::random_bytes::<16>());
    let expires_ms = now_ms() + CHALLENGE_TTL_MS;
    let kept = challenge.clone();
    let expires = facepay_domain::Timestamp::from_unix_ms(expires_ms);
    with_device_templates(&switch, terminal, move |store| store.issue_challenge(terminal, &kept, expires))
        .await?;
    Ok(Json(Challenge { challenge, expires_ms }))
}

/// In one trip to the store: refuses a terminal the operator has not let send device templates,
/// else runs `step` (handing out or using up a challenge).
async fn with_device_templates<T: Send + 'static>(
    switch: &Arc<Switch>,
    terminal: TerminalId,
    step: impl FnOnce(&mut Box<dyn Journal + Send>) -> Result<T, JournalError> + Send + 'static,
) -> Result<T, ApiError> {
    let done = switch
        .with_journal(move |store| {
            if !store.device_templates_allowed(terminal)? {
                return Ok(None);
            }
            step(store).map(Some)
        })
        .await?;
    done.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "device_templates_not_allowed",
            "this terminal may not send templates made on the device; send the captures",
        )
    })
}

#[utoipa::path(post, path = "/v1/terminal/payments", tag = "terminal", security(("terminal_signature" = [])),
    request_body = PayRequest,
    responses((status = 200, body = PaymentOut), (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn pay(
    State(switch): State<Arc<Switch>>,
    signed: SignedTerminal,
) -> Result<Json<PaymentOut>, ApiError> {
    let SignedTerminal { terminal, body, .. } = signed;
    let request: PayRequest = wire::json(&body)?;
    if request.amount_minor <= 0 {
        return Err(ApiError::bad_request("amount_not_positive", "amount_minor must be above zero"));
    }
    if request.currency != switch.config.currency.code() {
        let message = format!("this switch takes {}", switch.config.currency.code());
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "currency_not_supported",
            message,
        ));
    }
    wire::token("order_id", &request.order_id, TOKEN_MAX)?;
    wire::token("idempotency_key", &request.idempotency_key, TOKEN_MAX)?;
    let sale = Sale {
        amount: Money::new(request.amount_minor, switch.config.currency),
        order_id: Some(&request.order_id),
        by_payment_code: request.payment_code.is_some(),
    };
    let retried = switch.read(|core| {
        let retry = core.retry_of(terminal, &request.idempotency_key, &sale)?;
        Some(retry.map(|view| PaymentOut::of_view(&view, core)))
    });
    if let Some(payment) = retried {
        return Ok(Json(switch.named(payment?).await?));
    }
    let payment_id = PaymentId::from_u128(wire::derived_id(&[
        &terminal.as_u128().to_le_bytes(),
        request.idempotency_key.as_bytes(),
    ]));
    // A key past its window: the core forgot it, the read model still answers for it.
    if let Some(first) = switch.with_journal(move |store| store.payment_row(payment_id)).await? {
        let same = first.amount.amount_minor == request.amount_minor
            && first.order_id.as_deref() == Some(request.order_id.as_str());
        if !same {
            return Err(CoreError::IdempotencyKeyReused.into());
        }
        return Ok(Json(switch.named(switch.read(|core| PaymentOut::from_row(&first, core))).await?));
    }
    let (liveness_passed, identification) =
        match (request.captures.is_empty(), request.template, request.payment_code) {
            (true, Some(device), None) => {
                // Granted by the operator, and with a challenge of ours not used before.
                wire::token("template.challenge", &device.challenge, TOKEN_MAX)?;
                let challenge = device.challenge.clone();
                let now = crate::switch::now();
                let take = move |store: &mut Box<dyn Journal + Send>| {
                    store.take_challenge(terminal, &challenge, now)
                };
                if !with_device_templates(&switch, terminal, take).await? {
                    return Err(ApiError::unauthorized(
                        "challenge_invalid",
                        "the template's challenge is unknown, used or expired; ask for a new one",
                    ));
                }
                identify_device_template(&switch, payment_id, device)?
            }
            (true, None, Some(code)) => (true, Identification::PaymentCode(wire::payment_code_hash(&code)?)),
            (_, None, None) => {
                let limits = (switch.config.max_payment_frames, switch.config.max_frame_bytes);
                identify(&switch, payment_id, wire::frames(&request.captures, limits.0, limits.1)?).await?
            }
            _ => {
                return Err(ApiError::bad_request(
                    "identification_ambiguous",
                    "send captures, a template or a payment code: one of them",
                ));
            }
        };
    let start = StartPayment {
        payment_id,
        terminal,
        idempotency_key: request.idempotency_key,
        amount: Money::new(request.amount_minor, switch.config.currency),
        transaction_type: TransactionType::Purchase,
        liveness_passed,
        identification,
        order_id: Some(request.order_id),
    };
    let view = payment_reply(switch.execute(Command::StartPayment(start)).await?)?;
    let payment = switch.named(switch.read(|core| PaymentOut::of_view(&view, core))).await?;
    switch.metrics.observe_decision(payment.outcome());
    Ok(Json(payment))
}

/// The capture to a liveness verdict and an identification among everyone enrolled. A face that
/// is not live is a payment declined for it, so the risk rules count it.
async fn identify(
    switch: &Arc<Switch>,
    payment: PaymentId,
    frames: Vec<Vec<u8>>,
) -> Result<(bool, Identification), ApiError> {
    Ok(match live_template(switch, frames).await? {
        Some(template) => (true, search(switch, payment, template)?),
        None => (false, Identification::NoMatch),
    })
}

/// The capture's template, or none when the face is not live. A photo that shows no usable face
/// is the caller's to retake (4xx); an engine that failed is the node's (503).
pub(crate) async fn live_template(
    switch: &Arc<Switch>,
    frames: Vec<Vec<u8>>,
) -> Result<Option<FaceTemplate>, ApiError> {
    let biometrics = switch.biometrics.clone();
    let captured = switch
        .captures
        .run(move || {
            let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            biometrics.capture(&frames)
        })
        .await?;
    let captured = match captured {
        Ok(captured) => captured,
        Err(refused) if refused.code == "face_not_live" => return Ok(None),
        Err(refused) if refused.engine_failed => {
            return Err(ApiError::unavailable(refused.code, refused.message));
        }
        Err(refused) => {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                refused.code,
                refused.message,
            ));
        }
    };
    Ok(Some(captured.template))
}

/// A device's template to a liveness verdict and an identification, as `identify` does for
/// frames: the same search and decision, the device's live score against the switch's threshold.
fn identify_device_template(
    switch: &Switch,
    payment: PaymentId,
    device: DeviceTemplate,
) -> Result<(bool, Identification), ApiError> {
    if !(0.0..=1.0).contains(&device.live_score) {
        return Err(ApiError::bad_request("live_score_malformed", "live_score is from 0 to 1"));
    }
    let recognizer = facepay_domain::RecognizerTag { name: device.model, version: device.model_version };
    let template = FaceTemplate::new(recognizer, device.embedding)
        .map_err(|err| ApiError::bad_request(err.code(), err.to_string()))?;
    // Another model, or another version of it, lives in another space: refused, never compared.
    switch.reader.check(&template).map_err(|err| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "template_model_mismatch",
            err.to_string(),
        )
    })?;
    if device.live_score < switch.config.device_liveness_threshold {
        return Ok((false, Identification::NoMatch));
    }
    Ok((true, search(switch, payment, template)?))
}

/// Everyone enrolled searched for `template`, and the decision. When it asks for the phone
/// digits, the template is held for the payment until they come (`phone_digits`).
fn search(switch: &Switch, payment: PaymentId, template: FaceTemplate) -> Result<Identification, ApiError> {
    let candidates = switch.reader.view().search(&template, switch.config.search_k)?;
    Ok(match decide(&candidates, &switch.config.decision, Scope::Everyone) {
        // The open threshold is at or above the PIN-free level (`DecisionRule::check`).
        Decision::Match { shopper, .. } => Identification::Match(shopper),
        Decision::AskHint => {
            switch.held_probes.hold(payment, template, now_ms());
            Identification::Ambiguous
        }
        Decision::NoMatch => Identification::NoMatch,
    })
}

impl From<facepay_face_index::IndexError> for ApiError {
    fn from(err: facepay_face_index::IndexError) -> ApiError {
        ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, err.code(), err.to_string())
    }
}

pub(crate) fn payment_reply(reply: Reply) -> Result<PaymentView, ApiError> {
    match reply {
        Reply::Payment(view) => Ok(view),
        // A counted wrong try: the terminal hears it as the PIN's refusal, with the tries left.
        Reply::PinWrong { tries_left } => Err(CoreError::from(PinError::Wrong { tries_left }).into()),
        _ => Err(ApiError::internal("the core answered a payment command without a payment")),
    }
}

/// The payment, if it is this terminal's (another terminal's is reported as not found), and
/// whose it is.
async fn own_payment(
    switch: &Arc<Switch>,
    terminal: TerminalId,
    id: &str,
) -> Result<(PaymentId, PaymentOwner), ApiError> {
    let id = wire::payment_id(id)?;
    match switch.payment_owner(id).await? {
        Some(owner) if owner.terminal == terminal => Ok((id, owner)),
        _ => Err(ApiError::not_found("payment_unknown", "no such payment at this terminal")),
    }
}

async fn signed_payment_command<T: serde::de::DeserializeOwned>(
    switch: &Arc<Switch>,
    signed: SignedTerminal,
    id: &str,
    command: impl FnOnce(PaymentId, T) -> Result<Command, ApiError>,
) -> Result<Json<PaymentOut>, ApiError> {
    let SignedTerminal { terminal, body, .. } = signed;
    switch.refuse_unless_in_standing(terminal)?;
    let (payment, owner) = own_payment(switch, terminal, id).await?;
    owner.commandable(payment)?;
    let input: T = wire::json(if body.is_empty() { b"{}" } else { &body })?;
    let view = payment_reply(switch.execute(command(payment, input)?).await?)?;
    let out = switch.named(switch.read(|core| PaymentOut::of_view(&view, core))).await?;
    Ok(Json(out))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneDigits {
    /// The last 4 digits of the shopper's phone number.
    pub digits: String,
}

#[utoipa::path(post, path = "/v1/terminal/payments/{payment_id}/phone-digits", tag = "terminal",
    security(("terminal_signature" = [])), request_body = PhoneDigits, params(("payment_id" = String, Path)),
    responses((status = 200, body = PaymentOut), (status = "4XX", body = ErrorBody)))]
pub async fn phone_digits(
    State(switch): State<Arc<Switch>>,
    Path(id): Path<String>,
    signed: SignedTerminal,
) -> Result<Json<PaymentOut>, ApiError> {
    let SignedTerminal { terminal, body, .. } = signed;
    switch.refuse_unless_in_standing(terminal)?;
    let (payment, owner) = own_payment(&switch, terminal, &id).await?;
    owner.commandable(payment)?;
    let input: PhoneDigits = wire::json(&body)?;
    facepay_payments::phone_digits_valid(&input.digits)?;
    let found = match switch.held_probes.take(payment, now_ms()) {
        Some(probe) => bucket_match(&switch, &probe, &input.digits).await?,
        None if switch.read(|core| core.payment(payment).map(|p| p.state))
            == Some(PaymentState::NeedsPhoneDigits) =>
        {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "capture_not_held",
                "this node no longer holds the payment's face (its time passed, or it was taken on another node): start a new payment",
            ));
        }
        // Already decided: the core answers that it no longer waits for digits.
        None => None,
    };
    let view = payment_reply(switch.execute(Command::ProvidePhoneDigits { payment, found }).await?)?;
    Ok(Json(switch.named(switch.read(|core| PaymentOut::of_view(&view, core))).await?))
}

/// The payment's face searched again among those whose phone ends in `digits`, and decided
/// there. A match carries the digits digested under that shopper's key: the core compares it
/// with the digest kept at their sign-up, and the journal keeps no digits.
async fn bucket_match(
    switch: &Arc<Switch>,
    probe: &FaceTemplate,
    digits: &str,
) -> Result<Option<BucketMatch>, ApiError> {
    let hint = PhoneHint::parse(digits)?;
    let candidates = switch.reader.view().search_hint(probe, hint, switch.config.search_k)?;
    let Decision::Match { shopper, pin_required, .. } =
        decide(&candidates, &switch.config.decision, Scope::PhoneBucket)
    else {
        return Ok(None);
    };
    let keys = switch.personal_keys(vec![shopper]).await?;
    Ok(keys.get(shopper).map(|key| BucketMatch {
        shopper,
        digest: key.digest(PersonalField::PhoneDigits, digits.as_bytes()),
        pin_required,
    }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinEntry {
    /// The shopper's payment PIN, as typed on the terminal.
    pub pin: String,
}

#[utoipa::path(post, path = "/v1/terminal/payments/{payment_id}/pin", tag = "terminal",
    security(("terminal_signature" = [])), request_body = PinEntry, params(("payment_id" = String, Path)),
    responses((status = 200, body = PaymentOut), (status = "4XX", body = ErrorBody)))]
pub async fn pin(
    State(switch): State<Arc<Switch>>,
    Path(id): Path<String>,
    signed: SignedTerminal,
) -> Result<Json<PaymentOut>, ApiError> {
    let SignedTerminal { terminal, body, .. } = signed;
    switch.refuse_unless_in_standing(terminal)?;
    let (payment, owner) = own_payment(&switch, terminal, &id).await?;
    owner.commandable(payment)?;
    let input: PinEntry = wire::json(&body)?;
    let check = switch.read(|core| core.pin_check(payment, crate::switch::now()))?;
    let key = switch.personal_key(check.shopper()).await?;
    let hash = key
        .and_then(|key| key.open(PersonalField::PinHash, check.sealed_hash()).ok())
        .and_then(|bytes| PinHash::from_bytes(&bytes))
        .ok_or(CoreError::UnknownShopper(check.shopper()))?;
    // The digits are compared here, off the core's lock (Argon2 is slow on purpose); only the
    // verdict is journaled.
    let verdict = tokio::task::spawn_blocking(move || check.verdict(&hash, &input.pin))
        .await
        .map_err(|_| ApiError::internal("the PIN check task failed"))??;
    let view = payment_reply(switch.execute(verdict).await?)?;
    Ok(Json(switch.named(switch.read(|core| PaymentOut::of_view(&view, core))).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[utoipa::path(post, path = "/v1/terminal/payments/{payment_id}/confirm", tag = "terminal",
    security(("terminal_signature" = [])), params(("payment_id" = String, Path)),
    responses((status = 200, body = PaymentOut), (status = "4XX", body = ErrorBody)))]
pub async fn confirm(
    State(switch): State<Arc<Switch>>,
    Path(id): Path<String>,
    signed: SignedTerminal,
) -> Result<Json<PaymentOut>, ApiError> {
    signed_payment_command(&switch, signed, &id, |payment, _: Empty| Ok(Command::Capture { payment })).await
}

#[utoipa::path(post, path = "/v1/terminal/payments/{payment_id}/void", tag = "terminal",
    security(("terminal_signature" = [])), params(("payment_id" = String, Path)),
    responses((status = 200, body = PaymentOut), (status = "4XX", body = ErrorBody)))]
pub async fn void(
    State(switch): State<Arc<Switch>>,
    Path(id): Path<String>,
    signed: SignedTerminal,
) -> Result<Json<PaymentOut>, ApiError> {
    signed_payment_command(&switch, signed, &id, |payment, _: Empty| Ok(Command::Void { payment })).await
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// The caller's id for this refund: a retry with the same id refunds once.
    pub refund_id: String,
    pub amount_minor: i64,
}

/// The ledger transfer id of a refund: the same refund id on the same payment names the same
/// transfer, so a retried refund moves money once.
pub(crate) fn refund_command(payment: PaymentId, input: RefundRequest) -> Result<Command, ApiError> {
    wire::token("refund_id", &input.refund_id, TOKEN_MAX)?;
    let refund_id = TransferId(wire::derived_id(&[
        b"refund",
        &payment.as_u128().to_le_bytes(),
        input.refund_id.as_bytes(),
    ]));
    Ok(Command::Refund { payment, refund_id, amount_minor: input.amount_minor })
}

#[utoipa::path(post, path = "/v1/terminal/payments/{payment_id}/refunds", tag = "terminal",
    security(("terminal_signature" = [])), request_body = RefundRequest, params(("payment_id" = String, Path)),
    responses((status = 200, body = PaymentOut), (status = "4XX", body = ErrorBody)))]
pub async fn refund(
    State(switch): State<Arc<Switch>>,
    Path(id): Path<String>,
    signed: SignedTerminal,
) -> Result<Json<PaymentOut>, ApiError> {
    signed_payment_command(&switch, signed, &id, refund_command).await
}

#[utoipa::path(get, path = "/v1/terminal/payments/{payment_id}", tag = "terminal",
    security(("terminal_signature" = [])), params(("payment_id" = String, Path)),
    responses((status = 200, body = PaymentOut), (status = "4XX", body = ErrorBody)))]
pub async fn status(
    State(switch): State<Arc<Switch>>,
    Path(id): Path<String>,
    signed: SignedTerminal,
) -> Result<Json<PaymentOut>, ApiError> {
    let SignedTerminal { terminal, .. } = signed;
    let (payment, _) = own_payment(&switch, terminal, &id).await?;
    let out = switch.payment_out(payment).await?;
    out.map(Json).ok_or_else(|| ApiError::not_found("payment_unknown", "no such payment at this terminal"))
}
