//! What the transit tests share: the fixture feeds and an operator clock at UTC.

use std::collections::BTreeMap;
use std::path::Path;

use facepay_domain::{Currency, Timestamp};
use facepay_transit::{FareTable, ImportOptions, Imported, TravelCalendar, import};

/// Every file of the fixture feed `name`, as the importer takes them.
pub fn files(name: &str) -> BTreeMap<String, String> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|extension| extension == "txt") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    files
}

pub fn eur() -> Currency {
    Currency::new("EUR").unwrap()
}

/// The fixture metro: three zones, a tram, a peak fare, a transfer, day and week caps.
pub fn metro() -> FareTable {
    let imported: Imported =
        import(&files("metro"), &ImportOptions { currency: eur(), fare_media: None }).unwrap();
    imported.fares
}

/// UTC, travel days from 04:30.
pub fn calendar() -> TravelCalendar {
    TravelCalendar::default()
}

/// Day `day` (0 is a Thursday, 1970-01-01) at `hours:minutes` UTC.
pub fn at(day: i64, hours: i64, minutes: i64) -> Timestamp {
    Timestamp::from_unix_ms(((day * 24 + hours) * 60 + minutes) * 60_000)
}
