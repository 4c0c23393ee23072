//! The payment core end to end through its public commands: every decline reason, every path
//! through the state machine that moves money, idempotent retries, and the ledger balanced after
//! each step.

mod common;

use common::*;
use facepay_domain::{Currency, MerchantId, Money, PaymentId, ShopperId, TerminalId};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    BucketMatch, CoreError, DeclineReason, FundingSource, Identification, Limit, MerchantRisk,
    MerchantStatus, PaymentCore, PaymentState, PinPolicy, ShopperRiskTier, StartPayment,
};

fn declined(core: &mut PaymentCore, request: StartPayment, reason: DeclineReason) {
    let before = (balance(core, ALICE_BANK_A), available(core, ALICE_BANK_A), available(core, BOB_WALLET));
    let view = core.start_payment(request, at(1)).unwrap();
    assert_eq!(view.state, PaymentState::Declined(reason));
    assert_eq!(
        before,
        (balance(core, ALICE_BANK_A), available(core, ALICE_BANK_A), available(core, BOB_WALLET))
    );
    core.ledger().verify().unwrap();
}

#[test]
fn a_matched_shopper_is_authorized_then_captured_from_their_default_bank() {
    let mut core = core(NO_PIN);
    let view = core.start_payment(pay(1, 2_500, Identification::Match(ALICE)), at(1)).unwrap();
    assert_eq!(view.state, PaymentState::Authorized);
    assert_eq!((balance(&core, ALICE_BANK_A), available(&core, ALICE_BANK_A)), (10_000, 7_500));
    let view = core.capture(view.id, at(2)).unwrap();
    assert_eq!(view.state, PaymentState::Captured { refunded_minor: 0 });
    assert_eq!(balance(&core, ALICE_BANK_A), 7_500);
    assert_eq!(balance(&core, MERCHANT_ACCOUNT), 2_500);
    core.ledger().verify().unwrap();

    // The shopper switches to bank B, which is empty: the next payment is declined for funds.
    core.choose_default_funding(ALICE, &FundingSource::Wallet(ALICE_BANK_B)).unwrap();
    declined(&mut core, pay(2, 100, Identification::Match(ALICE)), DeclineReason::InsufficientFunds);
    assert_eq!(
        core.choose_default_funding(ALICE, &FundingSource::Wallet(BOB_WALLET)).unwrap_err().code(),
        "funding_not_bound"
    );
}

#[test]
fn a_retry_returns_the_first_outcome_and_never_charges_twice() {
    let mut core = core(NO_PIN);
    let first = core.start_payment(pay(1, 2_500, Identification::Match(ALICE)), at(1)).unwrap();
    let retry = core.start_payment(pay(1, 2_500, Identification::Match(ALICE)), at(5)).unwrap();
    assert_eq!(first, retry);
    assert_eq!(available(&core, ALICE_BANK_A), 7_500);
    core.capture(first.id, at(6)).unwrap();
    let after_capture = core.start_payment(pay(1, 2_500, Identification::Match(ALICE)), at(7)).unwrap();
    assert_eq!(after_capture.state, PaymentState::Captured { refunded_minor: 0 });
    assert_eq!(balance(&core, ALICE_BANK_A), 7_500);

    let mut different = pay(1, 9_999, Identification::Match(ALICE));
    assert_eq!(core.start_payment(different.clone(), at(8)), Err(CoreError::IdempotencyKeyReused));
    different.idempotency_key = "another key".into();
    assert_eq!(core.start_payment(different, at(8)).unwrap_err().code(), "payment_id_taken");
    assert_eq!(core.capture(first.id, at(9)).unwrap_err().code(), "payment_transition_not_allowed");
    assert_eq!(balance(&core, ALICE_BANK_A), 7_500);
    assert_eq!(core.payments_held(), 1, "the retries started nothing new");
}

