//! Taps into journeys and travel days into bills: mixed media, duplicates, missing taps, claims,
//! habits, the day's edge, caps, late uploads and any upload order.

mod common;

use common::{at, calendar, metro};
use facepay_domain::{ShopperId, TerminalId, Timestamp};
use facepay_transit::{
    Billed, CategoryId, DayBill, Direction, JourneyKind, Medium, NetworkId, Recorded, StopId, Tap, TapId,
    TravelDay, TravelLog,
};
use proptest::prelude::*;

const RIDER: ShopperId = ShopperId::from_u128(7);

fn tap(seq: u64, direction: Direction, station: &str, medium: Medium, when: Timestamp) -> Tap {
    Tap {
        id: TapId { gate: TerminalId::from_u128(100 + u128::from(seq % 3)), seq },
        rider: RIDER,
        network: NetworkId::from("metro"),
        station: StopId::from(station),
        direction,
        medium,
        at: when,
    }
}

fn entry(seq: u64, station: &str, when: Timestamp) -> Tap {
    tap(seq, Direction::Entry, station, Medium::Face, when)
}

fn exit(seq: u64, station: &str, when: Timestamp) -> Tap {
    tap(seq, Direction::Exit, station, Medium::Face, when)
}

fn bill(log: &TravelLog, day: i64) -> DayBill {
    log.bill(RIDER, TravelDay(day), None, &metro(), &calendar()).unwrap()
}

/// Central to market at 08:00 on days 0 to 2, each day closed.
fn commute_three_days(log: &mut TravelLog) {
    for day in 0..3 {
        log.record(entry(10 * day as u64 + 1, "central", at(day, 8, 0)));
        log.record(exit(10 * day as u64 + 2, "market", at(day, 8, 15)));
        log.close_day(TravelDay(day), |_| None, &metro(), &calendar());
    }
}

/// Each bill's charge with what was charged for its day before.
fn charges(closed: &[Billed]) -> Vec<(i64, i64)> {
    closed.iter().map(|billed| (billed.bill.as_ref().unwrap().charge_minor, billed.before_minor)).collect()
}

fn kinds(bill: &DayBill) -> Vec<(JourneyKind, i64)> {
    bill.journeys.iter().map(|journey| (journey.kind, journey.fare_minor)).collect()
}

#[test]
fn a_qr_entry_and_a_face_exit_are_one_journey() {
    let mut log = TravelLog::default();
    assert_eq!(
        log.record(tap(1, Direction::Entry, "central", Medium::PaymentCode, at(0, 8, 0))),
        Recorded::New
    );
    assert_eq!(log.record(tap(2, Direction::Exit, "harbour", Medium::Face, at(0, 8, 20))), Recorded::New);
    let day = bill(&log, 0);
    assert_eq!(kinds(&day), [(JourneyKind::Complete, 300)]);
    assert_eq!(day.journeys[0].entry.as_ref().unwrap().medium, Medium::PaymentCode);
    assert_eq!(day.journeys[0].exit.as_ref().unwrap().medium, Medium::Face);
    assert_eq!(day.charge_minor, 300);
}

#[test]
fn one_passage_is_one_tap() {
    let mut log = TravelLog::default();
    log.record(entry(1, "central", at(0, 8, 0)));
    // The same upload twice, and the QR reader seeing the rider a moment after the face did.
    assert_eq!(log.record(entry(1, "central", at(0, 8, 0))), Recorded::Duplicate);
    let qr_too = tap(2, Direction::Entry, "central", Medium::PaymentCode, at(0, 8, 0).plus_ms(3_000));
    assert_eq!(log.record(qr_too), Recorded::SamePassage);
    log.record(exit(3, "market", at(0, 8, 15)));
    assert_eq!(kinds(&bill(&log, 0)), [(JourneyKind::Complete, 200)]);
    // An offline gate's upload can bring the earlier reading second: still one passage.
    let mut late = TravelLog::default();
    late.record(tap(5, Direction::Entry, "central", Medium::PaymentCode, at(0, 8, 0).plus_ms(3_000)));
    assert_eq!(late.record(entry(4, "central", at(0, 8, 0))), Recorded::SamePassage);
    late.record(exit(6, "market", at(0, 8, 15)));
    assert_eq!(kinds(&bill(&late, 0)), [(JourneyKind::Complete, 200)]);
}

