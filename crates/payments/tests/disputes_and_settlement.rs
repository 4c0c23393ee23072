//! Disputes and end-of-day settlement through the core's public commands: every refusal with its
//! code and no change, first-pay compensation from the reserve and the later chargeback, and a
//! settlement report that accounts for the ledger to the minor unit.

mod common;

use common::*;
use facepay_domain::{PaymentId, Sealed, Timestamp};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    AcquirerId, DisputeId, DisputeState, EVIDENCE_MAX, EVIDENCE_NOTE_MAX, Finding, Identification,
    IssuerAnswer, IssuerId, Journal, MemoryJournal, Party, PaymentCore, PaymentState, Position,
    SettlementError, SettlementReport, evidence_note_valid,
};

const DAY_MS: i64 = 86_400_000;
const BANK: IssuerId = IssuerId(3);
const BANK_CLEARING: AccountId = AccountId(3_000);

/// Alice paid 1,000 from her wallet and it was captured.
fn captured() -> (PaymentCore, PaymentId) {
    let mut core = core(NO_PIN);
    let view = core.start_payment(pay(1, 1_000, Identification::Match(ALICE)), at(1)).unwrap();
    core.capture(view.id, at(2)).unwrap();
    (core, view.id)
}

fn snapshot(core: &PaymentCore) -> (Vec<i128>, Option<PaymentState>, u64) {
    let balances = [ALICE_BANK_A, MERCHANT_ACCOUNT, RESERVE].iter().map(|a| balance(core, *a)).collect();
    (balances, core.payment(PaymentId::from_u128(1)).map(|p| p.state), core.ledger().journal_len())
}

/// A store holding what the core handed its read model, which settlement reads.
fn store_of(core: &mut PaymentCore) -> MemoryJournal {
    let mut store = MemoryJournal::default();
    store.store_read_model(0, &core.take_read_model()).unwrap();
    store
}

fn report(
    store: &mut MemoryJournal,
    from: Timestamp,
    to: Timestamp,
) -> Result<SettlementReport, SettlementError> {
    facepay_payments::settlement_report(store, "EUR", from, to).unwrap()
}

#[test]
fn opening_a_dispute_is_checked_and_idempotent() {
    let mut core = core(NO_PIN);
    let view = core.start_payment(pay(1, 1_000, Identification::Match(ALICE)), at(1)).unwrap();
    let code = |core: &mut PaymentCore, id, payment, amount| {
        core.open_dispute(DisputeId(id), payment, amount, at(5)).unwrap_err().code()
    };
    assert_eq!(code(&mut core, 1, view.id, 100), "dispute_payment_not_captured");
    core.capture(view.id, at(2)).unwrap();
    assert_eq!(code(&mut core, 1, PaymentId::from_u128(9), 100), "payment_unknown");
    assert_eq!(code(&mut core, 1, view.id, 0), "dispute_amount_not_positive");
    assert_eq!(code(&mut core, 1, view.id, 1_001), "dispute_exceeds_captured");
    core.refund(view.id, TransferId(500), 300, at(3)).unwrap();
    assert_eq!(code(&mut core, 1, view.id, 701), "dispute_exceeds_captured");
    let before = snapshot(&core);
    let opened = core.open_dispute(DisputeId(1), view.id, 600, at(4)).unwrap();
    assert_eq!((opened.state, opened.amount_minor), (DisputeState::Open, 600));
    assert_eq!(
        core.open_dispute(DisputeId(1), view.id, 600, at(9)).unwrap(),
        opened,
        "a retry is the same dispute"
    );
    assert_eq!(code(&mut core, 1, view.id, 500), "dispute_id_reused");
    assert_eq!(code(&mut core, 2, view.id, 101), "dispute_exceeds_captured");
    assert_eq!(snapshot(&core), before, "opening moves no money");
    // The disputed 600 is set aside: only 100 is left to refund, and a reversal is refused.
    assert_eq!(
        core.refund(view.id, TransferId(501), 101, at(5)).unwrap_err().code(),
        "refund_exceeds_captured"
    );
    core.refund(view.id, TransferId(501), 100, at(5)).unwrap();
    assert_eq!(core.reverse(view.id, at(6)).unwrap_err().code(), "payment_transition_not_allowed");
    core.ledger().verify().unwrap();
}

