//! The shopper app's routes: read the consent text, sign up (accepting a version of it, with the
//! phone digits and a name kept only masked), enroll a face, set the PIN, pause and resume, and
//! delete everything. Sign-up returns the shopper's API key once; every other route takes it.
//!
//! Sign-up makes the shopper's personal key in the vault; every personal field (phone digits,
//! masked name, consent, PIN hash, bank references) goes to the core sealed under it, so deleting
//! everything (which shreds the key) leaves the journal's copies unreadable.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use facepay_domain::{Secret, ShopperId, Timestamp};
use facepay_ledger::AccountId;
use facepay_payments::{Command, CoreError, FundingSource, Pin, PinError, PinHash, Reply, Role};
use facepay_vault::{PersonalField, PersonalKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{new_api_key, random_bytes, random_u128};
use crate::caller::{ShopperCaller, VerifiedSlot};
use crate::error::{ApiError, ErrorBody};
use crate::routes::limits::LimitPair;
use crate::routes::operator::{Balance, balance};
use crate::switch::{Switch, now_ms};
use crate::wire;

/// What a shopper is shown and accepts before anything about them is kept.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsentText {
    pub text_version: String,
    pub purpose: String,
    pub stored: String,
    pub retention: String,
    pub who_sees: String,
}

#[utoipa::path(get, path = "/v1/consent", tag = "shopper", responses((status = 200, body = ConsentText)))]
pub async fn consent(State(switch): State<Arc<Switch>>) -> Json<ConsentText> {
    Json(ConsentText {
        text_version: switch.config.consent_version.clone(),
        purpose: "To recognise you when you pay by face at terminals of merchants on this switch.".into(),
        stored: "A face template (numbers computed from your face, encrypted), and your photos only if you \
                 choose to keep them for re-enrollment; the last 4 digits of your phone; your name, masked."
            .into(),
        retention:
            "Until you delete your face or your account; deletion makes the template unrecoverable at once."
                .into(),
        who_sees: "No merchant, terminal or bank ever receives your face or template; a terminal shows only \
                   your masked name."
            .into(),
    })
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    /// The consent text version the shopper was shown and accepted (`GET /v1/consent`).
    pub consent_text_version: String,
    /// The last 4 digits of the shopper's phone number.
    pub phone_last4: String,
    /// The shopper's name; only its masked form ("A**** S****") is kept.
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SignedUp {
    pub shopper_id: String,
    /// The shopper app's API key, shown once.
    pub api_key: String,
    /// The built-in wallet opened for the shopper, their default way to pay.
    pub wallet: String,
}

/// Longest name accepted before masking, in characters.
const NAME_MAX: usize = 64;

#[utoipa::path(post, path = "/v1/shoppers", tag = "shopper", request_body = SignUp,
    responses((status = 200, body = SignedUp), (status = "4XX", body = ErrorBody)))]
