//! The storage contract: one suite of tests that every store behind the `payments` journal port
//! runs unchanged (`store-sqlite`, `store-postgres`, and `payments::MemoryJournal` here).
//! `contract_tests!(fresh_database())` expands to one `#[test]` per case; each case gets a new,
//! empty database and opens as many connections (nodes, restarts) as it needs.
//!
//! `biometric` is the same for the vault's port (`biometric_contract_tests!`). `crash` is the
//! crash test (SIGKILL at random moments) that each store's test binary runs on itself.
//!
//! Must never: depend on a particular store, or pass by sleeping; races are forced with barriers,
//! and a change expected on another node is waited for with a deadline.
// crash: waits a random while before the kill; biometric: measures how soon a node sees a change
#![allow(clippy::disallowed_methods)]

pub mod biometric;
pub mod crash;
pub mod world;

use std::sync::{Arc, Barrier};
use std::thread;

use facepay_domain::PaymentId;
use facepay_ledger::TransferId;
use facepay_payments::{
    AuditAction, AuditEvent, AuditFilter, CheckpointPolicy, Command, CoreError, DeclineReason, DisputeId,
    Finding, Identification, IssuerAnswer, IssuerId, IssuerMessage, Journal, JournalError, JournaledCore,
    Limit, MemoryJournal, Outbound, Party, PaymentState, PinHash, Recipient, Reply, ShopperRiskTier,
    StartPayment, group_commit_queue, settlement_report, write_batches,
};

use world::*;

/// A database made for one test; every `connect` is another node's (or a restarted node's)
/// connection to it.
pub trait Database {
    type Journal: Journal + Send + 'static;
    fn connect(&self) -> Self::Journal;
    /// Changes the stored checkpoint at `seq` behind the store's back, as a bad disk would.
    fn corrupt_checkpoint(&self, seq: u64);
    /// Changes the actor of stored audit entry `seq` behind the store's back.
    fn tamper_audit(&self, seq: u64);
    /// Deletes every stored audit entry, as a store from before they were kept holds none.
    fn drop_stored_audit(&self);
}

/// The in-memory fake: each connection shares one `MemoryJournal`.
#[derive(Debug, Default)]
pub struct MemoryDatabase(MemoryJournal);

impl Database for MemoryDatabase {
    type Journal = MemoryJournal;
    fn connect(&self) -> MemoryJournal {
        self.0.clone()
    }
    fn corrupt_checkpoint(&self, seq: u64) {
        self.0.corrupt_checkpoint(seq);
    }
    fn tamper_audit(&self, seq: u64) {
        self.0.tamper_audit(seq);
    }
    fn drop_stored_audit(&self) {
        self.0.drop_stored_audit();
    }
}

/// One `#[test]` per contract case, each on `$fresh` (an expression making a new `Database`).
#[macro_export]
macro_rules! contract_tests {
    ($fresh:expr) => {
        $crate::contract_tests!(@cases $fresh;
            every_command_survives_a_restart,
            every_command_is_journaled_with_its_verdict_and_a_refusal_changes_nothing,
            a_retry_after_a_restart_is_not_a_second_charge,
            a_node_sees_what_another_node_wrote,
            two_nodes_refunding_one_payment_refund_it_once,
            two_payments_racing_one_daily_limit_take_it_once,
            outbound_messages_wait_until_delivered,
            a_silent_bank_s_backlog_never_hides_another_bank_s_authorization,
            a_batch_commits_as_one,
            concurrent_callers_share_one_writer,
            a_restart_starts_from_the_newest_checkpoint_and_replays_only_the_tail,
            a_corrupt_checkpoint_is_skipped_for_the_one_before,
            the_audit_log_lives_in_the_store_and_a_changed_entry_breaks_the_chain,
            pruning_keeps_what_a_start_needs_and_a_lagging_node_catches_up_from_a_checkpoint,
            the_read_model_is_written_with_each_entry_and_settlement_reads_it,
            the_read_model_finds_any_time_window_among_many_rows,
            a_spent_nonce_is_refused_by_every_connection_until_it_expires,
            device_template_grants_and_challenges_are_shared_and_used_once,
        );
    };
    (@cases $fresh:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::$case(&$fresh);
            }
        )*
    };
}

/// A node on a new connection, with the world built when the database is new.
pub fn node<D: Database>(database: &D) -> JournaledCore<D::Journal> {
    let mut node = JournaledCore::open(config(), database.connect()).expect("the store opens");
    if node.head() == 0 {
        let setup = setup().into_iter().map(|command| (command, at(0))).collect();
        for reply in node.execute_all(setup).expect("the store commits") {
            reply.expect("the world's commands are accepted");
        }
    }
    node
}

fn run<J: Journal>(node: &mut JournaledCore<J>, command: Command, ms: i64) -> Result<Reply, CoreError> {
    node.execute(command, at(ms)).expect("the store commits")
}

fn state<J: Journal>(node: &JournaledCore<J>, payment: u128) -> PaymentState {
    node.core().payment(PaymentId::from_u128(payment)).expect("the payment exists").state
}

fn restarted<D: Database>(database: &D, before: &JournaledCore<D::Journal>) -> JournaledCore<D::Journal> {
    let after = JournaledCore::open(config(), database.connect()).expect("the store reopens");
    assert_eq!(after.head(), before.head(), "the restarted node read every entry");
    assert!(*after.core() == *before.core(), "replaying the journal rebuilt a different core");
    after
}

