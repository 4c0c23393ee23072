//! What riders did and what they owe: taps (entry or exit, at a gate of a network, by face or
//! payment code) become journeys, and a travel day's journeys become one bill per rider.
//!
//! A journey is an entry and the next exit on the same network within the network's longest
//! journey time; anything else is charged the network's maximum fare: an entry with no exit
//! (unless the rider's usual journey from there completes it, or the rider claims where they
//! left), an exit with no entry, or a journey that took too long. The medium does not matter: a
//! QR entry and a face exit are one journey, and one passage is one tap (a tap id seen before,
//! or a second entry at the same station within a minute either side, changes nothing). A journey belongs
//! to the travel day it entered on, even when its exit is after the day's end.
//!
//! Bills are a pure function of the taps, the claims and the rider's history, so a day can be
//! billed again when late taps arrive and the difference charged or refunded.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use facepay_domain::{ShopperId, TerminalId, Timestamp};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::calendar::{TravelCalendar, TravelDay};
use crate::fares::{CapPeriod, CategoryId, FareError, FareTable, Leg, NetworkId, StopId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Direction {
    Entry,
    Exit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Medium {
    Face,
    PaymentCode,
    /// A travel pass the rider's phone shows, which a gate checks without the switch.
    TravelPass,
}

/// A gate's own number for one passage: the gate counts its passages, so an upload sent twice
/// carries the same ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TapId {
    pub gate: TerminalId,
    pub seq: u64,
}

/// A passage a gate reports: only once its barrier opened for `rider`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tap {
    pub id: TapId,
    pub rider: ShopperId,
    pub network: NetworkId,
    pub station: StopId,
    pub direction: Direction,
    pub medium: Medium,
    pub at: Timestamp,
}

/// What recording a tap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Recorded {
    New,
    /// This tap id was recorded before: nothing changed.
    Duplicate,
    /// The rider's entry at this station within a minute of it was the same passage: nothing
    /// changed.
    SamePassage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JourneyKind {
    Complete,
    /// An entry with no exit: the maximum fare.
    NoExit,
    /// An exit with no entry: the maximum fare.
    NoEntry,
    /// Longer than the network allows: the maximum fare.
    OverTime,
    /// An entry with no exit, priced as the rider's usual journey from that station.
    AutoCompleted,
    /// An entry with no exit, priced to the station the rider said they left at.
    Claimed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passage {
    pub tap: TapId,
    pub station: StopId,
    pub at: Timestamp,
    pub medium: Medium,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journey {
    pub network: NetworkId,
    pub entry: Option<Passage>,
    pub exit: Option<Passage>,
    pub kind: JourneyKind,
    /// Where the fare was priced to when it was not the exit (auto-completed or claimed).
    pub priced_to: Option<StopId>,
    /// What this journey adds to the day before caps (transfers applied).
    pub fare_minor: i64,
}

/// One rider's travel day, priced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayBill {
    pub rider: ShopperId,
    pub day: TravelDay,
    pub journeys: Vec<Journey>,
    /// The journeys' fares before caps.
    pub fares_minor: i64,
    /// What the rider pays for the day.
    pub charge_minor: i64,
    /// The caps that lowered the charge.
    pub capped_by: Vec<String>,
    /// What this day counted towards each weekly cap, for the days after it.
    pub towards_weekly: BTreeMap<String, i64>,
}

/// One rider's day billed at a close: the bill (or why it could not be priced) and what the
/// rider had been charged for that day before, so only the difference moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Billed {
    pub rider: ShopperId,
    pub day: TravelDay,
    pub bill: Result<DayBill, TravelError>,
    pub before_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TravelError {
    #[error(transparent)]
    Fare(#[from] FareError),
    #[error("no journey of this rider entered with that tap")]
    JourneyUnknown,
    #[error("that journey has an exit: only a journey with no exit can be claimed")]
    NotIncomplete,
    #[error("the claimed station is the one the journey entered at")]
    ClaimSameStation,
}

impl TravelError {
    pub fn code(&self) -> &'static str {
        match self {
            TravelError::Fare(fare) => fare.code(),
            TravelError::JourneyUnknown => "journey_unknown",
            TravelError::NotIncomplete => "journey_not_incomplete",
            TravelError::ClaimSameStation => "claim_same_station",
        }
    }
}

/// A second entry at one station this soon is the same passage.
const SAME_PASSAGE_MS: i64 = 60_000;
/// How many of a rider's last complete journeys are kept to find their usual one.
const HABIT_JOURNEYS: usize = 20;
/// How often a journey must recur among them to complete a journey with no exit.
const HABIT_MIN_REPEATS: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TapRecord {
    network: NetworkId,
    station: StopId,
    direction: Direction,
    medium: Medium,
}

/// Every rider's taps, claims and habits, and what each billed day counted towards weekly caps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TravelLog {
    taps: BTreeMap<(ShopperId, Timestamp, TapId), TapRecord>,
    seen: BTreeMap<TapId, (ShopperId, Timestamp)>,
    claims: BTreeMap<TapId, StopId>,
    habits: BTreeMap<ShopperId, VecDeque<(StopId, StopId)>>,
    billed: BTreeMap<(ShopperId, TravelDay), DayBill>,
    /// Each rider's latest tap, and the riders whose latest tap is an entry, by network and
    /// time: who an exit gate has to choose among, without a walk over every rider.
    latest: BTreeMap<ShopperId, (Timestamp, TapId)>,
    inside: BTreeSet<(NetworkId, Timestamp, ShopperId)>,
    /// Taps recorded since the last close: one late for a billed day bills it again.
    unbilled: BTreeSet<(ShopperId, Timestamp, TapId)>,
}

