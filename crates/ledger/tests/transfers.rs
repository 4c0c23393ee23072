//! The ledger's behaviour through its public API: every refusal with its code (and that it changed
//! nothing), holds through all their ends, linked chains, idempotency, and a property test that
//! random operations never unbalance the books and that the journal replays to the same state.

use facepay_domain::{Currency, Timestamp};
use facepay_ledger::{
    Account, AccountId, Applied, BalanceRule, JournalEntry, Ledger, PendingState, TransferError, TransferId,
    TransferKind, TransferRequest,
};
use proptest::prelude::*;

const SHOPPER: AccountId = AccountId(1);
const MERCHANT: AccountId = AccountId(2);
const CREDIT_LINE: AccountId = AccountId(3);
const BANK: AccountId = AccountId(4);
const DOLLARS: AccountId = AccountId(5);

fn eur() -> Currency {
    Currency::new("EUR").unwrap()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(ms)
}

/// A bank funding account, a shopper wallet holding 1000, a merchant, a credit line of 500, and
/// an account in another currency.
fn ledger() -> Ledger {
    let mut ledger = Ledger::new();
    let plain = BalanceRule::DebitsWithinCredits { credit_limit: 0 };
    ledger.open_account(Account::new(SHOPPER, eur(), plain, 0)).unwrap();
    ledger.open_account(Account::new(MERCHANT, eur(), plain, 0)).unwrap();
    ledger
        .open_account(Account::new(
            CREDIT_LINE,
            eur(),
            BalanceRule::DebitsWithinCredits { credit_limit: 500 },
            0,
        ))
        .unwrap();
    ledger.open_account(Account::new(BANK, eur(), BalanceRule::Unbounded, 0)).unwrap();
    ledger.open_account(Account::new(DOLLARS, Currency::new("USD").unwrap(), plain, 0)).unwrap();
    assert_eq!(ledger.apply_one(&posted(100, BANK, SHOPPER, 1000), at(0)), Ok(Applied::Created));
    ledger
}

fn request(
    id: u128,
    debit: AccountId,
    credit: AccountId,
    amount: u64,
    kind: TransferKind,
) -> TransferRequest {
    TransferRequest { id: TransferId(id), debit, credit, amount, kind, code: 0, linked: false }
}

fn posted(id: u128, debit: AccountId, credit: AccountId, amount: u64) -> TransferRequest {
    request(id, debit, credit, amount, TransferKind::Posted)
}

fn hold(id: u128, amount: u64) -> TransferRequest {
    request(id, SHOPPER, MERCHANT, amount, TransferKind::Pending { timeout_ms: 1_000 })
}

fn post(id: u128, pending: u128, amount: u64) -> TransferRequest {
    request(id, SHOPPER, MERCHANT, amount, TransferKind::PostPending { pending_id: TransferId(pending) })
}

fn void(id: u128, pending: u128, amount: u64) -> TransferRequest {
    request(id, SHOPPER, MERCHANT, amount, TransferKind::VoidPending { pending_id: TransferId(pending) })
}

fn balance(ledger: &Ledger, id: AccountId) -> i128 {
    ledger.account(id).unwrap().posted_balance()
}

/// Applies `request` to `ledger` expecting `error`, and checks nothing changed.
fn refused(ledger: &mut Ledger, request: TransferRequest, now: Timestamp, error: TransferError, code: &str) {
    let before = ledger.clone();
    assert_eq!(ledger.apply_one(&request, now), Err(error));
    assert_eq!(error.code(), code);
    assert_eq!(ledger.journal(), before.journal());
    for account in before.accounts() {
        assert_eq!(ledger.account(account.id), Some(account));
    }
    assert_eq!(ledger.transfer(request.id), before.transfer(request.id));
    ledger.verify().unwrap();
}

