//! Risk rules and external banks through the core's public commands: each rule's step-up and
//! decline as the shopper meets them, the events the operator sees, and a payment's whole life at
//! an external bank (asked, approved, declined, silent, released, captured, credited back by a
//! refund, a reversal or a compensation), with the ledger balanced.

mod common;

use common::*;
use facepay_domain::{Money, PaymentId, TerminalId};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    BankTrace, BindingState, CountRule, CreditReason, DeclineReason, DisputeId, Finding, FundingSource,
    Identification, IssuerAnswer, IssuerId, IssuerMessage, MerchantStatus, PaymentCore, PaymentState,
    PinPolicy, RiskConfig, RiskRule, RiskVerdict,
};

const STEP_UP_BY_PIN: PinPolicy =
    PinPolicy { always: false, above_amount_minor: None, on_elevated_risk: true };
const BANK: IssuerId = IssuerId(3);
const BANK_CLEARING: AccountId = AccountId(3_000);
const OTHER_TERMINAL: TerminalId = TerminalId::from_u128(21);

/// Rules tight enough to trip in a few payments; the ones not under test stay out of the way.
fn tight_risk() -> RiskConfig {
    let never = CountRule { window_ms: 60_000, step_up_at: 1_000, decline_at: 1_000 };
    RiskConfig {
        terminal_failures: never,
        terminal_velocity: never,
        shopper_velocity: never,
        spike_factor: 1_000,
        spike_min_history: 1_000,
        new_terminal_from_minor: i64::MAX,
    }
}

fn core_with_risk(risk: RiskConfig, pin_policy: PinPolicy) -> PaymentCore {
    let mut config = config(pin_policy);
    config.risk = risk;
    let mut core = core_with(config);
    core.register_terminal(OTHER_TERMINAL, MERCHANT).unwrap();
    core
}

fn fired(core: &mut PaymentCore) -> Vec<(u128, RiskRule, RiskVerdict)> {
    core.take_risk_events().into_iter().map(|e| (e.payment.as_u128(), e.rule, e.verdict)).collect()
}

#[test]
fn shopper_velocity_asks_for_the_pin_then_declines() {
    let mut risk = tight_risk();
    risk.shopper_velocity = CountRule { window_ms: 600_000, step_up_at: 2, decline_at: 3 };
    let mut core = core_with_risk(risk, STEP_UP_BY_PIN);
    let first = core.start_payment(pay(1, 100, Identification::Match(ALICE)), at(1)).unwrap();
    assert_eq!(first.state, PaymentState::Authorized);
    let second = core.start_payment(pay(2, 100, Identification::Match(ALICE)), at(2)).unwrap();
    assert_eq!(second.state, PaymentState::NeedsPin);
    assert_eq!(provide_pin(&mut core, second.id, "271828", at(3)).unwrap().state, PaymentState::Authorized);
    let before = available(&core, ALICE_BANK_A);
    let third = core.start_payment(pay(3, 100, Identification::Match(ALICE)), at(4)).unwrap();
    assert_eq!(third.state, PaymentState::Declined(DeclineReason::RiskDeclined));
    assert_eq!(available(&core, ALICE_BANK_A), before, "a declined payment holds nothing");
    assert_eq!(
        fired(&mut core),
        [
            (2, RiskRule::ShopperVelocity, RiskVerdict::StepUp),
            (3, RiskRule::ShopperVelocity, RiskVerdict::Decline)
        ]
    );
    assert!(core.take_risk_events().is_empty(), "events are handed over once");
    // Bob is not Alice: his count starts at one.
    let bob = core.start_payment(pay(4, 100, Identification::Match(BOB)), at(5)).unwrap();
    assert_eq!(bob.state, PaymentState::Authorized);
    // Outside the window the count is back to one.
    let later = core.start_payment(pay(5, 100, Identification::Match(ALICE)), at(700_000)).unwrap();
    assert_eq!(later.state, PaymentState::Authorized);
    core.ledger().verify().unwrap();
}

