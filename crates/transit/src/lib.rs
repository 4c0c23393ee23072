//! Transit fares for gated networks (a metro's face gates): the fare table imported from GTFS
//! Fares v2 with the caps and network rules GTFS lacks, the travel calendar, and the travel log
//! that turns gates' taps into journeys and each rider's travel day into one bill.
//!
//! Owns: what a ride costs and what a day costs after transfers and caps; that one passage is
//! one tap whatever the medium; that a day can be billed again from the same taps and give the
//! same bill.
//!
//! Must never: do IO, read the wall clock (time arrives with each tap), use floating point for
//! money, or depend on any facepay crate but `domain`. Money moves in the payment core: this
//! crate only says how much.

mod calendar;
pub mod csv;
mod fares;
mod gtfs;
mod travel;

pub use calendar::{TravelCalendar, TravelDay, Weekday};
pub use csv::CsvError;
pub use fares::{
    AreaId, Cap, CapPeriod, CategoryId, DurationBetween, FareError, FareTable, Leg, LegGroupId, LegRule,
    NetworkId, NetworkRules, PricedLeg, Product, ProductId, StopId, TimeframeId, TransferRule, TransferType,
};
pub use gtfs::{ImportError, ImportOptions, Imported, Notice, import};
pub use travel::{
    Billed, DayBill, Direction, Journey, JourneyKind, Medium, Passage, Recorded, Tap, TapId, TravelError,
    TravelLog,
};
