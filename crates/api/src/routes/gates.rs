//! A transit operator's gates, signed as terminals. A gate asks for a decision when a rider
//! presents a face or a payment code (`decisions`); the barrier opens on `open`, and only once
//! the rider has passed does the gate report the passage with the decision's ticket
//! (`passages`), alone or in a batch after a stretch without the switch. One passage is one tap
//! whatever the medium, and a rider a gate saw but who never passed is never charged.
//!
//! An entry is searched among everyone enrolled, and when the face alone is not certain enough
//! among them, among those who share the phone digits the rider types; an exit only among the
//! riders inside the gate's network (entered within its longest journey), a gallery thousands of
//! times smaller, decided as a phone-digit bucket is (no one to ask for more, so a close
//! runner-up is no match). A gate asks no PIN: a match must be one that pays without it. A rider
//! on the deny list is asked for the debt at the gate and let in once it is paid. The gates' own
//! risk rule (the operator's, in the scheme) counts a rider's entries: a till's velocity rules
//! would stop a gate at rush hour, and a gate's decisions are not payments.
//!
//! A ticket is held in this node's memory (like a face waiting for its phone digits) for
//! `TICKET_HOLD_MS`: the gate reports its passages to the node that decided.
//!
//! Gates keep working without the switch. Face matching needs the switch (templates never
//! leave it) and a payment code is only a hash the core holds, so a gate cut off decides
//! travel passes alone (`crate::travel_pass`): it fetches an offline pack while it can
//! (`offline-pack`: the key passes are checked with, the deny list, the entries rule and the
//! network's fares to show) and opens for a pass whose signatures hold and whose rider is not
//! denied, keeping the operator's entries rule over what it let through itself. Those
//! passages go up with the showing instead of a ticket once the switch answers again; the
//! switch checks each showing again and prices the journeys like any other. A face at an
//! offline gate is asked for the pass.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use facepay_domain::{FaceTemplate, ShopperId, TerminalId, Timestamp};
use facepay_face_index::{Decision, PhoneHint, Scope, decide};
use facepay_payments::{Command, CoreError, GatePassage, GatePlace, PassageOutcome, Reply, RiskVerdict};
use facepay_transit::{CapPeriod, Direction, Medium};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{hex, random_bytes};
use crate::caller::SignedTerminal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::transit::RiderEntriesRule;
use crate::switch::{Switch, now_ms};
use crate::travel_pass::{PassRefused, SHOWN_WITHIN_MS, Shown};
use crate::wire;

/// How long an open decision waits for its passage report.
pub const TICKET_HOLD_MS: i64 = 3_600_000;
/// Most open decisions a node holds; past that the oldest goes first.
pub const TICKETS_HELD: usize = 200_000;
/// How long a gate decides alone with one offline pack; after that it opens for no pass until
/// it has a fresh one (a deny list a day old is as stale as the operator accepts).
pub const OFFLINE_PACK_VALID_MS: i64 = 86_400_000;

/// A ticket's 16 random bytes.
pub(crate) type Ticket = [u8; 16];

/// What an open decision let through, waiting for the gate to say the rider passed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admitted {
    gate: TerminalId,
    rider: ShopperId,
    direction: Direction,
    medium: Medium,
    decided_ms: i64,
    /// The travel pass showing that opened the barrier.
    shown: Option<[u8; 32]>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GateDirection {
    Entry,
    Exit,
}