#[test]
fn failed_identifications_at_a_terminal_step_up_then_decline_there_only() {
    let mut risk = tight_risk();
    risk.terminal_failures = CountRule { window_ms: 600_000, step_up_at: 2, decline_at: 4 };
    let mut core = core_with_risk(risk, STEP_UP_BY_PIN);
    let mut spoof = pay(1, 100, Identification::Match(ALICE));
    spoof.liveness_passed = false;
    core.start_payment(spoof, at(1)).unwrap();
    core.start_payment(pay(2, 100, Identification::NoMatch), at(2)).unwrap();
    // Two failures here: Alice must confirm with her PIN; Bob has none, so he cannot step up.
    let alice = core.start_payment(pay(3, 100, Identification::Match(ALICE)), at(3)).unwrap();
    assert_eq!(alice.state, PaymentState::NeedsPin);
    let bob = core.start_payment(pay(4, 100, Identification::Match(BOB)), at(4)).unwrap();
    assert_eq!(bob.state, PaymentState::Declined(DeclineReason::PinNotSet));
    let ambiguous = core.start_payment(pay(5, 100, Identification::Ambiguous), at(5)).unwrap();
    assert_eq!(
        provide_digits(&mut core, ambiguous.id, None, "9999", at(6)).unwrap().state.name(),
        "declined"
    );
    core.start_payment(pay(6, 100, Identification::NoMatch), at(7)).unwrap();
    // Four failures: the terminal declines before anyone is identified.
    let blocked = core.start_payment(pay(7, 100, Identification::Match(ALICE)), at(8)).unwrap();
    assert_eq!(blocked.state, PaymentState::Declined(DeclineReason::RiskDeclined));
    let mut elsewhere = pay(8, 100, Identification::Match(BOB));
    elsewhere.terminal = OTHER_TERMINAL;
    assert_eq!(core.start_payment(elsewhere, at(9)).unwrap().state, PaymentState::Authorized);
    let events = fired(&mut core);
    assert!(events.contains(&(3, RiskRule::TerminalFailedIdentifications, RiskVerdict::StepUp)));
    assert!(events.contains(&(7, RiskRule::TerminalFailedIdentifications, RiskVerdict::Decline)));
    assert!(!events.iter().any(|&(payment, _, _)| payment == 8));
}

#[test]
fn terminal_velocity_counts_every_attempt_at_the_terminal() {
    let mut risk = tight_risk();
    risk.terminal_velocity = CountRule { window_ms: 60_000, step_up_at: 2, decline_at: 3 };
    let mut core = core_with_risk(risk, STEP_UP_BY_PIN);
    assert_eq!(
        core.start_payment(pay(1, 100, Identification::Match(BOB)), at(1)).unwrap().state.name(),
        "authorized"
    );
    assert_eq!(
        core.start_payment(pay(2, 100, Identification::Match(ALICE)), at(2)).unwrap().state.name(),
        "needs_pin"
    );
    let third = core.start_payment(pay(3, 100, Identification::Match(ALICE)), at(3)).unwrap();
    assert_eq!(third.state, PaymentState::Declined(DeclineReason::RiskDeclined));
    // A retry is not a new attempt.
    core.start_payment(pay(1, 100, Identification::Match(BOB)), at(4)).unwrap();
    assert_eq!(
        fired(&mut core),
        [
            (2, RiskRule::TerminalVelocity, RiskVerdict::StepUp),
            (3, RiskRule::TerminalVelocity, RiskVerdict::Decline)
        ]
    );
}

