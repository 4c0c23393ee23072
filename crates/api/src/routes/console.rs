//! What the operator's console reads besides the routes it shares with other tools: a dashboard
//! (payments per minute, approval rate, declines by reason, the p95 decision time and the latest
//! payments), every merchant with its terminals and their states, and every dispute.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use facepay_domain::{ShopperId, Timestamp};
use facepay_payments::{Dispute, MINUTE_MS, MerchantRisk, MerchantStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::Operator;
use crate::error::{ApiError, ErrorBody};
use crate::routes::disputes::DisputeOut;
use crate::routes::limits::LimitPair;
use crate::routes::merchant::{TerminalOut, terminal_out};
use crate::switch::{Switch, now_ms};
use crate::wire::PaymentOut;

/// The dashboard looks back this many minutes, and lists this many of the latest payments.
const WINDOW_MINUTES: usize = 60;
const RECENT: usize = 20;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecentPayment {
    pub started_at_ms: i64,
    pub merchant_id: String,
    pub terminal_id: String,
    #[serde(flatten)]
    pub payment: PaymentOut,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Dashboard {
    /// Payments started in each of the last 60 minutes, oldest first; the last is this minute.
    pub per_minute: Vec<u64>,
    /// Of the payments in the window: approved (authorized or captured), declined, and the rate
    /// among those decided (none while nothing was decided).
    pub approved: u64,
    pub declined: u64,
    pub approval_rate: Option<f64>,
    pub declines_by_reason: BTreeMap<String, u64>,
    /// Of this node's latest 1,000 answered pay requests, in ms.
    pub decision_ms_p95: Option<f64>,
    pub face_payment_off_everywhere: bool,
    /// The latest payments, newest first.
    pub recent: Vec<RecentPayment>,
}

#[utoipa::path(get, path = "/v1/operator/dashboard", tag = "operator", security(("api_key" = [])),
    responses((status = 200, body = Dashboard), (status = "4XX", body = ErrorBody)))]
pub async fn dashboard(State(switch): State<Arc<Switch>>, _: Operator) -> Result<Json<Dashboard>, ApiError> {
    let now = now_ms();
    let window_start = now - (now % MINUTE_MS) - (WINDOW_MINUTES as i64 - 1) * MINUTE_MS;
    // Counted by the store on the readers' connection: the writer never waits for the console.
    let since = Timestamp::from_unix_ms(window_start);
    let (tallies, latest) = switch
        .with_journal(move |store| Ok((store.payment_tallies(since)?, store.latest_payments(RECENT)?)))
        .await?;
    let mut per_minute = vec![0u64; WINDOW_MINUTES];
    let (mut approved, mut declined) = (0, 0);
    let mut declines_by_reason = BTreeMap::new();
    for tally in tallies {
        let minute = usize::try_from(tally.minute).unwrap_or(0).min(WINDOW_MINUTES - 1);
        per_minute[minute] += tally.count;
        match (tally.state.as_str(), tally.decline_reason) {
            ("authorized" | "captured", _) => approved += tally.count,
            ("declined", Some(reason)) => {
                declined += tally.count;
                *declines_by_reason.entry(reason).or_default() += tally.count;
            }
            _ => {}
        }
    }
    let (unnamed, face_payment_off_everywhere) = switch.read(|core| {
        let unnamed: Vec<_> = latest.iter().map(|row| PaymentOut::from_row(row, core)).collect();
        (unnamed, core.face_payment_off_everywhere())
    });
    let named = switch.named_all(unnamed).await?;
    let recent = (latest.iter().zip(named))
        .map(|(row, payment)| RecentPayment {
            started_at_ms: row.started_at.unix_ms,
            merchant_id: row.merchant.to_string(),
            terminal_id: row.terminal.to_string(),
            payment,
        })
        .collect();
    let decided = approved + declined;
    let mut dashboard = Dashboard {
        per_minute,
        approved,
        declined,
        approval_rate: (decided > 0).then(|| approved as f64 / decided as f64),
        declines_by_reason,
        decision_ms_p95: None,
        face_payment_off_everywhere,
        recent,
    };
    dashboard.decision_ms_p95 = switch.metrics.recent_pay_p95_ms();
    Ok(Json(dashboard))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MerchantOut {
    pub merchant_id: String,
    /// low, medium or high.
    pub risk: String,
    pub limit: Option<LimitPair>,
    /// active, suspended or blacklisted.
    pub status: String,
    /// The emergency switch for this merchant.
    pub face_payment_off: bool,
    pub terminals: Vec<TerminalState>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TerminalState {
    #[serde(flatten)]
    pub terminal: TerminalOut,
    /// The emergency switch for this terminal.
    pub face_payment_off: bool,
}

#[utoipa::path(get, path = "/v1/operator/merchants", tag = "operator", security(("api_key" = [])),
    responses((status = 200, body = Vec<MerchantOut>), (status = "4XX", body = ErrorBody)))]
pub async fn merchants(
    State(switch): State<Arc<Switch>>,
    _: Operator,
) -> Result<Json<Vec<MerchantOut>>, ApiError> {
    let listed = switch.read(|core| {
        core.merchants()
            .into_iter()
            .map(|merchant| (merchant, core.terminals_of(merchant.id)))
            .collect::<Vec<_>>()
    });
    let merchants = listed
        .into_iter()
        .map(|(merchant, terminals)| MerchantOut {
            merchant_id: merchant.id.to_string(),
            risk: match merchant.risk {
                MerchantRisk::Low => "low",
                MerchantRisk::Medium => "medium",
                MerchantRisk::High => "high",
            }
            .to_owned(),
            limit: merchant.own_limit.map(LimitPair::from),
            status: match merchant.status {
                MerchantStatus::Active => "active",
                MerchantStatus::Suspended => "suspended",
                MerchantStatus::Blacklisted => "blacklisted",
            }
            .to_owned(),
            face_payment_off: merchant.face_payment_off,
            terminals: terminals
                .into_iter()
                .map(|(terminal, face_payment_off)| TerminalState {
                    terminal: terminal_out(&switch, terminal),
                    face_payment_off,
                })
                .collect(),
        })
        .collect();
    Ok(Json(merchants))
}

#[utoipa::path(get, path = "/v1/operator/disputes", tag = "operator", security(("api_key" = [])),
    responses((status = 200, body = Vec<DisputeOut>), (status = "4XX", body = ErrorBody)))]
pub async fn disputes(
    State(switch): State<Arc<Switch>>,
    _: Operator,
) -> Result<Json<Vec<DisputeOut>>, ApiError> {
    let open: Vec<(Dispute, Option<ShopperId>)> = switch.read(|core| {
        let payer = |d: &Dispute| core.payment_record(d.payment).and_then(|p| p.shopper);
        core.disputes().map(|dispute| (dispute.clone(), payer(dispute))).collect()
    });
    let keys = switch.personal_keys(open.iter().filter_map(|(_, payer)| *payer).collect()).await?;
    let mut disputes: Vec<(i64, DisputeOut)> = open
        .iter()
        .map(|(dispute, payer)| {
            let key = payer.and_then(|payer| keys.get(payer));
            (dispute.opened_at.unix_ms, DisputeOut::new(dispute, key))
        })
        .collect();
    disputes.sort_by(|a, b| (b.0, &b.1.dispute_id).cmp(&(a.0, &a.1.dispute_id)));
    Ok(Json(disputes.into_iter().map(|(_, dispute)| dispute).collect()))
}
