//! Transit money in the payment core: a hold at a rider's first passage of a travel day, one
//! capture of the day's capped total after it closes, late uploads and claims settled as the
//! difference, debt collected by retries and at the next entry, the deny list, a bank-funded
//! rider, a debtor paying at the gate that refused them, a payment code that opens one gate once,
//! and uploads that are refused or repeated changing nothing.

mod common;

use std::collections::BTreeMap;

use common::*;
use facepay_domain::{MerchantId, PaymentId, ShopperId, TerminalId, Timestamp};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    AcquirerId, Checkpoint, Command, CoreError, CountRule, GatePassage, GatePlace, GateRisk, IssuerAnswer,
    IssuerId, IssuerMessage, MerchantRisk, PASSAGES_MAX, PassageOutcome, PaymentCore, PaymentRow,
    PaymentState, Reply, TransitScheme,
};
use facepay_transit::{
    Direction, ImportOptions, Medium, NetworkId, StopId, TapId, TravelCalendar, TravelDay, import,
};

const OPERATOR: MerchantId = MerchantId::from_u128(30);
const OPERATOR_ACCOUNT: AccountId = AccountId(30);
const CENTRAL: TerminalId = TerminalId::from_u128(31);
const MARKET: TerminalId = TerminalId::from_u128(32);
const HARBOUR: TerminalId = TerminalId::from_u128(33);
const CAROL: ShopperId = ShopperId::from_u128(3);
const CAROL_WALLET: AccountId = AccountId(301);
const BANK: IssuerId = IssuerId(5);
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// Two zones: 2.00 inside one, 3.00 across, 6.00 the maximum fare, 7.00 a day at most.
fn fares() -> facepay_transit::FareTable {
    let files: BTreeMap<String, String> = [
        ("networks.txt", "network_id,network_name\nmetro,Metro\n"),
        ("areas.txt", "area_id,area_name\nz1,Zone 1\nz2,Zone 2\n"),
        ("stop_areas.txt", "area_id,stop_id\nz1,central\nz1,market\nz2,harbour\n"),
        ("fare_products.txt", "fare_product_id,fare_product_name,amount,currency\ninner,Inner,2.00,EUR\nacross,Across,3.00,EUR\n"),
        (
            "fare_leg_rules.txt",
            "leg_group_id,network_id,from_area_id,to_area_id,fare_product_id\n\
             inner,metro,z1,z1,inner\ninner,metro,z2,z2,inner\nacross,metro,z1,z2,across\nacross,metro,z2,z1,across\n",
        ),
        ("facepay_networks.txt", "network_id,maximum_fare,max_journey_minutes,currency\nmetro,6.00,120,EUR\n"),
        (
            "facepay_fare_caps.txt",
            "cap_id,network_id,rider_category_id,period,week_start_day,amount,currency\nday,,,day,,7.00,EUR\n",
        ),
    ]
    .into_iter()
    .map(|(name, text)| (name.to_owned(), text.to_owned()))
    .collect();
    import(&files, &ImportOptions { currency: eur(), fare_media: None }).expect("the feed imports").fares
}

fn scheme() -> TransitScheme {
    TransitScheme {
        merchant: OPERATOR,
        fares: fares(),
        calendar: TravelCalendar::default(),
        day_hold_minor: 700,
        close_delay_ms: 60_000,
        gate_risk: GateRisk::default(),
    }
}

/// The travel day the tests ride on: day 20,833 from 1970, which begins at 04:30 UTC.
const DAY: TravelDay = TravelDay(20_833);

/// `hours` after the travel day's local midnight (04:30 is its start).
fn on_day(day: TravelDay, hours: f64) -> Timestamp {
    Timestamp::from_unix_ms(day.0 * DAY_MS + (hours * HOUR_MS as f64) as i64)
}

/// When `day` closes: its end, the longest journey (two hours) and the minute's delay.
fn close_of(day: TravelDay) -> Timestamp {
    on_day(TravelDay(day.0 + 1), 4.5).plus_ms(2 * HOUR_MS + 60_000)
}