#[test]
fn an_amount_spike_and_a_new_terminal_ask_for_the_pin() {
    let mut risk = tight_risk();
    risk.spike_factor = 5;
    risk.spike_min_history = 2;
    risk.new_terminal_from_minor = 1_000;
    let mut core = core_with_risk(risk, STEP_UP_BY_PIN);
    for id in 1..=2 {
        let view = core.start_payment(pay(id, 100, Identification::Match(ALICE)), at(id as i64)).unwrap();
        assert_eq!(view.state, PaymentState::Authorized);
    }
    assert_eq!(
        core.start_payment(pay(3, 500, Identification::Match(ALICE)), at(3)).unwrap().state.name(),
        "authorized"
    );
    // The average is now (100 + 100 + 500) / 3 = 233; more than 5 times that is a spike.
    let spike = core.start_payment(pay(4, 1_170, Identification::Match(ALICE)), at(4)).unwrap();
    assert_eq!(spike.state, PaymentState::NeedsPin);
    let mut new_place = pay(5, 1_000, Identification::Match(ALICE));
    new_place.terminal = OTHER_TERMINAL;
    assert_eq!(core.start_payment(new_place, at(5)).unwrap().state, PaymentState::NeedsPin);
    let mut small_there = pay(6, 999, Identification::Match(ALICE));
    small_there.terminal = OTHER_TERMINAL;
    assert_eq!(core.start_payment(small_there, at(6)).unwrap().state, PaymentState::Authorized);
    assert_eq!(
        fired(&mut core),
        [(4, RiskRule::AmountSpike, RiskVerdict::StepUp), (5, RiskRule::NewTerminal, RiskVerdict::StepUp)]
    );
}

#[test]
fn a_step_up_without_a_pin_policy_for_risk_is_recorded_and_the_payment_goes_on() {
    let mut risk = tight_risk();
    risk.shopper_velocity = CountRule { window_ms: 600_000, step_up_at: 1, decline_at: 10 };
    let mut core = core_with_risk(risk, NO_PIN);
    let view = core.start_payment(pay(1, 100, Identification::Match(ALICE)), at(1)).unwrap();
    assert_eq!(view.state, PaymentState::Authorized);
    assert_eq!(fired(&mut core), [(1, RiskRule::ShopperVelocity, RiskVerdict::StepUp)]);
}

#[test]
fn a_suspended_or_blacklisted_merchant_is_a_risk_event_and_a_decline() {
    let mut core = core(NO_PIN);
    core.set_merchant_status(MERCHANT, MerchantStatus::Blacklisted).unwrap();
    let view = core.start_payment(pay(1, 100, Identification::Match(ALICE)), at(1)).unwrap();
    assert_eq!(view.state, PaymentState::Declined(DeclineReason::MerchantBlacklisted));
    core.set_merchant_status(MERCHANT, MerchantStatus::Suspended).unwrap();
    let view = core.start_payment(pay(2, 100, Identification::Match(ALICE)), at(2)).unwrap();
    assert_eq!(view.state, PaymentState::Declined(DeclineReason::MerchantSuspended));
    let events = core.take_risk_events();
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].rule.code(), events[0].verdict),
        ("risk_merchant_blacklisted", RiskVerdict::Decline)
    );
    assert_eq!(events[1].rule.code(), "risk_merchant_suspended");
}

/// Alice's default account is at an external bank.
fn core_with_bank() -> PaymentCore {
    let mut core = core(NO_PIN);
    core.register_issuer(BANK, BANK_CLEARING).unwrap();
    bind_bank(&mut core, ALICE, BANK, "tok_alice_1", true).unwrap();
    core
}

/// The bank's `number`th message, an authorization asked at `at_ms`.
fn asked(number: u64, at_ms: i64) -> BankTrace {
    BankTrace { number, at: at(at_ms) }
}

fn authorize_message(payment: u128, amount: i64, trace: BankTrace) -> IssuerMessage {
    IssuerMessage::Authorize {
        payment: PaymentId::from_u128(payment),
        issuer: BANK,
        shopper: ALICE,
        reference: sealed("tok_alice_1"),
        amount: Money::new(amount, eur()),
        trace,
    }
}

