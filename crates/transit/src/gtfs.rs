//! Imports a fare table from GTFS Fares v2 files (`areas.txt`, `stop_areas.txt`,
//! `networks.txt`, `fare_media.txt`, `fare_products.txt`, `fare_leg_rules.txt`,
//! `fare_transfer_rules.txt`, `timeframes.txt`, `rider_categories.txt`) and the two tables GTFS
//! lacks (`facepay_networks.txt`: each network's maximum fare and journey time;
//! `facepay_fare_caps.txt`: daily and weekly caps, after Littlepay's `product_data`).
//!
//! What cannot be read is refused with a stable code and the line it is on; what facepay reads
//! but does not act on (a column outside the subset, service days of a timeframe, a file it does
//! not read, a rule naming an area or timeframe the feed never defines, as published feeds do)
//! is reported as a notice, never silently dropped.

use std::collections::{BTreeMap, BTreeSet};

use facepay_domain::Currency;
use serde::Serialize;
use thiserror::Error;

use crate::calendar::Weekday;
use crate::csv::{self, CsvError, Row, Table};
use crate::fares::{
    AreaId, Cap, CapPeriod, CategoryId, DurationBetween, FareTable, LegGroupId, LegRule, NetworkId,
    NetworkRules, Product, ProductId, StopId, TimeframeId, TransferRule, TransferType,
};

/// Which of a feed's prices apply to riders paying by face or payment code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// The operator's currency: every amount must be in it.
    pub currency: Currency,
    /// The `fare_media_id` whose prices facepay charges (a feed may price cash, paper and card
    /// differently); required when the feed names media.
    pub fare_media: Option<String>,
}

/// Something in the feed that facepay read but does not act on, or acts on only in part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub file: String,
    pub line: Option<usize>,
    pub code: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub fares: FareTable,
    pub notices: Vec<Notice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImportError {
    #[error("{file}: {error}")]
    Malformed { file: String, error: CsvError },
    #[error("{0} is required")]
    MissingFile(&'static str),
    #[error("{file} has no {column} column")]
    MissingColumn { file: &'static str, column: &'static str },
    #[error("{file} line {line}: {column} {value:?} {why}")]
    BadValue { file: &'static str, line: usize, column: &'static str, value: String, why: &'static str },
    #[error("{file} line {line}: {column} {value:?} is not defined in {defined_in}")]
    UnknownReference {
        file: &'static str,
        line: usize,
        column: &'static str,
        value: String,
        defined_in: &'static str,
    },
    #[error("the feed prices several fare media ({available}); choose the one riders pay by")]
    MediaNotChosen { available: String },
    #[error("fare media {0:?} is not in fare_media.txt")]
    MediaUnknown(String),
}

impl ImportError {
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::Malformed { .. } => "fare_file_malformed",
            ImportError::MissingFile(_) => "fare_file_missing",
            ImportError::MissingColumn { .. } => "fare_column_missing",
            ImportError::BadValue { .. } => "fare_value_invalid",
            ImportError::UnknownReference { .. } => "fare_reference_unknown",
            ImportError::MediaNotChosen { .. } => "fare_media_not_chosen",
            ImportError::MediaUnknown(_) => "fare_media_unknown",
        }
    }
}