/// The common world plus a transit operator with three gates and Carol, a rider whose wallet
/// holds `carol_minor`.
fn metro(carol_minor: i64) -> PaymentCore {
    let mut core = core(NO_PIN);
    let start = on_day(DAY, 0.0);
    core.register_merchant(OPERATOR, AcquirerId(7), MerchantRisk::Low, OPERATOR_ACCOUNT).unwrap();
    for (gate, station) in [(CENTRAL, "central"), (MARKET, "market"), (HARBOUR, "harbour")] {
        core.register_terminal(gate, OPERATOR).unwrap();
        run(&mut core, Command::RegisterGate { terminal: gate, place: place(station) }, start)
            .expect_err("no gate before the scheme");
    }
    run(&mut core, Command::SetTransitScheme(Box::new(scheme())), start).unwrap();
    for (gate, station) in [(CENTRAL, "central"), (MARKET, "market"), (HARBOUR, "harbour")] {
        run(&mut core, Command::RegisterGate { terminal: gate, place: place(station) }, start).unwrap();
    }
    enroll(&mut core, CAROL, "5678").unwrap();
    core.bind_wallet(CAROL, CAROL_WALLET, true).unwrap();
    if carol_minor > 0 {
        core.top_up(CAROL_WALLET, carol_minor, TransferId(3), start).unwrap();
    }
    core.take_read_model();
    core
}

fn place(station: &str) -> GatePlace {
    GatePlace { network: NetworkId::from("metro"), station: StopId::from(station) }
}

fn run(core: &mut PaymentCore, command: Command, now: Timestamp) -> Result<Reply, CoreError> {
    core.execute(&command, now)
}

fn passage(gate: TerminalId, seq: u64, rider: ShopperId, direction: Direction, at: Timestamp) -> GatePassage {
    GatePassage { gate, seq, rider, direction, medium: Medium::Face, at, shown: None }
}

/// Reports `passages` at the time of the last one.
fn upload(core: &mut PaymentCore, passages: Vec<GatePassage>) -> Vec<PassageOutcome> {
    let now = passages.iter().map(|passage| passage.at).max().unwrap();
    match run(core, Command::RecordPassages(passages), now).unwrap() {
        Reply::Passages(outcomes) => outcomes,
        other => panic!("an upload answers its passages, not {other:?}"),
    }
}

fn sweep(core: &mut PaymentCore, now: Timestamp) {
    run(core, Command::Sweep, now).unwrap();
}

/// The latest row of every payment the commands so far changed.
fn rows(core: &mut PaymentCore, seen: &mut BTreeMap<PaymentId, PaymentRow>) {
    for row in core.take_read_model().payments {
        seen.insert(row.id, row);
    }
}

fn captured_of(seen: &BTreeMap<PaymentId, PaymentRow>, rider: ShopperId) -> Vec<(i64, PaymentState)> {
    seen.values()
        .filter(|row| row.shopper == Some(rider) && matches!(row.state, PaymentState::Captured { .. }))
        .map(|row| (row.amount.amount_minor, row.state))
        .collect()
}

/// Carol's commute and an evening ride: 3.00 + 3.00 + 2.00 (one leg by payment code), capped at 7.00.
fn commute(day: TravelDay, first_seq: u64) -> Vec<GatePassage> {
    let seq = |n: u64| first_seq + n;
    let mut ride = vec![
        passage(CENTRAL, seq(0), CAROL, Direction::Entry, on_day(day, 8.0)),
        passage(HARBOUR, seq(1), CAROL, Direction::Exit, on_day(day, 8.4)),
        passage(HARBOUR, seq(2), CAROL, Direction::Entry, on_day(day, 17.0)),
        passage(CENTRAL, seq(3), CAROL, Direction::Exit, on_day(day, 17.5)),
        passage(CENTRAL, seq(4), CAROL, Direction::Entry, on_day(day, 19.0)),
        passage(MARKET, seq(5), CAROL, Direction::Exit, on_day(day, 19.2)),
    ];
    ride[4].medium = Medium::PaymentCode;
    ride
}