fn release_message(payment: u128, amount: i64, trace: u64, original: BankTrace) -> IssuerMessage {
    IssuerMessage::Release {
        payment: PaymentId::from_u128(payment),
        issuer: BANK,
        amount: Money::new(amount, eur()),
        trace,
        original,
    }
}

#[test]
fn binding_a_bank_account_checks_the_bank_and_the_sealed_reference() {
    let mut core = core(NO_PIN);
    assert_eq!(bind_bank(&mut core, ALICE, BANK, "tok", false).unwrap_err().code(), "issuer_unknown");
    core.register_issuer(BANK, BANK_CLEARING).unwrap();
    assert_eq!(core.register_issuer(BANK, AccountId(3_001)).unwrap_err().code(), "already_registered");
    assert_eq!(
        core.register_issuer(IssuerId::BUILT_IN, AccountId(3_002)).unwrap_err().code(),
        "already_registered"
    );
    assert_eq!(bind_bank(&mut core, ALICE, BANK, "", false).unwrap_err().code(), "sealed_field_malformed");
    bind_bank(&mut core, ALICE, BANK, &"x".repeat(64), false).unwrap();
    assert_eq!(
        bind_bank(&mut core, ALICE, BANK, &"x".repeat(64), false).unwrap_err().code(),
        "already_registered"
    );
    // Not the default yet: payments still come from the wallet.
    let view = core.start_payment(pay(1, 100, Identification::Match(ALICE)), at(1)).unwrap();
    assert_eq!(view.state, PaymentState::Authorized);
    assert!(core.take_issuer_messages().is_empty(), "a wallet needs no bank");
    let source = bank_account(ALICE, BANK, &"x".repeat(64));
    let FundingSource::BankAccount { account, .. } = source else { unreachable!("a bank account") };
    assert_eq!(core.bank_reference(ALICE, account), Some(&sealed(&"x".repeat(64))));
    core.choose_default_funding(ALICE, &source).unwrap();
    assert_eq!(
        core.start_payment(pay(2, 100, Identification::Match(ALICE)), at(2)).unwrap().state,
        PaymentState::AwaitingIssuer
    );
}

#[test]
fn an_approved_bank_payment_is_captured_against_the_banks_clearing_account() {
    let mut core = core_with_bank();
    let view = core.start_payment(pay(1, 2_500, Identification::Match(ALICE)), at(1)).unwrap();
    assert_eq!(view.state, PaymentState::AwaitingIssuer);
    assert_eq!(core.take_issuer_messages(), [authorize_message(1, 2_500, asked(1, 1))]);
    assert_eq!(core.capture(view.id, at(2)).unwrap_err().code(), "payment_transition_not_allowed");
    assert_eq!(
        core.issuer_answered(view.id, IssuerAnswer::Approved, at(3)).unwrap().state,
        PaymentState::Authorized
    );
    assert_eq!(
        core.issuer_answered(view.id, IssuerAnswer::Approved, at(4)).unwrap_err().code(),
        "payment_transition_not_allowed",
        "a second answer changes nothing"
    );
    core.capture(view.id, at(5)).unwrap();
    assert_eq!(balance(&core, MERCHANT_ACCOUNT), 2_500);
    assert_eq!(balance(&core, BANK_CLEARING), -2_500, "the bank owes what its shopper paid");
    assert_eq!(balance(&core, ALICE_BANK_A), 10_000, "the wallet was not touched");
    core.refund(view.id, TransferId(900), 1_000, at(6)).unwrap();
    core.refund(view.id, TransferId(900), 1_000, at(7)).unwrap();
    assert_eq!(balance(&core, BANK_CLEARING), -1_500);
    // The bank hears of both movements, the refund once however often it is asked for.
    assert_eq!(
        core.take_issuer_messages(),
        [
            capture_message(1, 2_500, 2, asked(1, 1)),
            credit_message(1, TransferId(900), 1_000, CreditReason::Refund, 3, asked(1, 1))
        ]
    );
    core.ledger().verify().unwrap();
}