#[test]
fn a_posted_transfer_moves_money_and_keeps_the_books_balanced() {
    let mut ledger = ledger();
    assert_eq!(ledger.apply_one(&posted(1, SHOPPER, MERCHANT, 250), at(1)), Ok(Applied::Created));
    assert_eq!(balance(&ledger, SHOPPER), 750);
    assert_eq!(balance(&ledger, MERCHANT), 250);
    assert_eq!(balance(&ledger, BANK), -1000);
    ledger.verify().unwrap();
}

#[test]
fn the_same_transfer_twice_moves_money_once() {
    let mut ledger = ledger();
    assert_eq!(ledger.apply_one(&posted(1, SHOPPER, MERCHANT, 250), at(1)), Ok(Applied::Created));
    assert_eq!(ledger.apply_one(&posted(1, SHOPPER, MERCHANT, 250), at(9)), Ok(Applied::AlreadyExists));
    assert_eq!(balance(&ledger, SHOPPER), 750);
    refused(
        &mut ledger,
        posted(1, SHOPPER, MERCHANT, 251),
        at(9),
        TransferError::ExistsWithDifferentFields(TransferId(1)),
        "exists_with_different_fields",
    );
}

#[test]
fn every_malformed_request_is_refused_with_its_code_and_changes_nothing() {
    let mut ledger = ledger();
    let now = at(1);
    refused(
        &mut ledger,
        posted(1, SHOPPER, MERCHANT, 0),
        now,
        TransferError::AmountMustNotBeZero,
        "amount_must_not_be_zero",
    );
    refused(
        &mut ledger,
        posted(1, SHOPPER, SHOPPER, 5),
        now,
        TransferError::AccountsMustBeDifferent,
        "accounts_must_be_different",
    );
    refused(
        &mut ledger,
        posted(1, AccountId(99), MERCHANT, 5),
        now,
        TransferError::DebitAccountNotFound(AccountId(99)),
        "debit_account_not_found",
    );
    refused(
        &mut ledger,
        posted(1, SHOPPER, AccountId(99), 5),
        now,
        TransferError::CreditAccountNotFound(AccountId(99)),
        "credit_account_not_found",
    );
    refused(
        &mut ledger,
        posted(1, SHOPPER, DOLLARS, 5),
        now,
        TransferError::CurrencyMismatch,
        "currency_mismatch",
    );
    refused(
        &mut ledger,
        request(1, SHOPPER, MERCHANT, 5, TransferKind::Pending { timeout_ms: 0 }),
        now,
        TransferError::TimeoutMustNotBeZero,
        "timeout_must_not_be_zero",
    );
}

#[test]
fn an_account_cannot_pay_more_than_it_holds_or_its_credit_line_allows() {
    let mut ledger = ledger();
    refused(
        &mut ledger,
        posted(1, SHOPPER, MERCHANT, 1001),
        at(1),
        TransferError::ExceedsCredits,
        "exceeds_credits",
    );
    assert_eq!(ledger.apply_one(&posted(2, SHOPPER, MERCHANT, 1000), at(1)), Ok(Applied::Created));
    assert_eq!(balance(&ledger, SHOPPER), 0);

    assert_eq!(ledger.apply_one(&posted(3, CREDIT_LINE, MERCHANT, 500), at(1)), Ok(Applied::Created));
    assert_eq!(balance(&ledger, CREDIT_LINE), -500);
    refused(
        &mut ledger,
        posted(4, CREDIT_LINE, MERCHANT, 1),
        at(1),
        TransferError::ExceedsCredits,
        "exceeds_credits",
    );
}

#[test]
fn an_account_owed_to_us_cannot_be_credited_beyond_its_debits() {
    let mut ledger = ledger();
    let receivable = AccountId(50);
    ledger
        .open_account(Account::new(receivable, eur(), BalanceRule::CreditsWithinDebits { limit: 0 }, 0))
        .unwrap();
    assert_eq!(ledger.apply_one(&posted(1, receivable, BANK, 300), at(1)), Ok(Applied::Created));
    refused(
        &mut ledger,
        posted(2, BANK, receivable, 301),
        at(1),
        TransferError::ExceedsDebits,
        "exceeds_debits",
    );
    assert_eq!(ledger.apply_one(&posted(3, BANK, receivable, 300), at(1)), Ok(Applied::Created));
}