/// The files facepay reads and the columns it acts on in each.
const KNOWN: &[(&str, &[&str])] = &[
    ("areas.txt", &["area_id", "area_name"]),
    ("stop_areas.txt", &["area_id", "stop_id"]),
    ("networks.txt", &["network_id", "network_name"]),
    ("fare_media.txt", &["fare_media_id", "fare_media_name", "fare_media_type"]),
    (
        "rider_categories.txt",
        &["rider_category_id", "rider_category_name", "is_default_fare_category", "eligibility_url"],
    ),
    ("timeframes.txt", &["timeframe_group_id", "start_time", "end_time", "service_id"]),
    (
        "fare_products.txt",
        &["fare_product_id", "fare_product_name", "rider_category_id", "fare_media_id", "amount", "currency"],
    ),
    (
        "fare_leg_rules.txt",
        &[
            "leg_group_id",
            "network_id",
            "from_area_id",
            "to_area_id",
            "from_timeframe_group_id",
            "to_timeframe_group_id",
            "fare_product_id",
            "rule_priority",
            "transfer_only",
        ],
    ),
    (
        "fare_transfer_rules.txt",
        &[
            "from_leg_group_id",
            "to_leg_group_id",
            "transfer_count",
            "duration_limit",
            "duration_limit_type",
            "fare_transfer_type",
            "fare_product_id",
        ],
    ),
    ("facepay_networks.txt", &["network_id", "maximum_fare", "max_journey_minutes", "currency"]),
    (
        "facepay_fare_caps.txt",
        &["cap_id", "network_id", "rider_category_id", "period", "week_start_day", "amount", "currency"],
    ),
];

/// Reads a fare table from `files` (file name to contents).
pub fn import(files: &BTreeMap<String, String>, options: &ImportOptions) -> Result<Imported, ImportError> {
    let mut notices = Vec::new();
    let mut tables = BTreeMap::new();
    for (name, text) in files {
        let Some((known, columns)) = KNOWN.iter().find(|(known, _)| known == name) else {
            let detail = if name == "fare_attributes.txt" || name == "fare_rules.txt" {
                "a GTFS Fares v1 file: facepay prices by Fares v2 only".to_owned()
            } else {
                "not a fare file facepay reads".to_owned()
            };
            notices.push(Notice { file: name.clone(), line: None, code: "file_unsupported", detail });
            continue;
        };
        let table = csv::parse(text).map_err(|error| ImportError::Malformed { file: name.clone(), error })?;
        for column in table.header.iter().filter(|column| !columns.contains(&column.as_str())) {
            notices.push(Notice {
                file: name.clone(),
                line: Some(1),
                code: "column_unsupported",
                detail: format!("facepay does not read {column}; what it says is not applied"),
            });
        }
        tables.insert(*known, table);
    }
    Feed { tables, options, notices }.read()
}

struct Feed<'a> {
    tables: BTreeMap<&'static str, Table>,
    options: &'a ImportOptions,
    notices: Vec<Notice>,
}

/// One file's rows with its columns looked up once.
struct Rows<'t> {
    file: &'static str,
    table: Option<&'t Table>,
}

impl<'t> Rows<'t> {
    fn iter(&self) -> impl Iterator<Item = &'t Row> {
        self.table.into_iter().flat_map(|table| table.rows.iter())
    }

    fn column(&self, column: &'static str) -> Option<usize> {
        self.table.and_then(|table| table.column(column))
    }

    fn required(&self, column: &'static str) -> Result<usize, ImportError> {
        self.column(column).ok_or(ImportError::MissingColumn { file: self.file, column })
    }

    fn field<'r>(&self, row: &'r Row, column: &'static str) -> Option<&'r str> {
        row.get(self.column(column))
    }

    fn need<'r>(&self, row: &'r Row, column: &'static str) -> Result<&'r str, ImportError> {
        self.field(row, column).ok_or(ImportError::BadValue {
            file: self.file,
            line: row.line,
            column,
            value: String::new(),
            why: "is required",
        })
    }

    fn bad(&self, row: &Row, column: &'static str, why: &'static str) -> ImportError {
        let value = self.field(row, column).unwrap_or_default().to_owned();
        ImportError::BadValue { file: self.file, line: row.line, column, value, why }
    }

    fn number(&self, row: &Row, column: &'static str) -> Result<Option<i64>, ImportError> {
        self.field(row, column)
            .map(|text| text.parse().map_err(|_| self.bad(row, column, "is not a whole number")))
            .transpose()
    }

    fn amount(&self, row: &Row, column: &'static str, currency: &Currency) -> Result<i64, ImportError> {
        if self.field(row, "currency").is_some_and(|code| code != currency.code()) {
            return Err(self.bad(row, "currency", "is not the operator's currency"));
        }
        parse_amount(self.need(row, column)?, currency)
            .ok_or_else(|| self.bad(row, column, "is not an amount in the currency's minor units"))
    }
}

