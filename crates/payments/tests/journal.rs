//! `JournaledCore` and its write contract: a commit lost after the core ran ahead leaves no
//! trace once the node rebuilds, and the caller's retry then succeeds once; every command is
//! journaled with its verdict, a refusal changes nothing (compared on the whole core), and an
//! entry that replays to another verdict stops the node.

mod common;

use facepay_domain::{Currency, MerchantId, Money, PaymentId, ShopperId, TerminalId, Timestamp};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    AcquirerId, Append, Command, CoreConfig, DisputeId, Finding, Identification, Journal, JournaledCore,
    Limit, LimitTable, MemoryJournal, MerchantRisk, PaymentState, PinPolicy, Reply, Retention, RiskConfig,
    StartPayment, TransactionType,
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
        retention: Retention::DEFAULT,
    }
}

/// A node on `journal` with one merchant, terminal and shopper (5,000 in their wallet); the
/// payment request that shopper makes.
fn node_with_a_shopper(journal: &MemoryJournal) -> (JournaledCore<MemoryJournal>, StartPayment) {
    node_on(journal, config())
}

fn node_on(journal: &MemoryJournal, config: CoreConfig) -> (JournaledCore<MemoryJournal>, StartPayment) {
    let mut node = JournaledCore::open(config, journal.clone()).unwrap();
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
        Command::EnrollShopper {
            shopper,
            phone: common::sealed("1234"),
            phone_digest: common::digest(shopper, b"1234"),
        },
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
    assert!(*other.core() == *node.core());
}

#[test]
fn a_capture_refused_because_its_hold_expired_changes_nothing_is_journaled_and_replays_the_same() {
    let journal = MemoryJournal::default();
    let (mut node, request) = node_with_a_shopper(&journal);
    let payment = request.payment_id;
    node.execute(Command::StartPayment(request), at(1)).unwrap().unwrap();
    let head = node.head();

    // Past the hold's deadline, with no sweep in between: the ledger refuses the capture and
    // nothing changes; the sweep, due by then, expires the hold.
    let late_at = at(1 + 600_001);
    assert_eq!(node.core().next_due(), Some(at(1 + 30_000)), "the outcome timeout comes first");
    let before = node.core().clone();
    let late = node.execute(Command::Capture { payment }, late_at).unwrap();
    assert_eq!(late.unwrap_err().code(), "pending_transfer_expired");
    assert!(*node.core() == before, "the refusal changed nothing");
    assert_eq!(node.head(), head + 1, "every command is journaled, refusals too");
    assert_eq!(
        node.journal().read_after(head).unwrap()[0].refused.as_deref(),
        Some("pending_transfer_expired")
    );
    node.execute(Command::Sweep, late_at).unwrap().unwrap();
    assert_eq!(node.core().payment(payment).unwrap().state, PaymentState::Expired);

    let other = JournaledCore::open(config(), journal).unwrap();
    assert!(*other.core() == *node.core(), "a node replaying the journal holds the same state");
}

#[test]
fn a_compensation_the_empty_reserve_cannot_pay_changes_nothing_and_every_node_agrees() {
    // Found by an outside read: the refusal took a transfer id and was not journaled, so the
    // writer's next own transfer id ran ahead of every replica and of its own restart.
    let journal = MemoryJournal::default();
    let (mut node, request) = node_with_a_shopper(&journal);
    let payment = request.payment_id;
    node.execute(Command::StartPayment(request), at(1)).unwrap().unwrap();
    node.execute(Command::Capture { payment }, at(2)).unwrap().unwrap();
    let dispute = DisputeId(1);
    node.execute(Command::OpenDispute { dispute, payment, amount_minor: 400 }, at(3)).unwrap().unwrap();

    let before = node.core().clone();
    let finding = Finding::ShopperNotShownAtFault;
    let refused = node.execute(Command::ResolveDispute { dispute, finding }, at(4)).unwrap();
    assert_eq!(refused.unwrap_err().code(), "reserve_insufficient");
    assert!(*node.core() == before, "the refusal changed nothing, the next transfer id included");

    // With the reserve funded, the same finding pays; a replica and a restart hold the same core.
    let fund = Command::FundReserve { amount_minor: 1_000, transfer_id: TransferId(50) };
    node.execute(fund, at(5)).unwrap().unwrap();
    node.execute(Command::ResolveDispute { dispute, finding }, at(6)).unwrap().unwrap();
    let restarted = JournaledCore::open(config(), journal.clone()).unwrap();
    assert!(*restarted.core() == *node.core(), "a restart replays to the writer's state");
}