#[test]
fn evidence_is_bounded_and_only_taken_while_open() {
    let (mut core, payment) = captured();
    core.open_dispute(DisputeId(1), payment, 1_000, at(3)).unwrap();
    let add = |core: &mut PaymentCore, note: &str| {
        core.add_dispute_evidence(DisputeId(1), Party::Shopper, &sealed(note), at(4))
    };
    assert_eq!(add(&mut core, "").unwrap_err().code(), "sealed_field_malformed");
    let too_long = Sealed::from_bytes(vec![1; Sealed::MAX_BYTES + 1]);
    let refused = core.add_dispute_evidence(DisputeId(1), Party::Shopper, &too_long, at(4));
    assert_eq!(refused.unwrap_err().code(), "sealed_field_malformed");
    assert!(!evidence_note_valid("  ") && !evidence_note_valid(&"x".repeat(EVIDENCE_NOTE_MAX + 1)));
    // The longest note the API takes still fits once sealed (1 + 12 + 16 bytes more).
    add(&mut core, &"x".repeat(EVIDENCE_NOTE_MAX + 29)).unwrap();
    for _ in 1..EVIDENCE_MAX {
        add(&mut core, "receipt signed at the till").unwrap();
    }
    assert_eq!(add(&mut core, "one too many").unwrap_err().code(), "evidence_too_much");
    assert_eq!(core.dispute(DisputeId(1)).unwrap().evidence.len(), EVIDENCE_MAX);
    let unknown = core.add_dispute_evidence(DisputeId(2), Party::Operator, &sealed("note"), at(5));
    assert_eq!(unknown.unwrap_err().code(), "dispute_unknown");
    core.resolve_dispute(DisputeId(1), Finding::ShopperAtFault, at(6)).unwrap();
    assert_eq!(add(&mut core, "too late").unwrap_err().code(), "dispute_not_open");
}

#[test]
fn a_shopper_at_fault_gets_nothing_and_the_amount_is_refundable_again() {
    let (mut core, payment) = captured();
    core.open_dispute(DisputeId(1), payment, 1_000, at(3)).unwrap();
    let before = snapshot(&core);
    let rejected = core.resolve_dispute(DisputeId(1), Finding::ShopperAtFault, at(4)).unwrap();
    assert_eq!(rejected.state, DisputeState::Rejected);
    assert_eq!(snapshot(&core), before);
    assert_eq!(
        core.resolve_dispute(DisputeId(1), Finding::ShopperNotShownAtFault, at(5)).unwrap_err().code(),
        "dispute_not_open"
    );
    assert_eq!(core.charge_back(DisputeId(1), at(5)).unwrap_err().code(), "dispute_not_compensated");
    core.refund(payment, TransferId(500), 1_000, at(6)).unwrap();
    assert_eq!(balance(&core, ALICE_BANK_A), 10_000);
}