#[test]
fn an_ambiguous_match_asks_for_phone_digits_whose_bucket_picks_the_shopper_or_declines() {
    let mut core = core(NO_PIN);
    let carol = ShopperId::from_u128(3);
    enroll(&mut core, carol, "9876").unwrap();
    let view = core.start_payment(pay(1, 500, Identification::Ambiguous), at(1)).unwrap();
    assert_eq!(view.state, PaymentState::NeedsPhoneDigits);
    let paid = provide_digits(&mut core, view.id, Some(ALICE), "1234", at(2)).unwrap();
    assert_eq!(paid.state, PaymentState::Authorized);
    assert_eq!(available(&core, ALICE_BANK_A), 9_500);

    // Nobody in the bucket (or a tie there): declined.
    let view = core.start_payment(pay(2, 500, Identification::Ambiguous), at(3)).unwrap();
    let view = provide_digits(&mut core, view.id, None, "1234", at(4)).unwrap();
    assert_eq!(view.state, PaymentState::Declined(DeclineReason::StillAmbiguous));
    assert_eq!(
        provide_digits(&mut core, view.id, Some(ALICE), "1234", at(5)).unwrap_err().code(),
        "payment_transition_not_allowed"
    );
    // A bucket match whose kept digits are not the ones typed (an index out of step with the
    // journal) is declined the same way.
    let view = core.start_payment(pay(3, 500, Identification::Ambiguous), at(6)).unwrap();
    let view = provide_digits(&mut core, view.id, Some(carol), "1234", at(7)).unwrap();
    assert_eq!(view.state, PaymentState::Declined(DeclineReason::StillAmbiguous));
    // Alice's digits digested under Carol's key are not Alice's digest: a digest counts only for
    // the shopper whose key made it.
    let view = core.start_payment(pay(4, 500, Identification::Ambiguous), at(8)).unwrap();
    let crossed = BucketMatch { shopper: ALICE, digest: digest(carol, b"1234"), pin_required: false };
    let view = core.provide_phone_digits(view.id, Some(&crossed), at(9)).unwrap();
    assert_eq!(view.state, PaymentState::Declined(DeclineReason::StillAmbiguous));
}

#[test]
fn a_bucket_match_below_the_pin_free_level_asks_for_the_pin_whatever_the_amount() {
    let mut core = core(NO_PIN);
    set_pin(&mut core, ALICE, "271828");
    let weak = |shopper: ShopperId, typed: &[u8]| BucketMatch {
        shopper,
        digest: digest(shopper, typed),
        pin_required: true,
    };
    let view = core.start_payment(pay(1, 100, Identification::Ambiguous), at(1)).unwrap();
    let asked = core.provide_phone_digits(view.id, Some(&weak(ALICE, b"1234")), at(2)).unwrap();
    assert_eq!(asked.state, PaymentState::NeedsPin, "100 is far below the PIN policy's amount");
    assert_eq!(provide_pin(&mut core, view.id, "271828", at(3)).unwrap().state, PaymentState::Authorized);
    // Without a PIN to confirm it, a weak match cannot pay at all.
    let view = core.start_payment(pay(2, 100, Identification::Ambiguous), at(4)).unwrap();
    let refused = core.provide_phone_digits(view.id, Some(&weak(BOB, b"1234")), at(5)).unwrap();
    assert_eq!(refused.state, PaymentState::Declined(DeclineReason::PinNotSet));
}

#[test]
fn the_pin_is_asked_by_policy_and_five_wrong_tries_decline_and_lock() {
    let policy = PinPolicy { above_amount_minor: Some(1_000), ..NO_PIN };
    let mut core = core(policy);
    let small = core.start_payment(pay(1, 1_000, Identification::Match(ALICE)), at(1)).unwrap();
    assert_eq!(small.state, PaymentState::Authorized);

    let big = core.start_payment(pay(2, 1_001, Identification::Match(ALICE)), at(1)).unwrap();
    assert_eq!(big.state, PaymentState::NeedsPin);
    assert_eq!(provide_pin(&mut core, big.id, "12345", at(2)).unwrap_err().code(), "pin_malformed");
    assert_eq!(provide_pin(&mut core, big.id, "271828", at(2)).unwrap().state, PaymentState::Authorized);

    let locked = core.start_payment(pay(3, 2_000, Identification::Match(ALICE)), at(3)).unwrap();
    for _ in 0..4 {
        assert_eq!(provide_pin(&mut core, locked.id, "000000", at(4)).unwrap_err().code(), "pin_wrong");
    }
    let view = provide_pin(&mut core, locked.id, "000000", at(4)).unwrap();
    assert_eq!(view.state, PaymentState::Declined(DeclineReason::PinLocked));
    // While locked, even a small payment is declined.
    declined(&mut core, pay(4, 10, Identification::Match(ALICE)), DeclineReason::PinLocked);
    // Bob never set a PIN, so a payment that needs one is declined with that reason.
    declined(&mut core, pay(5, 2_000, Identification::Match(BOB)), DeclineReason::PinNotSet);
}