#[test]
fn an_entry_that_replays_to_another_verdict_stops_the_node() {
    let journal = MemoryJournal::default();
    let (node, _) = node_with_a_shopper(&journal);
    let head = node.head();
    // Written as accepted; replayed, the core refuses it (there is no payment 77).
    let command = Command::Capture { payment: PaymentId::from_u128(77) };
    let append = Append {
        at: at(9),
        command,
        refused: None,
        outbound: Vec::new(),
        audit: Vec::new(),
        read_model: Default::default(),
    };
    journal.clone().append_with(head, &mut |_| vec![append.clone()]).unwrap();
    let diverged = JournaledCore::open(config(), journal).unwrap_err();
    assert_eq!(diverged.code(), "store_journal_diverged");
    assert!(diverged.to_string().contains("written as accepted, replayed as payment_unknown"), "{diverged}");
}

#[test]
fn nothing_is_due_on_an_idle_core_and_a_payment_is_due_at_its_outcome_timeout() {
    let journal = MemoryJournal::default();
    let (mut node, request) = node_with_a_shopper(&journal);
    let forget_top_up = at(config().retention.longest_ms());
    assert_eq!(node.core().next_due(), Some(forget_top_up), "nothing waits but forgetting the top-up");
    let payment = request.payment_id;
    node.execute(Command::StartPayment(request), at(1)).unwrap().unwrap();
    assert_eq!(node.core().next_due(), Some(at(1 + 30_000)));
    node.execute(Command::Capture { payment }, at(2)).unwrap().unwrap();
    let window = config().retention.idempotency_ms;
    assert_eq!(
        node.core().next_due(),
        Some(at(1 + window)),
        "a captured payment waits only for its idempotency window to pass"
    );
}

/// Short windows: keys for a second, refunds and disputes for five.
fn short_windows() -> CoreConfig {
    CoreConfig { retention: Retention { idempotency_ms: 1_000, refund_window_ms: 5_000 }, ..config() }
}

#[test]
fn a_payment_past_its_windows_is_forgotten_by_the_core_and_kept_by_the_store() {
    let journal = MemoryJournal::default();
    let (mut node, request) = node_on(&journal, short_windows());
    let payment = request.payment_id;
    node.execute(Command::StartPayment(request.clone()), at(1)).unwrap().unwrap();
    node.execute(Command::Capture { payment }, at(2)).unwrap().unwrap();
    let refund = |refund_id| Command::Refund { payment, refund_id: TransferId(refund_id), amount_minor: 100 };
    node.execute(refund(500), at(3)).unwrap().unwrap();

    // Past the key's window a captured payment stays: it can still be refunded or disputed.
    node.execute(Command::Sweep, at(1_001)).unwrap().unwrap();
    assert!(node.core().payment(payment).is_some());
    assert_eq!(node.core().next_due(), Some(at(5_000)), "forgetting the top-up comes first");
    node.execute(Command::Sweep, at(5_000)).unwrap().unwrap();
    assert_eq!(node.core().next_due(), Some(at(5_001)));
    let late = node.execute(refund(501), at(5_001)).unwrap().unwrap_err();
    assert_eq!(late.code(), "payment_window_closed");
    let dispute = Command::OpenDispute { dispute: DisputeId(1), payment, amount_minor: 10 };
    assert_eq!(node.execute(dispute, at(5_001)).unwrap().unwrap_err().code(), "payment_window_closed");

    // Past both: the record, its key, its refunds and its ledger transfers go; the store keeps
    // the payment as it ended and the movements settlement reads.
    node.execute(Command::Sweep, at(5_001)).unwrap().unwrap();
    assert_eq!((node.core().payment(payment), node.core().payments_held()), (None, 0));
    // The ledger forgets each transfer a whole refund window after it was applied.
    assert_eq!(node.core().ledger().transfers_held(), 2, "the capture and the refund are younger");
    assert_eq!(node.core().next_due(), Some(at(5_002)));
    node.execute(Command::Sweep, at(5_003)).unwrap().unwrap();
    assert_eq!(node.core().ledger().transfers_held(), 0);
    let row = node.journal().payment_row(payment).unwrap().expect("the store keeps the payment");
    assert_eq!(row.state, PaymentState::Captured { refunded_minor: 100 });
    let day = (at(0), at(10_000));
    let report = facepay_payments::settlement_report(node.journal(), "EUR", day.0, day.1).unwrap().unwrap();
    assert_eq!(report.acquirers[0].position.net_minor, 900, "1,000 captured less 100 refunded");
    // The forgotten payment is unknown to the core: a refund is refused with nothing changed.
    let before = node.core().clone();
    assert_eq!(node.execute(refund(502), at(5_002)).unwrap().unwrap_err().code(), "payment_unknown");
    assert_eq!(*node.core(), before);

    let restarted = JournaledCore::open(short_windows(), journal.clone()).unwrap();
    assert_eq!(*restarted.core(), *node.core(), "a replay forgets exactly what the writer forgot");
}