/// A payment's row and the ledger's movements are committed with the entry that made them, so
/// another connection reads the payment as it ended and sums the day's settlement from the
/// store alone.
pub fn the_read_model_is_written_with_each_entry_and_settlement_reads_it<D: Database>(database: &D) {
    let mut a = node(database);
    let id = PaymentId::from_u128(300);
    run(&mut a, Command::StartPayment(pay(300, TERMINAL_A, 1_000, Identification::Match(ALICE))), 10)
        .unwrap();
    run(&mut a, Command::Capture { payment: id }, 11).unwrap();
    run(&mut a, Command::Refund { payment: id, refund_id: TransferId(30_000), amount_minor: 200 }, 12)
        .unwrap();

    let mut reader = database.connect();
    let row = reader.payment_row(id).expect("the store reads").expect("the payment has a row");
    assert_eq!(
        (row.state, row.terminal, row.merchant),
        (PaymentState::Captured { refunded_minor: 200 }, TERMINAL_A, MERCHANT)
    );
    assert_eq!(reader.payment_row(PaymentId::from_u128(301)).expect("the store reads"), None);
    assert_eq!(reader.read_model_through().expect("the store reads"), a.head());
    let (payments, movements) = reader.read_model_size().expect("the store reads");
    assert_eq!(payments, 1);
    // The refund moved money last, so the newest movement is the ledger journal's last entry.
    assert_eq!(movements, a.core().ledger().journal_len(), "the newest movement is the refund");
    let report = settlement_report(&mut reader, "EUR", at(0), at(1_000)).expect("the store reads").unwrap();
    assert!(report.balances());
    let merchant = a.core().ledger().account(MERCHANT_ACCOUNT).unwrap().posted_balance();
    assert_eq!(i128::from(report.acquirers[0].position.net_minor), merchant);
    assert_eq!(report.acquirers[0].position.net_minor, 800, "1,000 captured less 200 refunded");
    let empty =
        settlement_report(&mut reader, "EUR", at(1_000), at(2_000)).expect("the store reads").unwrap();
    assert!(empty.acquirers.is_empty(), "nothing moved in that window");

    // The dashboard's counts and latest payments come from the store too.
    let declined =
        StartPayment { liveness_passed: false, ..pay(302, TERMINAL_A, 500, Identification::Match(ALICE)) };
    run(&mut a, Command::StartPayment(declined), 60_010).unwrap();
    let tallies = reader.payment_tallies(at(0)).expect("the store reads");
    let tally = |minute, state: &str| {
        tallies
            .iter()
            .find(|t| (t.minute, t.state.as_str()) == (minute, state))
            .map(|t| (t.count, t.decline_reason.clone()))
    };
    assert_eq!(tally(0, "captured"), Some((1, None)));
    assert_eq!(tally(1, "declined"), Some((1, Some("liveness_failed".to_owned()))));
    assert_eq!(tallies.len(), 2, "{tallies:?}");
    assert!(reader.payment_tallies(at(60_011)).expect("the store reads").is_empty());
    let latest: Vec<PaymentId> =
        reader.latest_payments(5).expect("the store reads").iter().map(|row| row.id).collect();
    assert_eq!(latest, [PaymentId::from_u128(302), id], "newest first");
}

/// The dashboard's counts, the latest payments and settlement's movements are cut by time from
/// many rows, several written in one millisecond: every cut, at a row, between rows, before the
/// first and after the last, holds exactly the rows on its side.
pub fn the_read_model_finds_any_time_window_among_many_rows<D: Database>(database: &D) {
    let mut a = node(database);
    // Three payments a millisecond, a second apart, then a long pause before the last.
    let started: Vec<(u128, i64)> =
        (0..30).map(|k| (400 + k as u128, 1_000 * (k / 3))).chain([(499, 100_000)]).collect();
    for &(id, ms) in &started {
        let paid =
            run(&mut a, Command::StartPayment(pay(id, TERMINAL_A, 100, Identification::Match(ALICE))), ms);
        if paid.is_ok_and(
            |reply| matches!(reply, Reply::Payment(view) if view.state == PaymentState::Authorized),
        ) {
            run(&mut a, Command::Capture { payment: PaymentId::from_u128(id) }, ms).unwrap();
        }
    }
    let mut reader = database.connect();
    for since in [-5, 0, 1, 999, 1_000, 4_500, 9_000, 9_001, 99_999, 100_000, 100_001] {
        let counted: u64 =
            reader.payment_tallies(at(since)).expect("the store reads").iter().map(|t| t.count).sum();
        let expected = started.iter().filter(|&&(_, ms)| ms >= since).count() as u64;
        assert_eq!(counted, expected, "payments started from {since} ms on");
    }
    let latest: Vec<PaymentId> =
        reader.latest_payments(4).expect("the store reads").iter().map(|row| row.id).collect();
    let expected: Vec<PaymentId> = [499, 429, 428, 427].into_iter().map(PaymentId::from_u128).collect();
    assert_eq!(latest, expected, "newest first");

    let all = reader.movements(at(-1_000_000), at(1_000_000), 0, usize::MAX).expect("the store reads");
    assert!(all.len() > 30, "the world's top-ups, the holds and their captures: {}", all.len());
    for (from, to) in
        [(-5, 0), (0, 1), (0, 1_000), (999, 1_001), (1_000, 9_000), (9_000, 100_000), (100_000, 100_001)]
    {
        let cut = reader.movements(at(from), at(to), 0, usize::MAX).expect("the store reads");
        let expected: Vec<_> = all.iter().filter(|m| m.at >= at(from) && m.at < at(to)).copied().collect();
        assert_eq!(cut, expected, "movements in [{from}, {to})");
    }
    let second = all[all.len() / 2].number;
    let paged = reader.movements(at(0), at(100_001), second, 3).expect("the store reads");
    let expected: Vec<_> =
        all.iter().filter(|m| m.number > second && m.at >= at(0)).take(3).copied().collect();
    assert_eq!(paged, expected, "a page after a movement already read");
}

