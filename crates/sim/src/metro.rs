//! A simulated metro, day after day, from a seed: stations in fare zones, riders with a home and
//! a workplace, gates that miss exits, read a rider twice, go offline and upload late (after the
//! day was billed, in any order, some taps twice), and riders who claim where they got off. The
//! fare table is written as GTFS files and imported as an operator would.
//!
//! The oracle is this file's own: it pairs the taps it delivered into journeys, prices them from
//! the zone prices it drew, learns habits and applies caps, and at every day's close the travel
//! log's bills (and what each rider had been charged before) must equal it. It also checks that
//! no passage is in two journeys and that the exit gates' riders inside are the ones it expects.

use std::collections::{BTreeMap, BTreeSet};

use facepay_domain::{Currency, ShopperId, TerminalId, Timestamp};
use facepay_transit::{
    DayBill, Direction, FareTable, ImportOptions, Medium, NetworkId, StopId, Tap, TapId, TravelCalendar,
    TravelDay, TravelLog, import,
};

use crate::metro_money::MetroSwitch;
use crate::{Rng, SplitMix64};

/// A bill, a tap's fate or the riders inside that differ from the oracle's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "metro seed {seed}, close {close}: {what} (replay: cargo run -p facepay-sim -- --seeds 0 --start {seed} --metro 1)"
)]
pub struct MetroViolation {
    pub seed: u64,
    pub close: usize,
    pub what: String,
}

const MINUTE: i64 = 60_000;
const DAY: i64 = 1_440 * MINUTE;
const SAME_PASSAGE_MS: i64 = 60_000;
const HABIT_JOURNEYS: usize = 20;
const HABIT_MIN_REPEATS: usize = 3;

/// What one seeded run of days did, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetroReport {
    pub days: usize,
    pub riders: usize,
    pub journeys: usize,
    pub missed_exits: usize,
    pub double_readings: usize,
    pub late_uploads: usize,
    pub repeated_uploads: usize,
    pub claims: usize,
    pub bills: usize,
    pub capped_bills: usize,
    /// What the switch's transit payments captured and refunded, the bank's declines, and the
    /// riders still owing after two weeks of retries.
    pub captured_minor: i64,
    pub refunded_minor: i64,
    pub bank_declines: usize,
    pub riders_in_debt: usize,
}

impl MetroReport {
    pub fn add(&mut self, other: &MetroReport) {
        self.days += other.days;
        self.riders += other.riders;
        self.journeys += other.journeys;
        self.missed_exits += other.missed_exits;
        self.double_readings += other.double_readings;
        self.late_uploads += other.late_uploads;
        self.repeated_uploads += other.repeated_uploads;
        self.claims += other.claims;
        self.bills += other.bills;
        self.capped_bills += other.capped_bills;
        self.captured_minor += other.captured_minor;
        self.refunded_minor += other.refunded_minor;
        self.bank_declines += other.bank_declines;
        self.riders_in_debt += other.riders_in_debt;
    }
}

/// The network as the seed drew it, and the prices the oracle charges by.
struct Metro {
    zones: Vec<u8>,
    /// Price by (lower zone, higher zone).
    prices: BTreeMap<(u8, u8), i64>,
    maximum_fare: i64,
    max_journey_ms: i64,
    day_cap: Option<i64>,
    week_cap: Option<i64>,
}

impl Metro {
    fn draw(rng: &mut Rng) -> Metro {
        let stations = 6 + rng.below(7) as usize;
        let zones = (0..stations).map(|station| 1 + (station * 3 / stations) as u8).collect();
        let mut prices = BTreeMap::new();
        for low in 1..=3u8 {
            for high in low..=3 {
                prices.insert((low, high), 150 + 50 * i64::from(high - low) + rng.below(50) as i64);
            }
        }
        let highest = *prices.values().max().expect("three zones");
        let day_cap = rng.chance(80).then(|| highest * (2 + rng.below(3) as i64));
        Metro {
            zones,
            prices,
            maximum_fare: highest + 100 + rng.below(200) as i64,
            max_journey_ms: (90 + rng.below(60) as i64) * MINUTE,
            day_cap,
            week_cap: day_cap.filter(|_| rng.chance(70)).map(|day| day * (3 + rng.below(3) as i64)),
        }
    }