#[test]
fn a_day_of_rides_is_one_capture_of_its_capped_total_after_the_day_closes() {
    let mut core = metro(5_000);
    let mut seen = BTreeMap::new();
    let ride = commute(DAY, 1);
    assert_eq!(upload(&mut core, ride[..1].to_vec()), [PassageOutcome::Recorded]);
    // The first passage holds the day's 7.00; nothing is posted yet.
    assert_eq!((balance(&core, CAROL_WALLET), available(&core, CAROL_WALLET)), (5_000, 4_300));
    for one in &ride[1..] {
        assert_eq!(upload(&mut core, vec![one.clone()]), [PassageOutcome::Recorded]);
    }
    assert_eq!(available(&core, CAROL_WALLET), 4_300, "one hold a day, however many passages");
    // The day closes only once its last journey could have ended.
    sweep(&mut core, close_of(DAY).plus_ms(-1));
    assert_eq!(balance(&core, CAROL_WALLET), 5_000);
    sweep(&mut core, close_of(DAY));
    rows(&mut core, &mut seen);
    assert_eq!(captured_of(&seen, CAROL), [(700, PaymentState::Captured { refunded_minor: 0 })]);
    assert_eq!((balance(&core, CAROL_WALLET), available(&core, CAROL_WALLET)), (4_300, 4_300));
    assert_eq!(balance(&core, OPERATOR_ACCOUNT), 700, "the operator's account is credited");
    assert!(core.transit_deny_list().is_empty());
    assert_eq!(core.transit_standing(CAROL).owed_minor, 0);
    core.ledger().verify().unwrap();
}

#[test]
fn a_day_that_costs_less_than_its_hold_captures_its_cost_and_lets_the_rest_go() {
    let mut core = metro(5_000);
    let mut seen = BTreeMap::new();
    upload(&mut core, commute(DAY, 1)[4..].to_vec());
    sweep(&mut core, close_of(DAY));
    rows(&mut core, &mut seen);
    assert_eq!(captured_of(&seen, CAROL), [(200, PaymentState::Captured { refunded_minor: 0 })]);
    assert_eq!((balance(&core, CAROL_WALLET), available(&core, CAROL_WALLET)), (4_800, 4_800));
    core.ledger().verify().unwrap();
}

#[test]
fn an_exit_uploaded_after_the_close_is_refunded_as_the_difference() {
    let mut core = metro(5_000);
    let mut seen = BTreeMap::new();
    let ride = commute(DAY, 1);
    upload(&mut core, vec![ride[4].clone()]);
    sweep(&mut core, close_of(DAY));
    assert_eq!(balance(&core, CAROL_WALLET), 4_400, "no exit: the maximum fare");
    // The market gate was offline; its upload comes the next morning, twice.
    let late = vec![ride[5].clone()];
    let next_morning = on_day(TravelDay(DAY.0 + 1), 9.0);
    let outcomes = match run(&mut core, Command::RecordPassages(late.clone()), next_morning).unwrap() {
        Reply::Passages(outcomes) => outcomes,
        other => panic!("{other:?}"),
    };
    assert_eq!(outcomes, [PassageOutcome::Recorded]);
    let before_repeat = core.clone();
    let again = run(&mut core, Command::RecordPassages(late), next_morning.plus_ms(1_000)).unwrap();
    assert_eq!(again, Reply::Passages(vec![PassageOutcome::Duplicate]));
    assert_eq!(core, before_repeat, "an upload sent twice changes nothing the second time");
    sweep(&mut core, close_of(TravelDay(DAY.0 + 1)));
    rows(&mut core, &mut seen);
    assert_eq!(balance(&core, CAROL_WALLET), 4_800, "the 4.00 difference came back");
    assert_eq!(captured_of(&seen, CAROL), [(600, PaymentState::Captured { refunded_minor: 400 })]);
    assert_eq!(core.transit_standing(CAROL).owed_minor, 0);
    core.ledger().verify().unwrap();
}

