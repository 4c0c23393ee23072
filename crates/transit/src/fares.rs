//! The fare table an operator imports (`gtfs`), and what a ride costs by it: a leg is priced by
//! the GTFS Fares v2 leg rules that match its network, its stations' areas and its times, the
//! cheapest product the rider may buy winning; consecutive legs are joined by the transfer rules
//! into one sub-journey priced as the rule's transfer type says.
//!
//! Matching follows the GTFS reference: a rule naming a network or area matches only that one;
//! an empty network matches every network no rule names, and an empty area every area no rule
//! of the leg's network names (the reference says no rule at all; a tram's area-free rule would
//! then stop applying wherever the metro prices by zone); in a feed that gives `rule_priority`
//! an empty field matches everything and the highest priority wins. An empty timeframe matches
//! any time. Where several rules match, the most specific wins, then the cheapest product.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use facepay_domain::{Currency, Timestamp};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::calendar::TravelCalendar;

macro_rules! feed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub String);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }
    };
}

feed_id!(
    /// A station (GTFS `stop_id`): where a gate stands.
    StopId
);
feed_id!(
    /// A fare area (GTFS `area_id`): stations priced alike.
    AreaId
);
feed_id!(
    /// A network (GTFS `network_id`): the lines one set of gates closes.
    NetworkId
);
feed_id!(ProductId);
feed_id!(LegGroupId);
feed_id!(
    /// A rider category (adult, senior, student...; GTFS `rider_category_id`).
    CategoryId
);
feed_id!(TimeframeId);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub name: String,
    /// The price for each rider category; `None` is the price for every category not listed.
    /// Stored as pairs: a journal writes commands as JSON, whose keys must be strings.
    #[serde(with = "as_pairs")]
    pub prices: BTreeMap<Option<CategoryId>, i64>,
}

/// A map with keys JSON cannot name (`None`), written as a list of `[key, value]` pairs.
mod as_pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(deserializer)?.into_iter().collect())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegRule {
    pub leg_group: Option<LegGroupId>,
    pub network: Option<NetworkId>,
    pub from_area: Option<AreaId>,
    pub to_area: Option<AreaId>,
    pub from_timeframe: Option<TimeframeId>,
    pub to_timeframe: Option<TimeframeId>,
    pub product: ProductId,
    pub priority: Option<i64>,
}

impl LegRule {
    fn specificity(&self) -> usize {
        [
            self.network.is_some(),
            self.from_area.is_some(),
            self.to_area.is_some(),
            self.from_timeframe.is_some(),
            self.to_timeframe.is_some(),
        ]
        .into_iter()
        .filter(|named| *named)
        .count()
    }
}

/// How a transfer is charged (GTFS `fare_transfer_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferType {
    /// 0: the first leg's fare plus the transfer's cost; the later leg costs nothing more.
    FirstPlusTransfer,
    /// 1: every leg's fare plus the transfer's cost.
    EveryLegPlusTransfer,
    /// 2: the transfer's cost is the whole sub-journey's fare.
    TransferOnly,
}

/// Between which validations a transfer's time limit is measured (GTFS `duration_limit_type`):
/// from the sub-journey's first leg for the departure-based kinds, from the previous leg for the
/// arrival-based ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DurationBetween {
    DepartureAndArrival,
    DepartureAndDeparture,
    ArrivalAndDeparture,
    ArrivalAndArrival,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRule {
    pub from_group: Option<LegGroupId>,
    pub to_group: Option<LegGroupId>,
    /// Transfers allowed in one sub-journey between legs of one group; -1: any number.
    pub transfer_count: Option<i64>,
    pub duration_limit: Option<(i64, DurationBetween)>,
    pub kind: TransferType,
    /// The transfer's cost; none: free.
    pub product: Option<ProductId>,
}

/// What GTFS does not say and a gated network needs: the fare for a journey that cannot be
/// priced from its stations (no exit, no entry, or longer than allowed), and how long a journey
/// may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRules {
    pub maximum_fare_minor: i64,
    pub max_journey_ms: i64,
}

/// A cap's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CapPeriod {
    Day,
    /// A week starting on the given day.
    Week(crate::calendar::Weekday),
}

/// The most a rider pays in a period (Littlepay's `product_data`: GTFS has no caps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cap {
    pub id: String,
    /// Only this network's fares count towards it; none: every network's.
    pub network: Option<NetworkId>,
    /// Only riders of this category; none: every rider.
    pub category: Option<CategoryId>,
    pub period: CapPeriod,
    pub amount_minor: i64,
}