fn capture_message(payment: u128, amount: i64, trace: u64, original: BankTrace) -> IssuerMessage {
    let (payment, amount) = (PaymentId::from_u128(payment), Money::new(amount, eur()));
    IssuerMessage::Capture { payment, issuer: BANK, amount, trace, original }
}

fn credit_message(
    payment: u128,
    credit: TransferId,
    amount: i64,
    reason: CreditReason,
    trace: u64,
    original: BankTrace,
) -> IssuerMessage {
    let (payment, amount) = (PaymentId::from_u128(payment), Money::new(amount, eur()));
    IssuerMessage::Credit { payment, issuer: BANK, credit, amount, reason, trace, original }
}

#[test]
fn a_bank_hears_of_a_reversal_after_capture_and_of_a_compensation_and_a_wallet_s_bank_of_nothing() {
    let mut core = core_with_bank();
    core.fund_reserve(10_000, TransferId(7_001), at(1)).unwrap();
    for id in [1, 2] {
        let view = core.start_payment(pay(id, 800, Identification::Match(ALICE)), at(1)).unwrap();
        core.issuer_answered(view.id, IssuerAnswer::Approved, at(2)).unwrap();
        core.capture(view.id, at(3)).unwrap();
    }
    core.take_issuer_messages();
    // The terminal never learned payment 1's outcome: it is undone, and the bank credits it back.
    core.reverse(PaymentId::from_u128(1), at(4)).unwrap();
    let [IssuerMessage::Credit { credit: reversal, .. }] = core.take_issuer_messages()[..] else {
        panic!("one credit for the reversal")
    };
    assert_eq!(core.take_issuer_messages(), []);
    // Payment 2 is disputed and the shopper was not at fault: the reserve pays them back.
    core.open_dispute(DisputeId(1), PaymentId::from_u128(2), 300, at(5)).unwrap();
    core.resolve_dispute(DisputeId(1), Finding::ShopperNotShownAtFault, at(6)).unwrap();
    let [IssuerMessage::Credit { credit: compensation, amount, reason, .. }] =
        core.take_issuer_messages()[..]
    else {
        panic!("one credit for the compensation")
    };
    assert_eq!((amount.amount_minor, reason), (300, CreditReason::Compensation));
    assert_ne!(reversal, compensation);
    assert_eq!(balance(&core, BANK_CLEARING), -500, "800 captured twice, 800 and 300 back");
    // A wallet payment tells no bank anything.
    core.choose_default_funding(ALICE, &FundingSource::Wallet(ALICE_BANK_A)).unwrap();
    let wallet = core.start_payment(pay(3, 100, Identification::Match(ALICE)), at(7)).unwrap();
    core.capture(wallet.id, at(8)).unwrap();
    core.refund(wallet.id, TransferId(901), 100, at(9)).unwrap();
    assert_eq!(core.take_issuer_messages(), []);
    core.ledger().verify().unwrap();
}

#[test]
fn a_bank_decline_gives_the_hold_and_the_days_allowance_back() {
    let mut config = config(NO_PIN);
    config.limits.purchase.daily_minor = 3_000;
    let mut core = core_with(config);
    core.register_issuer(BANK, BANK_CLEARING).unwrap();
    bind_bank(&mut core, ALICE, BANK, "tok_alice_1", true).unwrap();
    let view = core.start_payment(pay(1, 2_500, Identification::Match(ALICE)), at(1)).unwrap();
    // While the bank decides, the allowance is taken: a racing payment cannot use it.
    let racing = core.start_payment(pay(2, 1_000, Identification::Match(ALICE)), at(2)).unwrap();
    assert_eq!(racing.state, PaymentState::Declined(DeclineReason::LimitDailyExceeded));
    let declined = core.issuer_answered(view.id, IssuerAnswer::Declined, at(3)).unwrap();
    assert_eq!(declined.state, PaymentState::Declined(DeclineReason::IssuerDeclined));
    assert_eq!(
        core.take_issuer_messages(),
        [authorize_message(1, 2_500, asked(1, 1))],
        "no release for a decline"
    );
    let next = core.start_payment(pay(3, 2_500, Identification::Match(ALICE)), at(4)).unwrap();
    assert_eq!(next.state, PaymentState::AwaitingIssuer);
    assert_eq!(core.ledger().account(BANK_CLEARING).unwrap().totals.debits_pending, 2_500);
    core.ledger().verify().unwrap();
}