#[test]
fn a_claim_for_a_journey_with_no_exit_is_refunded_at_the_next_close() {
    let mut core = metro(5_000);
    let ride = commute(DAY, 1);
    upload(&mut core, vec![ride[0].clone()]);
    sweep(&mut core, close_of(DAY));
    assert_eq!(balance(&core, CAROL_WALLET), 4_400);
    let entry = TapId { gate: CENTRAL, seq: 1 };
    let claimed_at = on_day(TravelDay(DAY.0 + 1), 10.0);
    let claim = Command::ClaimJourney { rider: CAROL, entry, station: StopId::from("harbour") };
    run(&mut core, claim, claimed_at).unwrap();
    sweep(&mut core, close_of(TravelDay(DAY.0 + 1)));
    assert_eq!(balance(&core, CAROL_WALLET), 4_700, "priced to harbour: 3.00");
    let wrong = Command::ClaimJourney { rider: BOB, entry, station: StopId::from("market") };
    let refused = run(&mut core, wrong, claimed_at).unwrap_err();
    assert_eq!(refused.code(), "journey_unknown", "only the rider claims their journey");
}

#[test]
fn an_empty_wallet_is_denied_until_a_retry_or_the_next_entry_collects_the_debt() {
    let mut core = metro(100);
    let ride = commute(DAY, 1);
    upload(&mut core, ride[..2].to_vec());
    assert_eq!(core.transit_deny_list(), [CAROL], "the day's hold was refused: the account did not verify");
    sweep(&mut core, close_of(DAY));
    let standing = core.transit_standing(CAROL);
    assert_eq!((standing.owed_minor, standing.denied), (300, true));
    assert_eq!(balance(&core, CAROL_WALLET), 100, "a collection that fails takes nothing");
    // Retried a day after the failed collection, not before.
    core.top_up(CAROL_WALLET, 1_000, TransferId(4), close_of(DAY)).unwrap();
    let retry = close_of(DAY).plus_ms(DAY_MS);
    sweep(&mut core, retry.plus_ms(-1));
    assert_eq!(core.transit_standing(CAROL).owed_minor, 300);
    sweep(&mut core, retry);
    let standing = core.transit_standing(CAROL);
    assert_eq!((standing.owed_minor, standing.denied), (0, false));
    assert_eq!(balance(&core, CAROL_WALLET), 800);
    core.ledger().verify().unwrap();
}

#[test]
fn a_rider_in_debt_pays_it_at_their_next_entry() {
    let mut core = metro(0);
    upload(&mut core, commute(DAY, 1)[..2].to_vec());
    sweep(&mut core, close_of(DAY));
    assert_eq!(core.transit_standing(CAROL).owed_minor, 300);
    let next_morning = on_day(TravelDay(DAY.0 + 1), 8.0);
    core.top_up(CAROL_WALLET, 1_000, TransferId(4), next_morning).unwrap();
    // Before the retry is due, her entry is the moment to collect.
    assert!(next_morning < close_of(DAY).plus_ms(DAY_MS));
    upload(&mut core, vec![passage(MARKET, 10, CAROL, Direction::Entry, next_morning)]);
    let standing = core.transit_standing(CAROL);
    assert_eq!((standing.owed_minor, standing.denied), (0, false));
    assert!(core.transit_deny_list().is_empty());
    assert_eq!(balance(&core, CAROL_WALLET), 700);
    assert_eq!(available(&core, CAROL_WALLET), 0, "and the new day's 7.00 is held");
    core.ledger().verify().unwrap();
}

#[test]
fn a_rider_in_debt_refused_at_a_gate_pays_it_there_and_is_let_in() {
    let mut core = metro(0);
    upload(&mut core, commute(DAY, 1)[..2].to_vec());
    sweep(&mut core, close_of(DAY));
    assert!(core.transit_standing(CAROL).denied);
    let next_morning = on_day(TravelDay(DAY.0 + 1), 8.0);
    core.top_up(CAROL_WALLET, 1_000, TransferId(4), next_morning).unwrap();
    run(&mut core, Command::CollectAtGate { rider: CAROL, gate: MARKET }, next_morning).unwrap();
    let standing = core.transit_standing(CAROL);
    assert_eq!((standing.owed_minor, standing.denied), (0, false));
    assert_eq!(balance(&core, CAROL_WALLET), 700);
    let again = run(&mut core, Command::CollectAtGate { rider: CAROL, gate: MARKET }, next_morning);
    assert_eq!(again.unwrap_err().code(), "nothing_to_collect");
    core.ledger().verify().unwrap();
}