#[test]
fn a_declined_payment_is_forgotten_after_the_key_window_and_an_open_dispute_keeps_one() {
    let journal = MemoryJournal::default();
    let (mut node, request) = node_on(&journal, short_windows());
    let declined = StartPayment { liveness_passed: false, ..request.clone() };
    node.execute(Command::StartPayment(declined), at(1)).unwrap().unwrap();
    let disputed =
        StartPayment { payment_id: PaymentId::from_u128(10), idempotency_key: "order-10".into(), ..request };
    let payment = disputed.payment_id;
    node.execute(Command::StartPayment(disputed), at(1)).unwrap().unwrap();
    node.execute(Command::Capture { payment }, at(2)).unwrap().unwrap();
    let open = Command::OpenDispute { dispute: DisputeId(1), payment, amount_minor: 300 };
    node.execute(open, at(3)).unwrap().unwrap();

    node.execute(Command::Sweep, at(1_001)).unwrap().unwrap();
    assert_eq!(node.core().payment(PaymentId::from_u128(9)), None, "declined: only its key's window");
    node.execute(Command::Sweep, at(9_000)).unwrap().unwrap();
    assert!(node.core().payment(payment).is_some(), "an open dispute keeps its payment");
    let resolve = Command::ResolveDispute { dispute: DisputeId(1), finding: Finding::ShopperAtFault };
    node.execute(resolve, at(9_001)).unwrap().unwrap();
    let next = node.core().next_due().expect("looked at again");
    node.execute(Command::Sweep, next).unwrap().unwrap();
    assert_eq!(node.core().payment(payment), None, "settled, and forgotten with its dispute");
    assert_eq!(node.core().dispute(DisputeId(1)), None);
}

#[test]
fn a_store_without_a_read_model_gets_one_from_the_replay() {
    let journal = MemoryJournal::default();
    let (mut node, request) = node_with_a_shopper(&journal);
    let payment = request.payment_id;
    node.execute(Command::StartPayment(request), at(1)).unwrap().unwrap();
    node.execute(Command::Capture { payment }, at(2)).unwrap().unwrap();
    let written = (journal.payment_rows(), journal.stored_movements());
    assert_eq!(written.0[&payment].state, PaymentState::Captured { refunded_minor: 0 });
    assert_eq!(written.1.len(), 3, "the top-up, the hold and its capture");

    journal.drop_read_model();
    let mut restarted = JournaledCore::open(config(), journal.clone()).unwrap();
    assert_eq!((journal.payment_rows(), journal.stored_movements()), written);
    assert_eq!(restarted.journal().read_model_through().unwrap(), restarted.head());
}

#[test]
fn a_wrong_pin_is_a_counted_try_journaled_as_an_answer() {
    let journal = MemoryJournal::default();
    let mut always = config();
    always.pin_policy.always = true;
    let (mut node, request) = node_on(&journal, always.clone());
    let shopper = ShopperId::from_u128(3);
    let hash = common::sealed("an Argon2 hash, sealed");
    node.execute(Command::SetPinHash { shopper, hash }, at(0)).unwrap().unwrap();
    let payment = request.payment_id;
    node.execute(Command::StartPayment(request), at(1)).unwrap().unwrap();
    assert_eq!(node.core().payment(payment).unwrap().state, PaymentState::NeedsPin);

    let wrong = node.execute(Command::PinChecked { payment, matched: false }, at(2)).unwrap().unwrap();
    assert_eq!(wrong, Reply::PinWrong { tries_left: 4 });
    let replica = JournaledCore::open(always, journal).unwrap();
    assert!(*replica.core() == *node.core(), "the counted try replays");
    let right = node.execute(Command::PinChecked { payment, matched: true }, at(3)).unwrap().unwrap();
    assert!(matches!(right, Reply::Payment(view) if view.state == PaymentState::Authorized));
}

