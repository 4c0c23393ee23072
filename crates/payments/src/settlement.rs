//! End-of-day clearing and settlement: for one window of time, what each bank (issuer) owes the
//! switch for its shoppers' payments, and what the switch owes each acquirer for its merchants,
//! net of refunds, reversals, compensations and chargebacks.
//!
//! The report is read from the ledger's movements in the read model (`read_model::Movement`),
//! never from the payment records: every posted movement in the window is classified by why it
//! moved (its transfer code) and whose accounts it touched. A movement that fits no line is an
//! error, not a silent omission, so the report accounts for the ledger to the last minor unit.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use facepay_domain::Timestamp;
use facepay_ledger::TransferId;
use serde::{Deserialize, Serialize};

use crate::engine::code;
use crate::issuer::IssuerId;
use crate::read_model::{LedgerSide, Movement};

/// A bank or processor that serves merchants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AcquirerId(pub u32);

impl fmt::Display for AcquirerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "acquirer-{}", self.0)
    }
}

/// One party's movements in the window, in minor units of the report's currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub payments_minor: i64,
    pub refunds_minor: i64,
    pub reversals_minor: i64,
    pub compensations_minor: i64,
    pub chargebacks_minor: i64,
    /// Money put in from outside the card flow: wallet top-ups, reserve funding.
    pub deposits_minor: i64,
    /// Issuer: what it owes the switch. Acquirer: what the switch owes it. Reserve: how much it
    /// grew. Negative means the other way round.
    pub net_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerLine {
    pub issuer: IssuerId,
    #[serde(flatten)]
    pub position: Position,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcquirerLine {
    pub acquirer: AcquirerId,
    #[serde(flatten)]
    pub position: Position,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementReport {
    pub currency: String,
    /// The window, `from` included and `to` excluded, in Unix milliseconds.
    pub from_unix_ms: i64,
    pub to_unix_ms: i64,
    pub issuers: Vec<IssuerLine>,
    pub acquirers: Vec<AcquirerLine>,
    pub reserve: Position,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    #[error("the window must end after it starts")]
    EmptyWindow,
    #[error("ledger transfer {0:?} fits no settlement line")]
    Unclassified(TransferId),
    #[error("a total in this window is beyond what an amount in minor units can hold")]
    TotalOverflow,
}

impl SettlementError {
    pub fn code(&self) -> &'static str {
        match self {
            SettlementError::EmptyWindow => "settlement_window_empty",
            SettlementError::Unclassified(_) => "settlement_transfer_unclassified",
            SettlementError::TotalOverflow => "settlement_total_overflow",
        }
    }
}

/// The report being summed, one movement at a time, so a day of any size is read from the
/// store page by page.
#[derive(Debug, Clone, Default)]
pub struct SettlementTally {
    issuers: BTreeMap<IssuerId, Position>,
    acquirers: BTreeMap<AcquirerId, Position>,
    reserve: Position,
}

/// Why money moved, as settlement names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BookingKind {
    Payment,
    Refund,
    Reversal,
    Compensation,
    Chargeback,
    TopUp,
    ReserveFunding,
}

impl BookingKind {
    pub const ALL: [BookingKind; 7] = [
        BookingKind::Payment,
        BookingKind::Refund,
        BookingKind::Reversal,
        BookingKind::Compensation,
        BookingKind::Chargeback,
        BookingKind::TopUp,
        BookingKind::ReserveFunding,
    ];

    /// Its stable name in files and reports.
    pub fn code(self) -> &'static str {
        match self {
            BookingKind::Payment => "payment",
            BookingKind::Refund => "refund",
            BookingKind::Reversal => "reversal",
            BookingKind::Compensation => "compensation",
            BookingKind::Chargeback => "chargeback",
            BookingKind::TopUp => "top_up",
            BookingKind::ReserveFunding => "reserve_funding",
        }
    }

    pub fn from_code(code: &str) -> Option<BookingKind> {
        BookingKind::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

/// A side of a settlement booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SettlementParty {
    Issuer(IssuerId),
    Acquirer(AcquirerId),
    Reserve,
    /// Money from outside the card flow (a top-up's or the reserve's funding source).
    Outside,
}

/// One posted movement as settlement reads it: why, and from whose side to whose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Booking {
    pub kind: BookingKind,
    pub from: SettlementParty,
    pub to: SettlementParty,
}