impl TravelLog {
    /// Records a passage a gate reported (live or uploaded later, in any order).
    /// Whether this tap id was recorded (and is not yet forgotten).
    pub fn knows(&self, id: TapId) -> bool {
        self.seen.contains_key(&id)
    }

    pub fn record(&mut self, tap: Tap) -> Recorded {
        if self.seen.contains_key(&tap.id) {
            return Recorded::Duplicate;
        }
        if tap.direction == Direction::Entry {
            // Either side: an upload can bring the earlier reading after the later one.
            let low = first_key(tap.rider, tap.at.plus_ms(-SAME_PASSAGE_MS));
            let high = first_key(tap.rider, tap.at.plus_ms(SAME_PASSAGE_MS));
            let same = self.taps.range(low..=high).any(|((_, at, _), other)| {
                other.direction == Direction::Entry
                    && other.station == tap.station
                    && tap.at.ms_since(*at).abs() <= SAME_PASSAGE_MS
            });
            if same {
                return Recorded::SamePassage;
            }
        }
        self.seen.insert(tap.id, (tap.rider, tap.at));
        if self.latest.get(&tap.rider).is_none_or(|&latest| (tap.at, tap.id) > latest) {
            if let Some((at, id)) = self.latest.insert(tap.rider, (tap.at, tap.id))
                && let Some(before) = self.taps.get(&(tap.rider, at, id))
            {
                self.inside.remove(&(before.network.clone(), at, tap.rider));
            }
            if tap.direction == Direction::Entry {
                self.inside.insert((tap.network.clone(), tap.at, tap.rider));
            }
        }
        self.unbilled.insert((tap.rider, tap.at, tap.id));
        let record = TapRecord {
            network: tap.network,
            station: tap.station,
            direction: tap.direction,
            medium: tap.medium,
        };
        self.taps.insert((tap.rider, tap.at, tap.id), record);
        Recorded::New
    }

    /// Riders whose latest tap is an entry on `network` within its longest journey: the only
    /// riders an exit gate there has to choose among.
    pub fn riding(&self, network: &NetworkId, max_journey_ms: i64, now: Timestamp) -> Vec<ShopperId> {
        let since = Timestamp::from_unix_ms(now.unix_ms.saturating_sub(max_journey_ms));
        let low = (network.clone(), since, ShopperId::from_u128(0));
        let high = (network.clone(), now, ShopperId::from_u128(u128::MAX));
        self.inside.range(low..=high).map(|(_, _, rider)| *rider).collect()
    }

