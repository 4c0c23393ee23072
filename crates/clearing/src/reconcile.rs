//! A bank's own file of a day, checked line by line against the switch's statement for that
//! bank. The bank writes the per-transaction CSV's columns (at least `kind`, `amount_minor`,
//! and `rrn` or `payment_id`; `credit_reference` on a refund, reversal or compensation;
//! `currency` if it likes); a line is the switch's line of the same kind, payment (by its
//! retrieval reference number when the bank gives one, else by payment id) and credit. Every
//! difference is a `Mismatch` with a stable code: missing at the bank, extra at the bank, twice
//! at the bank, or of another amount.

use std::collections::HashMap;

use facepay_domain::Currency;
use facepay_payments::BookingKind;
use facepay_transit::csv;

use crate::statement::{Line, Statement};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    #[error("the bank's file is not CSV: {0}")]
    Unreadable(String),
    #[error("the bank's file has no {0} column")]
    ColumnMissing(&'static str),
    #[error("line {line}: {column} {reason}")]
    FieldMalformed { line: usize, column: &'static str, reason: &'static str },
    #[error("line {line}: the amount is in {found}, the switch settles in {expected}")]
    CurrencyDiffers { line: usize, found: String, expected: Currency },
}

impl ReconcileError {
    pub fn code(&self) -> &'static str {
        match self {
            ReconcileError::Unreadable(_) => "reconcile_file_unreadable",
            ReconcileError::ColumnMissing(_) => "reconcile_column_missing",
            ReconcileError::FieldMalformed { .. } => "reconcile_field_malformed",
            ReconcileError::CurrencyDiffers { .. } => "reconcile_currency_differs",
        }
    }
}

/// One line of the bank's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankLine {
    /// Its line in the file, the header being line 1.
    pub line: usize,
    pub kind: BookingKind,
    pub rrn: Option<String>,
    pub payment: Option<String>,
    pub credit_reference: Option<String>,
    pub amount_minor: i64,
}

/// Reads the bank's CSV, refusing it whole at its first malformed line.
pub fn read_bank_csv(text: &str, currency: Currency) -> Result<Vec<BankLine>, ReconcileError> {
    let table = csv::parse(text).map_err(|err| ReconcileError::Unreadable(err.to_string()))?;
    let column = |name: &'static str| table.column(name).ok_or(ReconcileError::ColumnMissing(name));
    let (kind, amount) = (column("kind")?, column("amount_minor")?);
    let (rrn, payment) = (table.column("rrn"), table.column("payment_id"));
    if rrn.is_none() && payment.is_none() {
        return Err(ReconcileError::ColumnMissing("rrn or payment_id"));
    }
    let (credit, currency_column) = (table.column("credit_reference"), table.column("currency"));
    let mut lines = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let line = row.line;
        let malformed = |column, reason| ReconcileError::FieldMalformed { line, column, reason };
        let kind = row
            .get(Some(kind))
            .and_then(BookingKind::from_code)
            .ok_or(malformed("kind", "is not a kind of line"))?;
        let amount_minor = row
            .get(Some(amount))
            .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<i64>().ok())
            .filter(|amount| *amount > 0)
            .ok_or(malformed("amount_minor", "is not a positive whole number of minor units"))?;
        if let Some(found) = row.get(currency_column)
            && found != currency.code()
        {
            return Err(ReconcileError::CurrencyDiffers {
                line,
                found: found.to_owned(),
                expected: currency,
            });
        }
        let (rrn, payment) = (row.get(rrn).map(str::to_owned), row.get(payment).map(str::to_owned));
        if rrn.is_none() && payment.is_none() {
            return Err(malformed("rrn", "and payment_id are both empty"));
        }
        let credit_reference = row.get(credit).map(str::to_owned);
        if credit_reference.is_none() && credited(kind) {
            return Err(malformed("credit_reference", "is empty on a line that credits a shopper"));
        }
        lines.push(BankLine { line, kind, rrn, payment, credit_reference, amount_minor });
    }
    Ok(lines)
}

