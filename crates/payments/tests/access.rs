//! The access registry in the core: API keys scoped to one role, terminals' one-time activation
//! codes and public keys, revocation, and the shopper's masked name and erasure, all replayed
//! from the journal like every other change.

mod common;

use common::*;
use facepay_domain::{Money, Sealed, ShopperId};
use facepay_payments::{
    AccessError, ApiKeyId, Command, CoreError, Identification, JournaledCore, MemoryJournal, PaymentState,
    Role, Sale,
};

const KEY: ApiKeyId = ApiKeyId(77);
const CAROL: ShopperId = ShopperId::from_u128(3);

#[test]
fn api_keys_are_scoped_to_parties_that_exist_and_revoked_for_good() {
    let mut core = core(NO_PIN);
    assert!(!core.has_operator_key());
    let stranger = facepay_domain::MerchantId::from_u128(999);
    let refused = core.issue_api_key(KEY, [1; 32], Role::Merchant(stranger)).unwrap_err();
    assert_eq!(refused.code(), "merchant_unknown");
    assert!(core.api_key(KEY).is_none(), "a refused key changes nothing");

    core.issue_api_key(KEY, [1; 32], Role::Merchant(MERCHANT)).unwrap();
    assert_eq!(core.api_key(KEY).unwrap().role, Role::Merchant(MERCHANT));
    let again = core.issue_api_key(KEY, [2; 32], Role::Operator).unwrap_err();
    assert_eq!(again, CoreError::Access(AccessError::ApiKeyTaken(KEY)));
    assert_eq!(core.api_key(KEY).unwrap().secret_hash, [1; 32], "the first key stands");

    core.issue_api_key(ApiKeyId(1), [3; 32], Role::Operator).unwrap();
    assert!(core.has_operator_key());
    core.revoke_api_key(ApiKeyId(1)).unwrap();
    assert!(!core.has_operator_key());
    assert!(core.api_key(ApiKeyId(1)).unwrap().revoked);
    assert_eq!(core.revoke_api_key(ApiKeyId(5)).unwrap_err().code(), "api_key_unknown");
}

#[test]
fn a_terminal_activates_once_with_its_code_before_it_lapses() {
    let mut core = core(NO_PIN);
    let lapses = at(60_000);
    core.issue_activation_code(TERMINAL, [9; 32], lapses).unwrap();
    let wrong = core.activate_terminal(TERMINAL, &[8; 32], [5; 32], at(1_000)).unwrap_err();
    assert_eq!(wrong.code(), "activation_code_wrong");
    assert_eq!(core.terminal_credentials(TERMINAL).unwrap().public_key, None);
    let late = core.activate_terminal(TERMINAL, &[9; 32], [5; 32], at(60_001)).unwrap_err();
    assert_eq!(late.code(), "activation_code_expired");

    core.activate_terminal(TERMINAL, &[9; 32], [5; 32], at(60_000)).unwrap();
    assert_eq!(core.terminal_credentials(TERMINAL).unwrap().public_key, Some([5; 32]));
    let reused = core.activate_terminal(TERMINAL, &[9; 32], [6; 32], at(2_000)).unwrap_err();
    assert_eq!(reused.code(), "activation_code_wrong", "a code works once");
    assert_eq!(core.terminal_credentials(TERMINAL).unwrap().public_key, Some([5; 32]));

    let unknown = facepay_domain::TerminalId::from_u128(404);
    assert_eq!(core.issue_activation_code(unknown, [1; 32], lapses).unwrap_err().code(), "terminal_unknown");
}

#[test]
fn a_revoked_terminal_loses_its_key_takes_no_payment_and_never_activates_again() {
    let mut core = core(NO_PIN);
    core.issue_activation_code(TERMINAL, [9; 32], at(60_000)).unwrap();
    core.activate_terminal(TERMINAL, &[9; 32], [5; 32], at(0)).unwrap();
    core.revoke_terminal(TERMINAL).unwrap();
    let credentials = core.terminal_credentials(TERMINAL).unwrap();
    assert!(credentials.revoked && credentials.public_key.is_none());
    let refused = core.issue_activation_code(TERMINAL, [1; 32], at(60_000)).unwrap_err();
    assert_eq!(refused.code(), "terminal_revoked");
    let payment = core.start_payment(pay(1, 100, Identification::Match(BOB)), at(10)).unwrap();
    assert!(matches!(payment.state, PaymentState::Declined(_)), "{payment:?}");
}