    /// How many entries the rider passed in `since..=until`, on any network.
    pub fn entries_between(&self, rider: ShopperId, since: Timestamp, until: Timestamp) -> usize {
        let end = first_key(rider, Timestamp::from_unix_ms(until.unix_ms.saturating_add(1)));
        self.taps
            .range(first_key(rider, since)..end)
            .filter(|(_, record)| record.direction == Direction::Entry)
            .count()
    }

    /// The rider says a journey with no exit ended at `station`; it is priced there when its day
    /// is billed (again, if it already was).
    pub fn claim(
        &mut self,
        rider: ShopperId,
        entry: TapId,
        station: StopId,
        fares: &FareTable,
        calendar: &TravelCalendar,
    ) -> Result<TravelDay, TravelError> {
        let &(owner, at) = self.seen.get(&entry).ok_or(TravelError::JourneyUnknown)?;
        if owner != rider {
            return Err(TravelError::JourneyUnknown);
        }
        let day = calendar.day_of(at);
        let journeys = self.shape(rider, day, fares, calendar)?;
        let journey = journeys
            .iter()
            .find(|journey| journey.entry.as_ref().is_some_and(|entry_passage| entry_passage.tap == entry))
            .ok_or(TravelError::JourneyUnknown)?;
        if journey.exit.is_some() {
            return Err(TravelError::NotIncomplete);
        }
        if journey.entry.as_ref().is_some_and(|passage| passage.station == station) {
            return Err(TravelError::ClaimSameStation);
        }
        self.claims.insert(entry, station);
        Ok(day)
    }

    /// The rider's taps that make up `day`: its own, and an exit just after it that ends a
    /// journey entered in it; less such an exit at its own start.
    fn day_taps(
        &self,
        rider: ShopperId,
        day: TravelDay,
        fares: &FareTable,
        calendar: &TravelCalendar,
    ) -> Vec<(Timestamp, TapId, &TapRecord)> {
        let (start, end) = (calendar.start_of(day), calendar.start_of(TravelDay(day.0 + 1)));
        let range = |from: Timestamp, to: Timestamp| {
            self.taps
                .range(first_key(rider, from)..first_key(rider, to))
                .map(|((_, at, id), record)| (*at, *id, record))
        };
        let mut taps: Vec<_> = range(start, end).collect();
        if !taps.is_empty() && self.ends_a_journey_before(rider, start, fares) {
            taps.remove(0);
        }
        if self.ends_a_journey_before(rider, end, fares) {
            let far = Timestamp::from_unix_ms(i64::MAX);
            taps.extend(range(end, far).next());
        }
        taps
    }

    /// Whether the rider's first tap at or after `edge` is an exit ending the entry just before it.
    fn ends_a_journey_before(&self, rider: ShopperId, edge: Timestamp, fares: &FareTable) -> bool {
        let before = self
            .taps
            .range(first_key(rider, Timestamp::from_unix_ms(i64::MIN))..first_key(rider, edge))
            .next_back();
        let after =
            self.taps.range(first_key(rider, edge)..).next().filter(|((owner, ..), _)| *owner == rider);
        match (before, after) {
            (Some(((owner, entered, _), entry)), Some(((_, exited, _), exit))) => {
                *owner == rider
                    && entry.direction == Direction::Entry
                    && exit.direction == Direction::Exit
                    && entry.network == exit.network
                    && fares
                        .networks
                        .get(&entry.network)
                        .is_some_and(|rules| exited.ms_since(*entered) <= rules.max_journey_ms)
            }
            _ => false,
        }
    }

    /// The rider's journeys on `day`, in order, each with its fare before caps.
    pub fn journeys(
        &self,
        rider: ShopperId,
        day: TravelDay,
        category: Option<&CategoryId>,
        fares: &FareTable,
        calendar: &TravelCalendar,
    ) -> Result<Vec<Journey>, TravelError> {
        let mut journeys = self.shape(rider, day, fares, calendar)?;
        price(&mut journeys, category, fares, calendar)?;
        Ok(journeys)
    }