#[test]
fn a_silent_bank_times_out_and_is_told_to_release_and_a_late_answer_changes_nothing() {
    let mut core = core_with_bank();
    let view = core.start_payment(pay(1, 2_500, Identification::Match(ALICE)), at(1)).unwrap();
    assert_eq!(core.sweep(at(OUTCOME_TIMEOUT_MS)), [], "not yet");
    assert_eq!(core.sweep(at(1 + OUTCOME_TIMEOUT_MS)), [view.id]);
    assert_eq!(
        core.payment(view.id).unwrap().state,
        PaymentState::Declined(DeclineReason::IssuerUnavailable)
    );
    assert_eq!(
        core.take_issuer_messages(),
        [authorize_message(1, 2_500, asked(1, 1)), release_message(1, 2_500, 2, asked(1, 1))]
    );
    let late = core.issuer_answered(view.id, IssuerAnswer::Approved, at(2 + OUTCOME_TIMEOUT_MS));
    assert_eq!(late.unwrap_err().code(), "payment_transition_not_allowed");
    assert_eq!(core.ledger().account(BANK_CLEARING).unwrap().totals.debits_pending, 0);
    assert_eq!(
        core.issuer_answered(PaymentId::from_u128(77), IssuerAnswer::Approved, at(5)).unwrap_err().code(),
        "payment_unknown"
    );
    core.ledger().verify().unwrap();
}

#[test]
fn a_bank_link_that_hears_nothing_declines_at_once_and_the_bank_is_told_to_release() {
    let mut core = core_with_bank();
    let view = core.start_payment(pay(1, 2_500, Identification::Match(ALICE)), at(1)).unwrap();
    let unavailable = core.issuer_answered(view.id, IssuerAnswer::Unavailable, at(2)).unwrap();
    assert_eq!(unavailable.state, PaymentState::Declined(DeclineReason::IssuerUnavailable));
    assert_eq!(
        core.take_issuer_messages(),
        [authorize_message(1, 2_500, asked(1, 1)), release_message(1, 2_500, 2, asked(1, 1))]
    );
    assert_eq!(core.ledger().account(BANK_CLEARING).unwrap().totals.debits_pending, 0);
    assert_eq!(core.sweep(at(1 + OUTCOME_TIMEOUT_MS)), [], "nothing left for the timeout");
    core.ledger().verify().unwrap();
}

#[test]
fn voiding_or_reversing_a_bank_payment_tells_the_bank_to_release() {
    let mut core = core_with_bank();
    for id in [1, 2] {
        let view = core.start_payment(pay(id, 700, Identification::Match(ALICE)), at(1)).unwrap();
        core.issuer_answered(view.id, IssuerAnswer::Approved, at(2)).unwrap();
    }
    core.void(PaymentId::from_u128(1), at(3)).unwrap();
    core.reverse(PaymentId::from_u128(2), at(3)).unwrap();
    let messages = core.take_issuer_messages();
    // Each message its own trace number; the releases name the authorizations they undo.
    assert_eq!(
        messages[2..],
        [release_message(1, 700, 3, asked(1, 1)), release_message(2, 700, 4, asked(2, 1))]
    );
    assert_eq!(balance(&core, BANK_CLEARING), 0);
    core.ledger().verify().unwrap();
}