#[test]
fn the_switch_merchant_terminal_and_shopper_gates_decline_before_money_moves() {
    let mut core = core(NO_PIN);
    let mut not_live = pay(1, 100, Identification::Match(ALICE));
    not_live.liveness_passed = false;
    declined(&mut core, not_live, DeclineReason::LivenessFailed);
    declined(&mut core, pay(2, 100, Identification::NoMatch), DeclineReason::NoMatch);

    core.pause_shopper(ALICE, true).unwrap();
    declined(&mut core, pay(3, 100, Identification::Match(ALICE)), DeclineReason::ShopperPaused);
    core.pause_shopper(ALICE, false).unwrap();

    core.switch_face_payment_everywhere(true);
    declined(&mut core, pay(4, 100, Identification::Match(ALICE)), DeclineReason::FacePaymentOff);
    core.switch_face_payment_everywhere(false);
    core.switch_face_payment_for_merchant(MERCHANT, true).unwrap();
    declined(&mut core, pay(5, 100, Identification::Match(ALICE)), DeclineReason::FacePaymentOff);
    core.switch_face_payment_for_merchant(MERCHANT, false).unwrap();
    core.switch_face_payment_for_terminal(TERMINAL, true).unwrap();
    declined(&mut core, pay(6, 100, Identification::Match(ALICE)), DeclineReason::FacePaymentOff);
    core.switch_face_payment_for_terminal(TERMINAL, false).unwrap();

    core.suspend_terminal(TERMINAL, true).unwrap();
    declined(&mut core, pay(7, 100, Identification::Match(ALICE)), DeclineReason::TerminalSuspended);
    core.suspend_terminal(TERMINAL, false).unwrap();
    core.set_merchant_status(MERCHANT, MerchantStatus::Suspended).unwrap();
    declined(&mut core, pay(8, 100, Identification::Match(ALICE)), DeclineReason::MerchantSuspended);
    core.set_merchant_status(MERCHANT, MerchantStatus::Blacklisted).unwrap();
    declined(&mut core, pay(9, 100, Identification::Match(ALICE)), DeclineReason::MerchantBlacklisted);
    core.set_merchant_status(MERCHANT, MerchantStatus::Active).unwrap();
    assert_eq!(
        core.start_payment(pay(10, 100, Identification::Match(ALICE)), at(1)).unwrap().state,
        PaymentState::Authorized
    );
}