#[test]
fn a_rider_whose_hold_was_refused_is_held_again_at_the_gate_once_they_can_pay() {
    let mut core = metro(100);
    let morning = on_day(DAY, 8.0);
    upload(&mut core, vec![passage(CENTRAL, 1, CAROL, Direction::Entry, morning)]);
    assert!(core.transit_standing(CAROL).denied);
    let again =
        run(&mut core, Command::CollectAtGate { rider: CAROL, gate: MARKET }, morning.plus_ms(60_000));
    run(&mut core, Command::Sweep, morning.plus_ms(60_000)).unwrap();
    assert!(again.is_ok() && core.transit_standing(CAROL).denied, "still too little to hold the day");
    core.top_up(CAROL_WALLET, 1_000, TransferId(4), morning.plus_ms(120_000)).unwrap();
    run(&mut core, Command::CollectAtGate { rider: CAROL, gate: MARKET }, morning.plus_ms(120_000)).unwrap();
    assert!(!core.transit_standing(CAROL).denied, "the account verified");
    assert_eq!(available(&core, CAROL_WALLET), 1_100 - 700, "the day is held once");
    let third =
        run(&mut core, Command::CollectAtGate { rider: CAROL, gate: MARKET }, morning.plus_ms(180_000));
    assert_eq!(third.unwrap_err().code(), "nothing_to_collect");
    // The day closes on the new hold: an entry with no exit costs the maximum fare, 6.00.
    sweep(&mut core, close_of(DAY));
    assert_eq!(balance(&core, CAROL_WALLET), 1_100 - 600);
    assert_eq!(core.transit_standing(CAROL).owed_minor, 0);
    core.ledger().verify().unwrap();
}

#[test]
fn a_payment_code_opens_one_gate_once() {
    let mut core = metro(5_000);
    let now = on_day(DAY, 8.0);
    let code = [7u8; 32];
    let expires_at = now.plus_ms(60_000);
    run(&mut core, Command::IssuePaymentCode { shopper: CAROL, code_hash: code, expires_at }, now).unwrap();
    let shown = |core: &mut PaymentCore, gate| run(core, Command::AdmitByCode { gate, code_hash: code }, now);
    assert_eq!(shown(&mut core, CENTRAL).unwrap(), Reply::Rider(Some(CAROL)));
    assert_eq!(shown(&mut core, MARKET).unwrap(), Reply::Rider(None), "a copied code opens nothing");
    let stranger = TerminalId::from_u128(99);
    assert_eq!(shown(&mut core, stranger).unwrap_err().code(), "gate_unknown");
    // A lapsed code is no one's.
    let later = [8u8; 32];
    run(&mut core, Command::IssuePaymentCode { shopper: CAROL, code_hash: later, expires_at }, now).unwrap();
    let lapsed = run(&mut core, Command::AdmitByCode { gate: CENTRAL, code_hash: later }, expires_at);
    assert_eq!(lapsed.unwrap(), Reply::Rider(None));
}

