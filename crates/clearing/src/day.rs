//! A settlement day: named by its UTC calendar date, it runs from that date's midnight plus the
//! operator's cut-off to the next date's (with a cut-off of 22:00, day 2026-12-04 is
//! 2026-12-04 22:00 to 2026-12-05 22:00 UTC), like the transit crate's travel day.

use facepay_domain::{Timestamp, civil_date_text, parse_civil_date};

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;

/// The latest cut-off: 23:59.
pub const CUTOFF_MINUTES_MAX: u32 = 24 * 60 - 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DayError {
    #[error("the settlement day {0:?} is not a calendar date written YYYY-MM-DD")]
    Malformed(String),
    #[error("the cut-off is {0} minutes after midnight; it must be 0 to {CUTOFF_MINUTES_MAX}")]
    CutoffOutOfRange(u32),
}

impl DayError {
    pub fn code(&self) -> &'static str {
        match self {
            DayError::Malformed(_) => "settlement_day_malformed",
            DayError::CutoffOutOfRange(_) => "settlement_cutoff_out_of_range",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SettlementDay {
    /// Days from 1970-01-01 to the date it is named by.
    days: i64,
    cutoff_minutes: u32,
}

impl SettlementDay {
    /// The day written `YYYY-MM-DD`, with the cut-off `cutoff_minutes` after UTC midnight.
    pub fn parse(date: &str, cutoff_minutes: u32) -> Result<SettlementDay, DayError> {
        let days = parse_civil_date(date).ok_or_else(|| DayError::Malformed(date.to_owned()))?;
        SettlementDay::checked(days, cutoff_minutes)
    }

    /// The day `at` falls in.
    pub fn containing(at: Timestamp, cutoff_minutes: u32) -> Result<SettlementDay, DayError> {
        let days = at.unix_ms.saturating_sub(i64::from(cutoff_minutes) * MINUTE_MS).div_euclid(DAY_MS);
        SettlementDay::checked(days, cutoff_minutes)
    }

    fn checked(days: i64, cutoff_minutes: u32) -> Result<SettlementDay, DayError> {
        if cutoff_minutes > CUTOFF_MINUTES_MAX {
            return Err(DayError::CutoffOutOfRange(cutoff_minutes));
        }
        Ok(SettlementDay { days, cutoff_minutes })
    }

    /// Its first instant.
    pub fn from(&self) -> Timestamp {
        Timestamp::from_unix_ms(self.days * DAY_MS + i64::from(self.cutoff_minutes) * MINUTE_MS)
    }

    /// The first instant after it.
    pub fn to(&self) -> Timestamp {
        self.from().plus_ms(DAY_MS)
    }

    pub fn next(&self) -> SettlementDay {
        SettlementDay { days: self.days + 1, cutoff_minutes: self.cutoff_minutes }
    }

    pub fn previous(&self) -> SettlementDay {
        SettlementDay { days: self.days - 1, cutoff_minutes: self.cutoff_minutes }
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        civil_date_text(self.days)
    }
}

/// `at` as ISO 8601 in UTC with milliseconds: `2026-12-04T18:40:36.123Z`.
pub(crate) fn iso_instant(at: Timestamp) -> String {
    let utc = at.utc();
    let ms = at.unix_ms.rem_euclid(1_000);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second
    )
}

/// `at`'s UTC date, `YYYY-MM-DD`.
pub(crate) fn iso_date(at: Timestamp) -> String {
    civil_date_text(at.unix_ms.div_euclid(DAY_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_runs_from_its_cut_off_to_the_next_days() {
        let day = SettlementDay::parse("2026-12-04", 22 * 60).unwrap();
        assert_eq!(day.from().utc().day, 4);
        assert_eq!((day.from().utc().hour, day.to().utc().day, day.to().utc().hour), (22, 5, 22));
        assert_eq!(SettlementDay::containing(day.from(), 22 * 60).unwrap(), day);
        assert_eq!(SettlementDay::containing(day.to().plus_ms(-1), 22 * 60).unwrap(), day);
        assert_eq!(SettlementDay::containing(day.to(), 22 * 60).unwrap(), day.next());
        assert_eq!((day.next().date(), day.next().previous()), ("2026-12-05".to_owned(), day));
        let midnight = SettlementDay::parse("2026-12-04", 0).unwrap();
        assert_eq!((midnight.from().utc().day, midnight.from().utc().hour), (4, 0));
        assert_eq!(iso_instant(day.from().plus_ms(61_007)), "2026-12-04T22:01:01.007Z");
        assert_eq!(iso_date(day.to()), "2026-12-05");
    }

    #[test]
    fn a_bad_date_or_cut_off_is_refused_with_its_code() {
        let err = SettlementDay::parse("2026-02-30", 0).unwrap_err();
        assert_eq!(err.code(), "settlement_day_malformed");
        let err = SettlementDay::parse("2026-12-04", 1_440).unwrap_err();
        assert_eq!(err.code(), "settlement_cutoff_out_of_range");
        assert!(SettlementDay::parse("2026-12-04", CUTOFF_MINUTES_MAX).is_ok());
    }
}
