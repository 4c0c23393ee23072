//! A settlement day's statements (the `clearing` crate's): the operator's view of the day (each
//! bank's and acquirer's lines, credits, debits and closing balance beside the ledger's totals)
//! and each party's files for download, a per-transaction CSV or an ISO 20022 camt.053
//! statement; a bank downloads its own. Read from the read model on the readers' connection.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use facepay_clearing::{DayBook, Party, SettlementDay, camt053, per_transaction_csv};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::{IssuerCaller, Operator};
use crate::error::{ApiError, ErrorBody};
use crate::switch::Switch;
use crate::wire;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SettlementDayOut {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// The day's window, unix ms: from its cut-off, included, to the next day's, excluded.
    pub from_ms: i64,
    pub to_ms: i64,
    pub currency: String,
    /// Whether the day's totals balance across banks, acquirers and the reserve.
    pub balances: bool,
    pub statements: Vec<StatementOut>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatementOut {
    /// `issuer-3` or `acquirer-7`: the name its files go by.
    pub party: String,
    pub lines: usize,
    /// What the switch owes the party (credits) and the party owes the switch (debits), in
    /// minor units.
    pub credits_minor: i64,
    pub debits_minor: i64,
    /// Credits less debits.
    pub closing_minor: i64,
    /// Whether the closing balance equals the party's net in the ledger's totals.
    pub equals_ledger: bool,
}

impl Switch {
    /// Reads a settlement day (one party's part when `only` names it) from the read model.
    pub async fn settlement_day(
        self: &Arc<Self>,
        day: SettlementDay,
        only: Option<Party>,
    ) -> Result<DayBook, ApiError> {
        let currency = self.read(|core| core.config().currency);
        let book = self
            .with_journal(move |journal| facepay_clearing::read_day(journal, currency, day, only))
            .await?;
        book.map_err(crate::routes::issuer::settlement_error)
    }
}

fn day_of(switch: &Switch, day: &str) -> Result<SettlementDay, ApiError> {
    SettlementDay::parse(day, switch.config.settlement_cutoff_minutes)
        .map_err(|err| ApiError::bad_request(err.code(), err.to_string()))
}

fn wide(minor: i128) -> Result<i64, ApiError> {
    i64::try_from(minor).map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "settlement_total_overflow",
            "a total of this day is beyond what an amount in minor units can hold",
        )
    })
}

#[utoipa::path(get, path = "/v1/operator/settlement/days/{day}", tag = "operator", security(("api_key" = [])),
    params(("day" = String, Path, description = "YYYY-MM-DD")),
    responses((status = 200, body = SettlementDayOut), (status = "4XX", body = ErrorBody)))]
pub async fn day(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    Path(day): Path<String>,
) -> Result<Json<SettlementDayOut>, ApiError> {
    let day = day_of(&switch, &day)?;
    let book = switch.settlement_day(day, None).await?;
    let mut statements = Vec::with_capacity(book.statements.len());
    for statement in &book.statements {
        let closing = statement.closing_minor();
        statements.push(StatementOut {
            party: statement.party.name(),
            lines: statement.lines.len(),
            credits_minor: wide(statement.credits_minor())?,
            debits_minor: wide(statement.debits_minor())?,
            closing_minor: wide(closing)?,
            equals_ledger: closing == statement.report_net_minor(&book.report),
        });
    }
    Ok(Json(SettlementDayOut {
        day: day.date(),
        from_ms: day.from().unix_ms,
        to_ms: day.to().unix_ms,
        currency: book.report.currency.clone(),
        balances: book.report.balances(),
        statements,
    }))
}

#[utoipa::path(get, path = "/v1/operator/settlement/days/{day}/files/{party}", tag = "operator", security(("api_key" = [])),
    params(("day" = String, Path, description = "YYYY-MM-DD"), ("party" = String, Path, description = "issuer-N or acquirer-N"), wire::FileQuery),
    responses((status = 200, content_type = "text/csv", description = "the party's statement as a file"), (status = "4XX", body = ErrorBody)))]
pub async fn operator_file(
    State(switch): State<Arc<Switch>>,
    _: Operator,
    Path((day, party)): Path<(String, String)>,
    query: Result<Query<wire::FileQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let party = Party::parse(&party).ok_or_else(|| {
        ApiError::not_found(
            "settlement_party_unknown",
            "name a bank as issuer-N (N from 1) or an acquirer as acquirer-N",
        )
    })?;
    file(&switch, &day, party, query).await
}

#[utoipa::path(get, path = "/v1/issuer/settlement/days/{day}", tag = "issuer", security(("api_key" = [])),
    params(("day" = String, Path, description = "YYYY-MM-DD"), wire::FileQuery),
    responses((status = 200, content_type = "text/csv", description = "the bank's own statement as a file"), (status = "4XX", body = ErrorBody)))]
pub async fn issuer_file(
    State(switch): State<Arc<Switch>>,
    IssuerCaller(issuer): IssuerCaller,
    Path(day): Path<String>,
    query: Result<Query<wire::FileQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    file(&switch, &day, Party::Bank(issuer), query).await
}

async fn file(
    switch: &Arc<Switch>,
    day: &str,
    party: Party,
    query: Result<Query<wire::FileQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let format = query.ok().and_then(|Query(query)| query.format);
    let camt = match format.as_deref() {
        None | Some("csv") => false,
        Some("camt053") => true,
        Some(_) => {
            return Err(ApiError::bad_request("settlement_format_unknown", "format is csv or camt053"));
        }
    };
    let day = day_of(switch, day)?;
    let book = switch.settlement_day(day, Some(party)).await?;
    let statement =
        book.statements.first().ok_or_else(|| ApiError::internal("the party asked for was not read"))?;
    let name = format!("facepay-settlement-{}-{}", day.date(), party.name());
    let (body, kind, name) = if camt {
        let created = facepay_domain::Timestamp::from_unix_ms(crate::now_ms());
        let xml = camt053(statement, created)
            .map_err(|err| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, err.code(), err.to_string()))?;
        (xml, "application/xml", format!("{name}.camt053.xml"))
    } else {
        (per_transaction_csv(statement), "text/csv; charset=utf-8", format!("{name}.csv"))
    };
    let disposition = format!("attachment; filename=\"{name}\"");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, kind.to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        body,
    )
        .into_response())
}