#[test]
fn missing_taps_and_long_journeys_cost_the_maximum_fare() {
    let mut log = TravelLog::default();
    log.record(entry(1, "central", at(0, 8, 0)));
    log.record(entry(2, "market", at(0, 12, 0)));
    log.record(exit(3, "harbour", at(0, 14, 30)));
    log.record(exit(4, "central", at(0, 18, 0)));
    log.record(entry(5, "central", at(0, 19, 0)));
    log.record(exit(6, "market", at(0, 19, 20)));
    let day = bill(&log, 0);
    assert_eq!(
        kinds(&day),
        [
            (JourneyKind::NoExit, 600),
            (JourneyKind::OverTime, 600),
            (JourneyKind::NoEntry, 600),
            (JourneyKind::Complete, 200),
        ]
    );
    // 2,000 of fares, capped at the day's 7.00.
    assert_eq!(
        (day.fares_minor, day.charge_minor, day.capped_by.clone()),
        (2_000, 700, vec!["day".to_owned()])
    );
}

#[test]
fn a_claim_prices_a_journey_with_no_exit_and_the_day_is_billed_again() {
    let (fares, calendar) = (metro(), calendar());
    let mut log = TravelLog::default();
    log.record(entry(1, "central", at(0, 8, 0)));
    let first = log.close_day(TravelDay(0), |_| None, &fares, &calendar);
    assert_eq!((first[0].bill.as_ref().unwrap().charge_minor, first[0].before_minor), (600, 0));
    let entry_tap = TapId { gate: TerminalId::from_u128(101), seq: 1 };
    let claim = |log: &mut TravelLog, station: &str| {
        log.claim(RIDER, entry_tap, StopId::from(station), &fares, &calendar).map_err(|err| err.code())
    };
    assert_eq!(claim(&mut log, "central"), Err("claim_same_station"));
    assert_eq!(claim(&mut log.clone(), "market"), Ok(TravelDay(0)));
    let stranger = log.claim(ShopperId::from_u128(8), entry_tap, StopId::from("market"), &fares, &calendar);
    assert_eq!(stranger.unwrap_err().code(), "journey_unknown");
    claim(&mut log, "market").unwrap();
    let again = log.close_day(TravelDay(0), |_| None, &fares, &calendar);
    let (rebilled, before) = (again[0].bill.as_ref().unwrap(), again[0].before_minor);
    assert_eq!(
        (kinds(rebilled), rebilled.charge_minor, before),
        (vec![(JourneyKind::Claimed, 200)], 200, 600)
    );
    // A journey with its exit cannot be claimed.
    log.record(exit(2, "market", at(0, 8, 20)));
    assert_eq!(claim(&mut log, "harbour"), Err("journey_not_incomplete"));
}

#[test]
fn a_usual_journey_completes_a_missing_exit() {
    let mut log = TravelLog::default();
    commute_three_days(&mut log);
    log.record(entry(41, "central", at(3, 8, 0)));
    assert_eq!(kinds(&bill(&log, 3)), [(JourneyKind::AutoCompleted, 200)]);
    // From a station with no habit, the maximum fare.
    log.record(entry(42, "harbour", at(3, 18, 0)));
    assert_eq!(kinds(&bill(&log, 3))[1], (JourneyKind::NoExit, 600));
}