#[test]
fn a_pin_change_counts_a_wrong_current_pin_and_changes_nothing_while_locked() {
    let journal = MemoryJournal::default();
    let (mut node, _) = node_with_a_shopper(&journal);
    let shopper = ShopperId::from_u128(3);
    let (old, new) = (common::sealed("the first PIN's hash"), common::sealed("a new PIN's hash"));
    let change = |current_matched| Command::ChangePin { shopper, current_matched, hash: new.clone() };
    let before = node.core().clone();
    let refused = node.execute(change(true), at(0)).unwrap().unwrap_err();
    assert_eq!(refused.code(), "pin_not_set");
    assert!(*node.core() == before, "a refusal changes nothing");

    node.execute(Command::SetPinHash { shopper, hash: old.clone() }, at(1)).unwrap().unwrap();
    for (step, tries_left) in [4, 3, 2, 1, 0].into_iter().enumerate() {
        let wrong = node.execute(change(false), at(2 + step as i64)).unwrap().unwrap();
        assert_eq!(wrong, Reply::PinWrong { tries_left });
    }
    let locked = node.core().clone();
    let refused = node.execute(change(true), at(10)).unwrap().unwrap_err();
    assert_eq!(refused.code(), "pin_locked");
    assert!(*node.core() == locked, "while locked nothing is compared, counted or changed");
    assert_eq!(node.core().sealed_pin_hash(shopper), Some(&old));

    let after_the_lock = at(10 + facepay_payments::PIN_LOCK_MS);
    assert_eq!(node.execute(change(true), after_the_lock).unwrap().unwrap(), Reply::Done);
    assert_eq!(node.core().sealed_pin_hash(shopper), Some(&new));
    let replica = JournaledCore::open(config(), journal).unwrap();
    assert!(*replica.core() == *node.core(), "every try replays");
}

#[test]
fn command_time_never_runs_back_whatever_a_nodes_clock_says() {
    let journal = MemoryJournal::default();
    let (mut a, _) = node_with_a_shopper(&journal);
    let mut b = JournaledCore::open(config(), journal.clone()).unwrap();
    a.execute(Command::Sweep, at(10_000)).unwrap().unwrap();
    // B's clock is behind A's; after a restart the node's own clock went back too.
    b.execute(Command::Sweep, at(5_000)).unwrap().unwrap();
    let mut restarted = JournaledCore::open(config(), journal.clone()).unwrap();
    restarted.execute(Command::Sweep, at(1_000)).unwrap().unwrap();
    a.execute(Command::Sweep, at(12_000)).unwrap().unwrap();
    let times: Vec<i64> =
        journal.clone().read_after(0).unwrap().iter().map(|entry| entry.at.unix_ms).collect();
    let expected = [10_000, 10_000, 10_000, 12_000].map(|ms| at(ms).unix_ms);
    assert_eq!(times[times.len() - 4..], expected, "{times:?}");
    assert!(times.is_sorted(), "{times:?}");
}

/// Found by the 10M soak: a checkpoint restored under the node's configuration dropped the limit
/// table the operator had set by a journaled command, so the tail replayed under other limits and
/// a capture the writer accepted replayed as refused (`store_journal_diverged`).
#[test]
fn a_restart_from_a_checkpoint_keeps_the_operators_limit_table() {
    let journal = MemoryJournal::default();
    let (mut node, request) = node_with_a_shopper(&journal);
    let tight = Limit { per_transaction_minor: 500, daily_minor: 500 };
    let table = LimitTable { shopper_standard: tight, ..LimitTable::default() };
    node.execute(Command::SetLimitTable { table: table.clone() }, at(1)).unwrap().unwrap();
    node.checkpoint_now().unwrap().expect("a checkpoint is written");
    let restarted = JournaledCore::open(config(), journal.clone()).unwrap();
    assert!(restarted.started_from().0.is_some(), "from the checkpoint");
    assert_eq!(restarted.core().limit_table(), &table);
    assert_eq!(*restarted.core(), *node.core());

    let declined = node.execute(Command::StartPayment(request), at(2)).unwrap().unwrap();
    let Reply::Payment(view) = declined else { panic!("a payment reply") };
    assert_eq!(
        view.state,
        PaymentState::Declined(facepay_payments::DeclineReason::LimitPerTransactionExceeded)
    );
    let mut replica = JournaledCore::open(config(), journal).unwrap();
    replica.catch_up().unwrap();
    assert_eq!(*replica.core(), *node.core(), "the tail replays to the same verdicts");
}
