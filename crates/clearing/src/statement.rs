//! Each external bank's and each acquirer's lines for one settlement day: every posted ledger
//! movement that touched its side, read from the read model page by page, with the payment it
//! was for and the references the bank knows it by.

use std::collections::{BTreeMap, HashMap};

use facepay_domain::{Currency, MerchantId, PaymentId, TerminalId, Timestamp};
use facepay_payments::{
    AcquirerId, BookingKind, IssuerId, Journal, JournalError, Movement, PaymentRow, SettlementError,
    SettlementParty, SettlementReport, SettlementTally,
};

use crate::day::SettlementDay;

/// Whose statement: an external bank (issuer) or an acquirer. The built-in wallets' issuer is
/// the switch itself and gets none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Party {
    Bank(IssuerId),
    Acquirer(AcquirerId),
}

impl Party {
    /// `issuer-3`, `acquirer-7`: how files and the console name it.
    pub fn name(&self) -> String {
        match self {
            Party::Bank(issuer) => issuer.to_string(),
            Party::Acquirer(acquirer) => acquirer.to_string(),
        }
    }

    /// Reads back what `name` wrote.
    pub fn parse(name: &str) -> Option<Party> {
        let number =
            |digits: &str| digits.parse::<u32>().ok().filter(|_| digits.bytes().all(|b| b.is_ascii_digit()));
        if let Some(digits) = name.strip_prefix("issuer-") {
            return number(digits).map(|n| Party::Bank(IssuerId(n))).filter(|party| party.settles());
        }
        name.strip_prefix("acquirer-").and_then(number).map(|n| Party::Acquirer(AcquirerId(n)))
    }

    fn of(side: SettlementParty) -> Option<Party> {
        let party = match side {
            SettlementParty::Issuer(issuer) => Party::Bank(issuer),
            SettlementParty::Acquirer(acquirer) => Party::Acquirer(acquirer),
            SettlementParty::Reserve | SettlementParty::Outside => return None,
        };
        party.settles().then_some(party)
    }

    fn settles(&self) -> bool {
        *self != Party::Bank(IssuerId::BUILT_IN)
    }
}

/// A line's sign as its party reads its own statement: a credit is money the switch owes it
/// (a merchant's payment, a shopper's refund), a debit money it owes the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Credit,
    Debit,
}

impl Direction {
    pub fn code(self) -> &'static str {
        match self {
            Direction::Credit => "credit",
            Direction::Debit => "debit",
        }
    }
}

/// One movement on one party's statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The movement's number in the ledger's journal: unique, the statement's own reference.
    pub movement: u64,
    pub booked_at: Timestamp,
    pub kind: BookingKind,
    pub direction: Direction,
    pub amount_minor: i64,
    pub payment: Option<PaymentId>,
    /// A credit's (refund's, reversal's, compensation's) reference, as its bank was told it.
    pub credit_reference: Option<String>,
    /// The retrieval reference number of the payment's authorization at its bank.
    pub rrn: Option<String>,
    pub merchant: Option<MerchantId>,
    pub terminal: Option<TerminalId>,
    pub order_id: Option<String>,
}

/// One party's day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub party: Party,
    pub currency: Currency,
    pub day: SettlementDay,
    pub lines: Vec<Line>,
}

impl Statement {
    fn total(&self, direction: Direction) -> i128 {
        let lines = self.lines.iter().filter(|line| line.direction == direction);
        lines.map(|line| i128::from(line.amount_minor)).sum()
    }

    pub fn credits_minor(&self) -> i128 {
        self.total(Direction::Credit)
    }

    pub fn debits_minor(&self) -> i128 {
        self.total(Direction::Debit)
    }

    /// Credits less debits: what the switch owes the party for the day (negative: what the
    /// party owes the switch). Each day is settled on its own, so the day opens at zero.
    pub fn closing_minor(&self) -> i128 {
        self.credits_minor() - self.debits_minor()
    }