/// Every kind of command, accepted, then a restart rebuilds exactly the same core.
pub fn every_command_survives_a_restart<D: Database>(database: &D) {
    let mut a = node(database);
    let p = |id| PaymentId::from_u128(id);
    let accepted: Vec<(Command, i64)> = vec![
        (
            Command::SetMerchantStatus {
                merchant: MERCHANT,
                status: facepay_payments::MerchantStatus::Active,
            },
            1,
        ),
        (Command::SuspendTerminal { terminal: TERMINAL_B, suspended: true }, 1),
        (Command::SuspendTerminal { terminal: TERMINAL_B, suspended: false }, 1),
        (Command::SwitchFacePaymentEverywhere { off: false }, 1),
        (Command::SwitchFacePaymentForMerchant { merchant: MERCHANT, off: false }, 1),
        (Command::SwitchFacePaymentForTerminal { terminal: TERMINAL_A, off: false }, 1),
        (Command::PauseShopper { shopper: ALICE, paused: false }, 1),
        (
            Command::SetShopperLimit {
                shopper: ALICE,
                limit: Some(Limit { per_transaction_minor: 20_000, daily_minor: 50_000 }),
                tier: Some(ShopperRiskTier::Standard),
            },
            1,
        ),
        (Command::ChooseDefaultFunding { shopper: ALICE, source: alice_wallet() }, 1),
        // 1: Alice pays 1,000, captured, part refunded, then disputed, compensated, charged back.
        (Command::StartPayment(pay(1, TERMINAL_A, 1_000, Identification::Match(ALICE))), 2),
        (Command::Capture { payment: p(1) }, 3),
        (Command::Refund { payment: p(1), refund_id: TransferId(500), amount_minor: 300 }, 4),
        (Command::OpenDispute { dispute: DisputeId(1), payment: p(1), amount_minor: 200 }, 5),
        (
            Command::AddDisputeEvidence {
                dispute: DisputeId(1),
                party: Party::Shopper,
                note: sealed("not me"),
            },
            6,
        ),
        (Command::ResolveDispute { dispute: DisputeId(1), finding: Finding::ShopperNotShownAtFault }, 7),
        (Command::ChargeBack { dispute: DisputeId(1) }, 8),
        // 2: ambiguous between Alice and Bob; Bob's digits pick him, his bank approves.
        (Command::StartPayment(pay(2, TERMINAL_A, 800, Identification::Ambiguous)), 10),
        (typed_digits(p(2), BOB, "2222"), 11),
        (Command::IssuerAnswered { payment: p(2), answer: IssuerAnswer::Approved }, 12),
        (Command::Capture { payment: p(2) }, 13),
        // 3: Carol's large payment asks for the PIN.
        (Command::StartPayment(pay(3, TERMINAL_B, PIN_ABOVE_MINOR + 1, Identification::Match(CAROL))), 20),
        (Command::PinChecked { payment: p(3), matched: true }, 21),
        // 4 is voided, 5 captured and reversed, 6 left for the sweep to reverse.
        (Command::StartPayment(pay(4, TERMINAL_A, 500, Identification::Match(ALICE))), 30),
        (Command::Void { payment: p(4) }, 31),
        (Command::StartPayment(pay(5, TERMINAL_A, 700, Identification::Match(ALICE))), 32),
        (Command::Capture { payment: p(5) }, 33),
        (Command::Reverse { payment: p(5) }, 34),
        (Command::StartPayment(pay(6, TERMINAL_A, 400, Identification::Match(ALICE))), 35),
        (Command::Sweep, 35 + OUTCOME_TIMEOUT_MS),
        (Command::FundReserve { amount_minor: 1_000, transfer_id: TransferId(903) }, 40 + OUTCOME_TIMEOUT_MS),
    ];
    for (command, ms) in accepted {
        let described = format!("{command:?}");
        if let Err(refused) = run(&mut a, command, ms) {
            panic!("{described} was refused: {refused}");
        }
    }
    assert_eq!(state(&a, 1), PaymentState::Captured { refunded_minor: 300 });
    assert_eq!(state(&a, 2), PaymentState::Captured { refunded_minor: 0 });
    assert_eq!(state(&a, 3), PaymentState::Reversed, "authorized, then swept");
    assert_eq!(state(&a, 4), PaymentState::Voided);
    assert_eq!(state(&a, 5), PaymentState::Reversed);
    assert_eq!(state(&a, 6), PaymentState::Reversed);
    a.core().ledger().verify().expect("the ledger balances");
    let b = restarted(database, &a);
    b.core().ledger().verify().expect("the replayed ledger balances");
}