#[test]
fn a_shopper_not_at_fault_is_paid_first_from_the_reserve_and_the_merchant_is_charged_back_later() {
    let (mut core, payment) = captured();
    core.open_dispute(DisputeId(1), payment, 800, at(3)).unwrap();
    // An empty reserve cannot pay: the operator must fund it first, and nothing changes.
    let before = snapshot(&core);
    let empty = core.resolve_dispute(DisputeId(1), Finding::ShopperNotShownAtFault, at(4));
    assert_eq!(empty.unwrap_err().code(), "reserve_insufficient");
    assert_eq!(snapshot(&core), before);
    assert_eq!(core.dispute(DisputeId(1)).unwrap().state, DisputeState::Open);
    assert_eq!(core.fund_reserve(0, TransferId(600), at(4)).unwrap_err().code(), "amount_not_positive");
    core.fund_reserve(5_000, TransferId(600), at(4)).unwrap();
    core.fund_reserve(5_000, TransferId(600), at(4)).unwrap();
    assert_eq!(balance(&core, RESERVE), 5_000, "funding is idempotent by transfer id");

    let compensated = core.resolve_dispute(DisputeId(1), Finding::ShopperNotShownAtFault, at(5)).unwrap();
    assert_eq!(compensated.state, DisputeState::Compensated);
    assert_eq!(balance(&core, ALICE_BANK_A), 9_000 + 800, "Alice has her 800 back at once");
    assert_eq!(balance(&core, RESERVE), 4_200);
    assert_eq!(balance(&core, MERCHANT_ACCOUNT), 1_000, "the merchant is not charged yet");
    // The compensated 800 stays out of reach of refunds: only 200 can still be refunded.
    assert_eq!(
        core.refund(payment, TransferId(500), 201, at(6)).unwrap_err().code(),
        "refund_exceeds_captured"
    );

    let charged = core.charge_back(DisputeId(1), at(7)).unwrap();
    assert_eq!(charged.state, DisputeState::ChargedBack);
    assert_eq!((balance(&core, MERCHANT_ACCOUNT), balance(&core, RESERVE)), (200, 5_000));
    assert_eq!(core.charge_back(DisputeId(1), at(8)).unwrap_err().code(), "dispute_not_compensated");
    assert_eq!(core.charge_back(DisputeId(2), at(8)).unwrap_err().code(), "dispute_unknown");
    core.ledger().verify().unwrap();
}

fn position(report: &SettlementReport, acquirer: Option<AcquirerId>, issuer: Option<IssuerId>) -> Position {
    match (acquirer, issuer) {
        (Some(acquirer), _) => report.acquirers.iter().find(|l| l.acquirer == acquirer).unwrap().position,
        (_, Some(issuer)) => report.issuers.iter().find(|l| l.issuer == issuer).unwrap().position,
        _ => report.reserve,
    }
}

/// One day of every kind of movement, and the start of the next.
fn busy_day() -> PaymentCore {
    let mut core = core(NO_PIN);
    core.register_issuer(BANK, BANK_CLEARING).unwrap();
    bind_bank(&mut core, BOB, BANK, "tok_bob", true).unwrap();
    core.fund_reserve(10_000, TransferId(600), at(10)).unwrap();
    // Alice: 1,000 captured, 250 refunded, 300 disputed and compensated, then charged back.
    let alice = core.start_payment(pay(1, 1_000, Identification::Match(ALICE)), at(20)).unwrap();
    core.capture(alice.id, at(21)).unwrap();
    core.refund(alice.id, TransferId(700), 250, at(22)).unwrap();
    core.open_dispute(DisputeId(1), alice.id, 300, at(23)).unwrap();
    core.resolve_dispute(DisputeId(1), Finding::ShopperNotShownAtFault, at(24)).unwrap();
    core.charge_back(DisputeId(1), at(25)).unwrap();
    // Alice: 400 captured, then reversed as a lost outcome.
    let lost = core.start_payment(pay(2, 400, Identification::Match(ALICE)), at(26)).unwrap();
    core.capture(lost.id, at(27)).unwrap();
    core.reverse(lost.id, at(28)).unwrap();
    // Bob pays 2,000 from his bank; another 50 is only authorized, never captured.
    let bob = core.start_payment(pay(3, 2_000, Identification::Match(BOB)), at(30)).unwrap();
    core.issuer_answered(bob.id, IssuerAnswer::Approved, at(31)).unwrap();
    core.capture(bob.id, at(32)).unwrap();
    let held = core.start_payment(pay(4, 50, Identification::Match(BOB)), at(33)).unwrap();
    core.issuer_answered(held.id, IssuerAnswer::Approved, at(34)).unwrap();
    // The next day: Bob's bank refunds 500.
    core.refund(bob.id, TransferId(701), 500, at(DAY_MS + 5)).unwrap();
    core
}

