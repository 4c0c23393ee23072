//! `facepay settle` and `facepay reconcile`, and the files `serve` writes when a settlement day
//! ends: for each external bank and each acquirer with movements that day, the per-transaction
//! CSV and the camt.053 statement, beside the day's totals (the settlement report's CSV), each
//! written to a temporary name, synced and renamed, so a reader never sees half a file.
//! `serve`'s schedule writes a day a minute after it ends (a command stamped just before the
//! cut-off may still be committing at it), and at start the day before if its files are not
//! there yet, so a node that was down at the cut-off catches up.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use facepay_api::Switch;

use facepay_clearing::{
    DayBook, Party, SettlementDay, camt053, per_transaction_csv, read_bank_csv, reconcile,
};
use facepay_domain::{Currency, Timestamp};
use facepay_payments::{IssuerId, Journal};

use crate::config::{Config, Settlement};
use crate::serve::{core_config, open_journal, store_error};

/// Reads `day` (one party's part when `only` names it) from the store.
fn read_day(
    journal: &mut dyn Journal,
    currency: Currency,
    day: SettlementDay,
    only: Option<Party>,
) -> Result<DayBook, String> {
    let book = facepay_clearing::read_day(journal, currency, day, only).map_err(store_error)?;
    book.map_err(|err| format!("{err} [{}]", err.code()))
}