/// Every command is journaled with its verdict: a refused one changes nothing (the whole core
/// compared) and replays to the same refusal; a wrong PIN is an answer that counts a try, and
/// survives a restart.
pub fn every_command_is_journaled_with_its_verdict_and_a_refusal_changes_nothing<D: Database>(database: &D) {
    let mut a = node(database);
    let head = a.head();
    let before = a.core().clone();
    let refused = run(&mut a, Command::Capture { payment: PaymentId::from_u128(77) }, 1);
    assert_eq!(refused.unwrap_err().code(), "payment_unknown");
    let refused = run(&mut a, enroll(ALICE, "9"), 1);
    assert_eq!(refused.unwrap_err().code(), "already_registered");
    assert!(*a.core() == before, "the refusals changed nothing");
    let written = a.journal().read_after(head).expect("the store reads");
    let verdicts: Vec<Option<&str>> = written.iter().map(|entry| entry.refused.as_deref()).collect();
    assert_eq!(verdicts, [Some("payment_unknown"), Some("already_registered")]);

    run(
        &mut a,
        Command::StartPayment(pay(1, TERMINAL_A, PIN_ABOVE_MINOR + 1, Identification::Match(CAROL))),
        2,
    )
    .unwrap();
    let check = |node: &JournaledCore<D::Journal>, typed: &str, ms: i64| {
        let check = node.core().pin_check(PaymentId::from_u128(1), at(ms)).unwrap();
        let hash = PinHash::from_bytes(check.sealed_hash().as_bytes()).expect("Carol's PIN hash");
        check.verdict(&hash, typed).unwrap()
    };
    let wrong = check(&a, "000000", 3);
    assert_eq!(wrong, Command::PinChecked { payment: PaymentId::from_u128(1), matched: false });
    assert_eq!(run(&mut a, wrong, 3).unwrap(), Reply::PinWrong { tries_left: 4 });
    assert_eq!(a.head(), head + 4, "two refusals, the payment and the wrong PIN");
    let mut b = restarted(database, &a);
    let right = check(&b, CAROL_PIN, 4);
    assert_eq!(
        run(&mut b, right, 4).unwrap(),
        Reply::Payment(b.core().payment(PaymentId::from_u128(1)).unwrap())
    );
    assert_eq!(state(&b, 1), PaymentState::Authorized);
}

/// A terminal that retries after the switch restarted gets the first payment back, and the
/// wallet is charged once.
pub fn a_retry_after_a_restart_is_not_a_second_charge<D: Database>(database: &D) {
    let mut a = node(database);
    let request = pay(1, TERMINAL_A, 2_500, Identification::Match(ALICE));
    let first = run(&mut a, Command::StartPayment(request.clone()), 1).unwrap();
    run(&mut a, Command::Capture { payment: request.payment_id }, 2).unwrap();
    drop(a);
    let mut b = node(database);
    let head = b.head();
    let retry = run(&mut b, Command::StartPayment(request.clone()), 3).unwrap();
    let (Reply::Payment(first), Reply::Payment(retry)) = (first, retry) else { panic!("payment replies") };
    assert_eq!((first.id, first.state), (request.payment_id, PaymentState::Authorized));
    assert_eq!((retry.id, retry.state), (request.payment_id, PaymentState::Captured { refunded_minor: 0 }));
    let wallet = b.core().ledger().account(ALICE_WALLET).unwrap().posted_balance();
    assert_eq!(wallet, i128::from(ALICE_TOP_UP_MINOR - 2_500), "charged once");
    let mut other = request;
    other.amount = facepay_domain::Money::new(2_600, eur());
    assert_eq!(run(&mut b, Command::StartPayment(other), 4).unwrap_err().code(), "idempotency_key_reused");
    assert_eq!(b.head(), head + 2, "the retry and the refused reuse are both journaled");
}

/// What one node writes, another reads on catching up, and its next write starts from it.
pub fn a_node_sees_what_another_node_wrote<D: Database>(database: &D) {
    let mut a = node(database);
    let mut b = node(database);
    run(&mut a, Command::StartPayment(pay(1, TERMINAL_A, 900, Identification::Match(ALICE))), 1).unwrap();
    assert!(b.core().payment(PaymentId::from_u128(1)).is_none(), "b has not looked yet");
    b.catch_up().unwrap();
    assert_eq!(state(&b, 1), PaymentState::Authorized);
    // b captures without catching up first: the write itself brings b up to date.
    run(&mut a, Command::StartPayment(pay(2, TERMINAL_B, 100, Identification::Match(ALICE))), 2).unwrap();
    run(&mut b, Command::Capture { payment: PaymentId::from_u128(2) }, 3).unwrap();
    a.catch_up().unwrap();
    assert!(*a.core() == *b.core(), "two nodes on one journal disagree");
}

