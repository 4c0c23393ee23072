//! Transit for the operator and the rider. The operator imports the fare files (a GTFS Fares v2
//! subset, with facepay's networks and caps files), sets the travel calendar and the day's hold,
//! places gates at stations, and reads the deny list and any rider's trips. A rider reads their
//! trips and each day's charge after caps, what they owe, and claims where a journey with no exit
//! ended, and gets a travel pass for their phone (what gates check without the switch).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use facepay_domain::{ShopperId, TerminalId};
use facepay_payments::{Command, CountRule, GatePlace, GateRisk, PaymentCore, TransitScheme};
use facepay_transit::{
    ImportOptions, Journey, JourneyKind, Medium, NetworkId, Passage, StopId, TapId, TravelCalendar, TravelDay,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{parse_prefixed, parse_public_key, parse_terminal_id};
use crate::caller::{Operator, ShopperCaller};
use crate::error::{ApiError, ErrorBody};
use crate::routes::operator::merchant_id;
use crate::switch::{Switch, now};
use crate::travel_pass::PASS_VALID_MS;
use crate::wire;

/// Travel days a trips page shows, today's included.
pub const TRIP_DAYS: i64 = 7;
/// Fare files in one import, and the bytes of each.
pub const FARE_FILES_MAX: usize = 20;
pub const FARE_FILE_BYTES_MAX: usize = 1 << 20;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemeRequest {
    /// The transit operator's merchant: its gates are its terminals, the fares are paid to it.
    pub merchant_id: String,
    /// The feed's fare files by name (`fare_products.txt`, `fare_leg_rules.txt`, `areas.txt`,
    /// `stop_areas.txt`, ..., `facepay_networks.txt`, `facepay_fare_caps.txt`), as text.
    pub fare_files: BTreeMap<String, String>,
    /// The `fare_media_id` whose prices riders paying by face or code pay, when the feed names media.
    pub fare_media: Option<String>,
    /// Held at a rider's first passage of a travel day; at least the day's cap, in minor units.
    pub day_hold_minor: i64,
    /// How long after a day's last journey could end its charges are made, 0 to 1,440 minutes.
    #[serde(default)]
    pub close_delay_minutes: i64,
    /// The network's clock: minutes east of UTC, -840 to 840.
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// When a travel day begins, minutes after local midnight (270: 04:30), 0 to 1,439.
    pub day_starts_minute: u32,
    /// The gates' rule on one rider's entries (default: over 10 minutes, a payment code from the
    /// 3rd, closed from the 6th).
    pub rider_entries: Option<RiderEntriesRule>,
}

/// A rider's entries counted over `window_minutes`: from the `code_from`-th a face alone no
/// longer opens an entry (the one-time payment code still does), from the `closed_from`-th none.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiderEntriesRule {
    pub window_minutes: u32,
    pub code_from: u32,
    pub closed_from: u32,
}

impl From<RiderEntriesRule> for CountRule {
    fn from(rule: RiderEntriesRule) -> CountRule {
        CountRule {
            window_ms: i64::from(rule.window_minutes) * 60_000,
            step_up_at: rule.code_from,
            decline_at: rule.closed_from,
        }
    }
}

