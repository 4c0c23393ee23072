//! Importing fare tables (the fixture metro, the MBTA's published files, broken feeds) and
//! pricing legs and transfers by them.

mod common;

use common::{at, calendar, eur, files, metro};
use facepay_domain::Currency;
use facepay_transit::{CategoryId, ImportOptions, Leg, NetworkId, StopId, import};

fn leg(network: &str, from: &str, to: &str, entered: (i64, i64), exited: (i64, i64)) -> Leg {
    Leg {
        network: NetworkId::from(network),
        from: StopId::from(from),
        to: StopId::from(to),
        entered: at(0, entered.0, entered.1),
        exited: at(0, exited.0, exited.1),
    }
}

fn price(leg: &Leg, category: Option<&str>) -> Result<i64, String> {
    let category = category.map(CategoryId::from);
    metro()
        .price_leg(leg, category.as_ref(), &calendar())
        .map(|priced| priced.amount_minor)
        .map_err(|err| err.code().to_owned())
}

#[test]
fn the_fixture_metro_loads_and_says_what_it_does_not_check() {
    let imported = import(&files("metro"), &ImportOptions { currency: eur(), fare_media: None }).unwrap();
    let codes: Vec<_> = imported.notices.iter().map(|notice| notice.code).collect();
    assert_eq!(codes, ["service_days_not_checked"]);
    assert_eq!(imported.fares.caps.len(), 3);
    assert_eq!(imported.fares.default_category, Some(CategoryId::from("adult")));
}

#[test]
fn legs_are_priced_by_zone_time_and_rider() {
    assert_eq!(price(&leg("metro", "central", "market", (12, 0), (12, 10)), None), Ok(200));
    assert_eq!(price(&leg("metro", "central", "harbour", (12, 0), (12, 20)), None), Ok(300));
    assert_eq!(price(&leg("metro", "harbour", "central", (12, 0), (12, 20)), None), Ok(300));
    // Off peak the zone 1-3 single; at peak the more specific peak rule wins.
    assert_eq!(price(&leg("metro", "central", "airport", (12, 0), (12, 30)), None), Ok(450));
    assert_eq!(price(&leg("metro", "central", "airport", (8, 0), (8, 30)), None), Ok(550));
    assert_eq!(
        price(&leg("metro", "central", "airport", (9, 30), (10, 0)), None),
        Ok(450),
        "the peak ends at 09:30"
    );
    // The student price where there is one, the price for all where not.
    assert_eq!(price(&leg("metro", "central", "market", (12, 0), (12, 10)), Some("student")), Ok(100));
    assert_eq!(price(&leg("metro", "central", "harbour", (12, 0), (12, 10)), Some("student")), Ok(300));
    // The tram's rule names no area: every stop.
    assert_eq!(price(&leg("tram", "market", "anywhere", (12, 0), (12, 10)), None), Ok(150));
    // No rule from the airport to the harbour.
    assert_eq!(
        price(&leg("metro", "airport", "harbour", (12, 0), (12, 30)), None),
        Err("fare_unknown".into())
    );
}

#[test]
fn a_transfer_within_its_time_costs_the_transfer_not_a_second_fare() {
    let fares = metro();
    let tram = leg("tram", "harbour", "central", (12, 0), (12, 20));
    let within = leg("metro", "central", "market", (12, 30), (12, 40));
    let charges = fares.charge_legs(&[tram.clone(), within], None, &calendar()).unwrap();
    assert_eq!(charges, [150, 50]);
    // An hour after the tram was boarded the transfer has lapsed.
    let late = leg("metro", "central", "market", (13, 1), (13, 10));
    assert_eq!(fares.charge_legs(&[tram.clone(), late], None, &calendar()).unwrap(), [150, 200]);
    // No rule joins the metro to a further zone.
    let other = leg("metro", "central", "harbour", (12, 30), (12, 40));
    assert_eq!(fares.charge_legs(&[tram, other], None, &calendar()).unwrap(), [150, 300]);
}