#[test]
fn a_hold_reserves_funds_so_two_holds_cannot_spend_the_same_money() {
    let mut ledger = ledger();
    assert_eq!(ledger.apply_one(&hold(1, 700), at(1)), Ok(Applied::Created));
    assert_eq!(ledger.account(SHOPPER).unwrap().available_to_debit(), Some(300));
    refused(&mut ledger, hold(2, 301), at(1), TransferError::ExceedsCredits, "exceeds_credits");
    refused(
        &mut ledger,
        posted(2, SHOPPER, MERCHANT, 301),
        at(1),
        TransferError::ExceedsCredits,
        "exceeds_credits",
    );
    assert_eq!(balance(&ledger, SHOPPER), 1000, "a hold moves nothing yet");
}

#[test]
fn a_hold_posted_in_part_releases_the_rest_and_only_once() {
    let mut ledger = ledger();
    ledger.apply_one(&hold(1, 700), at(1)).unwrap();
    assert_eq!(ledger.apply_one(&post(2, 1, 400), at(2)), Ok(Applied::Created));
    assert_eq!(ledger.pending_state(TransferId(1)), Some(PendingState::Posted { amount: 400 }));
    assert_eq!(balance(&ledger, SHOPPER), 600);
    assert_eq!(ledger.account(SHOPPER).unwrap().available_to_debit(), Some(600));
    refused(
        &mut ledger,
        post(3, 1, 100),
        at(3),
        TransferError::PendingAlreadyPosted(TransferId(1)),
        "pending_transfer_already_posted",
    );
    assert_eq!(ledger.apply_one(&post(2, 1, 400), at(3)), Ok(Applied::AlreadyExists));
    refused(
        &mut ledger,
        void(4, 1, 700),
        at(3),
        TransferError::PendingAlreadyPosted(TransferId(1)),
        "pending_transfer_already_posted",
    );
    assert_eq!(ledger.next_deadline(), None);
}

#[test]
fn posting_and_voiding_a_hold_are_checked() {
    let mut ledger = ledger();
    ledger.apply_one(&hold(1, 700), at(1)).unwrap();
    ledger.apply_one(&posted(10, SHOPPER, MERCHANT, 1), at(1)).unwrap();
    refused(
        &mut ledger,
        post(2, 1, 701),
        at(2),
        TransferError::PostExceedsPending,
        "post_exceeds_pending_amount",
    );
    refused(&mut ledger, void(2, 1, 699), at(2), TransferError::VoidAmountDiffers, "void_amount_differs");
    refused(
        &mut ledger,
        request(2, MERCHANT, SHOPPER, 700, TransferKind::PostPending { pending_id: TransferId(1) }),
        at(2),
        TransferError::PendingAccountsDiffer,
        "pending_transfer_accounts_differ",
    );
    refused(
        &mut ledger,
        post(2, 77, 1),
        at(2),
        TransferError::PendingNotFound(TransferId(77)),
        "pending_transfer_not_found",
    );
    refused(
        &mut ledger,
        post(2, 10, 1),
        at(2),
        TransferError::NotPending(TransferId(10)),
        "pending_transfer_not_pending",
    );

    assert_eq!(ledger.apply_one(&void(2, 1, 700), at(2)), Ok(Applied::Created));
    assert_eq!(ledger.pending_state(TransferId(1)), Some(PendingState::Voided));
    assert_eq!(ledger.account(SHOPPER).unwrap().available_to_debit(), Some(999));
    refused(
        &mut ledger,
        post(3, 1, 700),
        at(3),
        TransferError::PendingAlreadyVoided(TransferId(1)),
        "pending_transfer_already_voided",
    );
}