    fn station(index: usize) -> StopId {
        StopId(format!("s{index:02}"))
    }

    fn price(&self, from: &StopId, to: &StopId) -> i64 {
        let zone = |stop: &StopId| self.zones[stop.0[1..].parse::<usize>().expect("sNN")];
        let (a, b) = (zone(from), zone(to));
        self.prices[&(a.min(b), a.max(b))]
    }

    /// The fare table as GTFS files and facepay's own two.
    fn files(&self) -> BTreeMap<String, String> {
        let money = |minor: i64| format!("{}.{:02}", minor / 100, minor % 100);
        let mut stop_areas = String::from("area_id,stop_id\n");
        for (station, zone) in self.zones.iter().enumerate() {
            stop_areas += &format!("zone{zone},{}\n", Metro::station(station));
        }
        let (mut products, mut rules) = (
            String::from("fare_product_id,fare_product_name,amount,currency\n"),
            String::from("leg_group_id,network_id,from_area_id,to_area_id,fare_product_id\n"),
        );
        for (&(low, high), &price) in &self.prices {
            products += &format!("z{low}{high},Zones {low}-{high},{},EUR\n", money(price));
            rules += &format!("metro,metro,zone{low},zone{high},z{low}{high}\n");
            if low != high {
                rules += &format!("metro,metro,zone{high},zone{low},z{low}{high}\n");
            }
        }
        let mut caps =
            String::from("cap_id,network_id,rider_category_id,period,week_start_day,amount,currency\n");
        if let Some(day) = self.day_cap {
            caps += &format!("day,,,day,,{},EUR\n", money(day));
        }
        if let Some(week) = self.week_cap {
            caps += &format!("week,,,week,monday,{},EUR\n", money(week));
        }
        BTreeMap::from([
            ("areas.txt".into(), "area_id,area_name\nzone1,One\nzone2,Two\nzone3,Three\n".into()),
            ("stop_areas.txt".into(), stop_areas),
            ("fare_products.txt".into(), products),
            ("fare_leg_rules.txt".into(), rules),
            (
                "facepay_networks.txt".into(),
                format!(
                    "network_id,maximum_fare,max_journey_minutes,currency\nmetro,{},{},EUR\n",
                    money(self.maximum_fare),
                    self.max_journey_ms / MINUTE
                ),
            ),
            ("facepay_fare_caps.txt".into(), caps),
        ])
    }
}

/// A tap the oracle saw recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    id: TapId,
    at: Timestamp,
    station: StopId,
    entry: bool,
}

/// One journey as the oracle prices it: its fare and the taps it used.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    fare: i64,
    taps: Vec<TapId>,
}

/// The oracle: what was recorded, claimed and learned, and what each rider was charged.
#[derive(Default)]
struct Oracle {
    taps: BTreeMap<ShopperId, Vec<Seen>>,
    ids: BTreeSet<TapId>,
    claims: BTreeMap<TapId, StopId>,
    habits: BTreeMap<ShopperId, Vec<(StopId, StopId)>>,
    charged: BTreeMap<(ShopperId, TravelDay), i64>,
    /// Taps recorded since the last close.
    unbilled: Vec<(ShopperId, Timestamp)>,
    /// The taps of each day's latest bill from the log, to check no passage is in two.
    log_billed: BTreeMap<(ShopperId, TravelDay), Vec<TapId>>,
}

impl Oracle {
    /// Whether the log must record `tap` as new, and records it if so.
    fn record(&mut self, tap: &Tap) -> bool {
        if self.ids.contains(&tap.id) {
            return false;
        }
        let taps = self.taps.entry(tap.rider).or_default();
        let entry = tap.direction == Direction::Entry;
        if entry
            && taps.iter().any(|seen| {
                seen.entry
                    && seen.station == tap.station
                    && (seen.at.ms_since(tap.at)).abs() <= SAME_PASSAGE_MS
            })
        {
            return false;
        }
        self.ids.insert(tap.id);
        self.unbilled.push((tap.rider, tap.at));
        taps.push(Seen { id: tap.id, at: tap.at, station: tap.station.clone(), entry });
        taps.sort_by_key(|seen| (seen.at, seen.id));
        true
    }