#[test]
fn bad_requests_are_refused_with_a_code_and_change_nothing() {
    let mut core = core(NO_PIN);
    let mut unknown_terminal = pay(1, 100, Identification::Match(ALICE));
    unknown_terminal.terminal = TerminalId::from_u128(999);
    assert_eq!(core.start_payment(unknown_terminal, at(1)).unwrap_err().code(), "terminal_unknown");
    let mut dollars = pay(1, 100, Identification::Match(ALICE));
    dollars.amount = Money::new(100, Currency::new("USD").unwrap());
    assert_eq!(core.start_payment(dollars, at(1)).unwrap_err().code(), "currency_not_supported");
    for amount in [0, -100] {
        assert_eq!(
            core.start_payment(pay(1, amount, Identification::Match(ALICE)), at(1)).unwrap_err().code(),
            "amount_not_positive"
        );
    }
    assert!(core.payment(PaymentId::from_u128(1)).is_none(), "nothing was recorded");
    // The same key is still free for the corrected request.
    assert_eq!(
        core.start_payment(pay(1, 100, Identification::Match(ALICE)), at(1)).unwrap().state,
        PaymentState::Authorized
    );
    assert_eq!(core.capture(PaymentId::from_u128(77), at(1)).unwrap_err().code(), "payment_unknown");
    // Top-ups go to wallets only: never straight into a merchant's or an unknown account.
    for account in [MERCHANT_ACCOUNT, AccountId(4_242)] {
        let err = core.top_up(account, 100, TransferId(3), at(2)).unwrap_err();
        assert_eq!(err.code(), "account_not_wallet");
    }
    assert_eq!(balance(&core, MERCHANT_ACCOUNT), 0);
}

#[test]
fn limits_decline_per_transaction_and_across_the_day_and_voids_give_the_allowance_back() {
    let mut core = core(NO_PIN);
    let own = Limit { per_transaction_minor: 3_000, daily_minor: 5_000 };
    core.set_shopper_limit(ALICE, Some(own), Some(ShopperRiskTier::Standard)).unwrap();
    declined(
        &mut core,
        pay(1, 3_001, Identification::Match(ALICE)),
        DeclineReason::LimitPerTransactionExceeded,
    );
    let first = core.start_payment(pay(2, 3_000, Identification::Match(ALICE)), at(1)).unwrap();
    assert_eq!(first.state, PaymentState::Authorized);
    // The first authorization counts at once, before capture: the second cannot take the rest.
    declined(&mut core, pay(3, 2_001, Identification::Match(ALICE)), DeclineReason::LimitDailyExceeded);
    core.void(first.id, at(2)).unwrap();
    assert_eq!(available(&core, ALICE_BANK_A), 10_000);
    assert_eq!(
        core.start_payment(pay(4, 3_000, Identification::Match(ALICE)), at(3)).unwrap().state,
        PaymentState::Authorized
    );
    assert_eq!(
        core.start_payment(pay(5, 2_000, Identification::Match(ALICE)), at(3)).unwrap().state,
        PaymentState::Authorized
    );
}

#[test]
fn an_unconfirmed_authorization_is_reversed_after_the_timeout_and_a_late_capture_fails() {
    let mut core = core(NO_PIN);
    let view = core.start_payment(pay(1, 1_000, Identification::Match(ALICE)), at(0)).unwrap();
    assert!(core.sweep(at(OUTCOME_TIMEOUT_MS - 1)).is_empty());
    assert_eq!(core.sweep(at(OUTCOME_TIMEOUT_MS)), [view.id]);
    assert_eq!(core.payment(view.id).unwrap().state, PaymentState::Reversed);
    assert_eq!(available(&core, ALICE_BANK_A), 10_000);
    assert_eq!(
        core.capture(view.id, at(OUTCOME_TIMEOUT_MS + 1)).unwrap_err().code(),
        "payment_transition_not_allowed"
    );
    core.ledger().verify().unwrap();
}

#[test]
fn a_captured_payment_whose_outcome_was_lost_is_reversed_in_full() {
    let mut core = core(NO_PIN);
    let view = core.start_payment(pay(1, 1_000, Identification::Match(ALICE)), at(0)).unwrap();
    core.capture(view.id, at(1)).unwrap();
    assert_eq!(core.reverse(view.id, at(2)).unwrap().state, PaymentState::Reversed);
    assert_eq!(balance(&core, ALICE_BANK_A), 10_000);
    assert_eq!(balance(&core, MERCHANT_ACCOUNT), 0);
    assert_eq!(core.reverse(view.id, at(3)).unwrap_err().code(), "payment_transition_not_allowed");
    assert_eq!(balance(&core, ALICE_BANK_A), 10_000);
}