#[test]
fn a_hold_expires_at_its_deadline_and_then_cannot_be_posted() {
    let mut ledger = ledger();
    ledger.apply_one(&hold(1, 700), at(1_000)).unwrap();
    assert_eq!(ledger.next_deadline(), Some(at(2_000)));
    assert_eq!(ledger.expire_due(at(1_999)), []);
    // At the deadline it can no longer be posted, even before expiry has run.
    refused(
        &mut ledger,
        post(2, 1, 700),
        at(2_000),
        TransferError::PendingExpired(TransferId(1)),
        "pending_transfer_expired",
    );
    assert_eq!(ledger.expire_due(at(2_000)), [TransferId(1)]);
    assert_eq!(ledger.pending_state(TransferId(1)), Some(PendingState::Expired));
    assert_eq!(ledger.account(SHOPPER).unwrap().available_to_debit(), Some(1000));
    refused(
        &mut ledger,
        void(2, 1, 700),
        at(2_001),
        TransferError::PendingExpired(TransferId(1)),
        "pending_transfer_expired",
    );
    assert_eq!(ledger.expire_due(at(9_000)), [], "expiry happens once");
    assert!(matches!(ledger.journal().last(), Some(JournalEntry::Expired { pending_id: TransferId(1), .. })));
    ledger.verify().unwrap();
}

#[test]
fn a_linked_chain_succeeds_or_fails_as_one() {
    let mut ledger = ledger();
    let linked = |r: TransferRequest| TransferRequest { linked: true, ..r };
    // Fee and payment together; the payment is too large, so the fee must not stay either.
    let batch = [linked(posted(1, SHOPPER, BANK, 10)), hold(2, 995), posted(3, SHOPPER, MERCHANT, 5)];
    let results = ledger.submit(&batch, at(1));
    assert_eq!(
        results,
        [Err(TransferError::LinkedEventFailed), Err(TransferError::ExceedsCredits), Ok(Applied::Created)]
    );
    assert_eq!(balance(&ledger, SHOPPER), 995);
    assert!(ledger.transfer(TransferId(1)).is_none() && ledger.transfer(TransferId(2)).is_none());
    assert_eq!(ledger.next_deadline(), None);
    ledger.verify().unwrap();

    // A chain that fits happens whole; a failure later in a longer chain undoes a post too.
    assert_eq!(
        ledger.submit(&[linked(posted(4, SHOPPER, BANK, 10)), hold(5, 900)], at(2)),
        [Ok(Applied::Created); 2]
    );
    let results = ledger.submit(
        &[linked(post(6, 5, 900)), linked(posted(7, SHOPPER, MERCHANT, 1)), posted(8, MERCHANT, MERCHANT, 1)],
        at(3),
    );
    assert_eq!(
        results,
        [
            Err(TransferError::LinkedEventFailed),
            Err(TransferError::LinkedEventFailed),
            Err(TransferError::AccountsMustBeDifferent)
        ]
    );
    assert_eq!(ledger.pending_state(TransferId(5)), Some(PendingState::Held));
    assert_eq!(ledger.next_deadline(), Some(at(1_002)));
    ledger.verify().unwrap();

    let open_chain =
        ledger.submit(&[posted(9, SHOPPER, MERCHANT, 1), linked(posted(10, SHOPPER, MERCHANT, 1))], at(4));
    assert_eq!(open_chain, [Ok(Applied::Created), Err(TransferError::LinkedChainOpen)]);
    assert_eq!(TransferError::LinkedChainOpen.code(), "linked_event_chain_open");
    assert_eq!(TransferError::LinkedEventFailed.code(), "linked_event_failed");
}

#[test]
fn totals_that_would_overflow_are_refused() {
    let mut ledger = ledger();
    let mint = AccountId(60);
    ledger.open_account(Account::new(mint, eur(), BalanceRule::Unbounded, 0)).unwrap();
    ledger.apply_one(&posted(1, mint, MERCHANT, u64::MAX - 999), at(1)).unwrap();
    refused(&mut ledger, posted(2, SHOPPER, MERCHANT, 1000), at(1), TransferError::Overflow, "overflow");
}