    /// The rider's journeys on `day`, not yet priced.
    fn shape(
        &self,
        rider: ShopperId,
        day: TravelDay,
        fares: &FareTable,
        calendar: &TravelCalendar,
    ) -> Result<Vec<Journey>, TravelError> {
        let mut journeys = Vec::new();
        let mut open: Option<(&NetworkId, Passage)> = None;
        let passage = |at, id, record: &TapRecord| Passage {
            tap: id,
            station: record.station.clone(),
            at,
            medium: record.medium,
        };
        for (at, id, record) in self.day_taps(rider, day, fares, calendar) {
            match record.direction {
                Direction::Entry => {
                    if let Some((network, entry)) = open.take() {
                        journeys.push(self.unexited(rider, network, entry));
                    }
                    open = Some((&record.network, passage(at, id, record)));
                }
                Direction::Exit => {
                    let exit = passage(at, id, record);
                    match open.take() {
                        Some((network, entry)) if *network == record.network => {
                            let too_long = at.ms_since(entry.at) > fares.network(network)?.max_journey_ms;
                            let kind = if too_long { JourneyKind::OverTime } else { JourneyKind::Complete };
                            journeys.push(journey(network, Some(entry), Some(exit), kind, None));
                        }
                        other => {
                            if let Some((network, entry)) = other {
                                journeys.push(self.unexited(rider, network, entry));
                            }
                            journeys.push(journey(
                                &record.network,
                                None,
                                Some(exit),
                                JourneyKind::NoEntry,
                                None,
                            ));
                        }
                    }
                }
            }
        }
        if let Some((network, entry)) = open {
            journeys.push(self.unexited(rider, network, entry));
        }
        Ok(journeys)
    }

    /// A journey with no exit: claimed, else completed by habit, else the maximum fare.
    fn unexited(&self, rider: ShopperId, network: &NetworkId, entry: Passage) -> Journey {
        if let Some(station) = self.claims.get(&entry.tap) {
            let station = station.clone();
            return journey(network, Some(entry), None, JourneyKind::Claimed, Some(station));
        }
        match self.usual_destination(rider, &entry.station) {
            Some(usual) => journey(network, Some(entry), None, JourneyKind::AutoCompleted, Some(usual)),
            None => journey(network, Some(entry), None, JourneyKind::NoExit, None),
        }
    }