#[test]
fn a_ride_home_after_midnight_belongs_to_the_day_it_entered() {
    let mut log = TravelLog::default();
    // Day 0 runs to 04:30 on day 1: in at 04:20, out at 04:40.
    log.record(entry(1, "central", at(1, 4, 20)));
    log.record(exit(2, "harbour", at(1, 4, 40)));
    log.record(entry(3, "harbour", at(1, 9, 0)));
    log.record(exit(4, "central", at(1, 9, 20)));
    assert_eq!(kinds(&bill(&log, 0)), [(JourneyKind::Complete, 300)]);
    assert_eq!(kinds(&bill(&log, 1)), [(JourneyKind::Complete, 300)]);
}

/// The days a close billed, each with its journeys.
fn billed_days(closed: &[Billed]) -> Vec<(i64, Vec<(JourneyKind, i64)>)> {
    closed.iter().map(|billed| (billed.day.0, kinds(billed.bill.as_ref().unwrap()))).collect()
}

#[test]
fn a_late_tap_between_a_night_entry_and_the_morning_exit_bills_both_days_again() {
    let (fares, calendar) = (metro(), calendar());
    // In at 04:20 (day 0), out at 04:40 (day 1): one journey, day 0's.
    let night = || {
        let mut log = TravelLog::default();
        log.record(entry(1, "central", at(1, 4, 20)));
        log.record(exit(2, "harbour", at(1, 4, 40)));
        log.close_day(TravelDay(0), |_| None, &fares, &calendar);
        log.close_day(TravelDay(1), |_| None, &fares, &calendar);
        log
    };
    // An upload shows the rider entered again at 04:35, so the 04:40 exit ends that journey:
    // day 0 loses it (its entry had no exit) as day 1 gains it, both billed again.
    let mut log = night();
    log.record(entry(3, "market", at(1, 4, 35)));
    let again = log.close_day(TravelDay(2), |_| None, &fares, &calendar);
    assert_eq!(
        billed_days(&again),
        [(0, vec![(JourneyKind::NoExit, 600)]), (1, vec![(JourneyKind::Complete, 300)])]
    );
    // An upload shows the rider left at 04:25: the 04:40 exit has no entry on day 1.
    let mut log = night();
    log.record(exit(3, "market", at(1, 4, 25)));
    let again = log.close_day(TravelDay(2), |_| None, &fares, &calendar);
    assert_eq!(
        billed_days(&again),
        [(0, vec![(JourneyKind::Complete, 200)]), (1, vec![(JourneyKind::NoEntry, 600)])]
    );
}

#[test]
fn caps_hold_for_the_day_the_week_and_the_rider_category() {
    let (fares, calendar) = (metro(), calendar());
    let mut log = TravelLog::default();
    // Day 4 (1970-01-05) is a Monday: five days of four airport rides, 18.00 of fares each.
    let mut charged = Vec::new();
    for day in 4..10 {
        for ride in 0..2 {
            let seq = (day * 10 + ride * 2) as u64;
            log.record(entry(seq, "central", at(day, 11 + ride * 2, 0)));
            log.record(exit(seq + 1, "airport", at(day, 11 + ride * 2, 40)));
        }
        let closed = log.close_day(TravelDay(day), |_| None, &fares, &calendar);
        assert_eq!(closed.len(), 1, "only this day: no tap since the last close reaches another");
        charged.push(closed[0].bill.as_ref().unwrap().charge_minor);
    }
    // 9.00 a day, capped at 7.00; the week's 30.00 runs out on the fifth day.
    assert_eq!(charged, [700, 700, 700, 700, 200, 0]);
    // The next Monday starts a new week.
    log.record(entry(500, "central", at(11, 11, 0)));
    log.record(exit(501, "airport", at(11, 11, 40)));
    let monday = log.close_day(TravelDay(11), |_| None, &fares, &calendar);
    assert_eq!(monday[0].bill.as_ref().unwrap().charge_minor, 450);
    // A student's day caps at 3.50.
    let student = CategoryId::from("student");
    let day = log.bill(RIDER, TravelDay(4), Some(&student), &fares, &calendar).unwrap();
    assert_eq!((day.fares_minor, day.charge_minor), (900, 350));
}