#[test]
fn reopening_an_account_is_idempotent_and_changing_it_is_refused() {
    let mut ledger = ledger();
    let plain = BalanceRule::DebitsWithinCredits { credit_limit: 0 };
    assert_eq!(ledger.open_account(Account::new(SHOPPER, eur(), plain, 0)), Ok(Applied::AlreadyExists));
    let changed = ledger.open_account(Account::new(SHOPPER, eur(), BalanceRule::Unbounded, 0)).unwrap_err();
    assert_eq!(changed.code(), "account_exists_with_different_fields");
    let mut funded = Account::new(AccountId(77), eur(), plain, 0);
    funded.totals.credits_posted = 1;
    assert_eq!(ledger.open_account(funded).unwrap_err().code(), "account_totals_must_be_zero");
    assert!(ledger.account(AccountId(77)).is_none());
}

/// One random step of the property test.
#[derive(Debug, Clone)]
enum Op {
    Transfer { id: u8, debit: u8, credit: u8, amount: u16, kind: u8, target: u8, linked: bool },
    Advance { ms: u16 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<u8>(), 1..6u8, 1..6u8, 0..1200u16, 0..4u8, any::<u8>(), any::<bool>()).prop_map(
            |(id, debit, credit, amount, kind, target, linked)| Op::Transfer { id, debit, credit, amount, kind, target, linked }
        ),
        1 => (0..1500u16).prop_map(|ms| Op::Advance { ms }),
    ]
}

proptest! {
    #[test]
    fn random_operations_never_unbalance_the_books_and_the_journal_replays(ops in proptest::collection::vec(op(), 1..120)) {
        let mut ledger = ledger();
        let mut now = at(1);
        let mut batch = Vec::new();
        for op in ops {
            match op {
                Op::Advance { ms } => {
                    now = now.plus_ms(i64::from(ms));
                    ledger.expire_due(now);
                }
                Op::Transfer { id, debit, credit, amount, kind, target, linked } => {
                    let id = 1_000 + u128::from(id % 64);
                    let target = TransferId(1_000 + u128::from(target % 64));
                    let kind = match kind {
                        0 => TransferKind::Posted,
                        1 => TransferKind::Pending { timeout_ms: 500 },
                        2 => TransferKind::PostPending { pending_id: target },
                        _ => TransferKind::VoidPending { pending_id: target },
                    };
                    batch.push(TransferRequest {
                        id: TransferId(id), debit: AccountId(debit.into()), credit: AccountId(credit.into()),
                        amount: amount.into(), kind, code: 0, linked,
                    });
                    if !linked || batch.len() > 3 {
                        let before = ledger.clone();
                        let results = ledger.submit(&batch, now);
                        prop_assert_eq!(results.len(), batch.len());
                        // A chain either fully applied or left no trace.
                        if results.contains(&Err(TransferError::LinkedEventFailed)) {
                            let failed_chain_ids: Vec<_> = batch.iter().zip(&results)
                                .filter(|(_, r)| r.is_err()).map(|(t, _)| t.id).collect();
                            for id in failed_chain_ids {
                                prop_assert_eq!(ledger.transfer(id), before.transfer(id));
                            }
                        }
                        batch.clear();
                    }
                }
            }
            prop_assert_eq!(ledger.verify(), Ok(()));
        }
        let replayed = Ledger::replay(ledger.journal()).unwrap();
        for account in ledger.accounts() {
            prop_assert_eq!(replayed.account(account.id), Some(account));
        }
        prop_assert_eq!(replayed.next_deadline(), ledger.next_deadline());
        // A follower that saw the first half catches up with the rest and ends the same.
        let journal = ledger.journal();
        let mut follower = Ledger::replay(&journal[..journal.len() / 2]).unwrap();
        follower.replay_more(&journal[journal.len() / 2..]).unwrap();
        prop_assert_eq!(follower.journal().len(), journal.len());
        for account in ledger.accounts() {
            prop_assert_eq!(follower.account(account.id), Some(account));
        }
        // Entries it has already applied do not replay a second time.
        let again = follower.replay_more(journal).unwrap_err();
        prop_assert_eq!(again.index, journal.len());
    }
}