    /// The report's net for this party, signed the statement's way: equal to `closing_minor`
    /// for every day the ledger produces.
    pub fn report_net_minor(&self, report: &SettlementReport) -> i128 {
        match self.party {
            Party::Bank(issuer) => {
                let line = report.issuers.iter().find(|line| line.issuer == issuer);
                -line.map_or(0, |line| i128::from(line.position.net_minor))
            }
            Party::Acquirer(acquirer) => {
                let line = report.acquirers.iter().find(|line| line.acquirer == acquirer);
                line.map_or(0, |line| i128::from(line.position.net_minor))
            }
        }
    }
}

/// A settlement day: the totals report and the statements of the parties it was read for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayBook {
    pub day: SettlementDay,
    pub report: SettlementReport,
    pub statements: Vec<Statement>,
}

/// Movements read from the store at a time.
const PAGE: usize = 10_000;

/// Reads `day`'s movements and returns the totals and the statement of every external bank and
/// acquirer they touched (only `only`'s, with no line if it had none, when named). The outer
/// error is the store's, the inner one a movement that fits no settlement line.
pub fn read_day<J: Journal + ?Sized>(
    journal: &mut J,
    currency: Currency,
    day: SettlementDay,
    only: Option<Party>,
) -> Result<Result<DayBook, SettlementError>, JournalError> {
    let (mut tally, mut after) = (SettlementTally::default(), 0);
    let mut statements: BTreeMap<Party, Vec<Line>> =
        only.map(|party| (party, Vec::new())).into_iter().collect();
    let mut rows: HashMap<PaymentId, Option<PaymentRow>> = HashMap::new();
    loop {
        let page = journal.movements(day.from(), day.to(), after, PAGE)?;
        for movement in &page {
            let booking = match tally.add(movement) {
                Ok(Some(booking)) => booking,
                Ok(None) => continue,
                Err(unreportable) => return Ok(Err(unreportable)),
            };
            let row = match movement.payment {
                Some(payment) => match rows.get(&payment) {
                    Some(row) => row.clone(),
                    None => {
                        let row = journal.payment_row(payment)?;
                        rows.insert(payment, row.clone());
                        row
                    }
                },
                None => None,
            };
            for (side, direction) in [(booking.from, Direction::Debit), (booking.to, Direction::Credit)] {
                let Some(party) = Party::of(side).filter(|party| only.is_none_or(|only| only == *party))
                else {
                    continue;
                };
                let line = line(movement, booking.kind, direction, row.as_ref());
                statements.entry(party).or_default().push(line);
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => after = last.number,
            _ => break,
        }
    }
    let report = match tally.finish(currency.code(), day.from(), day.to()) {
        Ok(report) => report,
        Err(unreportable) => return Ok(Err(unreportable)),
    };
    let statements =
        statements.into_iter().map(|(party, lines)| Statement { party, currency, day, lines }).collect();
    Ok(Ok(DayBook { day, report, statements }))
}

fn line(movement: &Movement, kind: BookingKind, direction: Direction, row: Option<&PaymentRow>) -> Line {
    let credited = matches!(kind, BookingKind::Refund | BookingKind::Reversal | BookingKind::Compensation);
    let at_bank = row.filter(|row| row.issuer.is_some_and(|issuer| issuer != IssuerId::BUILT_IN));
    Line {
        movement: movement.number,
        booked_at: movement.at,
        kind,
        direction,
        amount_minor: i64::try_from(movement.amount).expect("the core moves amounts below i64::MAX"),
        payment: movement.payment,
        credit_reference: credited.then(|| facepay_payments::credit_reference(movement.transfer)),
        rrn: at_bank.and_then(|row| row.bank_trace).map(|trace| facepay_iso8583::rrn(trace.number)),
        merchant: row.map(|row| row.merchant),
        terminal: row.map(|row| row.terminal),
        order_id: row.and_then(|row| row.order_id.clone()),
    }
}