/// Two nodes refund the whole of one payment at the same moment: one refund goes through, the
/// other is refused, and the payment is refunded once.
pub fn two_nodes_refunding_one_payment_refund_it_once<D: Database>(database: &D) {
    let mut a = node(database);
    let mut b = node(database);
    for round in 0..10u128 {
        let id = PaymentId::from_u128(100 + round);
        let ms = 1_000 * round as i64;
        run(
            &mut a,
            Command::StartPayment(pay(100 + round, TERMINAL_A, 1_000, Identification::Match(ALICE))),
            ms,
        )
        .unwrap();
        run(&mut a, Command::Capture { payment: id }, ms + 1).unwrap();
        b.catch_up().unwrap();
        let refund = |refund_id| Command::Refund {
            payment: id,
            refund_id: TransferId(refund_id),
            amount_minor: 1_000,
        };
        let (first, second) =
            race((a, refund(10_000 + 2 * round), ms + 2), (b, refund(10_001 + 2 * round), ms + 2));
        (a, b) = (first.0, second.0);
        let codes = [&first.1, &second.1].map(|reply| reply.as_ref().err().map(CoreError::code));
        let mut sorted = codes;
        sorted.sort();
        assert_eq!(sorted, [None, Some("refund_exceeds_captured")], "round {round}: {codes:?}");
        a.catch_up().unwrap();
        assert_eq!(state(&a, 100 + round), PaymentState::Captured { refunded_minor: 1_000 });
    }
    b.catch_up().unwrap();
    assert!(*a.core() == *b.core());
    let merchant = a.core().ledger().account(MERCHANT_ACCOUNT).unwrap().posted_balance();
    assert_eq!(merchant, 0, "every payment was refunded exactly once");
    restarted(database, &a).core().ledger().verify().unwrap();
}

/// Alice's own daily limit fits one of two payments that two nodes start at the same moment:
/// one is authorized, the other declined for the limit.
pub fn two_payments_racing_one_daily_limit_take_it_once<D: Database>(database: &D) {
    let mut a = node(database);
    let limit = Some(Limit { per_transaction_minor: 5_000, daily_minor: 6_000 });
    run(&mut a, Command::SetShopperLimit { shopper: ALICE, limit, tier: Some(ShopperRiskTier::Standard) }, 0)
        .unwrap();
    let mut b = node(database);
    for round in 0..10u128 {
        let ms = DAY_MS * (round as i64 + 1);
        let start =
            |id, terminal| Command::StartPayment(pay(id, terminal, 4_000, Identification::Match(ALICE)));
        let (first, second) =
            race((a, start(200 + 2 * round, TERMINAL_A), ms), (b, start(201 + 2 * round, TERMINAL_B), ms));
        (a, b) = (first.0, second.0);
        let mut states = [&first.1, &second.1].map(|reply| match reply {
            Ok(Reply::Payment(view)) => view.state,
            other => panic!("round {round}: {other:?}"),
        });
        states.sort_by_key(|state| state.name());
        let declined = PaymentState::Declined(DeclineReason::LimitDailyExceeded);
        assert_eq!(states, [PaymentState::Authorized, declined], "round {round}");
    }
    a.catch_up().unwrap();
    b.catch_up().unwrap();
    assert!(*a.core() == *b.core());
    restarted(database, &a);
}

/// The ids of the messages waiting for `recipient`.
fn queue_of<J: Journal>(journal: &mut J, recipient: Recipient) -> Vec<u64> {
    journal.undelivered(Some(recipient), 100).expect("the outbox reads").iter().map(|d| d.id).collect()
}

/// A payment at an external bank queues its authorization request with the command; it waits
/// across restarts until marked delivered, and a replay does not queue it again.
pub fn outbound_messages_wait_until_delivered<D: Database>(database: &D) {
    let mut a = node(database);
    let started = run(&mut a, Command::StartPayment(pay(1, TERMINAL_A, 800, Identification::Match(BOB))), 1);
    assert!(
        matches!(started, Ok(Reply::Payment(view)) if view.state == PaymentState::AwaitingIssuer),
        "{started:?}"
    );
    let issuer_messages = |journal: &mut D::Journal| -> Vec<(u64, IssuerMessage)> {
        let pending = journal.undelivered(None, 100).expect("the outbox reads");
        let issuer = pending.into_iter().filter_map(|delivery| match delivery.outbound {
            Outbound::Issuer(message) => Some((delivery.id, message)),
            Outbound::Risk(_) => None,
        });
        issuer.collect()
    };
    let mut b = restarted(database, &a);
    let pending = issuer_messages(b.journal());
    assert_eq!(pending.len(), 1, "{pending:?}");
    // Each recipient pulls its own queue: the bank's message is in the bank's, not the operator's.
    let IssuerMessage::Authorize { issuer, .. } = &pending[0].1 else { panic!("an authorization") };
    let mut to = |recipient| queue_of(b.journal(), recipient);
    assert_eq!(to(Recipient::Issuer(*issuer)), [pending[0].0]);
    assert!(!to(Recipient::Operator).contains(&pending[0].0));
    assert_eq!(to(Recipient::Issuer(IssuerId(issuer.0 + 1))), Vec::<u64>::new());
    assert!(
        matches!(&pending[0].1, IssuerMessage::Authorize { reference, .. } if *reference == sealed(BOB_REFERENCE))
    );
    b.journal().mark_delivered(&[pending[0].0]).unwrap();
    let mut c = restarted(database, &b);
    assert_eq!(issuer_messages(c.journal()), Vec::new(), "delivered, and not queued again by the replay");
    run(
        &mut c,
        Command::IssuerAnswered { payment: PaymentId::from_u128(1), answer: IssuerAnswer::Approved },
        2,
    )
    .unwrap();
    run(&mut c, Command::Void { payment: PaymentId::from_u128(1) }, 3).unwrap();
    let release = issuer_messages(a.journal());
    assert!(matches!(release.as_slice(), [(_, IssuerMessage::Release { .. })]), "{release:?}");
}