/// At a bank that verifies accounts, a bound account pays only once the bank approves the
/// zero-amount verification; a refusal keeps it unusable with the bank's code, and the shopper
/// may withdraw it or try again.
#[test]
fn an_account_at_a_verifying_bank_pays_only_once_the_bank_approves_it() {
    let mut core = core(NO_PIN);
    core.register_issuer_with(BANK, BANK_CLEARING, true).unwrap();
    bind_bank(&mut core, BOB, BANK, "tok_bob", true).unwrap();
    let [IssuerMessage::VerifyAccount { shopper, issuer, reference, currency, trace }] =
        <[IssuerMessage; 1]>::try_from(core.take_issuer_messages()).unwrap()
    else {
        panic!("a verification")
    };
    assert_eq!((shopper, issuer, reference, currency), (BOB, BANK, sealed("tok_bob"), eur()));
    let standing =
        |core: &PaymentCore| core.bank_accounts_of(BOB).into_iter().map(|a| a.standing).collect::<Vec<_>>();
    assert_eq!(standing(&core), [Some(BindingState::AwaitingBank { trace: trace.number })]);
    // Not yet: Bob still pays from his wallet, and binding the same account again is refused.
    let paid = core.start_payment(pay(1, 100, Identification::Match(BOB)), at(1)).unwrap();
    assert_eq!(paid.state, PaymentState::Authorized, "from the wallet, with no bank asked");
    assert_eq!(bind_bank(&mut core, BOB, BANK, "tok_bob", true).unwrap_err().code(), "already_registered");

    let code = |core: &mut PaymentCore, trace, answer, response: &str| {
        core.account_verified(BANK, trace, answer, response).unwrap_err().code()
    };
    assert_eq!(code(&mut core, trace.number + 1, IssuerAnswer::Approved, "00"), "verification_unknown");
    assert_eq!(code(&mut core, trace.number, IssuerAnswer::Approved, "0"), "response_code_malformed");
    core.account_verified(BANK, trace.number, IssuerAnswer::Approved, "00").unwrap();
    assert_eq!(standing(&core), [None], "usable now");
    assert_eq!(
        code(&mut core, trace.number, IssuerAnswer::Approved, "00"),
        "verification_unknown",
        "answered once"
    );
    let at_bank = core.start_payment(pay(2, 100, Identification::Match(BOB)), at(2)).unwrap();
    assert_eq!(at_bank.state, PaymentState::AwaitingIssuer, "the default now");

    // A second account the bank does not know: refused with its code, and never pays.
    bind_bank(&mut core, BOB, BANK, "tok_closed", false).unwrap();
    let trace = match core.take_issuer_messages().as_slice() {
        [.., IssuerMessage::VerifyAccount { trace, .. }] => trace.number,
        other => panic!("{other:?}"),
    };
    core.account_verified(BANK, trace, IssuerAnswer::Declined, "14").unwrap();
    let accounts = core.bank_accounts_of(BOB);
    assert_eq!(accounts[1].standing, Some(BindingState::Refused { response_code: "14".into() }));
    assert_eq!(accounts[1].reference, Some(sealed("tok_closed")), "the app can say which account");
    assert_eq!(
        facepay_payments::refusal_sentence("14"),
        "Your bank does not know this account: check the account number."
    );
    let closed = bank_account(BOB, BANK, "tok_closed");
    assert_eq!(core.choose_default_funding(BOB, &closed).unwrap_err().code(), "funding_not_bound");
    // Tried again (a new verification), then withdrawn before the bank answers: its answer
    // changes nothing.
    bind_bank(&mut core, BOB, BANK, "tok_closed", false).unwrap();
    let [IssuerMessage::VerifyAccount { trace, .. }] =
        <[IssuerMessage; 1]>::try_from(core.take_issuer_messages()).unwrap()
    else {
        panic!("a verification")
    };
    core.unbind_funding(BOB, &closed).unwrap();
    assert_eq!(core.bank_accounts_of(BOB).len(), 1);
    assert_eq!(code(&mut core, trace.number, IssuerAnswer::Approved, "00"), "verification_unknown");
}