    /// The rider's journeys on `day` with their fares before caps.
    fn journeys(
        &self,
        metro: &Metro,
        calendar: &TravelCalendar,
        rider: ShopperId,
        day: TravelDay,
    ) -> Vec<Expected> {
        let taps = self.taps.get(&rider).map(Vec::as_slice).unwrap_or_default();
        let mut journeys = Vec::new();
        let mut at = 0;
        while at < taps.len() {
            let tap = &taps[at];
            let next = taps.get(at + 1);
            let pairs = tap.entry
                && next.is_some_and(|next| {
                    !next.entry
                        && (calendar.day_of(next.at) == calendar.day_of(tap.at)
                            || next.at.ms_since(tap.at) <= metro.max_journey_ms)
                });
            let journey_day = calendar.day_of(tap.at);
            let (fare, used) = if pairs {
                let exit = next.expect("paired");
                let fare = if exit.at.ms_since(tap.at) > metro.max_journey_ms {
                    metro.maximum_fare
                } else {
                    metro.price(&tap.station, &exit.station)
                };
                (fare, vec![tap.id, exit.id])
            } else if tap.entry {
                let to = self.claims.get(&tap.id).cloned().or_else(|| self.usual(rider, &tap.station));
                (to.map_or(metro.maximum_fare, |to| metro.price(&tap.station, &to)), vec![tap.id])
            } else {
                (metro.maximum_fare, vec![tap.id])
            };
            at += used.len();
            if journey_day == day {
                journeys.push(Expected { fare, taps: used });
            }
        }
        journeys
    }

    fn usual(&self, rider: ShopperId, from: &StopId) -> Option<StopId> {
        let mut counts: BTreeMap<&StopId, usize> = BTreeMap::new();
        for (start, end) in self.habits.get(&rider)? {
            if start == from {
                *counts.entry(end).or_default() += 1;
            }
        }
        let best = counts.values().copied().max()?;
        // The lowest station id among the most frequent, as the log breaks ties.
        let (usual, _) = counts.into_iter().find(|(_, count)| *count == best)?;
        (best >= HABIT_MIN_REPEATS).then(|| usual.clone())
    }

    /// What the rider pays for `day` given the days before it in the week as charged now.
    fn charge(
        &self,
        metro: &Metro,
        calendar: &TravelCalendar,
        rider: ShopperId,
        day: TravelDay,
        fares: i64,
    ) -> i64 {
        let mut charge = fares;
        if let Some(week_cap) = metro.week_cap {
            let week = calendar.week_of(day, facepay_transit::Weekday::Monday);
            let spent: i64 =
                self.charged.range((rider, week)..(rider, day)).map(|(_, charged)| charged).sum();
            charge = charge.min((week_cap - spent).max(0));
        }
        if let Some(day_cap) = metro.day_cap {
            charge = charge.min(day_cap);
        }
        charge
    }
}

/// A tap and when its gate hands it to the switch.
struct Delivery {
    at: Timestamp,
    tap: Tap,
}