#[test]
fn a_travel_pass_showing_opens_one_barrier_and_its_upload_sent_again_is_a_duplicate() {
    let mut core = metro(5_000);
    let shown_by = |gate, seq, direction, hours, digest| GatePassage {
        medium: Medium::TravelPass,
        shown: Some(digest),
        ..passage(gate, seq, CAROL, direction, on_day(DAY, hours))
    };
    let entry = shown_by(CENTRAL, 1, Direction::Entry, 8.0, [1; 32]);
    assert_eq!(upload(&mut core, vec![entry.clone()]), [PassageOutcome::Recorded]);
    assert_eq!(upload(&mut core, vec![entry]), [PassageOutcome::Duplicate], "the gate's upload again");
    // A picture of Carol's screen, shown at another offline gate a moment later.
    let copy = shown_by(HARBOUR, 1, Direction::Entry, 8.01, [1; 32]);
    assert_eq!(upload(&mut core, vec![copy]), [PassageOutcome::ShownBefore]);
    let exit = shown_by(HARBOUR, 2, Direction::Exit, 8.4, [2; 32]);
    assert_eq!(upload(&mut core, vec![exit]), [PassageOutcome::Recorded]);
    let mut seen = BTreeMap::new();
    sweep(&mut core, close_of(DAY));
    rows(&mut core, &mut seen);
    assert_eq!(
        captured_of(&seen, CAROL),
        [(300, PaymentState::Captured { refunded_minor: 0 })],
        "one journey"
    );
    // The showings are forgotten with the days the log forgets, and the checkpoint keeps them.
    let restored = Checkpoint::of(&core, 1, 0).restore(&config(NO_PIN)).unwrap();
    assert_eq!(restored, core);
}

#[test]
fn a_debt_is_retried_daily_for_fourteen_days_and_then_waits_for_the_rider() {
    let mut core = metro(0);
    core.register_issuer(BANK, AccountId(500)).unwrap();
    bind_bank(&mut core, CAROL, BANK, "carol-at-bank", true).unwrap();
    upload(&mut core, commute(DAY, 1)[..2].to_vec());
    let decline_all = |core: &mut PaymentCore, now: Timestamp| -> usize {
        let asked: Vec<PaymentId> = core
            .take_issuer_messages()
            .into_iter()
            .filter_map(|message| match message {
                IssuerMessage::Authorize { payment, .. } => Some(payment),
                _ => None,
            })
            .collect();
        for &payment in &asked {
            run(core, Command::IssuerAnswered { payment, answer: IssuerAnswer::Declined }, now).unwrap();
        }
        asked.len()
    };
    decline_all(&mut core, on_day(DAY, 8.5));
    let mut now = close_of(DAY);
    sweep(&mut core, now);
    assert_eq!(decline_all(&mut core, now), 1, "the close tries to collect");
    let mut retries = 0;
    for _ in 0..20 {
        now = now.plus_ms(DAY_MS);
        sweep(&mut core, now);
        retries += decline_all(&mut core, now);
    }
    assert_eq!(retries, 14, "one retry a day after the first failed collection, for fourteen days");
    assert_eq!(core.transit_deny_list(), [CAROL], "still unpaid: still denied");
}

#[test]
fn a_bank_funded_rider_is_held_at_the_bank_and_charged_the_day_after() {
    let mut core = metro(0);
    core.register_issuer(BANK, AccountId(500)).unwrap();
    bind_bank(&mut core, CAROL, BANK, "carol-at-bank", true).unwrap();
    core.take_issuer_messages();
    let ride = commute(DAY, 1);
    upload(&mut core, ride[..1].to_vec());
    let messages = core.take_issuer_messages();
    let [IssuerMessage::Authorize { payment, amount, .. }] = messages.as_slice() else {
        panic!("the day's hold asks the bank: {messages:?}")
    };
    assert_eq!(amount.amount_minor, 700);
    run(
        &mut core,
        Command::IssuerAnswered { payment: *payment, answer: IssuerAnswer::Approved },
        on_day(DAY, 8.01),
    )
    .unwrap();
    upload(&mut core, ride[1..4].to_vec());
    sweep(&mut core, close_of(DAY));
    assert_eq!(core.payment(*payment).unwrap().state, PaymentState::Captured { refunded_minor: 0 });
    assert_eq!(core.payment(*payment).unwrap().amount.amount_minor, 600);
    assert_eq!(balance(&core, AccountId(500)), -600, "the bank owes what was captured");
    core.ledger().verify().unwrap();
}