    fn usual_destination(&self, rider: ShopperId, from: &StopId) -> Option<StopId> {
        let mut counts: BTreeMap<&StopId, usize> = BTreeMap::new();
        for (_, end) in self.habits.get(&rider)?.iter().filter(|(start, _)| start == from) {
            *counts.entry(end).or_default() += 1;
        }
        let (most, repeats) = counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))?;
        (repeats >= HABIT_MIN_REPEATS).then(|| most.clone())
    }

    /// The rider's bill for `day`: the journeys' fares with the day's caps and what is left of
    /// the week's, given the days of that week billed before it.
    pub fn bill(
        &self,
        rider: ShopperId,
        day: TravelDay,
        category: Option<&CategoryId>,
        fares: &FareTable,
        calendar: &TravelCalendar,
    ) -> Result<DayBill, TravelError> {
        let category = category.or(fares.default_category.as_ref());
        let journeys = self.journeys(rider, day, category, fares, calendar)?;
        let mut by_network: BTreeMap<&NetworkId, i64> = BTreeMap::new();
        for journey in &journeys {
            *by_network.entry(&journey.network).or_default() += journey.fare_minor;
        }
        let fares_minor = by_network.values().sum();
        let caps: Vec<_> = fares
            .caps
            .iter()
            .filter(|cap| cap.category.is_none() || cap.category.as_ref() == category)
            .collect();
        let mut capped_by = Vec::new();
        let mut towards_weekly = BTreeMap::new();
        let mut apply = |amount: &mut i64, scope: Option<&NetworkId>| {
            // Day caps first, then what the week's caps have left.
            let mut scoped: Vec<_> = caps.iter().filter(|cap| cap.network.as_ref() == scope).collect();
            scoped.sort_by_key(|cap| matches!(cap.period, CapPeriod::Week(_)));
            for cap in scoped {
                let room = match cap.period {
                    CapPeriod::Day => cap.amount_minor,
                    CapPeriod::Week(starts) => {
                        let week = calendar.week_of(day, starts);
                        let spent = self.spent_towards(rider, &cap.id, week, day);
                        (cap.amount_minor - spent).max(0)
                    }
                };
                if *amount > room {
                    *amount = room;
                    capped_by.push(cap.id.clone());
                }
                if let CapPeriod::Week(_) = cap.period {
                    towards_weekly.insert(cap.id.clone(), *amount);
                }
            }
        };
        let mut charge_minor = 0;
        for (network, mut amount) in by_network {
            apply(&mut amount, Some(network));
            charge_minor += amount;
        }
        apply(&mut charge_minor, None);
        Ok(DayBill { rider, day, journeys, fares_minor, charge_minor, capped_by, towards_weekly })
    }

    /// What the rider's days of `week` before `day` counted towards weekly cap `cap`.
    fn spent_towards(&self, rider: ShopperId, cap: &str, week: TravelDay, day: TravelDay) -> i64 {
        self.billed
            .range((rider, week)..(rider, day))
            .filter_map(|(_, bill)| bill.towards_weekly.get(cap))
            .sum()
    }

    /// Bills every rider who travelled on `day`; bills again each billed day that a tap
    /// recorded since the last close may change (its own day, billed before or not, once it has
    /// closed; the day on the other side of an edge within the longest journey of the tap, where
    /// a journey across the edge may be moved from one day to the other); each
    /// later billed day of the rider's within a week of one billed now, whose weekly caps count
    /// it; keeps the bills, and learns each rider's habits from the complete journeys of a day
    /// billed for the first time. Returns the bills in order of rider and day.
    pub fn close_day(
        &mut self,
        day: TravelDay,
        category_of: impl Fn(ShopperId) -> Option<CategoryId>,
        fares: &FareTable,
        calendar: &TravelCalendar,
    ) -> Vec<Billed> {
        self.close_days(std::iter::once(day).collect(), category_of, fares, calendar)
    }

    /// `close_day` for several days at once (a claim's day and today's).
    pub fn close_days(
        &mut self,
        days: BTreeSet<TravelDay>,
        category_of: impl Fn(ShopperId) -> Option<CategoryId>,
        fares: &FareTable,
        calendar: &TravelCalendar,
    ) -> Vec<Billed> {
        let mut due = BTreeSet::new();
        let last_closing = days.last().copied();
        // A journey across a day's edge is at most this long, whatever its network.
        let longest = fares.networks.values().map(|rules| rules.max_journey_ms).max().unwrap_or(0);
        for key in std::mem::take(&mut self.unbilled) {
            let (rider, at, _) = key;
            if !self.taps.contains_key(&key) {
                continue;
            }
            let day = calendar.day_of(at);
            let (start, end) = (calendar.start_of(day), calendar.start_of(TravelDay(day.0 + 1)));
            // Its own day, and the day across an edge as near as the longest journey: which day a
            // journey over that edge belongs to turns on the taps between its entry and its exit,
            // and this may be its entry, its exit, or a tap that comes between them.
            let mut near = vec![day];
            if at.ms_since(start) <= longest {
                near.push(TravelDay(day.0 - 1));
            }
            if end.ms_since(at) <= longest {
                near.push(TravelDay(day.0 + 1));
            }
            // Its own day is billed even if it never was: all of a rider's taps of a closed
            // day may come late.
            if last_closing.is_some_and(|last| day <= last) {
                due.insert((rider, day));
            }
            for near in near {
                if self.billed.contains_key(&(rider, near)) {
                    due.insert((rider, near));
                }
            }
        }
        for &day in &days {
            let (start, end) = (calendar.start_of(day), calendar.start_of(TravelDay(day.0 + 1)));
            due.extend(
                self.taps
                    .keys()
                    .filter(|(_, at, _)| (start..end).contains(at))
                    .map(|(rider, ..)| (*rider, day)),
            );
        }
        let later: Vec<(ShopperId, TravelDay)> = due
            .iter()
            .flat_map(|&(rider, day)| {
                self.billed
                    .range((rider, TravelDay(day.0 + 1))..(rider, TravelDay(day.0 + 7)))
                    .map(|(key, _)| *key)
            })
            .collect();
        due.extend(later);
        due.into_iter()
            .map(|(rider, day)| self.bill_again(rider, day, category_of(rider).as_ref(), fares, calendar))
            .collect()
    }

    fn bill_again(
        &mut self,
        rider: ShopperId,
        day: TravelDay,
        category: Option<&CategoryId>,
        fares: &FareTable,
        calendar: &TravelCalendar,
    ) -> Billed {
        let before_minor = self.billed.get(&(rider, day)).map_or(0, |bill| bill.charge_minor);
        let bill = self.bill(rider, day, category, fares, calendar);
        if let Ok(bill) = &bill {
            if !self.billed.contains_key(&(rider, day)) {
                let habits = self.habits.entry(rider).or_default();
                for journey in bill.journeys.iter().filter(|journey| journey.kind == JourneyKind::Complete) {
                    if let (Some(entry), Some(exit)) = (&journey.entry, &journey.exit) {
                        habits.push_back((entry.station.clone(), exit.station.clone()));
                        if habits.len() > HABIT_JOURNEYS {
                            habits.pop_front();
                        }
                    }
                }
            }
            self.billed.insert((rider, day), bill.clone());
        }
        Billed { rider, day, bill, before_minor }
    }

    /// Forgets taps, claims and bills of days before `day` (kept for claims and late taps
    /// until then); habits stay. A day billed again counts the bills of its week's earlier days
    /// towards weekly caps, so keep a week more than the days that may still be billed again.
    pub fn forget_before(&mut self, day: TravelDay, calendar: &TravelCalendar) {
        let edge = calendar.start_of(day);
        self.taps.retain(|(_, at, _), _| *at >= edge);
        self.latest.retain(|_, (at, _)| *at >= edge);
        self.inside.retain(|(_, at, _)| *at >= edge);
        self.unbilled.retain(|(_, at, _)| *at >= edge);
        let gone: Vec<TapId> =
            self.seen.iter().filter(|(_, (_, at))| *at < edge).map(|(id, _)| *id).collect();
        for id in gone {
            self.seen.remove(&id);
            self.claims.remove(&id);
        }
        self.billed.retain(|(_, billed_day), _| *billed_day >= day);
    }
}

