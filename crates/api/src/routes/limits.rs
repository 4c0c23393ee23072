//! The operator's limits policy: the table every payment's limit starts from (by merchant risk
//! level, transaction type and shopper risk tier, and the local day's offset from UTC), and each
//! merchant's risk level with an optional limit of its own, and each shopper's risk tier. The
//! tightest of all that applies decides; a shopper's own limit (their route) only tightens it
//! further.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use facepay_domain::ShopperId;
use facepay_payments::{Command, Limit, LimitTable, MerchantRisk, ShopperRiskTier};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::parse_prefixed;
use crate::caller::Operator;
use crate::error::{ApiError, ErrorBody};
use crate::routes::operator::{RiskLevel, merchant_id};
use crate::switch::Switch;
use crate::wire;

/// Two ceilings in minor units: both above zero, the daily one at least the per-payment one.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitPair {
    #[schema(minimum = 1)]
    pub per_transaction_minor: i64,
    #[schema(minimum = 1)]
    pub daily_minor: i64,
}

impl From<LimitPair> for Limit {
    fn from(pair: LimitPair) -> Limit {
        Limit { per_transaction_minor: pair.per_transaction_minor, daily_minor: pair.daily_minor }
    }
}

impl From<Limit> for LimitPair {
    fn from(limit: Limit) -> LimitPair {
        LimitPair { per_transaction_minor: limit.per_transaction_minor, daily_minor: limit.daily_minor }
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitPolicy {
    pub merchant_low: LimitPair,
    pub merchant_medium: LimitPair,
    pub merchant_high: LimitPair,
    pub purchase: LimitPair,
    pub transit: LimitPair,
    pub shopper_standard: LimitPair,
    pub shopper_elevated: LimitPair,
    pub shopper_restricted: LimitPair,
    /// The operator's time zone as an offset from UTC, so a daily limit ends at local midnight;
    /// at most 14 hours either way.
    #[schema(minimum = -50_400_000, maximum = 50_400_000)]
    pub day_offset_ms: i64,
}

impl From<&LimitTable> for LimitPolicy {
    fn from(table: &LimitTable) -> LimitPolicy {
        LimitPolicy {
            merchant_low: table.merchant_low.into(),
            merchant_medium: table.merchant_medium.into(),
            merchant_high: table.merchant_high.into(),
            purchase: table.purchase.into(),
            transit: table.transit.into(),
            shopper_standard: table.shopper_standard.into(),
            shopper_elevated: table.shopper_elevated.into(),
            shopper_restricted: table.shopper_restricted.into(),
            day_offset_ms: table.day_offset_ms,
        }
    }
}

impl From<LimitPolicy> for LimitTable {
    fn from(policy: LimitPolicy) -> LimitTable {
        LimitTable {
            merchant_low: policy.merchant_low.into(),
            merchant_medium: policy.merchant_medium.into(),
            merchant_high: policy.merchant_high.into(),
            purchase: policy.purchase.into(),
            transit: policy.transit.into(),
            shopper_standard: policy.shopper_standard.into(),
            shopper_elevated: policy.shopper_elevated.into(),
            shopper_restricted: policy.shopper_restricted.into(),
            day_offset_ms: policy.day_offset_ms,
        }
    }
}

#[utoipa::path(get, path = "/v1/operator/limits", tag = "operator", security(("api_key" = [])),
    responses((status = 200, body = LimitPolicy), (status = "4XX", body = ErrorBody)))]
pub async fn read_policy(
    State(switch): State<Arc<Switch>>,
    _: Operator,
) -> Result<Json<LimitPolicy>, ApiError> {
    Ok(Json(switch.read(|core| LimitPolicy::from(core.limit_table()))))
}

#[utoipa::path(put, path = "/v1/operator/limits", tag = "operator", security(("api_key" = [])),
    request_body = LimitPolicy, responses((status = 200, body = LimitPolicy), (status = "4XX", body = ErrorBody)))]
pub async fn set_policy(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<LimitPolicy>, ApiError> {
    let table = LimitTable::from(wire::json::<LimitPolicy>(&wire::body(body)?)?);
    switch.execute(Command::SetLimitTable { table }).await?;
    Ok(Json(switch.read(|core| LimitPolicy::from(core.limit_table()))))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantRating {
    pub risk: RiskLevel,
    /// This merchant's own limit, tighter than its risk level's; none lifts it.
    pub limit: Option<LimitPair>,
}

#[utoipa::path(put, path = "/v1/operator/merchants/{merchant_id}/risk", tag = "operator",
    security(("api_key" = [])), params(("merchant_id" = String, Path)), request_body = MerchantRating,
    responses((status = 200, body = MerchantRating), (status = "4XX", body = ErrorBody)))]
pub async fn rate_merchant(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<MerchantRating>, ApiError> {
    let merchant = merchant_id(&id)?;
    let input: MerchantRating = wire::json(&wire::body(body)?)?;
    let risk = MerchantRisk::from(input.risk);
    switch.execute(Command::SetMerchantRisk { merchant, risk, limit: input.limit.map(Limit::from) }).await?;
    Ok(Json(input))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Standard,
    Elevated,
    Restricted,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopperTier {
    /// Which row of the table's shopper limits applies to this shopper.
    pub tier: Tier,
}

/// The operator rates one shopper (after a dispute, say); the shopper's own limit stays.
#[utoipa::path(put, path = "/v1/operator/shoppers/{shopper_id}/tier", tag = "operator",
    security(("api_key" = [])), params(("shopper_id" = String, Path)), request_body = ShopperTier,
    responses((status = 200, body = ShopperTier), (status = "4XX", body = ErrorBody)))]
pub async fn rate_shopper(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ShopperTier>, ApiError> {
    let shopper = parse_prefixed(&id, "shp_")
        .map(ShopperId::from_u128)
        .ok_or_else(|| ApiError::bad_request("id_malformed", "a shopper id reads shp_<32 hex digits>"))?;
    let input: ShopperTier = wire::json(&wire::body(body)?)?;
    let tier = match input.tier {
        Tier::Standard => ShopperRiskTier::Standard,
        Tier::Elevated => ShopperRiskTier::Elevated,
        Tier::Restricted => ShopperRiskTier::Restricted,
    };
    switch.execute(Command::SetShopperTier { shopper, tier }).await?;
    Ok(Json(input))
}
