//! `JournaledCore` when the store fails: a commit lost after the core ran ahead leaves no trace
//! once the node rebuilds, and the caller's retry then succeeds once. And a refusal that still
//! changed the core is journaled, so a node replaying the journal holds the same state.

use facepay_domain::{Currency, MerchantId, Money, PaymentId, ShopperId, TerminalId, Timestamp};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    AcquirerId, Command, CoreConfig, Identification, JournaledCore, LimitTable, MemoryJournal, MerchantRisk,
    PaymentState, PinPolicy, Reply, RiskConfig, StartPayment, TransactionType,
};

fn eur() -> Currency {
    Currency::new("EUR").unwrap()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_800_000_000_000 + ms)
}

fn config() -> CoreConfig {
    CoreConfig {
        currency: eur(),
        limits: LimitTable::default(),
        pin_policy: PinPolicy { always: false, above_amount_minor: None, on_elevated_risk: false },
        outcome_timeout_ms: 30_000,
        hold_timeout_ms: 600_000,
        funding_source: AccountId(1),
        reserve_account: AccountId(2),
        risk: RiskConfig::default(),
    }
}

/// A node on `journal` with one merchant, terminal and shopper (5,000 in their wallet); the
/// payment request that shopper makes.
fn node_with_a_shopper(journal: &MemoryJournal) -> (JournaledCore<MemoryJournal>, StartPayment) {
    let mut node = JournaledCore::open(config(), journal.clone()).unwrap();
    let (merchant, terminal, shopper) =
        (MerchantId::from_u128(1), TerminalId::from_u128(2), ShopperId::from_u128(3));
    let setup = [
        Command::RegisterMerchant {
            merchant,
            acquirer: AcquirerId(1),
            risk: MerchantRisk::Low,
            account: AccountId(10),
        },
        Command::RegisterTerminal { terminal, merchant },
        Command::EnrollShopper { shopper, phone_last4: "1234".into() },
        Command::BindWallet { shopper, account: AccountId(11), make_default: true },
        Command::TopUp { account: AccountId(11), amount_minor: 5_000, transfer_id: TransferId(1) },
    ];
    for command in setup {
        node.execute(command, at(0)).unwrap().unwrap();
    }
    let request = StartPayment {
        payment_id: PaymentId::from_u128(9),
        terminal,
        idempotency_key: "order-9".into(),
        amount: Money::new(1_000, eur()),
        transaction_type: TransactionType::Purchase,
        liveness_passed: true,
        identification: Identification::Match(shopper),
        order_id: None,
    };
    (node, request)
}

#[test]
fn a_lost_commit_leaves_no_trace_and_the_retry_succeeds_once() {
    let journal = MemoryJournal::default();
    let (mut node, request) = node_with_a_shopper(&journal);
    journal.fail_next_commit();
    let lost = node.execute(Command::StartPayment(request.clone()), at(1));
    assert_eq!(lost.unwrap_err().code(), "store_unavailable");
    node.catch_up().unwrap();
    assert_eq!(node.head(), 5);
    assert!(node.core().payment(request.payment_id).is_none(), "the lost payment is gone from memory too");
    let wallet = |node: &JournaledCore<MemoryJournal>| {
        node.core().ledger().account(AccountId(11)).unwrap().available_to_debit()
    };
    assert_eq!(wallet(&node), Some(5_000), "the hold went with it");

    let retried = node.execute(Command::StartPayment(request.clone()), at(2)).unwrap().unwrap();
    assert!(matches!(retried, Reply::Payment(view) if view.state == PaymentState::Authorized));
    assert_eq!(wallet(&node), Some(4_000));
    let other = JournaledCore::open(config(), journal).unwrap();
    assert!(other.core() == node.core());
}

#[test]
fn a_capture_refused_because_its_hold_expired_is_journaled_and_replays_the_same() {
    let journal = MemoryJournal::default();
    let (mut node, request) = node_with_a_shopper(&journal);
    let payment = request.payment_id;
    node.execute(Command::StartPayment(request), at(1)).unwrap().unwrap();
    let head = node.head();

    // Past the hold's deadline, with no sweep in between: the capture expires the hold on the
    // spot, then refuses.
    let late = node.execute(Command::Capture { payment }, at(1 + 600_001)).unwrap();
    assert_eq!(late.unwrap_err().code(), "pending_transfer_expired");
    assert_eq!(node.core().payment(payment).unwrap().state, PaymentState::Expired);
    assert_eq!(node.head(), head + 1, "the refusal changed the core, so it is in the journal");

    let other = JournaledCore::open(config(), journal).unwrap();
    assert!(other.core() == node.core(), "a node replaying the journal holds the same state");
}