#[test]
fn a_bank_that_declines_the_collection_leaves_a_debt_retried_the_next_day() {
    let mut core = metro(0);
    core.register_issuer(BANK, AccountId(500)).unwrap();
    bind_bank(&mut core, CAROL, BANK, "carol-at-bank", true).unwrap();
    upload(&mut core, commute(DAY, 1)[..2].to_vec());
    let hold = match core.take_issuer_messages().as_slice() {
        [.., IssuerMessage::Authorize { payment, .. }] => *payment,
        other => panic!("{other:?}"),
    };
    run(
        &mut core,
        Command::IssuerAnswered { payment: hold, answer: IssuerAnswer::Declined },
        on_day(DAY, 8.5),
    )
    .unwrap();
    assert_eq!(core.transit_deny_list(), [CAROL]);
    sweep(&mut core, close_of(DAY));
    let collection = match core.take_issuer_messages().as_slice() {
        [IssuerMessage::Authorize { payment, amount, .. }] => {
            assert_eq!(amount.amount_minor, 300);
            *payment
        }
        other => panic!("the close asks the bank for what is owed: {other:?}"),
    };
    let declined = IssuerAnswer::Declined;
    run(
        &mut core,
        Command::IssuerAnswered { payment: collection, answer: declined },
        close_of(DAY).plus_ms(5),
    )
    .unwrap();
    sweep(&mut core, close_of(DAY).plus_ms(4 + DAY_MS));
    assert!(core.take_issuer_messages().is_empty(), "not retried before a day has passed");
    sweep(&mut core, close_of(DAY).plus_ms(5 + DAY_MS));
    let retry = match core.take_issuer_messages().as_slice() {
        [IssuerMessage::Authorize { payment, .. }] => *payment,
        other => panic!("the retry asks again: {other:?}"),
    };
    let approved = IssuerAnswer::Approved;
    run(
        &mut core,
        Command::IssuerAnswered { payment: retry, answer: approved },
        close_of(DAY).plus_ms(DAY_MS + 9),
    )
    .unwrap();
    assert_eq!(core.payment(retry).unwrap().state, PaymentState::Captured { refunded_minor: 0 });
    assert!(core.transit_deny_list().is_empty());
    assert_eq!(balance(&core, AccountId(500)), -300);
    core.ledger().verify().unwrap();
}

#[test]
fn refused_transit_commands_change_nothing() {
    let mut core = metro(5_000);
    let now = on_day(DAY, 8.0);
    let stranger = TerminalId::from_u128(99);
    let tries: Vec<(Command, &str)> = vec![
        (Command::RecordPassages(vec![]), "passages_too_many"),
        (
            Command::RecordPassages(
                (0..=PASSAGES_MAX as u64)
                    .map(|n| passage(CENTRAL, n, CAROL, Direction::Entry, now))
                    .collect(),
            ),
            "passages_too_many",
        ),
        (
            Command::RecordPassages(vec![
                passage(CENTRAL, 1, CAROL, Direction::Entry, now),
                passage(stranger, 2, CAROL, Direction::Exit, now),
            ]),
            "gate_unknown",
        ),
        (Command::RegisterGate { terminal: TERMINAL, place: place("central") }, "gate_not_transit_merchant"),
        (Command::RegisterGate { terminal: stranger, place: place("central") }, "terminal_unknown"),
        (
            Command::RegisterGate {
                terminal: CENTRAL,
                place: GatePlace { network: NetworkId::from("tram"), station: StopId::from("central") },
            },
            "transit_scheme_malformed",
        ),
        (Command::RegisterGate { terminal: CENTRAL, place: place("") }, "transit_scheme_malformed"),
        (
            Command::SetTransitScheme(Box::new(TransitScheme { day_hold_minor: 0, ..scheme() })),
            "amount_not_positive",
        ),
        (
            Command::SetTransitScheme(Box::new(TransitScheme { close_delay_ms: DAY_MS + 1, ..scheme() })),
            "transit_scheme_malformed",
        ),
        (
            Command::SetTransitScheme(Box::new(TransitScheme {
                calendar: TravelCalendar { utc_offset_minutes: 0, day_starts_minute: 1_440 },
                ..scheme()
            })),
            "transit_scheme_malformed",
        ),
        (
            Command::SetTransitScheme(Box::new(TransitScheme {
                calendar: TravelCalendar { utc_offset_minutes: -841, day_starts_minute: 0 },
                ..scheme()
            })),
            "transit_scheme_malformed",
        ),
        (
            Command::SetTransitScheme(Box::new(TransitScheme {
                gate_risk: GateRisk {
                    rider_entries: CountRule { window_ms: 60_000, step_up_at: 3, decline_at: 2 },
                },
                ..scheme()
            })),
            "transit_scheme_malformed",
        ),
        (
            Command::SetTransitScheme(Box::new(TransitScheme {
                gate_risk: GateRisk {
                    rider_entries: CountRule { window_ms: 0, step_up_at: 3, decline_at: 6 },
                },
                ..scheme()
            })),
            "transit_scheme_malformed",
        ),
        (
            Command::SetTransitScheme(Box::new(TransitScheme {
                merchant: MerchantId::from_u128(98),
                ..scheme()
            })),
            "merchant_unknown",
        ),
        (
            Command::ClaimJourney {
                rider: CAROL,
                entry: TapId { gate: CENTRAL, seq: 77 },
                station: StopId::from("market"),
            },
            "journey_unknown",
        ),
        (Command::CollectAtGate { rider: CAROL, gate: CENTRAL }, "nothing_to_collect"),
        (Command::CollectAtGate { rider: CAROL, gate: stranger }, "gate_unknown"),
        (Command::AdmitByCode { gate: stranger, code_hash: [1; 32] }, "gate_unknown"),
    ];
    for (command, code) in tries {
        let before = core.clone();
        let refused = run(&mut core, command.clone(), now).expect_err("refused");
        assert_eq!(refused.code(), code, "{command:?}");
        assert_eq!(core, before, "{code} changed the core");
    }
}