/// Runs the seed's days; the first disagreement with the oracle is a violation.
pub fn run_metro(seed: u64) -> Result<MetroReport, MetroViolation> {
    let violation = |close: usize, what: String| MetroViolation { seed, close, what };
    let mut rng = Rng(SplitMix64::new(seed ^ 0x6d65_7472_6f00));
    let metro = Metro::draw(&mut rng);
    let currency = Currency::new("EUR").expect("EUR");
    let fares: FareTable = import(&metro.files(), &ImportOptions { currency, fare_media: None })
        .map_err(|err| violation(0, format!("the drawn fare files were refused: {err}")))?
        .fares;
    let calendar = TravelCalendar {
        utc_offset_minutes: [0, 60, 480, -300][rng.below(4) as usize],
        day_starts_minute: 270,
    };
    let stations = metro.zones.len();
    let riders = 5 + rng.below(40) as usize;
    let first_day = 20_000 + rng.below(7) as i64;
    let days = 3 + rng.below(7) as i64;
    let mut report = MetroReport { days: days as usize, riders, ..MetroReport::default() };
    let homes: Vec<(usize, usize)> = (0..riders)
        .map(|_| {
            let home = rng.below(stations as u64) as usize;
            (home, (home + 1 + rng.below(stations as u64 - 1) as usize) % stations)
        })
        .collect();
    let mut seq = 0u64;
    let mut deliveries = Vec::new();
    let mut missed = BTreeMap::new();
    for day in first_day..first_day + days {
        let local_midnight = day * DAY - i64::from(calendar.utc_offset_minutes) * MINUTE;
        for (index, &(home, work)) in homes.iter().enumerate() {
            let rider = ShopperId::from_u128(index as u128 + 1);
            // (start minute after local midnight, from, to) of the day's journeys, in order.
            let mut plans = Vec::new();
            if rng.chance(80) {
                plans.push((7 * 60 + rng.below(120) as i64, home, work));
                plans.push((16 * 60 + rng.below(180) as i64, work, home));
            }
            for _ in 0..rng.below(3) {
                let from = rng.below(stations as u64) as usize;
                let to = (from + 1 + rng.below(stations as u64 - 1) as usize) % stations;
                plans.push((6 * 60 + rng.below(17 * 60) as i64, from, to));
            }
            if rng.chance(5) {
                // Late home: in before the travel day ends at 04:30, out after.
                plans.push((24 * 60 + 4 * 60 + rng.below(25) as i64, work, home));
            }
            plans.sort();
            let mut free_from = i64::MIN;
            for (start, from, to) in plans {
                if start < free_from {
                    continue;
                }
                let ride = if rng.chance(2) {
                    metro.max_journey_ms / MINUTE + 5 + rng.below(60) as i64
                } else {
                    5 + rng.below(55) as i64
                };
                free_from = start + ride + 2;
                report.journeys += 1;
                let entered =
                    Timestamp::from_unix_ms(local_midnight + start * MINUTE + rng.below(60_000) as i64);
                let exited = entered.plus_ms(ride * MINUTE);
                let mut make = |direction, station: usize, at: Timestamp, rng: &mut Rng| {
                    seq += 1;
                    let gate = TerminalId::from_u128(
                        1_000 + station as u128 * 2 + u128::from(direction == Direction::Exit),
                    );
                    let medium = if rng.chance(30) {
                        Medium::PaymentCode
                    } else if rng.chance(8) {
                        Medium::TravelPass
                    } else {
                        Medium::Face
                    };
                    let network = NetworkId::from("metro");
                    Tap {
                        id: TapId { gate, seq },
                        rider,
                        network,
                        station: Metro::station(station),
                        direction,
                        medium,
                        at,
                    }
                };
                if !rng.chance(1) {
                    let entry = make(Direction::Entry, from, entered, &mut rng);
                    if rng.chance(3) {
                        report.double_readings += 1;
                        let again = make(
                            Direction::Entry,
                            from,
                            entered.plus_ms(1_000 + rng.below(29_000) as i64),
                            &mut rng,
                        );
                        deliveries.push(again);
                    }
                    deliveries.push(entry);
                }
                if rng.chance(4) {
                    report.missed_exits += 1;
                    missed.insert(
                        (rider, calendar.day_of(entered)),
                        (Metro::station(from), Metro::station(to)),
                    );
                } else {
                    deliveries.push(make(Direction::Exit, to, exited, &mut rng));
                }
            }
        }
    }
    // When each tap reaches the switch: at once, or late from an offline gate, some twice.
    let mut timeline: Vec<Delivery> = Vec::new();
    for tap in deliveries {
        let late = rng.chance(10);
        let at = if late { tap.at.plus_ms(rng.below(3 * DAY as u64) as i64) } else { tap.at };
        report.late_uploads += usize::from(late);
        if rng.chance(5) {
            report.repeated_uploads += 1;
            timeline.push(Delivery { at: at.plus_ms(rng.below(DAY as u64) as i64), tap: tap.clone() });
        }
        timeline.push(Delivery { at, tap });
    }
    timeline.sort_by_key(|delivery| (delivery.at, delivery.tap.id));
    // Each day closes once its last exit could have come in; a claim comes after that.
    // Uploads come up to four days late, so days close until all have come.
    let closes: Vec<(Timestamp, TravelDay)> = (first_day - 1..first_day + days + 5)
        .map(|day| {
            (calendar.start_of(TravelDay(day + 1)).plus_ms(metro.max_journey_ms + MINUTE), TravelDay(day))
        })
        .collect();
    let (mut log, mut oracle) = (TravelLog::default(), Oracle::default());
    let gates: Vec<(TerminalId, StopId)> = (0..stations)
        .flat_map(|station| {
            (0..2).map(move |exit| {
                (TerminalId::from_u128(1_000 + station as u128 * 2 + exit), Metro::station(station))
            })
        })
        .collect();
    let day_hold = metro.day_cap.unwrap_or(metro.maximum_fare * 2);
    let mut switch = MetroSwitch::open(&mut rng, riders, &fares, calendar, day_hold, &gates)
        .map_err(|what| violation(0, what))?;
    let mut pending = timeline.into_iter().peekable();
    for (step, &(close_at, day)) in closes.iter().enumerate() {
        while let Some(delivery) = pending.next_if(|delivery| delivery.at <= close_at) {
            let expected_new = oracle.record(&delivery.tap);
            let recorded = log.record(delivery.tap.clone());
            switch.deliver(&delivery.tap, expected_new, delivery.at).map_err(|what| violation(step, what))?;
            if expected_new != (recorded == facepay_transit::Recorded::New) {
                return Err(violation(step, format!("tap {:?} recorded as {recorded:?}", delivery.tap.id)));
            }
            // Who the exit gates would choose among, right after this tap (every tap recorded is
            // from before its delivery).
            let now = delivery.at;
            let inside = log.riding(&NetworkId::from("metro"), metro.max_journey_ms, now);
            let expected: Vec<ShopperId> = oracle
                .taps
                .iter()
                .filter(|(_, taps)| {
                    taps.last().is_some_and(|last| {
                        last.entry && (0..=metro.max_journey_ms).contains(&now.ms_since(last.at))
                    })
                })
                .map(|(rider, _)| *rider)
                .collect();
            let mut inside_sorted = inside.clone();
            inside_sorted.sort();
            if inside_sorted != expected {
                return Err(violation(
                    step,
                    format!("riders inside {inside_sorted:?}, expected {expected:?}"),
                ));
            }
        }
        // A rider who missed an exit on the day before claims where they got off; the claim's
        // day is billed again with today's.
        let mut closing = BTreeSet::from([day]);
        for (&(rider, missed_day), (from, to)) in &missed {
            if missed_day != TravelDay(day.0 - 1) || rider.as_u128() % 3 != 0 {
                continue;
            }
            let incomplete =
                oracle.journeys(&metro, &calendar, rider, missed_day).into_iter().find(|journey| {
                    journey.taps.len() == 1
                        && oracle.taps[&rider]
                            .iter()
                            .any(|seen| seen.id == journey.taps[0] && seen.entry && seen.station == *from)
                });
            if let Some(journey) = incomplete
                && !oracle.claims.contains_key(&journey.taps[0])
            {
                let claimed = log.claim(rider, journey.taps[0], to.clone(), &fares, &calendar);
                if claimed.is_err() {
                    return Err(violation(
                        step,
                        format!("claim of {:?} refused: {claimed:?}", journey.taps[0]),
                    ));
                }
                switch.claim(rider, journey.taps[0], to, close_at).map_err(|what| violation(step, what))?;
                oracle.claims.insert(journey.taps[0], to.clone());
                report.claims += 1;
                closing.insert(missed_day);
            }
        }
        check_close(&mut log, &mut oracle, &metro, &fares, &calendar, closing, &mut report)
            .map_err(|what| violation(step, what))?;
        switch.sweep(close_at).map_err(|what| violation(step, what))?;
    }
    if pending.next().is_some() {
        return Err(violation(closes.len(), "an upload came after the last close".into()));
    }
    // Every day's last bill holds the journeys all its taps make: no late tap left a day stale.
    for (&(rider, day), billed) in &oracle.log_billed {
        let journeys = oracle.journeys(&metro, &calendar, rider, day);
        let now: Vec<TapId> = journeys.into_iter().flat_map(|journey| journey.taps).collect();
        if *billed != now {
            return Err(violation(
                closes.len(),
                format!("rider {rider} day {day:?} billed {billed:?}, its taps make {now:?}"),
            ));
        }
    }
    let end = closes.last().expect("days close").0;
    let money = switch.finish(&oracle.charged, end).map_err(|what| violation(closes.len(), what))?;
    report.captured_minor = money.captured_minor;
    report.refunded_minor = money.refunded_minor;
    report.bank_declines = money.bank_declines;
    report.riders_in_debt = money.riders_in_debt;
    Ok(report)
}