/// Everything that prices a ride, as imported from one feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FareTable {
    pub currency: Currency,
    pub stop_areas: BTreeMap<StopId, BTreeSet<AreaId>>,
    pub products: BTreeMap<ProductId, Product>,
    pub leg_rules: Vec<LegRule>,
    pub transfer_rules: Vec<TransferRule>,
    /// Each timeframe group's spans, as [start, end) seconds of the local day.
    pub timeframes: BTreeMap<TimeframeId, Vec<(u32, u32)>>,
    /// The category of a rider who has none.
    pub default_category: Option<CategoryId>,
    pub networks: BTreeMap<NetworkId, NetworkRules>,
    pub caps: Vec<Cap>,
    /// Whether the feed gives `rule_priority` (it changes what an empty field matches).
    pub uses_priority: bool,
}

/// One ride between two gates of one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    pub network: NetworkId,
    pub from: StopId,
    pub to: StopId,
    pub entered: Timestamp,
    pub exited: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLeg {
    pub group: Option<LegGroupId>,
    pub product: ProductId,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FareError {
    #[error("no fare rule prices a ride on {network} from {from} to {to} for this rider")]
    Unknown { network: NetworkId, from: StopId, to: StopId },
    #[error("network {0} has no maximum fare or journey time set")]
    NetworkUnknown(NetworkId),
}

impl FareError {
    pub fn code(&self) -> &'static str {
        match self {
            FareError::Unknown { .. } => "fare_unknown",
            FareError::NetworkUnknown(_) => "network_unknown",
        }
    }
}

impl FareTable {
    /// The rules a network without gates set up would leave undefined.
    pub fn network(&self, network: &NetworkId) -> Result<NetworkRules, FareError> {
        self.networks.get(network).copied().ok_or_else(|| FareError::NetworkUnknown(network.clone()))
    }

    /// What `product` costs a rider of `category` (or of the default category), if they may buy it.
    pub fn price_of(&self, product: &ProductId, category: Option<&CategoryId>) -> Option<i64> {
        let prices = &self.products.get(product)?.prices;
        let category = category.or(self.default_category.as_ref());
        category
            .and_then(|category| prices.get(&Some(category.clone())))
            .or_else(|| prices.get(&None))
            .copied()
    }

    /// The leg's fare: the cheapest product among the most specific matching rules.
    pub fn price_leg(
        &self,
        leg: &Leg,
        category: Option<&CategoryId>,
        calendar: &TravelCalendar,
    ) -> Result<PricedLeg, FareError> {
        let no_areas = BTreeSet::new();
        let from_areas = self.stop_areas.get(&leg.from).unwrap_or(&no_areas);
        let to_areas = self.stop_areas.get(&leg.to).unwrap_or(&no_areas);
        let (entered, exited) = (calendar.seconds_of_day(leg.entered), calendar.seconds_of_day(leg.exited));
        let open = self.uses_priority;
        let named_networks: BTreeSet<&NetworkId> =
            self.leg_rules.iter().filter_map(|rule| rule.network.as_ref()).collect();
        let on_network: Vec<&LegRule> = self
            .leg_rules
            .iter()
            .filter(|rule| match &rule.network {
                Some(network) => *network == leg.network,
                None => open || !named_networks.contains(&leg.network),
            })
            .collect();
        // Areas named by this network's rules: an empty area matches every other one.
        let named_from: BTreeSet<&AreaId> =
            on_network.iter().filter_map(|rule| rule.from_area.as_ref()).collect();
        let named_to: BTreeSet<&AreaId> =
            on_network.iter().filter_map(|rule| rule.to_area.as_ref()).collect();
        let area_matches = |rule_area: &Option<AreaId>,
                            areas: &BTreeSet<AreaId>,
                            named: &BTreeSet<&AreaId>| match rule_area {
            Some(area) => areas.contains(area),
            None => open || areas.iter().all(|area| !named.contains(area)),
        };
        let matching: Vec<&LegRule> = on_network
            .into_iter()
            .filter(|rule| area_matches(&rule.from_area, from_areas, &named_from))
            .filter(|rule| area_matches(&rule.to_area, to_areas, &named_to))
            .filter(|rule| self.within(rule.from_timeframe.as_ref(), entered))
            .filter(|rule| self.within(rule.to_timeframe.as_ref(), exited))
            .filter(|rule| self.price_of(&rule.product, category).is_some())
            .collect();
        let rank =
            |rule: &&LegRule| if open { rule.priority.unwrap_or(0) } else { rule.specificity() as i64 };
        let best = matching.iter().map(rank).max();
        matching
            .into_iter()
            .filter(|rule| Some(rank(rule)) == best)
            .filter_map(|rule| {
                let amount_minor = self.price_of(&rule.product, category)?;
                Some(PricedLeg { group: rule.leg_group.clone(), product: rule.product.clone(), amount_minor })
            })
            .min_by(|a, b| a.amount_minor.cmp(&b.amount_minor).then_with(|| a.product.cmp(&b.product)))
            .ok_or_else(|| FareError::Unknown {
                network: leg.network.clone(),
                from: leg.from.clone(),
                to: leg.to.clone(),
            })
    }