/// Bank A has stopped pulling and 1,000 authorizations wait for it; bank B's authorization is
/// the first thing in B's queue at once (a shared queue read 500 at a time would not show it),
/// and B's answer authorizes the payment within its timeout.
pub fn a_silent_bank_s_backlog_never_hides_another_bank_s_authorization<D: Database>(database: &D) {
    const OTHER_BANK: IssuerId = IssuerId(4);
    let dave = facepay_domain::ShopperId::from_u128(4);
    let mut a = node(database);
    let setup = vec![
        (
            Command::RegisterIssuer {
                issuer: OTHER_BANK,
                clearing_account: facepay_ledger::AccountId(4_000),
                verifies_accounts: false,
            },
            at(1),
        ),
        (enroll(dave, "4444"), at(1)),
        (
            Command::BindBankAccount {
                shopper: dave,
                issuer: OTHER_BANK,
                account: digest(dave, &facepay_payments::bank_account_digest_input(OTHER_BANK, "tok_dave")),
                reference: sealed("tok_dave"),
                make_default: true,
            },
            at(1),
        ),
    ];
    assert!(a.execute_all(setup).expect("the store commits").iter().all(Result::is_ok));
    for batch in 0..10u128 {
        let payments = (0..100u128).map(|i| {
            let id = 10_000 + batch * 100 + i;
            (Command::StartPayment(pay(id, TERMINAL_A, 1, Identification::Match(BOB))), at(10 + id as i64))
        });
        let replies = a.execute_all(payments.collect()).expect("the store commits");
        assert!(replies.iter().all(
            |reply| matches!(reply, Ok(Reply::Payment(view)) if view.state == PaymentState::AwaitingIssuer)
        ));
    }
    let waiting = a.journal().undelivered(Some(Recipient::Issuer(BANK)), 2_000).expect("the outbox reads");
    assert_eq!(waiting.len(), 1_000, "bank A's backlog");
    let asked =
        run(&mut a, Command::StartPayment(pay(20_000, TERMINAL_B, 700, Identification::Match(dave))), 20_000);
    assert!(matches!(asked, Ok(Reply::Payment(view)) if view.state == PaymentState::AwaitingIssuer));
    let for_b = a.journal().undelivered(Some(Recipient::Issuer(OTHER_BANK)), 500).expect("the outbox reads");
    assert!(
        matches!(for_b.as_slice(), [delivery] if matches!(&delivery.outbound, Outbound::Issuer(message) if message.payment() == Some(PaymentId::from_u128(20_000)))),
        "{for_b:?}"
    );
    let shared = a.journal().undelivered(None, 500).expect("the outbox reads");
    assert!(!shared.iter().any(|delivery| delivery.id == for_b[0].id), "one queue for all would hide it");
    let answer =
        Command::IssuerAnswered { payment: PaymentId::from_u128(20_000), answer: IssuerAnswer::Approved };
    run(&mut a, answer, 20_001 + OUTCOME_TIMEOUT_MS / 2).unwrap();
    assert_eq!(state(&a, 20_000), PaymentState::Authorized);
}

/// Commands executed together commit together: each is journaled in order with its verdict, and
/// a restart sees all of them.
pub fn a_batch_commits_as_one<D: Database>(database: &D) {
    let mut a = node(database);
    let head = a.head();
    let mut batch = Vec::new();
    for id in 1..=50u128 {
        batch.push((
            Command::StartPayment(pay(id, TERMINAL_A, 10, Identification::Match(ALICE))),
            at(id as i64),
        ));
        // Refused: refunds of a payment not captured.
        let refund =
            Command::Refund { payment: PaymentId::from_u128(id), refund_id: TransferId(id), amount_minor: 1 };
        batch.push((refund, at(id as i64)));
    }
    let replies = a.execute_all(batch).expect("the store commits");
    assert_eq!(replies.iter().filter(|reply| reply.is_ok()).count(), 50);
    assert_eq!(a.head(), head + 100);
    let written = a.journal().read_after(head).expect("the store reads");
    assert!(written.iter().skip(1).step_by(2).all(|entry| entry.refused.is_some()), "refunds refused");
    assert!(written.iter().step_by(2).all(|entry| entry.refused.is_none()), "payments accepted");
    restarted(database, &a);
}