impl Feed<'_> {
    fn rows(&self, file: &'static str) -> Rows<'_> {
        Rows { file, table: self.tables.get(file) }
    }

    fn required(&self, file: &'static str) -> Result<Rows<'_>, ImportError> {
        self.tables
            .get(file)
            .map(|table| Rows { file, table: Some(table) })
            .ok_or(ImportError::MissingFile(file))
    }

    fn read(mut self) -> Result<Imported, ImportError> {
        let currency = self.options.currency;
        let areas = self.areas()?;
        let stop_areas = self.stop_areas(&areas)?;
        let media = self.media()?;
        let (categories, default_category) = self.categories()?;
        let timeframes = self.timeframes()?;
        let products = self.products(&currency, media.as_deref(), &categories)?;
        let (leg_rules, uses_priority) = self.leg_rules(&products, &areas, &timeframes)?;
        let transfer_rules = self.transfer_rules(&products)?;
        let networks = self.networks(&currency)?;
        let caps = self.caps(&currency, &categories)?;
        // Rules whose product has no price for the chosen media cannot price a ride.
        let priced: Vec<LegRule> =
            leg_rules.into_iter().filter(|rule| products.contains_key(&rule.product)).collect();
        Ok(Imported {
            fares: FareTable {
                currency,
                stop_areas,
                products,
                leg_rules: priced,
                transfer_rules,
                timeframes,
                default_category,
                networks,
                caps,
                uses_priority,
            },
            notices: self.notices,
        })
    }

    fn areas(&self) -> Result<BTreeSet<AreaId>, ImportError> {
        let rows = self.rows("areas.txt");
        rows.iter().map(|row| rows.need(row, "area_id").map(AreaId::from)).collect()
    }

    fn stop_areas(
        &mut self,
        areas: &BTreeSet<AreaId>,
    ) -> Result<BTreeMap<StopId, BTreeSet<AreaId>>, ImportError> {
        let rows = self.rows("stop_areas.txt");
        let mut stop_areas: BTreeMap<StopId, BTreeSet<AreaId>> = BTreeMap::new();
        let mut dangling = Dangling::default();
        for row in rows.iter() {
            let area = AreaId::from(rows.need(row, "area_id")?);
            let stop = StopId::from(rows.need(row, "stop_id")?);
            dangling.check(areas.contains(&area), &rows, row, "area_id", "areas.txt");
            if areas.contains(&area) {
                stop_areas.entry(stop).or_default().insert(area);
            }
        }
        self.notices.extend(dangling.notices());
        Ok(stop_areas)
    }

    /// The chosen fare media, checked against the feed's.
    fn media(&self) -> Result<Option<String>, ImportError> {
        let rows = self.rows("fare_media.txt");
        let declared: BTreeSet<&str> =
            rows.iter().filter_map(|row| rows.field(row, "fare_media_id")).collect();
        let products = self.rows("fare_products.txt");
        let used: BTreeSet<&str> =
            products.iter().filter_map(|row| products.field(row, "fare_media_id")).collect();
        match &self.options.fare_media {
            Some(chosen) if declared.contains(chosen.as_str()) || used.contains(chosen.as_str()) => {
                Ok(Some(chosen.clone()))
            }
            Some(chosen) => Err(ImportError::MediaUnknown(chosen.clone())),
            None if used.is_empty() => Ok(None),
            None => Err(ImportError::MediaNotChosen {
                available: used.into_iter().collect::<Vec<_>>().join(", "),
            }),
        }
    }

    fn categories(&self) -> Result<(BTreeSet<CategoryId>, Option<CategoryId>), ImportError> {
        let rows = self.rows("rider_categories.txt");
        let (mut categories, mut default) = (BTreeSet::new(), None);
        for row in rows.iter() {
            let category = CategoryId::from(rows.need(row, "rider_category_id")?);
            match rows.field(row, "is_default_fare_category") {
                None | Some("0") => {}
                Some("1") if default.is_none() => default = Some(category.clone()),
                Some("1") => {
                    return Err(rows.bad(row, "is_default_fare_category", "names a second default category"));
                }
                Some(_) => return Err(rows.bad(row, "is_default_fare_category", "is neither 0 nor 1")),
            }
            categories.insert(category);
        }
        Ok((categories, default))
    }

    fn timeframes(&mut self) -> Result<BTreeMap<TimeframeId, Vec<(u32, u32)>>, ImportError> {
        let rows = self.rows("timeframes.txt");
        let mut timeframes: BTreeMap<TimeframeId, Vec<(u32, u32)>> = BTreeMap::new();
        let mut services = BTreeSet::new();
        for row in rows.iter() {
            let group = TimeframeId::from(rows.need(row, "timeframe_group_id")?);
            let span = match (rows.field(row, "start_time"), rows.field(row, "end_time")) {
                (None, None) => (0, 86_400),
                (Some(start), Some(end)) => {
                    let start = clock(start).ok_or_else(|| rows.bad(row, "start_time", "is not HH:MM:SS"))?;
                    let end = clock(end).ok_or_else(|| rows.bad(row, "end_time", "is not HH:MM:SS"))?;
                    if start >= end {
                        return Err(rows.bad(row, "end_time", "is not after start_time"));
                    }
                    (start, end)
                }
                _ => return Err(rows.bad(row, "end_time", "must be given with start_time, or neither")),
            };
            if let Some(service) = rows.field(row, "service_id") {
                services.insert(service.to_owned());
            }
            timeframes.entry(group).or_default().push(span);
        }
        if !services.is_empty() {
            self.notices.push(Notice {
                file: "timeframes.txt".into(),
                line: None,
                code: "service_days_not_checked",
                detail: format!(
                    "timeframes apply on every day: facepay does not read calendar.txt ({} service ids)",
                    services.len()
                ),
            });
        }
        Ok(timeframes)
    }

    /// Each product's prices for the chosen media; a product with none is left out.
    fn products(
        &mut self,
        currency: &Currency,
        media: Option<&str>,
        categories: &BTreeSet<CategoryId>,
    ) -> Result<BTreeMap<ProductId, Product>, ImportError> {
        let rows = self.required("fare_products.txt")?;
        for column in ["fare_product_id", "amount"] {
            rows.required(column)?;
        }
        let mut products: BTreeMap<ProductId, Product> = BTreeMap::new();
        let mut other_media = BTreeSet::new();
        for row in rows.iter() {
            let id = ProductId::from(rows.need(row, "fare_product_id")?);
            let amount = rows.amount(row, "amount", currency)?;
            let category = rows.field(row, "rider_category_id").map(CategoryId::from);
            if category.as_ref().is_some_and(|category| !categories.contains(category)) {
                return Err(unknown(&rows, row, "rider_category_id", "rider_categories.txt"));
            }
            if let Some(row_media) = rows.field(row, "fare_media_id")
                && Some(row_media) != media
            {
                other_media.insert(id);
                continue;
            }
            let name = rows.field(row, "fare_product_name").unwrap_or_default().to_owned();
            let product = products.entry(id).or_insert_with(|| Product { name, prices: BTreeMap::new() });
            if product.prices.insert(category, amount).is_some() {
                return Err(rows.bad(row, "fare_product_id", "is priced twice for one category and medium"));
            }
        }
        let unpriced = other_media.iter().filter(|id| !products.contains_key(*id)).count();
        if unpriced > 0 {
            self.notices.push(Notice {
                file: "fare_products.txt".into(),
                line: None,
                code: "products_not_for_media",
                detail: format!(
                    "{unpriced} products have no price for fare media {}: rules that sell only them do not apply",
                    media.unwrap_or("(none)")
                ),
            });
        }
        Ok(products)
    }

    fn leg_rules(
        &mut self,
        products: &BTreeMap<ProductId, Product>,
        areas: &BTreeSet<AreaId>,
        timeframes: &BTreeMap<TimeframeId, Vec<(u32, u32)>>,
    ) -> Result<(Vec<LegRule>, bool), ImportError> {
        let rows = self.required("fare_leg_rules.txt")?;
        rows.required("fare_product_id")?;
        let all_products: BTreeSet<&str> = {
            let products = self.rows("fare_products.txt");
            products.iter().filter_map(|row| products.field(row, "fare_product_id")).collect()
        };
        let uses_priority = rows.column("rule_priority").is_some();
        let (mut rules, mut transfer_only) = (Vec::new(), 0);
        let mut dangling = Dangling::default();
        for row in rows.iter() {
            let product = rows.need(row, "fare_product_id")?;
            let mut defined = all_products.contains(product);
            dangling.check(defined, &rows, row, "fare_product_id", "fare_products.txt");
            for column in ["from_area_id", "to_area_id"] {
                let known = rows.field(row, column).is_none_or(|area| areas.contains(&AreaId::from(area)));
                dangling.check(known, &rows, row, column, "areas.txt");
                defined &= known;
            }
            for column in ["from_timeframe_group_id", "to_timeframe_group_id"] {
                let known = rows
                    .field(row, column)
                    .is_none_or(|group| timeframes.contains_key(&TimeframeId::from(group)));
                dangling.check(known, &rows, row, column, "timeframes.txt");
                defined &= known;
            }
            if !defined {
                continue;
            }
            match rows.field(row, "transfer_only") {
                None | Some("0") => {}
                Some("1") => {
                    transfer_only += 1;
                    continue;
                }
                Some(_) => return Err(rows.bad(row, "transfer_only", "is neither 0 nor 1")),
            }
            rules.push(LegRule {
                leg_group: rows.field(row, "leg_group_id").map(LegGroupId::from),
                network: rows.field(row, "network_id").map(NetworkId::from),
                from_area: rows.field(row, "from_area_id").map(AreaId::from),
                to_area: rows.field(row, "to_area_id").map(AreaId::from),
                from_timeframe: rows.field(row, "from_timeframe_group_id").map(TimeframeId::from),
                to_timeframe: rows.field(row, "to_timeframe_group_id").map(TimeframeId::from),
                product: ProductId::from(product),
                priority: rows.number(row, "rule_priority")?,
            });
        }
        self.notices.extend(dangling.notices());
        let unpriced = rules.iter().filter(|rule| !products.contains_key(&rule.product)).count();
        if transfer_only > 0 {
            self.notices.push(Notice {
                file: "fare_leg_rules.txt".into(),
                line: None,
                code: "transfer_only_rules_unused",
                detail: format!(
                    "{transfer_only} rules priced only as part of a transfer are not used to price a leg"
                ),
            });
        }
        if unpriced > 0 {
            self.notices.push(Notice {
                file: "fare_leg_rules.txt".into(),
                line: None,
                code: "rules_without_price",
                detail: format!("{unpriced} rules sell a product with no price for the chosen fare media"),
            });
        }
        Ok((rules, uses_priority))
    }

    fn transfer_rules(
        &self,
        products: &BTreeMap<ProductId, Product>,
    ) -> Result<Vec<TransferRule>, ImportError> {
        let rows = self.rows("fare_transfer_rules.txt");
        let mut rules = Vec::new();
        for row in rows.iter() {
            let from_group = rows.field(row, "from_leg_group_id").map(LegGroupId::from);
            let to_group = rows.field(row, "to_leg_group_id").map(LegGroupId::from);
            let transfer_count = rows.number(row, "transfer_count")?;
            match (transfer_count, from_group.is_some() && from_group == to_group) {
                (None, true) => {
                    return Err(rows.bad(row, "transfer_count", "is required between legs of one group"));
                }
                (Some(_), false) => {
                    return Err(rows.bad(row, "transfer_count", "applies only between legs of one group"));
                }
                (Some(count), true) if count == 0 || count < -1 => {
                    return Err(rows.bad(row, "transfer_count", "is neither -1 nor a positive count"));
                }
                _ => {}
            }
            let duration_limit =
                match (rows.number(row, "duration_limit")?, rows.field(row, "duration_limit_type")) {
                    (None, None) => None,
                    (Some(limit), Some(kind)) if limit > 0 => Some((
                        limit,
                        match kind {
                            "0" => DurationBetween::DepartureAndArrival,
                            "1" => DurationBetween::DepartureAndDeparture,
                            "2" => DurationBetween::ArrivalAndDeparture,
                            "3" => DurationBetween::ArrivalAndArrival,
                            _ => return Err(rows.bad(row, "duration_limit_type", "is not 0, 1, 2 or 3")),
                        },
                    )),
                    _ => {
                        return Err(rows.bad(
                            row,
                            "duration_limit",
                            "needs a positive limit and its type together",
                        ));
                    }
                };
            let kind = match rows.need(row, "fare_transfer_type")? {
                "0" => TransferType::FirstPlusTransfer,
                "1" => TransferType::EveryLegPlusTransfer,
                "2" => TransferType::TransferOnly,
                _ => return Err(rows.bad(row, "fare_transfer_type", "is not 0, 1 or 2")),
            };
            let product = rows.field(row, "fare_product_id").map(ProductId::from);
            if product.as_ref().is_some_and(|product| !products.contains_key(product)) {
                // A transfer sold only on other media is not one this rider can make.
                continue;
            }
            rules.push(TransferRule { from_group, to_group, transfer_count, duration_limit, kind, product });
        }
        Ok(rules)
    }

    fn networks(&self, currency: &Currency) -> Result<BTreeMap<NetworkId, NetworkRules>, ImportError> {
        let rows = self.rows("facepay_networks.txt");
        let mut networks = BTreeMap::new();
        for row in rows.iter() {
            let network = NetworkId::from(rows.need(row, "network_id")?);
            let maximum_fare_minor = rows.amount(row, "maximum_fare", currency)?;
            let minutes = rows.number(row, "max_journey_minutes")?.unwrap_or(0);
            if !(1..=24 * 60).contains(&minutes) {
                return Err(rows.bad(row, "max_journey_minutes", "is not between 1 and 1440"));
            }
            let rules = NetworkRules { maximum_fare_minor, max_journey_ms: minutes * 60_000 };
            if networks.insert(network, rules).is_some() {
                return Err(rows.bad(row, "network_id", "is listed twice"));
            }
        }
        Ok(networks)
    }

    fn caps(
        &mut self,
        currency: &Currency,
        categories: &BTreeSet<CategoryId>,
    ) -> Result<Vec<Cap>, ImportError> {
        let rows = self.rows("facepay_fare_caps.txt");
        let mut caps = Vec::new();
        for row in rows.iter() {
            let category = rows.field(row, "rider_category_id").map(CategoryId::from);
            if category.as_ref().is_some_and(|category| !categories.contains(category)) {
                return Err(unknown(&rows, row, "rider_category_id", "rider_categories.txt"));
            }
            let period = match rows.need(row, "period")? {
                "day" => CapPeriod::Day,
                "week" => CapPeriod::Week(
                    Weekday::parse(rows.need(row, "week_start_day")?)
                        .ok_or_else(|| rows.bad(row, "week_start_day", "is not a weekday's name"))?,
                ),
                _ => return Err(rows.bad(row, "period", "is neither day nor week")),
            };
            caps.push(Cap {
                id: rows.need(row, "cap_id")?.to_owned(),
                network: rows.field(row, "network_id").map(NetworkId::from),
                category,
                period,
                amount_minor: rows.amount(row, "amount", currency)?,
            });
        }
        if caps.iter().any(|cap| cap.network.is_some()) && caps.iter().any(|cap| cap.network.is_none()) {
            self.notices.push(Notice {
                file: "facepay_fare_caps.txt".into(),
                line: None,
                code: "caps_mixed_scope",
                detail: "a network's weekly cap counts that network's fares after its own caps, not what the caps \
                         for every network then took off"
                    .into(),
            });
        }
        Ok(caps)
    }
}

/// Rows that name something the feed never defines: such a row can never apply, so it is left
/// out, and each missing name is reported once with its first line and how many rows use it.
#[derive(Default)]
struct Dangling {
    missing: BTreeMap<(&'static str, &'static str, String), (&'static str, usize, usize)>,
}

impl Dangling {
    fn check(
        &mut self,
        defined: bool,
        rows: &Rows<'_>,
        row: &Row,
        column: &'static str,
        defined_in: &'static str,
    ) {
        if defined {
            return;
        }
        let value = rows.field(row, column).unwrap_or_default().to_owned();
        let seen = self.missing.entry((rows.file, column, value)).or_insert((defined_in, row.line, 0));
        seen.2 += 1;
    }

    fn notices(self) -> impl Iterator<Item = Notice> {
        self.missing.into_iter().map(|((file, column, value), (defined_in, line, rows))| Notice {
            file: file.to_owned(),
            line: Some(line),
            code: "reference_unknown",
            detail: format!(
                "{column} {value:?} is not defined in {defined_in}: {rows} rows naming it are left out"
            ),
        })
    }
}

fn unknown(rows: &Rows<'_>, row: &Row, column: &'static str, defined_in: &'static str) -> ImportError {
    let value = rows.field(row, column).unwrap_or_default().to_owned();
    ImportError::UnknownReference { file: rows.file, line: row.line, column, value, defined_in }
}

/// `HH:MM:SS` (hours up to 24:00:00) as seconds since midnight.
fn clock(text: &str) -> Option<u32> {
    let mut parts =
        text.split(':').map(|part| part.parse::<u32>().ok().filter(|_| (1..=2).contains(&part.len())));
    let (hours, minutes, seconds) = (parts.next()??, parts.next()??, parts.next()??);
    let total = hours * 3_600 + minutes * 60 + seconds;
    (parts.next().is_none() && minutes < 60 && seconds < 60 && total <= 86_400).then_some(total)
}

/// The digits after the point each currency's minor unit takes (ISO 4217).
fn minor_digits(currency: &Currency) -> u32 {
    match currency.code() {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "VND"
        | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// A decimal amount ("2.40", "-0.5", "3") in `currency`'s minor units; `None` when it is not a
/// plain decimal or has more digits after the point than the currency's minor unit.
fn parse_amount(text: &str, currency: &Currency) -> Option<i64> {
    let digits = minor_digits(currency);
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let plain = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || !plain(whole) || !plain(fraction) || fraction.len() > digits as usize {
        return None;
    }
    let scaled = format!("{whole}{fraction:0<width$}", width = digits as usize);
    let minor: i64 = scaled.parse().ok()?;
    Some(if negative { -minor } else { minor })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::new(code).unwrap()
    }

    #[test]
    fn amounts_become_minor_units_exactly() {
        assert_eq!(parse_amount("2.40", &currency("USD")), Some(240));
        assert_eq!(parse_amount("2.4", &currency("USD")), Some(240));
        assert_eq!(parse_amount("3", &currency("USD")), Some(300));
        assert_eq!(parse_amount("-0.50", &currency("EUR")), Some(-50));
        assert_eq!(parse_amount("210", &currency("JPY")), Some(210));
        assert_eq!(parse_amount("1.250", &currency("KWD")), Some(1250));
        for bad in ["2.405", "", ".5", "1e3", "2,40", "+1", "1.2.3", "99999999999999999999"] {
            assert_eq!(parse_amount(bad, &currency("USD")), None, "{bad}");
        }
        assert_eq!(parse_amount("2.5", &currency("JPY")), None);
    }

    #[test]
    fn clock_times_run_to_midnight_and_no_further() {
        assert_eq!(clock("00:00:00"), Some(0));
        assert_eq!(clock("07:30:15"), Some(27_015));
        assert_eq!(clock("24:00:00"), Some(86_400));
        for bad in ["24:00:01", "7:60:00", "07:30", "07:30:00:00", "aa:00:00", "123:00:00"] {
            assert_eq!(clock(bad), None, "{bad}");
        }
    }
}