/// The booking a movement makes: none for a hold or its release, an error for a movement that
/// fits no settlement line. The one place that reads transfer codes and sides for settlement.
pub fn booking(movement: &Movement) -> Result<Option<Booking>, SettlementError> {
    if !movement.posts() {
        return Ok(None);
    }
    use LedgerSide::{Acquirer, FundingSource, Issuer, Reserve};
    use SettlementParty as P;
    let (kind, from, to) = match (movement.code, movement.debit, movement.credit) {
        (code::PAYMENT, Issuer(issuer), Acquirer(acquirer)) => {
            (BookingKind::Payment, P::Issuer(issuer), P::Acquirer(acquirer))
        }
        (code::REFUND, Acquirer(acquirer), Issuer(issuer)) => {
            (BookingKind::Refund, P::Acquirer(acquirer), P::Issuer(issuer))
        }
        (code::REVERSAL, Acquirer(acquirer), Issuer(issuer)) => {
            (BookingKind::Reversal, P::Acquirer(acquirer), P::Issuer(issuer))
        }
        (code::COMPENSATION, Reserve, Issuer(issuer)) => {
            (BookingKind::Compensation, P::Reserve, P::Issuer(issuer))
        }
        (code::CHARGEBACK, Acquirer(acquirer), Reserve) => {
            (BookingKind::Chargeback, P::Acquirer(acquirer), P::Reserve)
        }
        (code::TOP_UP, FundingSource, Issuer(IssuerId::BUILT_IN)) => {
            (BookingKind::TopUp, P::Outside, P::Issuer(IssuerId::BUILT_IN))
        }
        (code::RESERVE_FUNDING, FundingSource, Reserve) => {
            (BookingKind::ReserveFunding, P::Outside, P::Reserve)
        }
        _ => return Err(SettlementError::Unclassified(movement.transfer)),
    };
    Ok(Some(Booking { kind, from, to }))
}

impl SettlementTally {
    /// Counts one ledger movement (those that do not post, holds and their releases, count
    /// nothing); the booking it counted, for a caller that lists the movement too.
    pub fn add(&mut self, movement: &Movement) -> Result<Option<Booking>, SettlementError> {
        let Some(booking) = booking(movement)? else { return Ok(None) };
        let amount = i64::try_from(movement.amount).expect("the core moves amounts below i64::MAX");
        for party in [booking.from, booking.to] {
            let position = match party {
                SettlementParty::Issuer(issuer) => self.issuers.entry(issuer).or_default(),
                SettlementParty::Acquirer(acquirer) => self.acquirers.entry(acquirer).or_default(),
                SettlementParty::Reserve => &mut self.reserve,
                SettlementParty::Outside => continue,
            };
            let total = match booking.kind {
                BookingKind::Payment => &mut position.payments_minor,
                BookingKind::Refund => &mut position.refunds_minor,
                BookingKind::Reversal => &mut position.reversals_minor,
                BookingKind::Compensation => &mut position.compensations_minor,
                BookingKind::Chargeback => &mut position.chargebacks_minor,
                BookingKind::TopUp | BookingKind::ReserveFunding => &mut position.deposits_minor,
            };
            add(total, amount)?;
        }
        Ok(Some(booking))
    }

    /// The report for the window the movements were read from.
    pub fn finish(
        self,
        currency: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<SettlementReport, SettlementError> {
        let SettlementTally { mut issuers, mut acquirers, mut reserve } = self;
        for position in issuers.values_mut() {
            let p = *position;
            position.net_minor =
                net(p.payments_minor, &[p.refunds_minor, p.reversals_minor, p.compensations_minor])?;
        }
        for position in acquirers.values_mut() {
            let p = *position;
            position.net_minor =
                net(p.payments_minor, &[p.refunds_minor, p.reversals_minor, p.chargebacks_minor])?;
        }
        reserve.net_minor = (reserve.deposits_minor.checked_add(reserve.chargebacks_minor))
            .and_then(|gross| gross.checked_sub(reserve.compensations_minor))
            .ok_or(SettlementError::TotalOverflow)?;
        Ok(SettlementReport {
            currency: currency.to_owned(),
            from_unix_ms: from.unix_ms,
            to_unix_ms: to.unix_ms,
            issuers: issuers.into_iter().map(|(issuer, position)| IssuerLine { issuer, position }).collect(),
            acquirers: acquirers
                .into_iter()
                .map(|(acquirer, position)| AcquirerLine { acquirer, position })
                .collect(),
            reserve,
        })
    }
}

/// The window `[from, to)` a report covers, refused when empty.
pub fn settlement_window(from: Timestamp, to: Timestamp) -> Result<(), SettlementError> {
    if to <= from { Err(SettlementError::EmptyWindow) } else { Ok(()) }
}

impl SettlementReport {
    /// What left the shoppers' side equals what reached the merchants' side, up to what the
    /// reserve paid in or took back: issuers' net - acquirers' net = reserve growth - reserve
    /// funding. True for every report the ledger produces.
    pub fn balances(&self) -> bool {
        let issuers: i128 = self.issuers.iter().map(|line| i128::from(line.position.net_minor)).sum();
        let acquirers: i128 = self.acquirers.iter().map(|line| i128::from(line.position.net_minor)).sum();
        let reserve = i128::from(self.reserve.net_minor) - i128::from(self.reserve.deposits_minor);
        issuers - acquirers == reserve
    }