/// Eight callers hand 25 payments each to one group-commit writer at once: every payment is
/// answered, each is journaled once, and a restart sees them all.
pub fn concurrent_callers_share_one_writer<D: Database>(database: &D) {
    let a = node(database);
    let head = a.head();
    let (submitter, submissions) = group_commit_queue(64);
    let writer = thread::spawn(move || {
        let a = std::sync::Mutex::new(a);
        write_batches(&a, submissions, 256).expect("the writer does not halt");
        a.into_inner().expect("the writer's lock is not poisoned")
    });
    let callers: Vec<_> = (0..8u128)
        .map(|caller| {
            let submitter = submitter.clone();
            thread::spawn(move || {
                for k in 0..25u128 {
                    let id = 1 + caller * 25 + k;
                    let request = pay(id, TERMINAL_A, 10, Identification::Match(ALICE));
                    let reply = submitter.submit(Command::StartPayment(request), at(id as i64));
                    let state = match reply.expect("the store commits") {
                        Ok(Reply::Payment(view)) => view.state,
                        other => panic!("payment {id}: {other:?}"),
                    };
                    assert_eq!(state, PaymentState::Authorized, "payment {id}");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.join().expect("a caller panicked");
    }
    drop(submitter);
    let a = writer.join().expect("the writer panicked");
    assert_eq!(a.head(), head + 200);
    assert_eq!(a.core().payments().count(), 200);
    restarted(database, &a);
}

type Attempt<J> = (JournaledCore<J>, Command, i64);
type Outcome<J> = (JournaledCore<J>, Result<Reply, CoreError>);

/// Runs two nodes' commands at the same moment on two threads.
fn race<J: Journal + Send + 'static>(first: Attempt<J>, second: Attempt<J>) -> (Outcome<J>, Outcome<J>) {
    let barrier = Arc::new(Barrier::new(2));
    let spawn = |(mut node, command, ms): Attempt<J>| {
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || {
            barrier.wait();
            let reply = node.execute(command, at(ms));
            (node, reply)
        })
    };
    let (first, second) = (spawn(first), spawn(second));
    let unwrap = |handle: thread::JoinHandle<_>| {
        let (node, reply): (JournaledCore<J>, Result<_, JournalError>) =
            handle.join().expect("the racing thread panicked");
        (node, reply.expect("the store commits"))
    };
    (unwrap(first), unwrap(second))
}

/// A node on `database` that checkpoints every 10 entries and has run 35 payments; the stored
/// checkpoints, newest first.
fn checkpointed<D: Database>(database: &D) -> (JournaledCore<D::Journal>, Vec<u64>) {
    let mut a = node(database);
    a.set_checkpoint_policy(CheckpointPolicy { every_entries: 10, every_ms: 0, prune: false });
    for id in 1..=35u128 {
        let payment = Command::StartPayment(pay(id, TERMINAL_A, 10, Identification::Match(ALICE)));
        run(&mut a, payment, id as i64).unwrap();
    }
    let seqs = a.journal().checkpoint_seqs().expect("the store reads");
    (a, seqs)
}

/// A node writes a checkpoint every 10 entries and the store keeps the two newest; a restart
/// starts from the newest and replays only the entries after it, to the same core.
pub fn a_restart_starts_from_the_newest_checkpoint_and_replays_only_the_tail<D: Database>(database: &D) {
    let (a, seqs) = checkpointed(database);
    assert_eq!(seqs.len(), 2, "the two newest are kept: {seqs:?}");
    assert_eq!(seqs[0] - seqs[1], 10, "{seqs:?}");
    assert!(a.head() - seqs[0] < 10, "the newest is at most 9 entries behind the head: {seqs:?}");
    let b = restarted(database, &a);
    assert_eq!(b.started_from(), (Some(seqs[0]), &[][..]));
}

/// A checkpoint whose bytes changed is found out by its checksum and the one before it used.
pub fn a_corrupt_checkpoint_is_skipped_for_the_one_before<D: Database>(database: &D) {
    let (a, seqs) = checkpointed(database);
    database.corrupt_checkpoint(seqs[0]);
    let b = restarted(database, &a);
    let (from, skipped) = b.started_from();
    assert_eq!(from, Some(seqs[1]));
    let codes: Vec<&str> = skipped.iter().map(|unusable| unusable.code()).collect();
    assert_eq!(codes, ["checkpoint_checksum_mismatch"]);
}

/// The audit entries a command appends are stored with it (the core keeps only the length and
/// the head); a restarted node verifies the stored chain to the same head, readers filter it,
/// and an entry changed behind the store's back breaks the chain.
pub fn the_audit_log_lives_in_the_store_and_a_changed_entry_breaks_the_chain<D: Database>(database: &D) {
    let mut a = node(database);
    let event = |actor: &str| AuditEvent {
        action: AuditAction::OperatorAccess,
        actor: actor.into(),
        request: "GET /v1/operator/limits".into(),
        status: 200,
    };
    for actor in ["key_a", "key_b", "key_a"] {
        run(&mut a, Command::RecordAudit(event(actor)), 1).unwrap();
    }
    let refused = run(&mut a, Command::RecordAudit(event("")), 1);
    assert_eq!(refused.unwrap_err().code(), "audit_event_malformed");
    let mut b = restarted(database, &a);
    let (length, head) = b.verify_audit().expect("the stored chain checks out");
    assert_eq!((length, head), a.core().audit_head());
    assert_eq!(length, 3);
    let filter = AuditFilter { after_seq: 1, action: None, actor: Some("key_a".into()), limit: 10 };
    let picked = b.journal().audit_entries(&filter).expect("the store reads");
    assert_eq!(picked.iter().map(|entry| entry.seq).collect::<Vec<_>>(), [3]);
    assert_eq!(picked[0].previous, b.journal().audit_entries(&AuditFilter::all_after(1, 1)).unwrap()[0].hash);

    // A store written before audit entries were kept: the replay at start fills them in.
    database.drop_stored_audit();
    let mut upgraded = restarted(database, &a);
    assert_eq!(upgraded.verify_audit().expect("filled in and checked"), (length, head));

    database.tamper_audit(2);
    let broken = b.verify_audit().unwrap_err();
    assert_eq!(broken.code(), "audit_chain_broken");
    assert!(broken.to_string().contains("entry 2"), "{broken}");
}

/// Pruning drops the entries behind the older checkpoint, but none from an entry whose message
/// is undelivered; a restart and a node that lagged behind the pruned entries both end up with
/// the writer's core.
pub fn pruning_keeps_what_a_start_needs_and_a_lagging_node_catches_up_from_a_checkpoint<D: Database>(
    database: &D,
) {
    let mut a = node(database);
    let mut lagging = node(database);
    // Bob pays from his bank: the authorization request waits in the outbox.
    run(&mut a, Command::StartPayment(pay(100, TERMINAL_B, 700, Identification::Match(BOB))), 1).unwrap();
    let held = a.head();
    a.set_checkpoint_policy(CheckpointPolicy { every_entries: 10, every_ms: 0, prune: false });
    for id in 1..=35u128 {
        let payment = Command::StartPayment(pay(id, TERMINAL_A, 10, Identification::Match(ALICE)));
        run(&mut a, payment, id as i64).unwrap();
    }
    let older = a.journal().checkpoint_seqs().expect("the store reads")[1];
    let first = |a: &mut JournaledCore<D::Journal>| a.journal().read_after(0).expect("reads")[0].seq;
    a.prune().expect("the store prunes");
    assert_eq!(first(&mut a), held, "kept from the entry whose message waits");

    let waiting: Vec<u64> = a.journal().undelivered(None, 100).expect("reads").iter().map(|d| d.id).collect();
    a.journal().mark_delivered(&waiting).expect("the store writes");
    assert!(a.prune().expect("the store prunes") > 0);
    assert_eq!(first(&mut a), older + 1, "kept from just after the older checkpoint");

    restarted(database, &a);
    lagging.catch_up().expect("the lagging node starts again from a checkpoint");
    assert_eq!(lagging.head(), a.head());
    assert!(*lagging.core() == *a.core(), "the lagging node holds the writer's core");
}

/// A terminal's nonce, spent on one connection, is a replay on another (another node, or this
/// one restarted) until it expires; another terminal's same nonce is its own.
pub fn a_spent_nonce_is_refused_by_every_connection_until_it_expires<D: Database>(database: &D) {
    let (mut a, mut b) = (database.connect(), database.connect());
    let (terminal, other) =
        (facepay_domain::TerminalId::from_u128(1), facepay_domain::TerminalId::from_u128(2));
    let (until, now) = (at(300_000), at(0));
    assert!(a.claim_nonce(terminal, "n-0000000000000001", until, now).unwrap(), "a fresh nonce is spent");
    assert!(!a.claim_nonce(terminal, "n-0000000000000001", until, now).unwrap(), "a replay here");
    assert!(!b.claim_nonce(terminal, "n-0000000000000001", until, at(299_999)).unwrap(), "a replay there");
    assert!(b.claim_nonce(other, "n-0000000000000001", until, now).unwrap(), "nonces are per terminal");
    drop(a);
    let mut restarted = database.connect();
    assert!(!restarted.claim_nonce(terminal, "n-0000000000000001", until, now).unwrap());
    // Past its expiry the old spending is gone: its timestamp could no longer pass the skew check.
    assert!(restarted.claim_nonce(terminal, "n-0000000000000001", at(900_000), at(300_001)).unwrap());
}

/// The operator's device-template grant and the switch's challenges are seen by every
/// connection; a challenge is taken once, and not at all once expired.
pub fn device_template_grants_and_challenges_are_shared_and_used_once<D: Database>(database: &D) {
    let (mut a, mut b) = (database.connect(), database.connect());
    let terminal = facepay_domain::TerminalId::from_u128(3);
    assert!(!a.device_templates_allowed(terminal).unwrap(), "none by default");
    a.allow_device_templates(terminal, true).unwrap();
    a.allow_device_templates(terminal, true).unwrap();
    assert!(b.device_templates_allowed(terminal).unwrap());
    b.allow_device_templates(terminal, false).unwrap();
    assert!(!a.device_templates_allowed(terminal).unwrap());

    a.issue_challenge(terminal, "c-1", at(60_000)).unwrap();
    a.issue_challenge(terminal, "c-2", at(60_000)).unwrap();
    let other = facepay_domain::TerminalId::from_u128(4);
    assert!(!b.take_challenge(other, "c-1", at(1)).unwrap(), "another terminal's");
    assert!(b.take_challenge(terminal, "c-1", at(1)).unwrap());
    assert!(!a.take_challenge(terminal, "c-1", at(2)).unwrap(), "used");
    assert!(!a.take_challenge(terminal, "c-2", at(60_001)).unwrap(), "expired");
}

#[cfg(test)]
mod memory {
    contract_tests!(crate::MemoryDatabase::default());
    crate::biometric_contract_tests!(crate::biometric::MemoryBiometricDatabase::default());
}