fn credited(kind: BookingKind) -> bool {
    matches!(kind, BookingKind::Refund | BookingKind::Reversal | BookingKind::Compensation)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MismatchKind {
    /// The switch booked it; the bank's file does not have it.
    MissingAtBank,
    /// The bank's file has it; the switch booked nothing like it that day.
    ExtraAtBank,
    /// The bank's file has it more often than the switch booked it.
    DuplicateAtBank,
    /// Both have it, for different amounts.
    AmountDiffers,
}

impl MismatchKind {
    pub fn code(self) -> &'static str {
        match self {
            MismatchKind::MissingAtBank => "reconcile_missing_at_bank",
            MismatchKind::ExtraAtBank => "reconcile_extra_at_bank",
            MismatchKind::DuplicateAtBank => "reconcile_duplicate_at_bank",
            MismatchKind::AmountDiffers => "reconcile_amount_differs",
        }
    }
}

/// One difference between the switch's statement and the bank's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub kind: MismatchKind,
    /// The line's kind and references, in words.
    pub reference: String,
    /// The switch's ledger movement, when it has the line.
    pub movement: Option<u64>,
    /// The line in the bank's file, when it has it.
    pub bank_line: Option<usize>,
    pub ours_minor: Option<i64>,
    pub theirs_minor: Option<i64>,
}

/// A line's identity on both sides: its kind, the payment (by RRN or by id) and the credit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Rrn(BookingKind, String, Option<String>),
    Payment(BookingKind, String, Option<String>),
}

impl Key {
    fn words(&self) -> String {
        let (kind, name, payment, credit) = match self {
            Key::Rrn(kind, rrn, credit) => (kind, "rrn", rrn, credit),
            Key::Payment(kind, payment, credit) => (kind, "payment", payment, credit),
        };
        let credit = credit.as_deref().map(|credit| format!(", credit {credit}")).unwrap_or_default();
        format!("{} of {name} {payment}{credit}", kind.code())
    }
}

fn keys_of(line: &Line) -> Vec<Key> {
    let credit = line.credit_reference.clone();
    let rrn = line.rrn.clone().map(|rrn| Key::Rrn(line.kind, rrn, credit.clone()));
    let payment = line.payment.map(|id| Key::Payment(line.kind, id.to_string(), credit.clone()));
    rrn.into_iter().chain(payment).collect()
}

fn key_of(line: &BankLine) -> Key {
    let credit = line.credit_reference.clone();
    match (&line.rrn, &line.payment) {
        (Some(rrn), _) => Key::Rrn(line.kind, rrn.clone(), credit),
        (None, Some(payment)) => Key::Payment(line.kind, payment.clone(), credit),
        (None, None) => unreachable!("read_bank_csv refuses a line with neither"),
    }
}

/// Every difference between `statement` and the bank's `lines`: the bank's lines in file order,
/// then the switch's lines the bank did not have, in ledger order.
pub fn reconcile(statement: &Statement, lines: &[BankLine]) -> Vec<Mismatch> {
    let mut ours: HashMap<Key, Vec<usize>> = HashMap::new();
    for (at, line) in statement.lines.iter().enumerate() {
        for key in keys_of(line) {
            ours.entry(key).or_default().push(at);
        }
    }
    let mut matched = vec![false; statement.lines.len()];
    let mut mismatches = Vec::new();
    for theirs in lines {
        let key = key_of(theirs);
        let candidates = ours.get(&key).map(Vec::as_slice).unwrap_or_default();
        let mismatch = |kind, movement, ours_minor| Mismatch {
            kind,
            reference: key.words(),
            movement,
            bank_line: Some(theirs.line),
            ours_minor,
            theirs_minor: Some(theirs.amount_minor),
        };
        match candidates.iter().find(|at| !matched[**at]) {
            Some(&at) => {
                matched[at] = true;
                let line = &statement.lines[at];
                if line.amount_minor != theirs.amount_minor {
                    mismatches.push(mismatch(
                        MismatchKind::AmountDiffers,
                        Some(line.movement),
                        Some(line.amount_minor),
                    ));
                }
            }
            None if candidates.is_empty() => mismatches.push(mismatch(MismatchKind::ExtraAtBank, None, None)),
            None => mismatches.push(mismatch(MismatchKind::DuplicateAtBank, None, None)),
        }
    }
    for (line, _) in statement.lines.iter().zip(&matched).filter(|(_, matched)| !**matched) {
        let reference = match keys_of(line).first() {
            Some(key) => key.words(),
            None => format!("{} of movement {}", line.kind.code(), line.movement),
        };
        mismatches.push(Mismatch {
            kind: MismatchKind::MissingAtBank,
            reference,
            movement: Some(line.movement),
            bank_line: None,
            ours_minor: Some(line.amount_minor),
            theirs_minor: None,
        });
    }
    mismatches
}