    /// One line per issuer, acquirer and the reserve, with a header.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from(
            "side,party,currency,from_unix_ms,to_unix_ms,payments_minor,refunds_minor,reversals_minor,\
             compensations_minor,chargebacks_minor,deposits_minor,net_minor\n",
        );
        let issuers = self.issuers.iter().map(|line| ("issuer", line.issuer.to_string(), line.position));
        let acquirers =
            self.acquirers.iter().map(|line| ("acquirer", line.acquirer.to_string(), line.position));
        let reserve = std::iter::once(("reserve", "reserve".to_owned(), self.reserve));
        for (side, party, p) in issuers.chain(acquirers).chain(reserve) {
            writeln!(
                csv,
                "{side},{party},{},{},{},{},{},{},{},{},{},{}",
                self.currency,
                self.from_unix_ms,
                self.to_unix_ms,
                p.payments_minor,
                p.refunds_minor,
                p.reversals_minor,
                p.compensations_minor,
                p.chargebacks_minor,
                p.deposits_minor,
                p.net_minor
            )
            .expect("writing to a String cannot fail");
        }
        csv
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report has only plain fields")
    }
}

/// `total += amount`, refused past what an i64 of minor units holds (amounts that large are
/// accepted by the ledger, whose totals are wider, but cannot be reported).
fn add(total: &mut i64, amount: i64) -> Result<(), SettlementError> {
    *total = total.checked_add(amount).ok_or(SettlementError::TotalOverflow)?;
    Ok(())
}

/// `gross` less each of `less`, refused past what an i64 holds.
fn net(gross: i64, less: &[i64]) -> Result<i64, SettlementError> {
    less.iter().try_fold(gross, |net, &amount| net.checked_sub(amount).ok_or(SettlementError::TotalOverflow))
}

#[cfg(test)]
mod tests {
    use facepay_domain::Currency;
    use facepay_ledger::{AccountId, TransferKind, TransferRequest};

    use super::*;
    use crate::engine::{CoreConfig, PaymentCore};
    use crate::limits::LimitTable;
    use crate::pin::PinPolicy;
    use crate::read_model::Retention;
    use crate::risk::RiskConfig;

    fn config() -> CoreConfig {
        CoreConfig {
            currency: Currency::new("EUR").unwrap(),
            limits: LimitTable::default(),
            pin_policy: PinPolicy { always: false, above_amount_minor: None, on_elevated_risk: false },
            outcome_timeout_ms: 1_000,
            hold_timeout_ms: 2_000,
            funding_source: AccountId(1),
            reserve_account: AccountId(2),
            risk: RiskConfig::default(),
            retention: Retention::DEFAULT,
        }
    }

    /// The report over every movement the core has handed the read model so far.
    fn report(core: &mut PaymentCore, seen: &mut Vec<Movement>) -> Result<SettlementReport, SettlementError> {
        seen.extend(core.take_read_model().movements);
        let mut tally = SettlementTally::default();
        for movement in seen.iter() {
            tally.add(movement)?;
        }
        tally.finish("EUR", Timestamp::from_unix_ms(0), Timestamp::from_unix_ms(100))
    }

    /// The public commands cannot move money outside the lines; the ledger itself can, and the
    /// report must say so rather than leave it out.
    #[test]
    fn a_movement_that_fits_no_line_is_an_error() {
        let mut core = PaymentCore::new(config());
        let mut seen = Vec::new();
        let now = Timestamp::from_unix_ms(10);
        core.fund_reserve(500, TransferId(1), now).unwrap();
        assert!(report(&mut core, &mut seen).unwrap().balances());
        let stray = TransferRequest {
            id: TransferId(2),
            debit: AccountId(2),
            credit: AccountId(1),
            amount: 5,
            kind: TransferKind::Posted,
            code: code::PAYMENT,
            linked: false,
        };
        core.ledger.apply_one(&stray, now).unwrap();
        let err = report(&mut core, &mut seen).unwrap_err();
        assert_eq!(err, SettlementError::Unclassified(TransferId(2)));
        assert_eq!(err.code(), "settlement_transfer_unclassified");
    }

    /// Found by schemathesis: two reserve fundings near i64::MAX, which the ledger holds, made the
    /// report's sum overflow and the node panic. It is an error with its own code now.
    #[test]
    fn totals_beyond_an_i64_are_an_error_not_a_panic() {
        let mut core = PaymentCore::new(config());
        let mut seen = Vec::new();
        let now = Timestamp::from_unix_ms(10);
        core.fund_reserve(i64::MAX - 1, TransferId(1), now).unwrap();
        assert_eq!(report(&mut core, &mut seen).unwrap().reserve.net_minor, i64::MAX - 1);
        core.fund_reserve(i64::MAX - 1, TransferId(2), now).unwrap();
        let err = report(&mut core, &mut seen).unwrap_err();
        assert_eq!((err.clone(), err.code()), (SettlementError::TotalOverflow, "settlement_total_overflow"));
    }
}