impl From<GateDirection> for Direction {
    fn from(direction: GateDirection) -> Direction {
        match direction {
            GateDirection::Entry => Direction::Entry,
            GateDirection::Exit => Direction::Exit,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub direction: GateDirection,
    /// One to three frames of the rider's face, base64 JPEG, PNG or WebP; or else
    #[serde(default)]
    pub captures: Vec<String>,
    /// the 18 digits of the payment code the rider's app shows; or else
    pub payment_code: Option<String>,
    /// the travel pass the rider's phone shows (`POST /v1/shopper/transit/pass`), shown now.
    pub travel_pass: Option<String>,
    /// With captures at an entry: the last 4 digits of the rider's phone, typed when the face
    /// alone was not certain among everyone (`phone_digits_needed`); the face is then searched
    /// among those who share them.
    pub phone_last4: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GateDecision {
    /// Whether the barrier opens.
    pub open: bool,
    /// `gate_open`, or why it stays closed: `face_not_live`, `rider_unknown`,
    /// `phone_digits_needed` (send the face again with `phone_last4`), `face_uncertain`,
    /// `rider_not_inside`, `code_unknown`, `pass_malformed`, `pass_forged`, `pass_lapsed`,
    /// `pass_shown_at_other_time`, `rider_denied`, `payment_code_needed` and
    /// `rider_entries_too_many` (the operator's rule on one rider's entries in a short time).
    pub code: String,
    /// A sentence for the gate's screen.
    pub message: String,
    /// When open: report the passage with it once the rider has passed.
    pub ticket: Option<String>,
}

impl GateDecision {
    fn closed(code: &str, message: &str) -> GateDecision {
        GateDecision { open: false, code: code.to_owned(), message: message.to_owned(), ticket: None }
    }
}

#[utoipa::path(post, path = "/v1/gate/decisions", tag = "gate", security(("terminal_signature" = [])),
    request_body = DecisionRequest,
    responses((status = 200, body = GateDecision), (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
/// Whether the barrier opens for the rider in front of the gate.
pub async fn decide_passage(
    State(switch): State<Arc<Switch>>,
    signed: SignedTerminal,
) -> Result<Json<GateDecision>, ApiError> {
    let SignedTerminal { terminal: gate, body } = signed;
    let request: DecisionRequest = wire::json(&body)?;
    switch.refuse_unless_in_standing(gate)?;
    let place = gate_place(&switch, gate)?;
    let direction = Direction::from(request.direction);
    let hint = match &request.phone_last4 {
        Some(_) if direction == Direction::Exit || request.captures.is_empty() => {
            return Err(ApiError::bad_request(
                "phone_digits_unexpected",
                "phone digits go with the captures of an entry",
            ));
        }
        Some(digits) => Some(PhoneHint::parse(digits)?),
        None => None,
    };
    let mut shown = None;
    let (rider, medium) = match (request.captures.is_empty(), request.payment_code, request.travel_pass) {
        (true, Some(code), None) => {
            let code_hash = wire::payment_code_hash(&code)?;
            match switch.execute(Command::AdmitByCode { gate, code_hash }).await? {
                Reply::Rider(Some(rider)) => (rider, Medium::PaymentCode),
                Reply::Rider(None) => {
                    let closed =
                        GateDecision::closed("code_unknown", "This code is used or expired: show a new one.");
                    return Ok(Json(closed));
                }
                _ => return Err(ApiError::internal("the core answered a code without a rider")),
            }
        }
        (true, None, Some(showing)) => {
            let checked =
                switch.pass_key.check(&showing).and_then(|pass| pass.shown_near(crate::switch::now()));
            let pass = match checked {
                Ok(pass) => pass,
                Err(refused) => return Ok(Json(GateDecision::closed(refused.code(), refused.message()))),
            };
            if switch.read(|core| core.is_paused(pass.rider)).is_none() {
                let closed = GateDecision::closed("rider_unknown", "This pass's account is closed.");
                return Ok(Json(closed));
            }
            shown = Some(pass.digest);
            (pass.rider, Medium::TravelPass)
        }
        (false, None, None) => {
            let limits = (switch.config.max_payment_frames, switch.config.max_frame_bytes);
            let frames = wire::frames(&request.captures, limits.0, limits.1)?;
            let Some(template) = crate::routes::terminal::live_template(&switch, frames).await? else {
                return Ok(Json(GateDecision::closed(
                    "face_not_live",
                    "Please look at the camera yourself.",
                )));
            };
            match identify_rider(&switch, &place, direction, hint, &template)? {
                Ok(rider) => (rider, Medium::Face),
                Err(closed) => return Ok(Json(closed)),
            }
        }
        _ => {
            return Err(ApiError::bad_request(
                "identification_ambiguous",
                "send captures, a payment code or a travel pass: one of them",
            ));
        }
    };
    if direction == Direction::Entry {
        match switch.read(|core| core.gate_risk_verdict(rider, crate::switch::now())) {
            RiskVerdict::Decline => {
                let message = "Too many entries in a short time: please ask staff.";
                return Ok(Json(GateDecision::closed("rider_entries_too_many", message)));
            }
            RiskVerdict::StepUp if medium == Medium::Face => {
                let message = "Please show your payment code to enter again.";
                return Ok(Json(GateDecision::closed("payment_code_needed", message)));
            }
            _ => {}
        }
    }
    if direction == Direction::Entry && !settled_at_gate(&switch, rider, gate).await? {
        return Ok(Json(GateDecision::closed(
            "rider_denied",
            "Your travel account owes a fare its bank refused: settle it on your page.",
        )));
    }
    let ticket: Ticket = random_bytes();
    let admitted = Admitted { gate, rider, direction, medium, decided_ms: now_ms(), shown };
    switch.held_tickets.hold(ticket, admitted, admitted.decided_ms);
    Ok(Json(GateDecision {
        open: true,
        code: "gate_open".to_owned(),
        message: "Please pass.".to_owned(),
        ticket: Some(format!("tkt_{}", hex(&ticket))),
    }))
}

/// The registered place of a gate; a terminal that is not a gate is refused.
fn gate_place(switch: &Switch, gate: TerminalId) -> Result<GatePlace, ApiError> {
    switch
        .read(|core| core.gate_place(gate).cloned())
        .ok_or_else(|| ApiError::from(CoreError::GateUnknown(gate)))
}

/// The rider whose face this is: among everyone at an entry (among those who share the phone
/// digits, when the rider typed them), among the riders inside the network at an exit; or the
/// closed decision to show. A gate asks no PIN, so a match must be one that pays without it.
fn identify_rider(
    switch: &Switch,
    place: &GatePlace,
    direction: Direction,
    hint: Option<PhoneHint>,
    template: &FaceTemplate,
) -> Result<Result<ShopperId, GateDecision>, ApiError> {
    let view = switch.reader.view();
    let k = switch.config.search_k;
    let (candidates, scope) = match (direction, hint) {
        (Direction::Entry, Some(hint)) => (view.search_hint(template, hint, k)?, Scope::PhoneBucket),
        (Direction::Entry, None) => (view.search(template, k)?, Scope::Everyone),
        (Direction::Exit, _) => {
            let inside = switch.read(|core| {
                let longest = core
                    .transit_scheme()
                    .and_then(|scheme| scheme.fares.networks.get(&place.network))
                    .map_or(0, |rules| rules.max_journey_ms);
                core.travel_log().riding(&place.network, longest, crate::switch::now())
            });
            (view.search_among(template, &inside, k)?, Scope::PhoneBucket)
        }
    };
    Ok(match decide(&candidates, &switch.config.decision, scope) {
        Decision::Match { shopper, pin_required: false, .. } => Ok(shopper),
        Decision::Match { .. } => Err(GateDecision::closed(
            "face_uncertain",
            "We could not be sure it is you: show your payment code.",
        )),
        Decision::AskHint => Err(GateDecision::closed(
            "phone_digits_needed",
            "Type the last 4 digits of your phone, or show your payment code.",
        )),
        Decision::NoMatch if direction == Direction::Exit => Err(GateDecision::closed(
            "rider_not_inside",
            "We found no journey of yours on this network: show your payment code or ask staff.",
        )),
        Decision::NoMatch => {
            Err(GateDecision::closed("rider_unknown", "We do not know this face: show your payment code."))
        }
    })
}

/// Whether the rider may enter: not denied, or denied and the debt just collected at this gate.
async fn settled_at_gate(switch: &Arc<Switch>, rider: ShopperId, gate: TerminalId) -> Result<bool, ApiError> {
    if !switch.read(|core| core.transit_standing(rider).denied) {
        return Ok(true);
    }
    match switch.execute(Command::CollectAtGate { rider, gate }).await {
        Ok(_) => {}
        // Nothing owed (a refused hold waits for the day's close) or a collection under way.
        Err(err) if err.code == "nothing_to_collect" => {}
        Err(err) => return Err(err),
    }
    Ok(!switch.read(|core| core.transit_standing(rider).denied))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PassageReport {
    /// The open decision's ticket; or, for a passage the gate let through alone while the
    /// switch could not be reached,
    pub ticket: Option<String>,
    /// the travel pass showing the gate checked, with
    pub travel_pass: Option<String>,
    /// the passage's direction.
    pub direction: Option<GateDirection>,
    /// The gate's own count of passages: one passage, one number, also when sent again.
    pub seq: u64,
    /// When the rider passed, unix ms.
    pub at_ms: i64,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PassagesRequest {
    /// 1 to 1,000 passages, in any order; sending a batch again changes nothing.
    pub passages: Vec<PassageReport>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PassageRecorded {
    pub seq: u64,
    /// `recorded`, `duplicate`, `same_passage` (the rider's other medium at the same moment),
    /// `ticket_unknown` (another node's, another gate's or lapsed), `passage_before_decision`,
    /// `too_late`, `clock_ahead`, `rider_unknown`; for a travel pass also `shown_before` (the
    /// showing opened another barrier: a copy), `pass_malformed`, `pass_forged`, `pass_lapsed`
    /// and `pass_shown_at_other_time` (not shown within 90 s of the passage).
    pub outcome: String,
    /// When recorded: the rider's charge for that travel day so far, after caps, for the gate to
    /// show (the day is charged once, after it closes).
    pub day_charge_minor: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PassagesRecorded {
    /// One per passage, in the request's order.
    pub passages: Vec<PassageRecorded>,
}

#[utoipa::path(post, path = "/v1/gate/passages", tag = "gate", security(("terminal_signature" = [])),
    request_body = PassagesRequest,
    responses((status = 200, body = PassagesRecorded), (status = "4XX", body = ErrorBody)))]
/// The riders who passed through the gate, by their decisions' tickets.
pub async fn report_passages(
    State(switch): State<Arc<Switch>>,
    signed: SignedTerminal,
) -> Result<Json<PassagesRecorded>, ApiError> {
    let SignedTerminal { terminal: gate, body } = signed;
    let request: PassagesRequest = wire::json(&body)?;
    if request.passages.is_empty() || request.passages.len() > facepay_payments::PASSAGES_MAX {
        return Err(CoreError::PassagesTooMany.into());
    }
    gate_place(&switch, gate)?;
    let now = now_ms();
    // Each report's passage, or the outcome that says why it has none.
    let mut answers: Vec<Result<GatePassage, &'static str>> = Vec::with_capacity(request.passages.len());
    for report in &request.passages {
        let at = Timestamp::from_unix_ms(report.at_ms);
        let answer = match (&report.ticket, &report.travel_pass, report.direction) {
            (Some(ticket), None, None) => {
                let admitted = switch
                    .held_tickets
                    .get(parse_ticket(ticket)?, now)
                    .filter(|admitted| admitted.gate == gate);
                match admitted {
                    None => Err("ticket_unknown"),
                    Some(admitted) if report.at_ms < admitted.decided_ms - switch.config.clock_skew_ms => {
                        Err("passage_before_decision")
                    }
                    Some(admitted) => Ok(GatePassage {
                        gate,
                        seq: report.seq,
                        rider: admitted.rider,
                        direction: admitted.direction,
                        medium: admitted.medium,
                        at,
                        shown: admitted.shown,
                    }),
                }
            }
            (None, Some(showing), Some(direction)) => {
                let checked: Result<Shown, PassRefused> =
                    switch.pass_key.check(showing).and_then(|pass| pass.shown_near(at));
                checked.map_err(PassRefused::code).map(|pass| GatePassage {
                    gate,
                    seq: report.seq,
                    rider: pass.rider,
                    direction: direction.into(),
                    medium: Medium::TravelPass,
                    at,
                    shown: Some(pass.digest),
                })
            }
            _ => {
                return Err(ApiError::bad_request(
                    "passage_malformed",
                    "a passage carries its decision's ticket, or a travel pass with its direction",
                ));
            }
        };
        answers.push(answer);
    }
    let passages: Vec<GatePassage> = answers.iter().filter_map(|answer| answer.clone().ok()).collect();
    let mut recorded = if passages.is_empty() {
        Vec::new()
    } else {
        match switch.execute(Command::RecordPassages(passages)).await? {
            Reply::Passages(outcomes) => outcomes,
            _ => return Err(ApiError::internal("the core answered passages without their outcomes")),
        }
    }
    .into_iter();
    let mut passages = Vec::with_capacity(answers.len());
    for (report, answer) in request.passages.iter().zip(answers) {
        let (outcome, day_charge_minor) = match answer {
            Err(code) => (code, None),
            Ok(passage) => match recorded.next() {
                Some(PassageOutcome::Recorded) => ("recorded", day_charge(&switch, &passage)),
                Some(outcome) => (outcome.code(), None),
                None => ("passage_unanswered", None),
            },
        };
        passages.push(PassageRecorded { seq: report.seq, outcome: outcome.to_owned(), day_charge_minor });
    }
    Ok(Json(PassagesRecorded { passages }))
}

/// The rider's charge so far for the travel day of `passage`, after caps.
fn day_charge(switch: &Switch, passage: &GatePassage) -> Option<i64> {
    switch.read(|core| {
        let scheme = core.transit_scheme()?;
        let day = scheme.calendar.day_of(passage.at);
        let bill = core.travel_log().bill(passage.rider, day, None, &scheme.fares, &scheme.calendar).ok()?;
        Some(bill.charge_minor)
    })
}

/// A ticket reads `tkt_<32 hex digits>`.
fn parse_ticket(text: &str) -> Result<Ticket, ApiError> {
    let malformed = || ApiError::bad_request("ticket_malformed", "a ticket reads tkt_<32 hex digits>");
    let digits = text.strip_prefix("tkt_").filter(|d| d.len() == 32).ok_or_else(malformed)?;
    let mut ticket = [0u8; 16];
    for (byte, pair) in ticket.iter_mut().zip(digits.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| malformed())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| malformed())?;
    }
    Ok(ticket)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GateSetup {
    pub terminal_id: String,
    pub network: String,
    pub station: String,
    /// The switch's clock, unix ms, for the gate to check its own against.
    pub server_time_ms: i64,
    pub currency: String,
}

#[utoipa::path(get, path = "/v1/gate/setup", tag = "gate", security(("terminal_signature" = [])),
    responses((status = 200, body = GateSetup), (status = "4XX", body = ErrorBody)))]
/// Where the gate stands, and the switch's clock.
pub async fn setup(
    State(switch): State<Arc<Switch>>,
    signed: SignedTerminal,
) -> Result<Json<GateSetup>, ApiError> {
    let place = gate_place(&switch, signed.terminal)?;
    Ok(Json(GateSetup {
        terminal_id: signed.terminal.to_string(),
        network: place.network.0,
        station: place.station.0,
        server_time_ms: now_ms(),
        currency: switch.config.currency.code().to_owned(),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfflinePack {
    /// When the switch made it, unix ms. The gate decides alone with it for `valid_for_ms`,
    /// then opens for no pass until it has a fresh one.
    pub issued_at_ms: i64,
    pub valid_for_ms: i64,
    /// The Ed25519 public key travel passes are signed with, base64.
    pub pass_public_key: String,
    /// How far a showing's time may be from the gate's clock.
    pub shown_within_ms: i64,
    /// The riders (shopper ids, as their passes name them) the gate lets in no more.
    pub denied_riders: Vec<String>,
    /// The operator's rule on one rider's entries; the gate keeps it over the entries it let
    /// through itself (closed from `closed_from`; a pass already is the code asked for).
    pub rider_entries: RiderEntriesRule,
    /// What the gate shows while offline: journeys are priced once the switch has them.
    pub fares: OfflineFares,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfflineFares {
    pub currency: String,
    /// What a journey with no exit, or one longer than `max_journey_minutes`, costs.
    pub maximum_fare_minor: i64,
    pub max_journey_minutes: i64,
    /// The most a rider pays in a travel day on this network, when the fares cap it.
    pub day_cap_minor: Option<i64>,
}

#[utoipa::path(get, path = "/v1/gate/offline-pack", tag = "gate", security(("terminal_signature" = [])),
    responses((status = 200, body = OfflinePack), (status = "4XX", body = ErrorBody)))]
/// What the gate needs to decide travel passes while the switch cannot be reached.
pub async fn offline_pack(
    State(switch): State<Arc<Switch>>,
    signed: SignedTerminal,
) -> Result<Json<OfflinePack>, ApiError> {
    switch.refuse_unless_in_standing(signed.terminal)?;
    let place = gate_place(&switch, signed.terminal)?;
    let pack = switch.read(|core| {
        let scheme = core.transit_scheme()?;
        let rules = scheme.fares.networks.get(&place.network)?;
        let day_cap_minor = scheme
            .fares
            .caps
            .iter()
            .filter(|cap| cap.period == CapPeriod::Day && cap.category.is_none())
            .filter(|cap| cap.network.as_ref().is_none_or(|network| *network == place.network))
            .map(|cap| cap.amount_minor)
            .min();
        Some(OfflinePack {
            issued_at_ms: now_ms(),
            valid_for_ms: OFFLINE_PACK_VALID_MS,
            pass_public_key: BASE64.encode(switch.pass_key.public_key()),
            shown_within_ms: SHOWN_WITHIN_MS,
            denied_riders: core.transit_deny_list().iter().map(ToString::to_string).collect(),
            rider_entries: scheme.gate_risk.rider_entries.into(),
            fares: OfflineFares {
                currency: scheme.fares.currency.code().to_owned(),
                maximum_fare_minor: rules.maximum_fare_minor,
                max_journey_minutes: rules.max_journey_ms / 60_000,
                day_cap_minor,
            },
        })
    });
    pack.map(Json).ok_or_else(|| ApiError::from(CoreError::TransitNotConfigured))
}