impl From<CountRule> for RiderEntriesRule {
    /// The rule in whole minutes, as the operator set it.
    fn from(rule: CountRule) -> RiderEntriesRule {
        RiderEntriesRule {
            window_minutes: u32::try_from(rule.window_ms / 60_000).unwrap_or(u32::MAX),
            code_from: rule.step_up_at,
            closed_from: rule.decline_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FareNotice {
    pub file: String,
    pub line: Option<usize>,
    pub code: String,
    pub detail: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SchemeSet {
    pub networks: Vec<String>,
    /// What the import read but does not act on (unknown columns and files, rules naming
    /// undefined areas, ...): each named, never silently dropped.
    pub notices: Vec<FareNotice>,
}

#[utoipa::path(put, path = "/v1/operator/transit/scheme", tag = "transit", security(("api_key" = [])),
    request_body = SchemeRequest, responses((status = 200, body = SchemeSet), (status = "4XX", body = ErrorBody)))]
/// Imports the fare files and sets the transit scheme (replacing the one before).
pub async fn set_scheme(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SchemeSet>, ApiError> {
    let input: SchemeRequest = wire::json(&wire::body(body)?)?;
    let merchant = merchant_id(&input.merchant_id)?;
    if input.fare_files.is_empty()
        || input.fare_files.len() > FARE_FILES_MAX
        || input.fare_files.iter().any(|(name, text)| name.len() > 64 || text.len() > FARE_FILE_BYTES_MAX)
    {
        return Err(ApiError::bad_request(
            "fare_files_malformed",
            format!("send 1 to {FARE_FILES_MAX} fare files, each named in 64 bytes and at most 1 MiB"),
        ));
    }
    if !(0..=1_440).contains(&input.close_delay_minutes) {
        return Err(ApiError::bad_request("close_delay_malformed", "close_delay_minutes is 0 to 1440"));
    }
    let options = ImportOptions { currency: switch.config.currency, fare_media: input.fare_media };
    let imported = facepay_transit::import(&input.fare_files, &options)
        .map_err(|err| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, err.code(), err.to_string()))?;
    let networks = imported.fares.networks.keys().map(|network| network.0.clone()).collect();
    let scheme = TransitScheme {
        merchant,
        fares: imported.fares,
        calendar: TravelCalendar {
            utc_offset_minutes: input.utc_offset_minutes,
            day_starts_minute: input.day_starts_minute,
        },
        day_hold_minor: input.day_hold_minor,
        close_delay_ms: input.close_delay_minutes * 60_000,
        gate_risk: input
            .rider_entries
            .map_or_else(GateRisk::default, |rule| GateRisk { rider_entries: rule.into() }),
    };
    switch.execute(Command::SetTransitScheme(Box::new(scheme))).await?;
    let notices = imported
        .notices
        .into_iter()
        .map(|notice| FareNotice {
            file: notice.file,
            line: notice.line,
            code: notice.code.to_owned(),
            detail: notice.detail,
        })
        .collect();
    Ok(Json(SchemeSet { networks, notices }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatePlaceRequest {
    pub network: String,
    /// The station's `stop_id` in the fare files.
    pub station: String,
}

#[utoipa::path(put, path = "/v1/operator/transit/gates/{terminal_id}", tag = "transit", security(("api_key" = [])),
    request_body = GatePlaceRequest, params(("terminal_id" = String, Path)),
    responses((status = 200, body = GatePlaceRequest), (status = "4XX", body = ErrorBody)))]
/// Makes one of the transit operator's terminals a gate at a station (again, when it moved).
pub async fn place_gate(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<GatePlaceRequest>, ApiError> {
    let terminal: TerminalId = parse_terminal_id(&id)
        .ok_or_else(|| ApiError::bad_request("id_malformed", "a terminal id reads trm_<32 hex digits>"))?;
    let input: GatePlaceRequest = wire::json(&wire::body(body)?)?;
    let place = GatePlace {
        network: NetworkId::from(input.network.as_str()),
        station: StopId::from(input.station.as_str()),
    };
    switch.execute(Command::RegisterGate { terminal, place }).await?;
    Ok(Json(input))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeniedRider {
    pub shopper_id: String,
    pub owed_minor: i64,
    /// When a collection first failed, unix ms.
    pub overdue_since_ms: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DenyList {
    pub riders: Vec<DeniedRider>,
}

#[utoipa::path(get, path = "/v1/operator/transit/deny-list", tag = "transit", security(("api_key" = [])),
    responses((status = 200, body = DenyList), (status = "4XX", body = ErrorBody)))]
/// The riders gates do not let in until they pay.
pub async fn deny_list(State(switch): State<Arc<Switch>>, _: Operator) -> Result<Json<DenyList>, ApiError> {
    let riders = switch.read(|core| {
        core.transit_deny_list()
            .into_iter()
            .map(|rider| {
                let standing = core.transit_standing(rider);
                DeniedRider {
                    shopper_id: rider.to_string(),
                    owed_minor: standing.owed_minor,
                    overdue_since_ms: standing.overdue_since.map(|at| at.unix_ms),
                }
            })
            .collect()
    });
    Ok(Json(DenyList { riders }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PassageOut {
    pub station: String,
    pub at_ms: i64,
    /// `face` or `payment_code`.
    pub medium: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JourneyOut {
    pub network: String,
    pub entry: Option<PassageOut>,
    pub exit: Option<PassageOut>,
    /// `complete`, `no_exit`, `no_entry`, `over_time`, `auto_completed`, `claimed`.
    pub kind: String,
    /// Where it was priced to when not its exit (the rider's usual journey, or their claim).
    pub priced_to: Option<String>,
    /// What it adds to the day before caps.
    pub fare_minor: i64,
    /// For a journey with no exit: name it in a claim to say where it ended.
    pub entry_ref: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TravelDayOut {
    /// The date the travel day began on.
    pub day: String,
    pub journeys: Vec<JourneyOut>,
    pub fares_minor: i64,
    /// The day's one charge: the fares after the daily and weekly caps.
    pub charge_minor: i64,
    pub capped_by: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Trips {
    pub currency: String,
    /// Billed less collected: above zero a debt.
    pub owed_minor: i64,
    /// Gates do not let the rider in until the debt is paid.
    pub denied: bool,
    /// The last seven travel days with journeys, latest first.
    pub days: Vec<TravelDayOut>,
}

#[utoipa::path(get, path = "/v1/shopper/transit", tag = "shopper", security(("api_key" = [])),
    responses((status = 200, body = Trips), (status = "4XX", body = ErrorBody)))]
/// The rider's trips and each day's charge.
pub async fn my_trips(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
) -> Result<Json<Trips>, ApiError> {
    Ok(Json(switch.read(|core| trips(core, shopper, switch.config.currency.code()))))
}

#[utoipa::path(get, path = "/v1/operator/transit/riders/{shopper_id}", tag = "transit", security(("api_key" = [])),
    params(("shopper_id" = String, Path)), responses((status = 200, body = Trips), (status = "4XX", body = ErrorBody)))]
/// A rider's trips, as they see them.
pub async fn rider_trips(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<Trips>, ApiError> {
    let shopper = parse_prefixed(&id, "shp_")
        .map(ShopperId::from_u128)
        .ok_or_else(|| ApiError::bad_request("id_malformed", "a shopper id reads shp_<32 hex digits>"))?;
    Ok(Json(switch.read(|core| trips(core, shopper, switch.config.currency.code()))))
}

fn trips(core: &PaymentCore, rider: ShopperId, currency: &str) -> Trips {
    let standing = core.transit_standing(rider);
    let mut days = Vec::new();
    if let Some(scheme) = core.transit_scheme() {
        let today = scheme.calendar.day_of(now());
        for day in (today.0 - TRIP_DAYS + 1..=today.0).rev().map(TravelDay) {
            let Ok(bill) = core.travel_log().bill(rider, day, None, &scheme.fares, &scheme.calendar) else {
                continue;
            };
            if bill.journeys.is_empty() {
                continue;
            }
            days.push(TravelDayOut {
                day: day.date(),
                journeys: bill.journeys.iter().map(journey_out).collect(),
                fares_minor: bill.fares_minor,
                charge_minor: bill.charge_minor,
                capped_by: bill.capped_by,
            });
        }
    }
    Trips { currency: currency.to_owned(), owed_minor: standing.owed_minor, denied: standing.denied, days }
}

fn journey_out(journey: &Journey) -> JourneyOut {
    let passage = |passage: &Passage| PassageOut {
        station: passage.station.0.clone(),
        at_ms: passage.at.unix_ms,
        medium: match passage.medium {
            Medium::Face => "face",
            Medium::PaymentCode => "payment_code",
            Medium::TravelPass => "travel_pass",
        }
        .to_owned(),
    };
    let kind = match journey.kind {
        JourneyKind::Complete => "complete",
        JourneyKind::NoExit => "no_exit",
        JourneyKind::NoEntry => "no_entry",
        JourneyKind::OverTime => "over_time",
        JourneyKind::AutoCompleted => "auto_completed",
        JourneyKind::Claimed => "claimed",
    };
    let claimable = matches!(journey.kind, JourneyKind::NoExit | JourneyKind::AutoCompleted);
    JourneyOut {
        network: journey.network.0.clone(),
        entry: journey.entry.as_ref().map(passage),
        exit: journey.exit.as_ref().map(passage),
        kind: kind.to_owned(),
        priced_to: journey.priced_to.as_ref().map(|stop| stop.0.clone()),
        fare_minor: journey.fare_minor,
        entry_ref: journey.entry.as_ref().filter(|_| claimable).map(|entry| entry_ref(entry.tap)),
    }
}

/// A journey's entry named for a claim: `<gate's terminal id>.<the gate's passage number>`.
fn entry_ref(tap: TapId) -> String {
    format!("{}.{}", tap.gate, tap.seq)
}

fn parse_entry_ref(text: &str) -> Result<TapId, ApiError> {
    let malformed =
        || ApiError::bad_request("entry_ref_malformed", "an entry reads trm_<32 hex digits>.<number>");
    let (gate, seq) = text.split_once('.').ok_or_else(malformed)?;
    let gate = parse_terminal_id(gate).ok_or_else(malformed)?;
    let seq = seq.parse().map_err(|_| malformed())?;
    Ok(TapId { gate, seq })
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The journey's `entry_ref`.
    pub entry_ref: String,
    /// The station (its `stop_id`) where the journey ended.
    pub station: String,
}

#[utoipa::path(post, path = "/v1/shopper/transit/claims", tag = "shopper", security(("api_key" = [])),
    request_body = ClaimRequest, responses((status = 200, body = Trips), (status = "4XX", body = ErrorBody)))]
/// Says where a journey with no exit ended: priced there, the difference refunded at the next close.
pub async fn claim(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Trips>, ApiError> {
    let input: ClaimRequest = wire::json(&wire::body(body)?)?;
    let entry = parse_entry_ref(&input.entry_ref)?;
    wire::token("station", &input.station, 64)?;
    let station = StopId::from(input.station.as_str());
    switch.execute(Command::ClaimJourney { rider: shopper, entry, station }).await?;
    Ok(Json(switch.read(|core| trips(core, shopper, switch.config.currency.code()))))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PassRequest {
    /// The Ed25519 public key (base64 of 32 bytes) of a key the phone made and keeps: only that
    /// phone can show the pass.
    pub public_key: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TravelPass {
    /// The pass, unpadded base64url. At a gate the phone shows it with the time, signed with its
    /// key: `pass | shown at, unix ms, 8 bytes big-endian | signature` over
    /// `"facepay travel pass shown v1\n"`, the pass and the time.
    pub pass: String,
    /// When it lapses, unix ms: a week from now.
    pub lapses_at_ms: i64,
}

#[utoipa::path(post, path = "/v1/shopper/transit/pass", tag = "shopper", security(("api_key" = [])),
    request_body = PassRequest, responses((status = 200, body = TravelPass), (status = "4XX", body = ErrorBody)))]
/// A travel pass for the rider's phone: what gates open for when they cannot reach the switch.
pub async fn travel_pass(
    State(switch): State<Arc<Switch>>,
    ShopperCaller(shopper): ShopperCaller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TravelPass>, ApiError> {
    let input: PassRequest = wire::json(&wire::body(body)?)?;
    let phone = parse_public_key(&input.public_key)?;
    let phone = ed25519_dalek::VerifyingKey::from_bytes(&phone)
        .map_err(|_| ApiError::internal("a checked public key did not parse"))?;
    if switch.read(|core| core.transit_scheme().is_none()) {
        return Err(facepay_payments::CoreError::TransitNotConfigured.into());
    }
    let lapses_at = now().plus_ms(PASS_VALID_MS);
    let pass = switch.pass_key.issue(shopper, &phone, lapses_at);
    Ok(Json(TravelPass { pass, lapses_at_ms: lapses_at.unix_ms }))
}