#[test]
fn the_daily_report_nets_each_bank_and_acquirer_to_the_minor_unit() {
    let mut core = busy_day();
    let store = &mut store_of(&mut core);
    let report = report(store, at(0), at(DAY_MS)).unwrap();
    let wallets = position(&report, None, Some(IssuerId::BUILT_IN));
    assert_eq!(
        wallets,
        Position {
            payments_minor: 1_400,
            refunds_minor: 250,
            reversals_minor: 400,
            compensations_minor: 300,
            chargebacks_minor: 0,
            deposits_minor: 15_000,
            net_minor: 450,
        },
        "the top-ups at the day's first instant belong to it"
    );
    let bank = position(&report, None, Some(BANK));
    assert_eq!(
        (bank.payments_minor, bank.net_minor),
        (2_000, 2_000),
        "an authorization alone is not settled"
    );
    let acquirer = position(&report, Some(ACQUIRER), None);
    assert_eq!(
        (
            acquirer.payments_minor,
            acquirer.refunds_minor,
            acquirer.reversals_minor,
            acquirer.chargebacks_minor
        ),
        (3_400, 250, 400, 300)
    );
    assert_eq!(acquirer.net_minor, 2_450);
    assert_eq!(
        report.reserve,
        Position {
            compensations_minor: 300,
            chargebacks_minor: 300,
            deposits_minor: 10_000,
            net_minor: 10_000,
            ..Position::default()
        }
    );
    assert!(report.balances());

    // The next day holds only Bob's refund; the two days add up to the whole ledger.
    let next = self::report(store, at(DAY_MS), at(2 * DAY_MS)).unwrap();
    assert_eq!(position(&next, None, Some(BANK)).net_minor, -500);
    assert_eq!(position(&next, Some(ACQUIRER), None).net_minor, -500);
    let all_time = self::report(store, Timestamp::from_unix_ms(0), at(2 * DAY_MS)).unwrap();
    let acquirer_total = position(&all_time, Some(ACQUIRER), None).net_minor;
    assert_eq!(i128::from(acquirer_total), balance(&core, MERCHANT_ACCOUNT));
    assert_eq!(i128::from(position(&all_time, None, Some(BANK)).net_minor), -balance(&core, BANK_CLEARING));
    assert_eq!(position(&all_time, None, Some(IssuerId::BUILT_IN)).deposits_minor, 15_000, "the two top-ups");
    assert_eq!(i128::from(all_time.reserve.net_minor), balance(&core, RESERVE));
}

#[test]
fn the_report_comes_as_csv_and_json() {
    let mut core = busy_day();
    let report = report(&mut store_of(&mut core), at(0), at(DAY_MS)).unwrap();
    let csv = report.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + report.issuers.len() + report.acquirers.len() + 1);
    assert!(lines[0].starts_with("side,party,currency,from_unix_ms,to_unix_ms,payments_minor,"));
    let from = at(0).unix_ms;
    let to = at(DAY_MS).unix_ms;
    assert!(
        lines.contains(&format!("issuer,issuer-3,EUR,{from},{to},2000,0,0,0,0,0,2000").as_str()),
        "{csv}"
    );
    assert!(
        lines.contains(&format!("acquirer,acquirer-7,EUR,{from},{to},3400,250,400,0,300,0,2450").as_str())
    );
    assert!(lines.contains(&format!("reserve,reserve,EUR,{from},{to},0,0,0,300,300,10000,10000").as_str()));
    let parsed: SettlementReport = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(parsed, report);
}

#[test]
fn an_empty_window_is_refused() {
    let store = &mut store_of(&mut busy_day());
    assert_eq!(report(store, at(5), at(5)).unwrap_err().code(), "settlement_window_empty");
    assert_eq!(report(store, at(5), at(4)).unwrap_err().code(), "settlement_window_empty");
}