#[test]
fn an_exit_gate_chooses_only_among_riders_inside() {
    let mut log = TravelLog::default();
    let metro_network = NetworkId::from("metro");
    let max = 120 * 60_000;
    log.record(entry(1, "central", at(0, 8, 0)));
    let other = Tap { rider: ShopperId::from_u128(8), ..entry(2, "market", at(0, 8, 5)) };
    log.record(other);
    assert_eq!(log.riding(&metro_network, max, at(0, 8, 10)), [RIDER, ShopperId::from_u128(8)]);
    assert!(log.riding(&NetworkId::from("tram"), max, at(0, 8, 10)).is_empty());
    log.record(exit(3, "harbour", at(0, 8, 30)));
    assert_eq!(log.riding(&metro_network, max, at(0, 8, 31)), [ShopperId::from_u128(8)]);
    assert!(log.riding(&metro_network, max, at(0, 10, 6)).is_empty(), "past the longest journey");
    // An entry uploaded late, before the exit already recorded, does not put the rider back inside.
    log.record(entry(4, "market", at(0, 7, 0)));
    assert_eq!(log.riding(&metro_network, max, at(0, 8, 31)), [ShopperId::from_u128(8)]);
}

#[test]
fn a_rider_s_entries_are_counted_in_a_window_at_either_edge() {
    let mut log = TravelLog::default();
    log.record(entry(1, "central", at(0, 8, 0)));
    log.record(exit(2, "market", at(0, 8, 10)));
    log.record(entry(3, "market", at(0, 8, 20)));
    log.record(entry(4, "harbour", at(0, 9, 0)));
    assert_eq!(log.entries_between(RIDER, at(0, 8, 0), at(0, 9, 0)), 3, "both edges count");
    assert_eq!(log.entries_between(RIDER, at(0, 8, 1), at(0, 8, 59)), 1, "exits never count");
    assert_eq!(log.entries_between(ShopperId::from_u128(8), at(0, 0, 0), at(1, 0, 0)), 0);
}

#[test]
fn a_late_exit_turns_a_maximum_fare_into_the_journey_fare() {
    let (fares, calendar) = (metro(), calendar());
    let mut log = TravelLog::default();
    log.record(entry(1, "central", at(0, 8, 0)));
    assert_eq!(
        log.close_day(TravelDay(0), |_| None, &fares, &calendar)[0].bill.as_ref().unwrap().charge_minor,
        600
    );
    // The exit gate was offline and uploads its taps after the day closed.
    log.record(exit(2, "market", at(0, 8, 15)));
    let again = log.close_day(TravelDay(0), |_| None, &fares, &calendar);
    assert_eq!((again[0].bill.as_ref().unwrap().charge_minor, again[0].before_minor), (200, 600));
}

#[test]
fn a_day_whose_taps_all_come_after_its_close_is_billed_at_the_next_close() {
    let (fares, calendar) = (metro(), calendar());
    let mut log = TravelLog::default();
    assert!(log.close_day(TravelDay(0), |_| None, &fares, &calendar).is_empty(), "nobody rode yet");
    // Both gates were offline on day 0; their uploads come during day 1.
    log.record(entry(1, "central", at(0, 8, 0)));
    log.record(exit(2, "market", at(0, 8, 15)));
    let next = log.close_day(TravelDay(1), |_| None, &fares, &calendar);
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].day, next[0].bill.as_ref().unwrap().charge_minor, next[0].before_minor),
        (TravelDay(0), 200, 0)
    );
}

