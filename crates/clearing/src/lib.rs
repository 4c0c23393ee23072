//! The settlement day as files a bank's or an acquirer's back office reads, and the check of a
//! bank's own file against them.
//!
//! `day` is the window a settlement day covers (UTC midnight plus the operator's cut-off).
//! `statement` reads that window's ledger movements from the read model, page by page, and
//! gives each external bank and each acquirer its lines: every posted movement that touched
//! its side, classified by `facepay_payments::booking` (the same function the totals report
//! sums with, so the lines and the totals cannot disagree), with the payment, merchant,
//! terminal, order id and the references the bank was told on the wire (the retrieval
//! reference number and a credit's reference). `csv` writes the per-transaction file and
//! `camt053` the ISO 20022 camt.053.001.02 statement; `reconcile` reads a bank's file and
//! names every line that is missing, extra or of another amount, each with a stable code.
//!
//! This crate must never do IO itself (the caller reads the store through the `Journal` port
//! and writes the files) and never leave a posted movement out of a statement.

mod camt053;
mod csv;
mod day;
mod reconcile;
mod statement;

pub use camt053::{CAMT053_NAMESPACE, camt053};
pub use csv::{CSV_HEADER, per_transaction_csv};
pub use day::{CUTOFF_MINUTES_MAX, DayError, SettlementDay};
pub use reconcile::{BankLine, Mismatch, MismatchKind, ReconcileError, read_bank_csv, reconcile};
pub use statement::{DayBook, Direction, Line, Party, Statement, read_day};