#[test]
fn a_published_feed_loads_and_its_unread_columns_are_reported() {
    let usd = Currency::new("USD").unwrap();
    let options = ImportOptions { currency: usd, fare_media: Some("charlieticket".into()) };
    let imported = import(&files("mbta"), &options).unwrap();
    let reported = |code: &str, detail: &str| {
        imported.notices.iter().any(|notice| notice.code == code && notice.detail.contains(detail))
    };
    for column in ["filter_fare_product_id", "fare_media_behavior", "fare_product_behavior"] {
        assert!(reported("column_unsupported", column), "{column}: {:#?}", imported.notices);
    }
    assert!(reported("file_unsupported", "not a fare file"), "feed_info.txt");
    assert!(reported("transfer_only_rules_unused", "rules"));
    assert!(reported("products_not_for_media", "charlieticket"));
    assert!(reported("service_days_not_checked", "service ids"));
    assert!(reported("reference_unknown", "timeframe_systemwide_free"), "a timeframe the feed never defines");
    // A subway ride from a station in no fare area: the flat subway fare.
    let ride = Leg {
        network: NetworkId::from("rapid_transit"),
        from: StopId::from("70061"),
        to: StopId::from("70063"),
        entered: at(0, 12, 0),
        exited: at(0, 12, 20),
    };
    let priced = imported.fares.price_leg(&ride, None, &calendar()).unwrap();
    assert_eq!((priced.product.0.as_str(), priced.amount_minor), ("prod_rapid_transit_quick_subway", 240));
    // Cash buys a ride only where the feed sells one for cash: boarding the Green Line west of
    // Kenmore, not at a subway gate (its cash rule is for transfers only).
    let cash =
        import(&files("mbta"), &ImportOptions { currency: usd, fare_media: Some("cash".into()) }).unwrap();
    assert_eq!(cash.fares.price_leg(&ride, None, &calendar()).unwrap_err().code(), "fare_unknown");
    let surface = Leg { from: StopId::from("170136"), ..ride };
    let priced = cash.fares.price_leg(&surface, None, &calendar()).unwrap();
    assert_eq!((priced.product.0.as_str(), priced.amount_minor), ("prod_rapid_transit_cash", 240));
    // A feed that prices several media needs one chosen; an unknown one is refused.
    let unchosen = import(&files("mbta"), &ImportOptions { currency: usd, fare_media: None }).unwrap_err();
    assert_eq!(unchosen.code(), "fare_media_not_chosen");
    assert!(unchosen.to_string().contains("charlieticket"));
    let unknown = import(&files("mbta"), &ImportOptions { currency: usd, fare_media: Some("oyster".into()) })
        .unwrap_err();
    assert_eq!(unknown.code(), "fare_media_unknown");
}

#[test]
fn a_broken_feed_is_refused_with_its_line_and_a_stable_code() {
    let options = ImportOptions { currency: eur(), fare_media: None };
    let broken = |file: &str, from: &str, to: &str| {
        let mut feed = files("metro");
        let text = feed.get_mut(file).unwrap();
        assert!(text.contains(from), "{file} holds {from}");
        *text = text.replace(from, to);
        import(&feed, &options).unwrap_err()
    };
    assert_eq!(broken("fare_products.txt", "4.50,EUR", "4.505,EUR").code(), "fare_value_invalid");
    assert_eq!(broken("fare_products.txt", "4.50,EUR", "4.50,USD").code(), "fare_value_invalid");
    assert_eq!(
        broken("fare_products.txt", ",student,1.00", ",pensioner,1.00").code(),
        "fare_reference_unknown"
    );
    assert_eq!(broken("timeframes.txt", "09:30:00", "06:30:00").code(), "fare_value_invalid");
    assert_eq!(broken("fare_transfer_rules.txt", ",3600,1,0,", ",3600,,0,").code(), "fare_value_invalid");
    assert_eq!(broken("facepay_fare_caps.txt", "week,monday", "week,someday").code(), "fare_value_invalid");
    assert_eq!(broken("stop_areas.txt", "zone2,harbour", "zone2,\"harbour").code(), "fare_file_malformed");
    let mut without = files("metro");
    without.remove("fare_leg_rules.txt");
    assert_eq!(import(&without, &options).unwrap_err().code(), "fare_file_missing");
}

#[test]
fn a_rule_naming_what_the_feed_never_defines_is_left_out_and_reported() {
    let mut feed = files("metro");
    let rules = feed.get_mut("fare_leg_rules.txt").unwrap();
    *rules = rules.replace("metro,zone1,zone3,,zone13_single", "metro,zone1,zone9,,zone13_single");
    let imported = import(&feed, &ImportOptions { currency: eur(), fare_media: None }).unwrap();
    let notice = imported.notices.iter().find(|notice| notice.code == "reference_unknown").unwrap();
    assert_eq!((notice.file.as_str(), notice.line), ("fare_leg_rules.txt", Some(6)));
    assert!(notice.detail.contains("zone9") && notice.detail.contains("1 rows"), "{}", notice.detail);
    // Off peak nothing prices central to the airport any more; at peak its own rule still does.
    let off_peak = leg("metro", "central", "airport", (12, 0), (12, 30));
    assert_eq!(imported.fares.price_leg(&off_peak, None, &calendar()).unwrap_err().code(), "fare_unknown");
    let peak = leg("metro", "central", "airport", (8, 0), (8, 30));
    assert_eq!(imported.fares.price_leg(&peak, None, &calendar()).unwrap().amount_minor, 550);
}

#[test]
fn unknown_files_and_columns_are_reported_not_ignored() {
    let mut feed = files("metro");
    feed.insert("fare_attributes.txt".into(), "fare_id,price,currency_type\nx,1.00,EUR\n".into());
    let text = feed.get_mut("areas.txt").unwrap();
    *text = text
        .replace("area_id,area_name", "area_id,area_name,colour")
        .replace("(centre)", "(centre),red")
        .replace("Zone 2\n", "Zone 2,blue\n")
        .replace("(airport)", "(airport),green");
    let imported = import(&feed, &ImportOptions { currency: eur(), fare_media: None }).unwrap();
    let notices: Vec<_> = imported.notices.iter().map(|notice| (notice.file.as_str(), notice.code)).collect();
    assert!(notices.contains(&("fare_attributes.txt", "file_unsupported")), "{notices:?}");
    assert!(notices.contains(&("areas.txt", "column_unsupported")), "{notices:?}");
}