#[test]
fn sealed_fields_are_bounded_and_forgetting_a_shopper_drops_their_personal_data_and_revokes_their_keys() {
    let mut core = core(NO_PIN);
    let empty = Sealed::from_bytes(Vec::new());
    let too_long = Sealed::from_bytes(vec![1; Sealed::MAX_BYTES + 1]);
    for refused in [&empty, &too_long] {
        assert_eq!(core.name_shopper(BOB, refused).unwrap_err().code(), "sealed_field_malformed");
        assert_eq!(core.record_consent(BOB, refused, at(5)).unwrap_err().code(), "sealed_field_malformed");
        assert_eq!(core.set_pin_hash(BOB, refused).unwrap_err().code(), "sealed_field_malformed");
        let phone_digest = digest(CAROL, b"1234");
        assert_eq!(
            core.enroll_shopper(CAROL, refused, phone_digest).unwrap_err().code(),
            "sealed_field_malformed"
        );
    }
    assert_eq!(core.phone_digits(CAROL), None, "a refused sign-up signs no one up");
    core.name_shopper(BOB, &Sealed::from_bytes(vec![1; Sealed::MAX_BYTES])).unwrap();
    core.name_shopper(BOB, &sealed("B** S****")).unwrap();
    assert_eq!(core.masked_name(BOB), Some(&sealed("B** S****")));
    core.issue_api_key(KEY, [1; 32], Role::Shopper(BOB)).unwrap();
    assert_eq!(core.consent(BOB), None);
    core.record_consent(BOB, &sealed("2026-11"), at(5)).unwrap();
    assert_eq!(core.consent(BOB), Some((&sealed("2026-11"), at(5))));
    assert_eq!(core.phone_digits(BOB), Some(&sealed("1234")));
    let bank = facepay_payments::IssuerId(7);
    core.register_issuer(bank, facepay_ledger::AccountId(777)).unwrap();
    bind_bank(&mut core, BOB, bank, "tok_bob", false).unwrap();
    assert_eq!(core.bank_accounts_at(bank), [(BOB, sealed("tok_bob"), false)]);

    core.forget_shopper(BOB).unwrap();
    assert_eq!(core.bank_accounts_at(bank), [], "the bank no longer lists the account");
    assert_eq!(core.masked_name(BOB), None);
    assert_eq!(core.consent(BOB), None);
    assert_eq!(core.phone_digits(BOB), None, "no digits left to match or to show");
    assert_eq!(core.funding_of(BOB), (Vec::new(), None), "no account left for a bank to list");
    assert!(core.api_key(KEY).unwrap().revoked);
    let payment = core.start_payment(pay(1, 100, Identification::Match(BOB)), at(10)).unwrap();
    assert!(matches!(payment.state, PaymentState::Declined(_)), "{payment:?}");
}

#[test]
fn the_registry_replays_from_the_journal_and_a_payment_is_found_by_its_idempotency_key() {
    let journal = MemoryJournal::default();
    let mut node = JournaledCore::open(config(NO_PIN), journal.clone()).unwrap();
    let setup = [
        Command::RegisterMerchant {
            merchant: MERCHANT,
            acquirer: ACQUIRER,
            risk: facepay_payments::MerchantRisk::Low,
            account: MERCHANT_ACCOUNT,
        },
        Command::RegisterTerminal { terminal: TERMINAL, merchant: MERCHANT },
        Command::IssueActivationCode { terminal: TERMINAL, code_hash: [9; 32], expires_at: at(60_000) },
        Command::ActivateTerminal { terminal: TERMINAL, code_hash: [9; 32], public_key: [5; 32] },
        Command::IssueApiKey { key: KEY, secret_hash: [1; 32], role: Role::Merchant(MERCHANT) },
        Command::EnrollShopper { shopper: BOB, phone: sealed("1234"), phone_digest: digest(BOB, b"1234") },
        Command::NameShopper { shopper: BOB, masked_name: sealed("B** S****") },
        Command::StartPayment(pay(1, 100, Identification::NoMatch)),
    ];
    for command in setup {
        node.execute(command, at(0)).unwrap().unwrap();
    }
    let replayed = JournaledCore::open(config(NO_PIN), journal).unwrap();
    assert_eq!(*replayed.core(), *node.core());
    let core = replayed.core();
    assert_eq!(core.terminal_credentials(TERMINAL).unwrap().public_key, Some([5; 32]));
    assert_eq!(core.masked_name(BOB), Some(&sealed("B** S****")));
    let sale = |amount| Sale { amount: Money::new(amount, eur()), order_id: None, by_payment_code: false };
    assert_eq!(
        core.retry_of(TERMINAL, "key-1", &sale(100)).map(|p| p.unwrap().id),
        Some(facepay_domain::PaymentId::from_u128(1))
    );
    assert_eq!(core.retry_of(TERMINAL, "key-2", &sale(100)), None);
    // The same key for another amount is another sale: refused, never answered with the first.
    let other = core.retry_of(TERMINAL, "key-1", &sale(99_000)).unwrap().unwrap_err();
    assert_eq!(other.code(), "idempotency_key_reused");
    let by_code = Sale { by_payment_code: true, ..sale(100) };
    assert_eq!(
        core.retry_of(TERMINAL, "key-1", &by_code).unwrap().unwrap_err().code(),
        "idempotency_key_reused"
    );
    assert_eq!(core.payment_record(facepay_domain::PaymentId::from_u128(1)).unwrap().merchant, MERCHANT);
}

#[test]
fn unbinding_moves_the_default_and_never_strands_money_in_a_wallet() {
    use facepay_payments::FundingSource;
    let mut core = core(NO_PIN);
    // Alice: wallet A (default, 10,000) and wallet B (empty).
    let b = FundingSource::Wallet(ALICE_BANK_B);
    let a = FundingSource::Wallet(ALICE_BANK_A);
    assert_eq!(core.unbind_funding(ALICE, &a).unwrap_err().code(), "wallet_not_empty");
    assert_eq!(core.funding_of(ALICE).0.len(), 2, "a refusal changes nothing");
    core.choose_default_funding(ALICE, &b).unwrap();
    core.unbind_funding(ALICE, &b).unwrap();
    assert_eq!(core.funding_of(ALICE), (vec![a.clone()], Some(a)), "the default moves to what is left");
    assert_eq!(core.unbind_funding(ALICE, &b).unwrap_err().code(), "funding_not_bound");
    assert_eq!(core.shopper_limit(ALICE).map(|(limit, _)| limit), Some(None));
}