    fn within(&self, timeframe: Option<&TimeframeId>, second: u32) -> bool {
        timeframe.is_none_or(|group| {
            self.timeframes
                .get(group)
                .is_some_and(|spans| spans.iter().any(|&(start, end)| start <= second && second < end))
        })
    }

    /// What each of `legs` (one rider's, in time order) adds to the bill once transfers are
    /// applied; the sum is the legs' fare. A leg that continues a sub-journey by a transfer rule
    /// costs what the rule's type says; the total of a sub-journey never falls below zero.
    pub fn charge_legs(
        &self,
        legs: &[Leg],
        category: Option<&CategoryId>,
        calendar: &TravelCalendar,
    ) -> Result<Vec<i64>, FareError> {
        let priced: Vec<PricedLeg> =
            legs.iter().map(|leg| self.price_leg(leg, category, calendar)).collect::<Result<_, _>>()?;
        let mut charges = Vec::with_capacity(legs.len());
        let (mut start, mut transfers, mut spent) = (0, 0, 0i64);
        for (at, leg) in priced.iter().enumerate() {
            let transfer = at.checked_sub(1).and_then(|previous| {
                self.transfer(legs, &priced, (start, previous, at), (transfers, spent), category)
            });
            let charge = match transfer {
                Some(charge) => {
                    transfers += 1;
                    charge.max(-spent)
                }
                None => {
                    (start, transfers, spent) = (at, 0, 0);
                    leg.amount_minor
                }
            };
            spent = spent.saturating_add(charge);
            charges.push(charge);
        }
        Ok(charges)
    }

    /// What leg `next` adds under the cheapest transfer rule joining it to the sub-journey that
    /// began at `first`, last rode `previous`, made `transfers` transfers and cost `spent`.
    fn transfer(
        &self,
        legs: &[Leg],
        priced: &[PricedLeg],
        (first, previous, next): (usize, usize, usize),
        (transfers, spent): (i64, i64),
        category: Option<&CategoryId>,
    ) -> Option<i64> {
        let (from, to) = (priced[previous].group.as_ref(), priced[next].group.as_ref());
        let named_from: BTreeSet<_> =
            self.transfer_rules.iter().filter_map(|rule| rule.from_group.as_ref()).collect();
        let named_to: BTreeSet<_> =
            self.transfer_rules.iter().filter_map(|rule| rule.to_group.as_ref()).collect();
        let group_matches = |rule_group: Option<&LegGroupId>,
                             group: Option<&LegGroupId>,
                             named: &BTreeSet<_>| match (rule_group, group) {
            (Some(rule_group), Some(group)) => rule_group == group,
            (Some(_), None) => false,
            (None, group) => group.is_none_or(|group| !named.contains(group)),
        };
        self.transfer_rules
            .iter()
            .filter(|rule| group_matches(rule.from_group.as_ref(), from, &named_from))
            .filter(|rule| group_matches(rule.to_group.as_ref(), to, &named_to))
            .filter(|rule| match rule.transfer_count {
                Some(-1) | None => true,
                Some(most) => transfers < most,
            })
            .filter(|rule| {
                rule.duration_limit.is_none_or(|(limit_s, between)| {
                    let (since, until) = match between {
                        DurationBetween::DepartureAndArrival => (legs[first].entered, legs[next].exited),
                        DurationBetween::DepartureAndDeparture => (legs[first].entered, legs[next].entered),
                        DurationBetween::ArrivalAndDeparture => (legs[previous].exited, legs[next].entered),
                        DurationBetween::ArrivalAndArrival => (legs[previous].exited, legs[next].exited),
                    };
                    until.ms_since(since) <= limit_s.saturating_mul(1_000)
                })
            })
            .filter_map(|rule| {
                let cost = match &rule.product {
                    Some(product) => self.price_of(product, category)?,
                    None => 0,
                };
                Some(match rule.kind {
                    TransferType::FirstPlusTransfer => cost,
                    TransferType::EveryLegPlusTransfer => cost.saturating_add(priced[next].amount_minor),
                    TransferType::TransferOnly => cost.saturating_sub(spent),
                })
            })
            .min()
    }
}
