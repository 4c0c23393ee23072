//! A point in time as milliseconds since the Unix epoch (UTC). The core never asks the system
//! for the time: an injected clock hands it a `Timestamp`, so a simulation can replay any run.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timestamp {
    pub unix_ms: i64,
}

impl Timestamp {
    pub const fn from_unix_ms(unix_ms: i64) -> Self {
        Self { unix_ms }
    }

    /// This instant moved forward by `duration_ms` (saturating: time never wraps).
    pub const fn plus_ms(self, duration_ms: i64) -> Self {
        Self { unix_ms: self.unix_ms.saturating_add(duration_ms) }
    }

    /// Milliseconds from `earlier` to `self`; negative when `earlier` is later.
    pub const fn ms_since(self, earlier: Timestamp) -> i64 {
        self.unix_ms.saturating_sub(earlier.unix_ms)
    }

    /// The instant's UTC calendar date and time of day.
    pub fn utc(self) -> Utc {
        let days = self.unix_ms.div_euclid(DAY_MS);
        let seconds = self.unix_ms.rem_euclid(DAY_MS) / 1_000;
        let (year, month, day) = civil_date(days);
        let seconds = u32::try_from(seconds).expect("a day has fewer than 2^32 seconds");
        Utc { year, month, day, hour: seconds / 3_600, minute: seconds / 60 % 60, second: seconds % 60 }
    }
}

const DAY_MS: i64 = 86_400_000;

/// A UTC calendar date and time of day (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// The calendar date `days` after 1970-01-01: year, month 1-12, day 1-31 (proleptic Gregorian,
/// counting eras of 400 years from 0000-03-01).
pub fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let of_era = z.rem_euclid(146_097);
    let year_of_era = (of_era - of_era / 1_460 + of_era / 36_524 - of_era / 146_096) / 365;
    let of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * of_year + 2) / 153;
    let day = of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let small = |n: i64| u32::try_from(n).expect("a month or a day");
    (year, small(month), small(day))
}

/// The calendar date `days` after 1970-01-01, written `YYYY-MM-DD` (what `parse_civil_date`
/// reads back).
pub fn civil_date_text(days: i64) -> String {
    let (year, month, day) = civil_date(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The days from 1970-01-01 to the date written `YYYY-MM-DD` (years 0000 to 9999), or none for
/// text written otherwise or a date the calendar does not have (2026-02-30).
pub fn parse_civil_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = bytes.get(range)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0, |n, b| n * 10 + i64::from(b - b'0')))
    };
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Counted from 0000-03-01, so a leap day ends its year (the inverse of `civil_date`).
    let shifted_year = if month <= 2 { year - 1 } else { year };
    let era = shifted_year.div_euclid(400);
    let year_of_era = shifted_year.rem_euclid(400);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let (y, m, d) = civil_date(days);
    (y == year && i64::from(m) == month && i64::from(d) == day).then_some(days)
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.unix_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let t = Timestamp::from_unix_ms(1_000);
        assert_eq!(t.plus_ms(500).ms_since(t), 500);
        assert_eq!(t.ms_since(t.plus_ms(250)), -250);
        assert_eq!(Timestamp::from_unix_ms(i64::MAX).plus_ms(1), Timestamp::from_unix_ms(i64::MAX));
    }

    #[test]
    fn an_instant_reads_as_its_utc_date_and_time() {
        let utc = |ms| {
            let parts = Timestamp::from_unix_ms(ms).utc();
            (parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second)
        };
        assert_eq!(utc(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc(-1), (1969, 12, 31, 23, 59, 59));
        // 2024-02-29 (a leap day) 13:45:07, and 2000-03-01, the day after a 400-year leap day.
        assert_eq!(utc(1_709_214_307_000), (2024, 2, 29, 13, 45, 7));
        assert_eq!(utc(951_868_800_000), (2000, 3, 1, 0, 0, 0));
        assert_eq!(civil_date(-719_468), (0, 3, 1));
    }

    #[test]
    fn a_written_date_reads_back_as_the_days_it_is_and_nothing_else_reads() {
        for days in [-719_468, -1, 0, 59, 11_016, 19_782, 20_426, 2_932_896] {
            assert_eq!(parse_civil_date(&civil_date_text(days)), Some(days));
        }
        assert_eq!(civil_date_text(19_782), "2024-02-29");
        assert_eq!(parse_civil_date("2024-02-29"), Some(19_782));
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "26-12-04",
            "2026/12/04",
            "2026-1-004",
            "+026-12-04",
            "",
        ] {
            assert_eq!(parse_civil_date(bad), None, "{bad}");
        }
    }
}