#[test]
fn a_hold_past_its_deadline_expires_and_cannot_be_captured() {
    let mut config = config(NO_PIN);
    config.outcome_timeout_ms = i64::MAX;
    let mut core = PaymentCore::new(config);
    core.register_merchant(MERCHANT, ACQUIRER, MerchantRisk::Low, MERCHANT_ACCOUNT).unwrap();
    core.register_terminal(TERMINAL, MERCHANT).unwrap();
    enroll(&mut core, ALICE, "1234").unwrap();
    core.bind_wallet(ALICE, ALICE_BANK_A, true).unwrap();
    core.top_up(ALICE_BANK_A, 10_000, TransferId(1), at(0)).unwrap();
    let view = core.start_payment(pay(1, 1_000, Identification::Match(ALICE)), at(0)).unwrap();
    let deadline = at(HOLD_TIMEOUT_MS as i64);
    let before = core.clone();
    assert_eq!(core.capture(view.id, deadline).unwrap_err().code(), "pending_transfer_expired");
    assert!(core == before, "a refusal changes nothing");
    assert_eq!(core.next_due(), Some(deadline), "the hold's expiry is due");
    assert_eq!(core.sweep(deadline), vec![view.id]);
    assert_eq!(core.payment(view.id).unwrap().state, PaymentState::Expired);
    assert_eq!(available(&core, ALICE_BANK_A), 10_000);
    core.ledger().verify().unwrap();
}

#[test]
fn refunds_are_idempotent_and_never_exceed_the_captured_amount() {
    let mut core = core(NO_PIN);
    let view = core.start_payment(pay(1, 1_000, Identification::Match(ALICE)), at(0)).unwrap();
    assert_eq!(
        core.refund(view.id, TransferId(500), 100, at(1)).unwrap_err().code(),
        "payment_transition_not_allowed"
    );
    core.capture(view.id, at(1)).unwrap();
    assert_eq!(
        core.refund(view.id, TransferId(501), 600, at(2)).unwrap().state,
        PaymentState::Captured { refunded_minor: 600 }
    );
    // The same refund retried is one refund.
    assert_eq!(
        core.refund(view.id, TransferId(501), 600, at(3)).unwrap().state,
        PaymentState::Captured { refunded_minor: 600 }
    );
    assert_eq!(core.refund(view.id, TransferId(501), 300, at(3)).unwrap_err().code(), "refund_id_reused");
    assert_eq!(
        core.refund(view.id, TransferId(502), 401, at(3)).unwrap_err().code(),
        "refund_exceeds_captured"
    );
    assert_eq!(
        core.refund(view.id, TransferId(503), 400, at(4)).unwrap().state,
        PaymentState::Captured { refunded_minor: 1_000 }
    );
    assert_eq!(balance(&core, ALICE_BANK_A), 10_000);
    assert_eq!(balance(&core, MERCHANT_ACCOUNT), 0);
    core.ledger().verify().unwrap();
}

#[test]
fn registering_twice_or_for_unknown_parties_is_refused() {
    let mut core = core(NO_PIN);
    assert_eq!(
        core.register_merchant(MERCHANT, ACQUIRER, MerchantRisk::Low, AccountId(11)).unwrap_err().code(),
        "already_registered"
    );
    assert_eq!(
        core.register_merchant(MerchantId::from_u128(11), ACQUIRER, MerchantRisk::Low, ALICE_BANK_A)
            .unwrap_err()
            .code(),
        "already_registered"
    );
    assert_eq!(core.register_terminal(TERMINAL, MERCHANT).unwrap_err().code(), "already_registered");
    assert_eq!(
        core.register_terminal(TerminalId::from_u128(21), MerchantId::from_u128(99)).unwrap_err().code(),
        "merchant_unknown"
    );
    assert_eq!(enroll(&mut core, ALICE, "1234").unwrap_err().code(), "already_registered");
    assert_eq!(
        core.bind_wallet(ShopperId::from_u128(9), AccountId(900), true).unwrap_err().code(),
        "shopper_unknown"
    );
    assert_eq!(core.top_up(ALICE_BANK_A, 0, TransferId(9), at(0)).unwrap_err().code(), "amount_not_positive");
}