#[test]
fn forgetting_old_days_keeps_recent_ones_whole() {
    let mut log = TravelLog::default();
    commute_three_days(&mut log);
    let kept = bill(&log, 2);
    log.forget_before(TravelDay(2), &calendar());
    assert!(bill(&log, 0).journeys.is_empty());
    assert_eq!(bill(&log, 2), kept);
    // A forgotten tap id may be reported again; it is a new tap by then.
    assert_eq!(log.record(entry(1, "central", at(0, 8, 0))), Recorded::New);
}

proptest! {
    /// Gates upload in any order (offline gates, retries): the day's bill is the same.
    #[test]
    fn any_upload_order_gives_the_same_bill(order in Just((0..8usize).collect::<Vec<_>>()).prop_shuffle()) {
        let stations = ["central", "market", "harbour", "airport"];
        let taps: Vec<Tap> = (0..8u64)
            .map(|seq| {
                let station = stations[(seq as usize * 3) % 4];
                let when = at(0, 7 + seq as i64, 10);
                if seq % 2 == 0 { entry(seq, station, when) } else { exit(seq, station, when) }
            })
            .filter(|tap| tap.id.seq != 5)
            .collect();
        let mut in_order = TravelLog::default();
        for tap in &taps {
            in_order.record(tap.clone());
        }
        let mut shuffled = TravelLog::default();
        for &at in order.iter().filter(|&&at| at < taps.len()) {
            shuffled.record(taps[at].clone());
        }
        prop_assert_eq!(bill(&shuffled, 0), bill(&in_order, 0));
        prop_assert_eq!(shuffled, in_order);
    }
}

#[test]
fn a_late_tap_rebills_the_later_days_whose_weekly_cap_it_changes() {
    let (fares, calendar) = (metro(), calendar());
    let mut log = TravelLog::default();
    // Monday to Friday (days 4 to 8): four airport rides a day, 7.00 a day after the day cap.
    let ride = |log: &mut TravelLog, day: i64, ride: i64, with_exit: bool| {
        let seq = (day * 10 + ride * 2) as u64;
        log.record(entry(seq, "central", at(day, 11 + ride * 2, 0)));
        if with_exit {
            log.record(exit(seq + 1, "airport", at(day, 11 + ride * 2, 40)));
        }
    };
    // Monday has one ride whose exit gate was offline: 6.00 then.
    ride(&mut log, 4, 0, false);
    for day in 4..9 {
        for n in 1..3 {
            ride(&mut log, day, n, true);
        }
        log.close_day(TravelDay(day), |_| None, &fares, &calendar);
    }
    // Monday 7.00 (6.00 + 2 x 4.50, capped), then 7.00 x 3, then what is left of 30.00: 2.00.
    // The Monday exit arrives on Saturday: Monday's fares fall to 13.50, still capped at 7.00, and
    // every later day of the week is billed again to the same amounts.
    log.record(exit(41, "airport", at(4, 11, 40)));
    let rebilled = log.close_day(TravelDay(4), |_| None, &fares, &calendar);
    assert_eq!(charges(&rebilled), [(700, 700), (700, 700), (700, 700), (700, 700), (200, 200)]);
    // A claim that lowers Monday below the day cap gives Friday the room back.
    let mut log = TravelLog::default();
    ride(&mut log, 4, 0, false);
    for day in 4..9 {
        if day > 4 {
            for n in 1..3 {
                ride(&mut log, day, n, true);
            }
        }
        log.close_day(TravelDay(day), |_| None, &fares, &calendar);
    }
    let monday_entry = TapId { gate: TerminalId::from_u128(100 + 40 % 3), seq: 40 };
    log.claim(RIDER, monday_entry, StopId::from("market"), &fares, &calendar).unwrap();
    let rebilled = log.close_day(TravelDay(4), |_| None, &fares, &calendar);
    // Monday 6.00 -> 2.00; Tuesday to Thursday 7.00; Friday's weekly room grows from 3.00 to
    // 7.00, and its day cap is 7.00.
    assert_eq!(charges(&rebilled), [(200, 600), (700, 700), (700, 700), (700, 700), (700, 300)]);
}