pub async fn sign_up(
    State(switch): State<Arc<Switch>>,
    slot: VerifiedSlot,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SignedUp>, ApiError> {
    // The router took this address's token for the open routes before the body was read.
    let input: SignUp = wire::json(&wire::body(body)?)?;
    if input.consent_text_version != switch.config.consent_version {
        let message = format!("accept the current consent text, version {}", switch.config.consent_version);
        return Err(ApiError::new(StatusCode::CONFLICT, "consent_version_outdated", message));
    }
    let masked =
        (input.name.chars().count() <= NAME_MAX).then(|| wire::mask_name(&input.name)).flatten().ok_or_else(
            || ApiError::bad_request("name_malformed", format!("a name is 1 to {NAME_MAX} characters")),
        )?;
    facepay_payments::phone_digits_valid(&input.phone_last4)?;
    facepay_payments::masked_name_valid(&masked)?;
    let shopper = ShopperId::from_u128(random_u128());
    let wallet = AccountId(random_u128());
    let (key, api_key, secret_hash) = new_api_key();
    // A fresh shopper id, so a key left by a sign-up that failed below is never anyone's.
    let personal = switch.personal_key_or_new(shopper).await?;
    let phone = personal.seal(PersonalField::PhoneDigits, input.phone_last4.as_bytes());
    let phone_digest = personal.digest(PersonalField::PhoneDigits, input.phone_last4.as_bytes());
    let text_version = personal.seal(PersonalField::Consent, input.consent_text_version.as_bytes());
    let masked_name = personal.seal(PersonalField::MaskedName, masked.as_bytes());
    switch
        .execute_each(vec![
            Command::EnrollShopper { shopper, phone, phone_digest },
            Command::RecordConsent { shopper, text_version },
            Command::NameShopper { shopper, masked_name },
            Command::BindWallet { shopper, account: wallet, make_default: true },
            Command::IssueApiKey { key, secret_hash, role: Role::Shopper(shopper) },
        ])
        .await?;
    // The sign-up made the shopper: it is audited under the new shopper's key.
    slot.prove(key);
    let wallet = crate::routes::operator::account_text(wallet);
    Ok(Json(SignedUp { shopper_id: shopper.to_string(), api_key, wallet }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShopperOut {
    pub shopper_id: String,
    pub masked_name: Option<String>,
    pub consent_text_version: Option<String>,
    pub wallets: Vec<Balance>,
    /// Face payment paused by the shopper (a payment code still works).
    pub paused: bool,
    /// The shopper's own limit, if they set one.
    pub limit: Option<LimitPair>,
    /// Their bank accounts, those their bank has not approved (yet) too.
    pub bank_accounts: Vec<BankAccountOut>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BankAccountOut {
    pub issuer: u32,
    pub reference: Option<String>,
    pub default: bool,
    /// `usable`, `awaiting_bank` (its bank has not answered the verification) or `refused`.
    pub state: String,
    /// On a refusal: the bank's response code and what it means, in a sentence.
    pub response_code: Option<String>,
    pub refusal: Option<String>,
}

#[utoipa::path(get, path = "/v1/shopper", tag = "shopper", security(("api_key" = [])),
    responses((status = 200, body = ShopperOut), (status = "4XX", body = ErrorBody)))]
pub async fn me(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
) -> Result<Json<ShopperOut>, ApiError> {
    let (masked_name, consent, wallets, paused, limit, accounts) = switch.read(|core| {
        let consent = core.consent(shopper).map(|(version, _)| version.clone());
        let limit = core.shopper_limit(shopper).and_then(|(own, _)| own).map(LimitPair::from);
        let paused = core.is_paused(shopper).unwrap_or(false);
        let accounts = core.bank_accounts_of(shopper);
        (core.masked_name(shopper).cloned(), consent, core.wallets_of(shopper), paused, limit, accounts)
    });
    let key = switch.personal_key(shopper).await?;
    let open = |field, sealed: Option<facepay_domain::Sealed>| {
        key.as_ref().zip(sealed).and_then(|(key, sealed)| key.open_text(field, &sealed).ok())
    };
    let (masked_name, consent) =
        (open(PersonalField::MaskedName, masked_name), open(PersonalField::Consent, consent));
    let wallets = wallets.into_iter().map(|account| balance(&switch, account)).collect();
    let bank_accounts = accounts
        .into_iter()
        .map(|account| {
            let (state, response_code) = match account.standing {
                None => ("usable", None),
                Some(facepay_payments::BindingState::AwaitingBank { .. }) => ("awaiting_bank", None),
                Some(facepay_payments::BindingState::Refused { response_code }) => {
                    ("refused", Some(response_code))
                }
            };
            BankAccountOut {
                issuer: account.issuer.0,
                reference: open(PersonalField::BankReference, account.reference),
                default: account.default,
                state: state.to_owned(),
                refusal: response_code
                    .as_deref()
                    .map(|code| facepay_payments::refusal_sentence(code).to_owned()),
                response_code,
            }
        })
        .collect();
    Ok(Json(ShopperOut {
        shopper_id: shopper.to_string(),
        masked_name,
        consent_text_version: consent,
        wallets,
        paused,
        limit,
        bank_accounts,
    }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    /// One to five frames of the shopper's face, base64 JPEG, PNG or WebP, taken live.
    pub captures: Vec<String>,
    /// Keep the photos (encrypted) so the face can be re-enrolled when the recognizer changes.
    #[serde(default)]
    pub keep_images: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Enrolled {
    pub enrolled: bool,
    pub images_kept: usize,
}

#[utoipa::path(put, path = "/v1/shopper/face", tag = "shopper", security(("api_key" = [])), request_body = Enrollment,
    responses((status = 200, body = Enrolled), (status = "4XX", body = ErrorBody)))]
pub async fn enroll_face(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Enrolled>, ApiError> {
    let input: Enrollment = wire::json(&wire::body(body)?)?;
    let (consented, phone) =
        switch.read(|core| (core.consent(shopper).is_some(), core.phone_digits(shopper).cloned()));
    let key = switch.personal_key(shopper).await?;
    let phone_last4 =
        key.zip(phone).and_then(|(key, phone)| key.open_text(PersonalField::PhoneDigits, &phone).ok());
    let phone_last4 = phone_last4.filter(|_| consented).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "consent_missing",
            "the shopper has not consented (or deleted everything)",
        )
    })?;
    let frames =
        wire::frames(&input.captures, switch.config.max_enrollment_frames, switch.config.max_frame_bytes)?;
    let worker = switch.clone();
    let keep = input.keep_images;
    let kept = switch
        .captures
        .run(move || -> Result<usize, ApiError> {
            let views: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            let captured = worker.biometrics.capture(&views).map_err(|refused| {
                let status = if refused.engine_failed {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                ApiError::new(status, refused.code, refused.message)
            })?;
            let images: Vec<Secret<Vec<u8>>> =
                if keep { frames.into_iter().map(Secret::new).collect() } else { Vec::new() };
            // The duplicate check and the write are one decision in the gallery, across nodes.
            let threshold = Some(worker.config.duplicate_threshold);
            worker.faces.enroll(shopper, &phone_last4, captured.template, &images, threshold)?;
            Ok(images.len())
        })
        .await??;
    Ok(Json(Enrolled { enrolled: true, images_kept: kept }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPin {
    /// Six digits, not all one digit nor a straight run.
    pub pin: String,
    /// The PIN set now, required to change it (not to choose the first one). A wrong one counts
    /// toward the lockout as at a terminal; while locked, the PIN cannot be changed.
    #[serde(default)]
    pub current_pin: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Done {
    pub done: bool,
}

#[utoipa::path(put, path = "/v1/shopper/pin", tag = "shopper", security(("api_key" = [])), request_body = NewPin,
    responses((status = 200, body = Done), (status = "4XX", body = ErrorBody)))]
pub async fn set_pin(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Done>, ApiError> {
    let input: NewPin = wire::json(&wire::body(body)?)?;
    let pin = Pin::choose(&input.pin).map_err(CoreError::from)?;
    let current = input.current_pin.as_deref().map(Pin::parse).transpose().map_err(CoreError::from)?;
    let key = own_key(&switch, shopper).await?;
    let kept = switch.read(|core| core.sealed_pin_hash(shopper).cloned());
    let kept = match (kept, current) {
        (None, _) => None,
        (Some(_), None) => return Err(CoreError::from(PinError::CurrentRequired).into()),
        (Some(sealed), Some(current)) => {
            let opened = key.open(PersonalField::PinHash, &sealed).ok().and_then(|b| PinHash::from_bytes(&b));
            Some((opened.ok_or(CoreError::UnknownShopper(shopper))?, current))
        }
    };
    // Argon2, for the new PIN and the current one, off the async workers.
    let (hash, current_matched) = tokio::task::spawn_blocking(move || {
        let matched = kept.map(|(hash, current)| hash.matches(&current));
        (PinHash::new(&pin, random_bytes()), matched)
    })
    .await
    .map_err(|_| ApiError::internal("the PIN hashing task failed"))?;
    let hash = key.seal(PersonalField::PinHash, &hash.to_bytes());
    let command = match current_matched {
        None => Command::SetPinHash { shopper, hash },
        Some(current_matched) => Command::ChangePin { shopper, current_matched, hash },
    };
    match switch.execute(command).await? {
        Reply::PinWrong { tries_left } => Err(CoreError::from(PinError::Wrong { tries_left }).into()),
        _ => Ok(Json(Done { done: true })),
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Paused {
    pub paused: bool,
}

#[utoipa::path(put, path = "/v1/shopper/paused", tag = "shopper", security(("api_key" = [])), request_body = Paused,
    responses((status = 200, body = Paused), (status = "4XX", body = ErrorBody)))]
pub async fn pause(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Paused>, ApiError> {
    let input: Paused = wire::json(&wire::body(body)?)?;
    switch.execute(Command::PauseShopper { shopper, paused: input.paused }).await?;
    Ok(Json(input))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentCode {
    /// 18 digits for the app to show as a QR code (and as text); good for one payment.
    pub code: String,
    /// When it lapses, unix ms. Asking for a new code retires this one.
    pub expires_at_ms: i64,
    /// The code as a QR image (SVG) for the app to show and a terminal's scanner to read.
    pub qr_svg: String,
}

/// The alternative to the face: a code the shopper shows and the terminal scans. It works when
/// face payment is paused or switched off, and the shopper's limits and PIN policy still apply.
#[utoipa::path(post, path = "/v1/shopper/payment-code", tag = "shopper", security(("api_key" = [])),
    responses((status = 200, body = PaymentCode), (status = "4XX", body = ErrorBody)))]
pub async fn payment_code(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
) -> Result<Json<PaymentCode>, ApiError> {
    let code = format!("{:018}", random_u128() % PAYMENT_CODE_SPACE);
    let expires_at_ms = now_ms() + switch.config.payment_code_ttl_ms;
    let expires_at = Timestamp::from_unix_ms(expires_at_ms);
    let code_hash = wire::payment_code_hash(&code)?;
    switch.execute(Command::IssuePaymentCode { shopper, code_hash, expires_at }).await?;
    let qr_svg =
        payment_code_qr(&code).render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).build();
    Ok(Json(PaymentCode { code, expires_at_ms, qr_svg }))
}

/// The QR symbol of a payment code: 18 digits fit version 1 in numeric mode at level M (15%
/// of the symbol may be damaged and still scan).
fn payment_code_qr(code: &str) -> qrcode::QrCode {
    qrcode::QrCode::with_error_correction_level(code.as_bytes(), qrcode::EcLevel::M)
        .expect("18 digits fit a QR symbol")
}

/// 10^18: payment codes are 18 digits, about 60 bits, guessed at most a few times a second per
/// terminal (its rate limit) within the minute a code lives.
const PAYMENT_CODE_SPACE: u128 = 1_000_000_000_000_000_000;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    /// The face's key was destroyed: the template cannot be recovered anywhere.
    pub face_shredded: bool,
    /// Face payment is off, the name and consent forgotten, the app's keys revoked.
    pub account_closed: bool,
}

#[utoipa::path(delete, path = "/v1/shopper", tag = "shopper", security(("api_key" = [])),
    responses((status = 200, body = Deleted), (status = "4XX", body = ErrorBody)))]
pub async fn delete_everything(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
) -> Result<Json<Deleted>, ApiError> {
    let faces = switch.faces.clone();
    let face_shredded = tokio::task::spawn_blocking(move || faces.delete(shopper))
        .await
        .map_err(|_| ApiError::internal("the deletion task failed"))??;
    switch.execute(Command::ForgetShopper { shopper }).await?;
    Ok(Json(Deleted { face_shredded, account_closed: true }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankAccount {
    /// The bank's number on this switch.
    pub issuer: u32,
    /// The bank's own reference (a token) for the account; never an account number.
    pub reference: String,
    /// Pay from it by default from now on.
    #[serde(default)]
    pub make_default: bool,
}

#[utoipa::path(post, path = "/v1/shopper/bank-accounts", tag = "shopper", security(("api_key" = [])),
    request_body = BankAccount, responses((status = 200, body = Done), (status = "4XX", body = ErrorBody)))]
pub async fn bind_bank_account(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Done>, ApiError> {
    let input: BankAccount = wire::json(&wire::body(body)?)?;
    let issuer = facepay_payments::IssuerId(input.issuer);
    let make_default = input.make_default;
    let key = own_key(&switch, shopper).await?;
    let FundingSource::BankAccount { account, .. } = bank_source(&key, issuer, &input.reference)? else {
        unreachable!("a bank account")
    };
    let reference = key.seal(PersonalField::BankReference, input.reference.as_bytes());
    switch.execute(Command::BindBankAccount { shopper, issuer, account, reference, make_default }).await?;
    Ok(Json(Done { done: true }))
}

/// An account as the shopper app names it: a wallet by its id, a bank account by its bank and
/// the bank's reference.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Funding {
    /// A built-in wallet's id (`acc_...`); or else
    pub wallet: Option<String>,
    /// a bank's number with
    pub issuer: Option<u32>,
    /// its reference for the account.
    pub reference: Option<String>,
}

impl Funding {
    /// The account as the core names it: a bank account by its digest under the shopper's key.
    fn source(&self, key: &PersonalKey) -> Result<FundingSource, ApiError> {
        match (&self.wallet, self.issuer, &self.reference) {
            (Some(wallet), None, None) => {
                Ok(FundingSource::Wallet(crate::routes::operator::parse_account(wallet)?))
            }
            (None, Some(issuer), Some(reference)) => {
                bank_source(key, facepay_payments::IssuerId(issuer), reference)
            }
            _ => Err(ApiError::bad_request(
                "funding_malformed",
                "name a wallet, or an issuer with its reference",
            )),
        }
    }

    /// The account as the shopper app shows it, a bank account's reference opened; `None` for
    /// one that does not open.
    fn of(switch: &Switch, shopper: ShopperId, source: &FundingSource, key: &PersonalKey) -> Option<Funding> {
        match source {
            FundingSource::Wallet(account) => Some(Funding {
                wallet: Some(crate::routes::operator::account_text(*account)),
                issuer: None,
                reference: None,
            }),
            FundingSource::BankAccount { issuer, account } => {
                let sealed = switch.read(|core| core.bank_reference(shopper, *account).cloned())?;
                let reference = key.open_text(PersonalField::BankReference, &sealed).ok()?;
                Some(Funding { wallet: None, issuer: Some(issuer.0), reference: Some(reference) })
            }
        }
    }
}

/// A bank account named by the shopper: its reference checked, and digested under their key.
fn bank_source(
    key: &PersonalKey,
    issuer: facepay_payments::IssuerId,
    reference: &str,
) -> Result<FundingSource, ApiError> {
    facepay_payments::bank_reference_valid(reference)?;
    let input = facepay_payments::bank_account_digest_input(issuer, reference);
    Ok(FundingSource::BankAccount { issuer, account: key.digest(PersonalField::BankReference, &input) })
}

/// The calling shopper's personal key: signed up, so they have one until they delete everything
/// (after which their API key no longer reaches here).
async fn own_key(switch: &Arc<Switch>, shopper: ShopperId) -> Result<PersonalKey, ApiError> {
    switch.personal_key(shopper).await?.ok_or(CoreError::UnknownShopper(shopper).into())
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FundingList {
    pub accounts: Vec<Funding>,
    pub default: Option<Funding>,
}

fn funding_list(switch: &Switch, shopper: ShopperId, key: &PersonalKey) -> FundingList {
    let (accounts, default) = switch.read(|core| core.funding_of(shopper));
    FundingList {
        accounts: accounts.iter().filter_map(|source| Funding::of(switch, shopper, source, key)).collect(),
        default: default.as_ref().and_then(|source| Funding::of(switch, shopper, source, key)),
    }
}

#[utoipa::path(put, path = "/v1/shopper/default-funding", tag = "shopper", security(("api_key" = [])),
    request_body = Funding, responses((status = 200, body = FundingList), (status = "4XX", body = ErrorBody)))]
pub async fn choose_default(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<FundingList>, ApiError> {
    let key = own_key(&switch, shopper).await?;
    let source = wire::json::<Funding>(&wire::body(body)?)?.source(&key)?;
    switch.execute(Command::ChooseDefaultFunding { shopper, source }).await?;
    Ok(Json(funding_list(&switch, shopper, &key)))
}

#[utoipa::path(post, path = "/v1/shopper/funding/unbind", tag = "shopper", security(("api_key" = [])),
    request_body = Funding, responses((status = 200, body = FundingList), (status = "4XX", body = ErrorBody)))]
pub async fn unbind(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<FundingList>, ApiError> {
    let key = own_key(&switch, shopper).await?;
    let source = wire::json::<Funding>(&wire::body(body)?)?.source(&key)?;
    switch.execute(Command::UnbindFunding { shopper, source }).await?;
    Ok(Json(funding_list(&switch, shopper, &key)))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnLimit {
    /// None lifts the shopper's own limit (the merchant's and the switch's still apply).
    pub per_transaction_minor: Option<i64>,
    pub daily_minor: Option<i64>,
}

#[utoipa::path(put, path = "/v1/shopper/limit", tag = "shopper", security(("api_key" = [])),
    request_body = OwnLimit, responses((status = 200, body = OwnLimit), (status = "4XX", body = ErrorBody)))]
pub async fn set_limit(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<OwnLimit>, ApiError> {
    let input: OwnLimit = wire::json(&wire::body(body)?)?;
    let limit = match (input.per_transaction_minor, input.daily_minor) {
        (None, None) => None,
        (Some(per_transaction_minor), Some(daily_minor))
            if per_transaction_minor > 0 && daily_minor >= per_transaction_minor =>
        {
            Some(facepay_payments::Limit { per_transaction_minor, daily_minor })
        }
        _ => {
            return Err(ApiError::bad_request(
                "limit_malformed",
                "give both amounts above zero, the daily one at least the per-payment one, or neither",
            ));
        }
    };
    // The tier is the operator's and stays; the shopper's own limit only ever tightens.
    switch.execute(Command::SetShopperLimit { shopper, limit, tier: None }).await?;
    Ok(Json(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_codes_qr_symbol_reads_back_as_the_code() {
        let code = "280123456789012345";
        let symbol = payment_code_qr(code);
        let (width, colors) = (symbol.width(), symbol.to_colors());
        // Drawn 4 pixels a module with a 4-module quiet zone, as a scanner would see it.
        let (scale, quiet) = (4, 4);
        let side = (width + 2 * quiet) * scale;
        let dark = |x: usize, y: usize| {
            let (mx, my) = ((x / scale).wrapping_sub(quiet), (y / scale).wrapping_sub(quiet));
            mx < width && my < width && colors[my * width + mx] == qrcode::Color::Dark
        };
        let mut image = rqrr::PreparedImage::prepare_from_bitmap(side, side, dark);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().expect("the symbol decodes");
        assert_eq!(content, code);
        let svg = symbol.render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).build();
        assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"), "an SVG image: {svg}");
    }
}