/// Closes `days` in the log and in the oracle and compares every bill.
fn check_close(
    log: &mut TravelLog,
    oracle: &mut Oracle,
    metro: &Metro,
    fares: &FareTable,
    calendar: &TravelCalendar,
    days: BTreeSet<TravelDay>,
    report: &mut MetroReport,
) -> Result<(), String> {
    let day = *days.last().expect("a day closes");
    let closed = log.close_days(days.clone(), |_| None, fares, calendar);
    // What is due: billed days a tap recorded since the last close can change, the days
    // closing for every rider who tapped in them, and the week after each for its caps.
    let mut due = BTreeSet::new();
    for (rider, at) in std::mem::take(&mut oracle.unbilled) {
        let day = calendar.day_of(at);
        let (start, end) = (calendar.start_of(day), calendar.start_of(TravelDay(day.0 + 1)));
        if days.last().is_some_and(|last| day <= *last) {
            due.insert((rider, day));
        }
        // Any tap as near an edge as the longest journey may move a journey across it.
        let mut near = vec![day];
        if at.ms_since(start) <= metro.max_journey_ms {
            near.push(TravelDay(day.0 - 1));
        }
        if end.ms_since(at) <= metro.max_journey_ms {
            near.push(TravelDay(day.0 + 1));
        }
        for near in near {
            if oracle.charged.contains_key(&(rider, near)) {
                due.insert((rider, near));
            }
        }
    }
    for closing in &days {
        let (start, end) = (calendar.start_of(*closing), calendar.start_of(TravelDay(closing.0 + 1)));
        for (rider, taps) in &oracle.taps {
            if taps.iter().any(|seen| (start..end).contains(&seen.at)) {
                due.insert((*rider, *closing));
            }
        }
    }
    let later: Vec<_> = due
        .iter()
        .flat_map(|&(rider, due_day)| {
            oracle
                .charged
                .range((rider, TravelDay(due_day.0 + 1))..(rider, TravelDay(due_day.0 + 7)))
                .map(|(key, _)| *key)
        })
        .collect();
    due.extend(later);
    let mut expected = Vec::new();
    for (rider, billed_day) in due {
        let journeys = oracle.journeys(metro, calendar, rider, billed_day);
        let fares_minor: i64 = journeys.iter().map(|journey| journey.fare).sum();
        let charge = oracle.charge(metro, calendar, rider, billed_day, fares_minor);
        let first = !oracle.charged.contains_key(&(rider, billed_day));
        let before = oracle.charged.insert((rider, billed_day), charge).unwrap_or(0);
        if first {
            // Habits are learned from a day's complete journeys when it is first billed.
            let taps = &oracle.taps[&rider];
            for journey in journeys.iter().filter(|journey| journey.taps.len() == 2) {
                let ends: Vec<&Seen> = journey
                    .taps
                    .iter()
                    .map(|id| taps.iter().find(|seen| seen.id == *id).expect("seen"))
                    .collect();
                if ends[1].at.ms_since(ends[0].at) <= metro.max_journey_ms {
                    let habits = oracle.habits.entry(rider).or_default();
                    habits.push((ends[0].station.clone(), ends[1].station.clone()));
                    if habits.len() > HABIT_JOURNEYS {
                        habits.remove(0);
                    }
                }
            }
        }
        expected.push((rider, billed_day, journeys, fares_minor, charge, before));
    }
    if closed.len() != expected.len() {
        return Err(format!("day {day:?}: {} bills, expected {}", closed.len(), expected.len()));
    }
    for (billed, (rider, billed_day, journeys, fares_minor, charge, expected_before)) in
        closed.iter().zip(&expected)
    {
        let before = &billed.before_minor;
        let bill: &DayBill =
            billed.bill.as_ref().map_err(|err| format!("day {day:?}: a bill failed: {err}"))?;
        let taps: Vec<Vec<TapId>> = bill
            .journeys
            .iter()
            .map(|journey| journey.entry.iter().chain(&journey.exit).map(|passage| passage.tap).collect())
            .collect();
        let expected_taps: Vec<Vec<TapId>> = journeys.iter().map(|journey| journey.taps.clone()).collect();
        let fares_each: Vec<i64> = bill.journeys.iter().map(|journey| journey.fare_minor).collect();
        let expected_fares: Vec<i64> = journeys.iter().map(|journey| journey.fare).collect();
        if (bill.rider, bill.day) != (*rider, *billed_day)
            || taps != expected_taps
            || fares_each != expected_fares
            || (bill.fares_minor, bill.charge_minor, *before) != (*fares_minor, *charge, *expected_before)
        {
            return Err(format!(
                "day {day:?}: rider {} day {:?} billed {:?} fares {fares_each:?} = {} charge {} (before {before}); \
                 the oracle: rider {rider} day {billed_day:?} taps {expected_taps:?} fares {expected_fares:?} = \
                 {fares_minor} charge {charge} (before {expected_before})",
                bill.rider, bill.day, taps, bill.fares_minor, bill.charge_minor
            ));
        }
        oracle.log_billed.insert((bill.rider, bill.day), taps.concat());
        report.bills += 1;
        report.capped_bills += usize::from(bill.charge_minor < bill.fares_minor);
    }
    // No passage is in two journeys: across every day's latest bill, each tap at most once.
    let mut used = BTreeMap::new();
    for (billed, taps) in &oracle.log_billed {
        for tap in taps {
            if let Some(other) = used.insert(*tap, billed) {
                return Err(format!("tap {tap:?} is in two journeys: the bills of {other:?} and {billed:?}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metro_seed_replays_exactly() {
        assert_eq!(run_metro(7), run_metro(7));
        assert_ne!(run_metro(7), run_metro(8), "different seeds draw different metros");
    }

    #[test]
    fn two_hundred_metro_seeds_agree_with_the_oracle() {
        let mut total = MetroReport::default();
        for seed in 0..200 {
            total.add(&run_metro(seed).unwrap_or_else(|violation| panic!("{violation}")));
        }
        // The days really reached the paths the oracle checks.
        assert!(total.missed_exits > 500 && total.double_readings > 500 && total.claims > 200, "{total:?}");
        assert!(total.late_uploads > 5_000 && total.repeated_uploads > 2_000, "{total:?}");
        assert!(total.capped_bills > 5_000 && total.bills > 40_000, "{total:?}");
    }

    #[test]
    fn the_drawn_fare_files_price_what_the_oracle_charges() {
        let mut rng = Rng(SplitMix64::new(3));
        let metro = Metro::draw(&mut rng);
        let currency = Currency::new("EUR").unwrap();
        let fares = import(&metro.files(), &ImportOptions { currency, fare_media: None }).unwrap().fares;
        let calendar = TravelCalendar::default();
        for from in 0..metro.zones.len() {
            for to in 0..metro.zones.len() {
                let leg = facepay_transit::Leg {
                    network: NetworkId::from("metro"),
                    from: Metro::station(from),
                    to: Metro::station(to),
                    entered: Timestamp::from_unix_ms(0),
                    exited: Timestamp::from_unix_ms(600_000),
                };
                let priced = fares.price_leg(&leg, None, &calendar).unwrap().amount_minor;
                assert_eq!(priced, metro.price(&leg.from, &leg.to));
            }
        }
    }
}