/// Writes the day's files into `dir`; their paths.
pub(crate) fn write_files(book: &DayBook, dir: &Path, created: Timestamp) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let date = book.day.date();
    let mut files = vec![(format!("facepay-settlement-{date}-totals.csv"), book.report.to_csv())];
    for statement in &book.statements {
        let name = format!("facepay-settlement-{date}-{}", statement.party.name());
        files.push((format!("{name}.csv"), per_transaction_csv(statement)));
        let xml = camt053(statement, created).map_err(|err| format!("{err} [{}]", err.code()))?;
        files.push((format!("{name}.camt053.xml"), xml));
    }
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(&name);
        let partial = dir.join(format!(".{name}.partial"));
        let write = || -> io::Result<()> {
            let mut file = std::fs::File::create(&partial)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)
        };
        write().map_err(|err| format!("cannot write {}: {err}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// How long after a day's cut-off its files are written.
const SETTLE_AFTER_MS: i64 = 60_000;

/// `serve`'s settlement run: a thread writing each day's files once it has ended; dropping it
/// stops the thread and waits for it.
pub struct Schedule {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Schedule {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Schedule {
    pub fn start(switch: &Arc<Switch>, settlement: &Settlement) -> Result<Schedule, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| format!("cannot start the settlement schedule: {err}"))?;
        let (stop, stopped) = channel::<()>();
        let (switch, settlement) = (switch.clone(), settlement.clone());
        let thread = std::thread::Builder::new()
            .name("settlement".into())
            .spawn(move || {
                loop {
                    let now = Timestamp::from_unix_ms(facepay_api::now_ms());
                    let cut = now.plus_ms(-SETTLE_AFTER_MS);
                    let Ok(today) = SettlementDay::containing(cut, settlement.cutoff_minutes) else { return };
                    settle_if_missing(&runtime, &switch, today.previous(), &settlement.dir);
                    let wait = today.to().plus_ms(SETTLE_AFTER_MS).ms_since(now).clamp(1_000, 3_600_000);
                    match stopped.recv_timeout(Duration::from_millis(wait as u64)) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .map_err(|err| format!("cannot start the settlement schedule: {err}"))?;
        Ok(Schedule { stop: Some(stop), thread: Some(thread) })
    }
}

/// Writes `day`'s files into `dir` unless its totals file is there already.
fn settle_if_missing(
    runtime: &tokio::runtime::Runtime,
    switch: &Arc<Switch>,
    day: SettlementDay,
    dir: &Path,
) {
    if dir.join(format!("facepay-settlement-{}-totals.csv", day.date())).exists() {
        return;
    }
    let book = runtime.block_on(switch.settlement_day(day, None));
    let written = book
        .map_err(|err| format!("{} [{}]", err.message, err.code))
        .and_then(|book| write_files(&book, dir, Timestamp::from_unix_ms(facepay_api::now_ms())));
    match written {
        Ok(files) => eprintln!(
            "facepay: settlement day {} written to {} ({} files)",
            day.date(),
            dir.display(),
            files.len()
        ),
        Err(err) => {
            eprintln!("facepay: settlement day {} not written, tried again in an hour: {err}", day.date())
        }
    }
}

/// `facepay settle --day D [--out DIR]`.
pub fn settle(config: &Config, day: &str, dir: Option<&Path>, out: &mut dyn Write) -> io::Result<bool> {
    let dir = dir.unwrap_or(&config.settlement.dir);
    let done = SettlementDay::parse(day, config.settlement.cutoff_minutes)
        .map_err(|err| format!("{err} [{}]", err.code()))
        .and_then(|day| {
            let mut journal = open_journal(&config.database)?;
            let book = read_day(journal.as_mut(), core_config().currency, day, None)?;
            let files = write_files(&book, dir, Timestamp::from_unix_ms(facepay_api::now_ms()))?;
            Ok((book, files))
        });
    let (book, files) = match done {
        Ok(done) => done,
        Err(err) => {
            writeln!(out, "facepay settle: {err}")?;
            return Ok(false);
        }
    };
    let day = &book.day;
    writeln!(
        out,
        "settlement day {} ({} to {} UTC), {}",
        day.date(),
        day.from().unix_ms,
        day.to().unix_ms,
        book.report.currency
    )?;
    writeln!(out, "| party | lines | credits | debits | closing | report's net | equal |")?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    let mut all_equal = book.report.balances();
    for statement in &book.statements {
        let (closing, net) = (statement.closing_minor(), statement.report_net_minor(&book.report));
        all_equal &= closing == net;
        writeln!(
            out,
            "| {} | {} | {} | {} | {closing} | {net} | {} |",
            statement.party.name(),
            statement.lines.len(),
            statement.credits_minor(),
            statement.debits_minor(),
            if closing == net { "yes" } else { "NO" }
        )?;
    }
    for file in &files {
        writeln!(out, "wrote {}", file.display())?;
    }
    if !all_equal {
        writeln!(
            out,
            "facepay settle: the statements do not equal the ledger's totals [settlement_out_of_balance]"
        )?;
    }
    Ok(all_equal)
}

/// `facepay reconcile --bank B --day D --file F`: every line of the bank's file that differs
/// from the switch's statement for that bank and day. Exit status 0 when none does.
pub fn reconcile_bank(
    config: &Config,
    bank: u32,
    day: &str,
    file: &Path,
    out: &mut dyn Write,
) -> io::Result<bool> {
    let currency = core_config().currency;
    let checked = (|| {
        if bank == IssuerId::BUILT_IN.0 {
            return Err("issuer 0 is the switch's own wallets, which no bank books [reconcile_bank_invalid]"
                .to_owned());
        }
        let day = SettlementDay::parse(day, config.settlement.cutoff_minutes)
            .map_err(|err| format!("{err} [{}]", err.code()))?;
        let text =
            std::fs::read_to_string(file).map_err(|err| format!("cannot read {}: {err}", file.display()))?;
        let lines = read_bank_csv(&text, currency).map_err(|err| format!("{err} [{}]", err.code()))?;
        let mut journal = open_journal(&config.database)?;
        let party = Party::Bank(IssuerId(bank));
        let book = read_day(journal.as_mut(), currency, day, Some(party))?;
        let statement = book.statements.into_iter().next().expect("the party asked for is read");
        Ok((statement.lines.len(), lines.len(), reconcile(&statement, &lines)))
    })();
    let (ours, theirs, mismatches) = match checked {
        Ok(checked) => checked,
        Err(err) => {
            writeln!(out, "facepay reconcile: {err}")?;
            return Ok(false);
        }
    };
    writeln!(out, "issuer-{bank} {day}: the switch booked {ours} lines, the bank's file has {theirs}")?;
    for mismatch in &mismatches {
        let amount = |minor: Option<i64>| minor.map_or("-".to_owned(), |minor| minor.to_string());
        writeln!(
            out,
            "{} {}: switch {} (movement {}), bank {} (line {})",
            mismatch.kind.code(),
            mismatch.reference,
            amount(mismatch.ours_minor),
            mismatch.movement.map_or("-".to_owned(), |number| number.to_string()),
            amount(mismatch.theirs_minor),
            mismatch.bank_line.map_or("-".to_owned(), |line| line.to_string()),
        )?;
    }
    writeln!(out, "{} mismatches", mismatches.len())?;
    Ok(mismatches.is_empty())
}
