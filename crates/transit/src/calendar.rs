//! Local time for fares: the operator's clock (a fixed offset from UTC), the travel day a tap
//! belongs to (TfL's runs 04:30 to 04:29, so a ride home after midnight is still "yesterday"),
//! the week a travel day is in for weekly caps, and the local time of day that GTFS timeframes
//! are written in.

use facepay_domain::Timestamp;
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;

/// A travel day, counted in days from the one that began on 1970-01-01 (a Thursday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TravelDay(pub i64);

impl TravelDay {
    /// The calendar date the travel day begins on, `YYYY-MM-DD` (proleptic Gregorian).
    pub fn date(self) -> String {
        facepay_domain::civil_date_text(self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    pub fn parse(name: &str) -> Option<Weekday> {
        Weekday::ALL.into_iter().find(|day| format!("{day:?}").eq_ignore_ascii_case(name))
    }

    fn days_after_monday(self) -> i64 {
        Weekday::ALL.iter().position(|day| *day == self).expect("every weekday is listed") as i64
    }
}

/// The operator's clock. A fixed offset: a network that changes to summer time sets the new
/// offset when it does (the travel day's edge moves by the hour that night).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TravelCalendar {
    pub utc_offset_minutes: i32,
    /// Minutes after local midnight when a travel day begins (270: 04:30).
    pub day_starts_minute: u32,
}

impl Default for TravelCalendar {
    fn default() -> Self {
        TravelCalendar { utc_offset_minutes: 0, day_starts_minute: 270 }
    }
}

impl TravelCalendar {
    fn local_ms(&self, at: Timestamp) -> i64 {
        at.unix_ms.saturating_add(i64::from(self.utc_offset_minutes) * MINUTE_MS)
    }

    pub fn day_of(&self, at: Timestamp) -> TravelDay {
        let shifted = self.local_ms(at).saturating_sub(i64::from(self.day_starts_minute) * MINUTE_MS);
        TravelDay(shifted.div_euclid(DAY_MS))
    }

    /// When `day` begins, as an instant.
    pub fn start_of(&self, day: TravelDay) -> Timestamp {
        let local = day.0 * DAY_MS + i64::from(self.day_starts_minute) * MINUTE_MS;
        Timestamp::from_unix_ms(local - i64::from(self.utc_offset_minutes) * MINUTE_MS)
    }

    /// Seconds since local midnight (0..86,400), the clock GTFS timeframes are written in.
    pub fn seconds_of_day(&self, at: Timestamp) -> u32 {
        (self.local_ms(at).div_euclid(1_000).rem_euclid(86_400)) as u32
    }

    /// The first travel day of the week `day` is in, for weeks starting on `week_starts`.
    pub fn week_of(&self, day: TravelDay, week_starts: Weekday) -> TravelDay {
        // Day 0 began on a Thursday, three days after a Monday.
        let from_week_start = (day.0 + 3 - week_starts.days_after_monday()).rem_euclid(7);
        TravelDay(day.0 - from_week_start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64, minutes: i64) -> Timestamp {
        Timestamp::from_unix_ms(hours * 3_600_000 + minutes * MINUTE_MS)
    }

    #[test]
    fn a_ride_home_after_midnight_belongs_to_the_day_before() {
        let calendar = TravelCalendar::default();
        assert_eq!(calendar.day_of(at(0, 0)), TravelDay(-1));
        assert_eq!(calendar.day_of(at(4, 29)), TravelDay(-1));
        assert_eq!(calendar.day_of(at(4, 30)), TravelDay(0));
        assert_eq!(calendar.day_of(at(24 + 4, 29)), TravelDay(0));
        assert_eq!(calendar.start_of(TravelDay(1)), at(24 + 4, 30));
    }

    #[test]
    fn the_offset_moves_the_day_and_the_time_of_day() {
        // UTC+8: 20:45 UTC is 04:45 local the next morning.
        let calendar = TravelCalendar { utc_offset_minutes: 8 * 60, day_starts_minute: 270 };
        assert_eq!(calendar.day_of(at(20, 45)), TravelDay(1));
        assert_eq!(calendar.day_of(at(20, 15)), TravelDay(0));
        assert_eq!(calendar.seconds_of_day(at(20, 45)), (4 * 60 + 45) * 60);
        assert_eq!(calendar.start_of(TravelDay(1)), at(20, 30));
    }

    #[test]
    fn a_travel_day_is_named_by_the_date_it_begins_on() {
        assert_eq!(TravelDay(0).date(), "1970-01-01");
        assert_eq!(TravelDay(-1).date(), "1969-12-31");
        assert_eq!(TravelDay(59).date(), "1970-03-01");
        assert_eq!(TravelDay(11_016).date(), "2000-02-29");
        assert_eq!(TravelDay(20_833).date(), "2027-01-15");
    }

    #[test]
    fn weeks_start_on_the_chosen_day() {
        let calendar = TravelCalendar::default();
        // Day 0 is Thursday 1970-01-01; the Monday before it is day -3.
        assert_eq!(calendar.week_of(TravelDay(0), Weekday::Monday), TravelDay(-3));
        assert_eq!(calendar.week_of(TravelDay(4), Weekday::Monday), TravelDay(4));
        assert_eq!(calendar.week_of(TravelDay(10), Weekday::Monday), TravelDay(4));
        assert_eq!(calendar.week_of(TravelDay(11), Weekday::Monday), TravelDay(11));
        assert_eq!(calendar.week_of(TravelDay(0), Weekday::Thursday), TravelDay(0));
        assert_eq!(calendar.week_of(TravelDay(-1), Weekday::Thursday), TravelDay(-7));
        assert_eq!(Weekday::parse("SUNDAY"), Some(Weekday::Sunday));
        assert_eq!(Weekday::parse("sun"), None);
    }
}