/// Fares before caps: priced legs joined by transfers, the maximum fare for the rest.
fn price(
    journeys: &mut [Journey],
    category: Option<&CategoryId>,
    fares: &FareTable,
    calendar: &TravelCalendar,
) -> Result<(), TravelError> {
    let mut legs = Vec::new();
    for (at, journey) in journeys.iter_mut().enumerate() {
        let ends = match (&journey.entry, &journey.exit, &journey.priced_to, journey.kind) {
            (Some(entry), Some(exit), _, JourneyKind::Complete) => {
                Some((entry, exit.station.clone(), exit.at))
            }
            (Some(entry), None, Some(to), _) => Some((entry, to.clone(), entry.at)),
            _ => None,
        };
        match ends {
            Some((entry, to, exited)) => legs.push((
                at,
                Leg {
                    network: journey.network.clone(),
                    from: entry.station.clone(),
                    to,
                    entered: entry.at,
                    exited,
                },
            )),
            None => journey.fare_minor = fares.network(&journey.network)?.maximum_fare_minor,
        }
    }
    let only_legs: Vec<Leg> = legs.iter().map(|(_, leg)| leg.clone()).collect();
    let charges = fares.charge_legs(&only_legs, category, calendar)?;
    for ((at, _), charge) in legs.iter().zip(charges) {
        journeys[*at].fare_minor = charge;
    }
    Ok(())
}

/// The lowest key a tap of `rider` at `at` can have: where a range of the rider's taps from
/// that instant begins.
fn first_key(rider: ShopperId, at: Timestamp) -> (ShopperId, Timestamp, TapId) {
    (rider, at, TapId { gate: TerminalId::from_u128(0), seq: 0 })
}

fn journey(
    network: &NetworkId,
    entry: Option<Passage>,
    exit: Option<Passage>,
    kind: JourneyKind,
    priced_to: Option<StopId>,
) -> Journey {
    Journey { network: network.clone(), entry, exit, kind, priced_to, fare_minor: 0 }
}