#[test]
fn every_transit_command_round_trips_through_the_journal_s_json() {
    let commands = vec![
        Command::SetTransitScheme(Box::new(scheme())),
        Command::RegisterGate { terminal: CENTRAL, place: place("central") },
        Command::RecordPassages(commute(DAY, 1)),
        Command::AdmitByCode { gate: CENTRAL, code_hash: [3; 32] },
        Command::CollectAtGate { rider: CAROL, gate: CENTRAL },
        Command::ClaimJourney {
            rider: CAROL,
            entry: TapId { gate: CENTRAL, seq: 1 },
            station: StopId::from("market"),
        },
    ];
    for command in commands {
        let text = serde_json::to_string(&command).unwrap_or_else(|err| panic!("{command:?}: {err}"));
        let back: Command = serde_json::from_str(&text).unwrap();
        assert_eq!(back, command);
    }
}

#[test]
fn passages_of_strangers_from_the_future_or_too_old_are_answered_one_by_one() {
    let mut core = metro(5_000);
    let now = on_day(DAY, 8.0);
    let outcomes = upload(
        &mut core,
        vec![
            passage(CENTRAL, 1, CAROL, Direction::Entry, now),
            passage(CENTRAL, 2, ShopperId::from_u128(404), Direction::Entry, now),
            passage(CENTRAL, 3, CAROL, Direction::Entry, now.plus_ms(30_000)),
        ],
    );
    assert_eq!(
        outcomes,
        [PassageOutcome::Recorded, PassageOutcome::RiderUnknown, PassageOutcome::SamePassage]
    );
    let ahead = run(
        &mut core,
        Command::RecordPassages(vec![passage(MARKET, 4, CAROL, Direction::Exit, now.plus_ms(600_000))]),
        now,
    );
    assert_eq!(ahead.unwrap(), Reply::Passages(vec![PassageOutcome::ClockAhead]));
    let mut now = close_of(DAY);
    for day in 1..=8 {
        now = close_of(TravelDay(DAY.0 + day));
        sweep(&mut core, now);
    }
    let stale = passage(MARKET, 5, CAROL, Direction::Exit, on_day(DAY, 8.5));
    assert_eq!(
        run(&mut core, Command::RecordPassages(vec![stale]), now).unwrap(),
        Reply::Passages(vec![PassageOutcome::TooLate])
    );
}
