//! A day of every kind of movement, through the payment core and the read model as a node
//! keeps them, read back as statements: each party's closing balance equals the ledger's
//! totals, the lines carry the references the bank was told, the CSV read back as a bank's file
//! reconciles to nothing, and each kind of difference in a bank's file is named with its code.

use facepay_clearing::{
    CSV_HEADER, Direction, MismatchKind, Party, SettlementDay, camt053, per_transaction_csv, read_bank_csv,
    read_day, reconcile,
};
use facepay_domain::{
    Currency, KeyedDigest, MerchantId, Money, PaymentId, Sealed, ShopperId, TerminalId, Timestamp,
};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    AcquirerId, BookingKind, Command, CoreConfig, DisputeId, Finding, Identification, IssuerAnswer, IssuerId,
    Journal, LimitTable, MemoryJournal, MerchantRisk, PaymentCore, PinPolicy, Retention, RiskConfig,
    StartPayment, TransactionType,
};

const BANK: IssuerId = IssuerId(3);
const ACQUIRER: AcquirerId = AcquirerId(7);
const MERCHANT: MerchantId = MerchantId::from_u128(10);
const TERMINAL: TerminalId = TerminalId::from_u128(20);
const ALICE: ShopperId = ShopperId::from_u128(1);
const BOB: ShopperId = ShopperId::from_u128(2);
const DAY_MS: i64 = 86_400_000;

fn eur() -> Currency {
    Currency::new("EUR").unwrap()
}

/// 2026-12-04 plus `ms`.
fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_796_342_400_000 + ms)
}

fn day() -> SettlementDay {
    SettlementDay::parse("2026-12-04", 0).unwrap()
}

fn pay(id: u128, amount: i64, shopper: ShopperId, order: &str) -> StartPayment {
    StartPayment {
        payment_id: PaymentId::from_u128(id),
        terminal: TERMINAL,
        idempotency_key: format!("key-{id}"),
        amount: Money::new(amount, eur()),
        transaction_type: TransactionType::Purchase,
        liveness_passed: true,
        identification: Identification::Match(shopper),
        order_id: Some(order.to_owned()),
    }
}

/// Alice pays from a wallet, Bob from an account at bank 3: captures, a refund, a reversal, a
/// compensation charged back, an authorization never captured, and a refund the next day.
fn busy_day() -> MemoryJournal {
    let config = CoreConfig {
        currency: eur(),
        limits: LimitTable::default(),
        pin_policy: PinPolicy { always: false, above_amount_minor: None, on_elevated_risk: false },
        outcome_timeout_ms: 30_000,
        hold_timeout_ms: 600_000,
        funding_source: AccountId(1),
        reserve_account: AccountId(2),
        risk: RiskConfig::default(),
        retention: Retention::DEFAULT,
    };
    let mut core = PaymentCore::new(config);
    let digest = |n: u8| KeyedDigest([n; 16]);
    core.register_merchant(MERCHANT, ACQUIRER, MerchantRisk::Low, AccountId(10)).unwrap();
    core.register_terminal(TERMINAL, MERCHANT).unwrap();
    core.register_issuer(BANK, AccountId(3_000)).unwrap();
    core.enroll_shopper(ALICE, &Sealed::from_bytes(b"1234".to_vec()), digest(1)).unwrap();
    core.bind_wallet(ALICE, AccountId(101), true).unwrap();
    core.top_up(AccountId(101), 10_000, TransferId(1), at(0)).unwrap();
    core.enroll_shopper(BOB, &Sealed::from_bytes(b"5678".to_vec()), digest(2)).unwrap();
    core.bind_bank_account(BOB, BANK, digest(3), &Sealed::from_bytes(b"tok_bob".to_vec()), true, at(0))
        .unwrap();
    core.fund_reserve(10_000, TransferId(2), at(1)).unwrap();

    // As a node runs them, so the read model hears of every payment they change.
    let run = |core: &mut PaymentCore, command: Command, t: i64| core.execute(&command, at(t)).unwrap();
    let bob = |core: &mut PaymentCore, id: u128, amount: i64, order: &str, t: i64| {
        run(core, Command::StartPayment(pay(id, amount, BOB, order)), t);
        let payment = PaymentId::from_u128(id);
        run(core, Command::IssuerAnswered { payment, answer: IssuerAnswer::Approved }, t + 1);
        payment
    };
    let first = bob(&mut core, 1, 2_000, "order,\"1\"", 10);
    run(&mut core, Command::Capture { payment: first }, 12);
    run(&mut core, Command::Refund { payment: first, refund_id: TransferId(700), amount_minor: 500 }, 13);
    let lost = bob(&mut core, 2, 300, "order-2", 20);
    run(&mut core, Command::Capture { payment: lost }, 22);
    run(&mut core, Command::Reverse { payment: lost }, 23);
    let disputed = bob(&mut core, 3, 400, "order-3", 30);
    run(&mut core, Command::Capture { payment: disputed }, 32);
    let dispute = DisputeId(1);
    run(&mut core, Command::OpenDispute { dispute, payment: disputed, amount_minor: 100 }, 33);
    run(&mut core, Command::ResolveDispute { dispute, finding: Finding::ShopperNotShownAtFault }, 34);
    run(&mut core, Command::ChargeBack { dispute }, 35);
    bob(&mut core, 4, 50, "order-4", 40);
    run(&mut core, Command::StartPayment(pay(5, 1_000, ALICE, "order-5")), 50);
    run(&mut core, Command::Capture { payment: PaymentId::from_u128(5) }, 51);
    run(
        &mut core,
        Command::Refund { payment: first, refund_id: TransferId(701), amount_minor: 200 },
        DAY_MS + 5,
    );

    let mut store = MemoryJournal::default();
    store.store_read_model(0, &core.take_read_model()).unwrap();
    store
}

#[test]
fn each_partys_statement_closes_at_the_ledgers_net_and_names_what_its_bank_was_told() {
    let mut store = busy_day();
    let book = read_day(&mut store, eur(), day(), None).unwrap().unwrap();
    let parties: Vec<Party> = book.statements.iter().map(|statement| statement.party).collect();
    assert_eq!(
        parties,
        [Party::Bank(BANK), Party::Acquirer(ACQUIRER)],
        "the wallets' issuer is the switch's own"
    );
    assert!(book.report.balances());
    for statement in &book.statements {
        assert_eq!(
            statement.closing_minor(),
            statement.report_net_minor(&book.report),
            "{:?}",
            statement.party
        );
    }

    let bank = &book.statements[0];
    let kinds: Vec<(BookingKind, Direction, i64)> =
        bank.lines.iter().map(|line| (line.kind, line.direction, line.amount_minor)).collect();
    use BookingKind::*;
    use Direction::*;
    assert_eq!(
        kinds,
        [
            (Payment, Debit, 2_000),
            (Refund, Credit, 500),
            (Payment, Debit, 300),
            (Reversal, Credit, 300),
            (Payment, Debit, 400),
            (Compensation, Credit, 100),
        ],
        "the authorization never captured is not settled, the next day's refund not this day's"
    );
    assert_eq!(bank.closing_minor(), -1_800, "the bank owes what its shoppers paid, less what went back");
    let first = store.payment_row(PaymentId::from_u128(1)).unwrap().unwrap();
    let rrn = facepay_iso8583::rrn(first.bank_trace.expect("authorized at the bank").number);
    assert_eq!(bank.lines[0].rrn.as_deref(), Some(rrn.as_str()));
    assert_eq!(bank.lines[0].payment, Some(PaymentId::from_u128(1)));
    assert_eq!(bank.lines[1].credit_reference, Some(facepay_payments::credit_reference(TransferId(700))));
    assert_eq!(bank.lines[0].order_id.as_deref(), Some("order,\"1\""));

    let acquirer = &book.statements[1];
    assert_eq!((acquirer.credits_minor(), acquirer.debits_minor()), (3_700, 900));
    assert!(acquirer.lines.iter().any(|line| line.kind == Chargeback && line.direction == Debit));
    assert!(
        acquirer.lines.iter().all(|line| line.merchant == Some(MERCHANT) && line.terminal == Some(TERMINAL))
    );

    // One party alone, and a party with nothing that day, have their statements too.
    let only = read_day(&mut store, eur(), day(), Some(Party::Bank(BANK))).unwrap().unwrap();
    assert_eq!(only.statements, std::slice::from_ref(bank));
    let quiet = read_day(&mut store, eur(), day(), Some(Party::Bank(IssuerId(9)))).unwrap().unwrap();
    assert!(quiet.statements[0].lines.is_empty());
    let next = read_day(&mut store, eur(), day().next(), Some(Party::Bank(BANK))).unwrap().unwrap();
    assert_eq!(next.statements[0].closing_minor(), 200);
}

#[test]
fn the_csv_read_back_as_the_banks_file_reconciles_and_every_difference_is_named() {
    let mut store = busy_day();
    let book = read_day(&mut store, eur(), day(), Some(Party::Bank(BANK))).unwrap().unwrap();
    let statement = &book.statements[0];
    let csv = per_transaction_csv(statement);
    assert_eq!(csv.lines().next(), Some(CSV_HEADER));
    assert_eq!(csv.lines().count(), 7);
    let lines = read_bank_csv(&csv, eur()).unwrap();
    assert_eq!(reconcile(statement, &lines), []);

    // The bank lost the refund, booked the first payment for a cent more, booked the reversal
    // twice and has a payment the switch never settled.
    let mut rows: Vec<String> = csv.lines().map(str::to_owned).collect();
    let refund = rows.iter().position(|row| row.contains(",refund,")).unwrap();
    rows.remove(refund);
    rows[1] = rows[1].replacen(",2000,", ",2001,", 1);
    let reversal = rows.iter().find(|row| row.contains(",reversal,")).unwrap().clone();
    rows.push(reversal);
    rows.push("2026-12-04,,,payment,debit,75,EUR,,,000000999999,,,".to_owned());
    let bank_file = rows.join("\n");
    let mismatches = reconcile(statement, &read_bank_csv(&bank_file, eur()).unwrap());
    let found: Vec<(MismatchKind, Option<i64>, Option<i64>)> =
        mismatches.iter().map(|m| (m.kind, m.ours_minor, m.theirs_minor)).collect();
    assert_eq!(
        found,
        [
            (MismatchKind::AmountDiffers, Some(2_000), Some(2_001)),
            (MismatchKind::DuplicateAtBank, None, Some(300)),
            (MismatchKind::ExtraAtBank, None, Some(75)),
            (MismatchKind::MissingAtBank, Some(500), None),
        ]
    );
    assert_eq!(mismatches[0].bank_line, Some(2));
    assert!(mismatches[3].reference.starts_with("refund of rrn "), "{}", mismatches[3].reference);
    let codes: Vec<&str> = mismatches.iter().map(|m| m.kind.code()).collect();
    assert_eq!(
        codes,
        [
            "reconcile_amount_differs",
            "reconcile_duplicate_at_bank",
            "reconcile_extra_at_bank",
            "reconcile_missing_at_bank"
        ]
    );

    // A bank that knows payments by id (the HTTP pull's banks) reconciles by payment id; this
    // one has not booked the compensation.
    let mut by_id = String::from("payment_id,kind,amount_minor,credit_reference\n");
    for line in &statement.lines[..statement.lines.len() - 1] {
        let payment = line.payment.unwrap();
        let credit = line.credit_reference.clone().unwrap_or_default();
        by_id.push_str(&format!("{payment},{},{},{credit}\n", line.kind.code(), line.amount_minor));
    }
    let missing: Vec<(MismatchKind, Option<i64>)> =
        reconcile(statement, &read_bank_csv(&by_id, eur()).unwrap())
            .iter()
            .map(|m| (m.kind, m.ours_minor))
            .collect();
    assert_eq!(missing, [(MismatchKind::MissingAtBank, Some(100))]);
}

#[test]
fn a_bank_file_that_cannot_be_read_is_refused_with_its_code() {
    let code = |text: &str| read_bank_csv(text, eur()).unwrap_err().code();
    assert_eq!(code("kind,amount_minor\npayment,5\n"), "reconcile_column_missing");
    assert_eq!(code("rrn,amount_minor\n1,5\n"), "reconcile_column_missing");
    assert_eq!(code("rrn,kind,amount_minor\n1,gift,5\n"), "reconcile_field_malformed");
    for amount in ["0", "-5", "5.00", "", "99999999999999999999"] {
        assert_eq!(
            code(&format!("rrn,kind,amount_minor\n1,payment,{amount}\n")),
            "reconcile_field_malformed"
        );
    }
    assert_eq!(code("rrn,kind,amount_minor,currency\n1,payment,5,USD\n"), "reconcile_currency_differs");
    assert_eq!(code("rrn,payment_id,kind,amount_minor\n,,payment,5\n"), "reconcile_field_malformed");
    assert_eq!(code("rrn,kind,amount_minor\n1,refund,5\n"), "reconcile_field_malformed");
    assert_eq!(code("rrn,kind,amount_minor\n\"1,payment,5\n"), "reconcile_file_unreadable");
    assert_eq!(read_bank_csv("rrn,kind,amount_minor\n", eur()).unwrap(), []);
}

#[test]
fn the_camt_053_statement_holds_every_line_and_the_days_balances() {
    let mut store = busy_day();
    let book = read_day(&mut store, eur(), day(), None).unwrap().unwrap();
    let xml = camt053(&book.statements[0], at(DAY_MS + 60_000)).unwrap();
    assert!(xml.contains("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">"));
    assert_eq!(xml.matches("<Ntry>").count(), 6);
    assert!(
        xml.contains("<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">18.00</Amt><CdtDbtInd>DBIT</CdtDbtInd>")
    );
    assert!(xml.contains("<TtlCdtNtries><NbOfNtries>3</NbOfNtries><Sum>9.00</Sum></TtlCdtNtries>"));
    assert!(xml.contains("order order,&quot;1&quot;"), "text is escaped");
    let mut statement = book.statements[0].clone();
    statement.currency = Currency::new("XTS").unwrap();
    assert_eq!(camt053(&statement, at(0)).unwrap_err().code(), "settlement_currency_without_minor_unit");
}

/// The statement read by parsers nobody here wrote (`tests/peer/read_camt053.py`: the XSD the
/// `camt053` package ships, through lxml, and `pycamt`), in the python `scripts/test` installs
/// them in (`FACEPAY_CAMT053_PEER_PYTHON`): valid, and with the same totals.
#[test]
#[allow(clippy::disallowed_methods)] // runs the peer
fn the_camt_053_statement_is_valid_and_reads_back_with_the_same_totals_in_an_independent_parser() {
    let python = std::env::var("FACEPAY_CAMT053_PEER_PYTHON").expect(
        "FACEPAY_CAMT053_PEER_PYTHON names a python with pycamt and camt053's XSDs (scripts/test makes one)",
    );
    let mut store = busy_day();
    let book = read_day(&mut store, eur(), day(), None).unwrap().unwrap();
    let folder = tempfile::tempdir().unwrap();
    for statement in &book.statements {
        let path = folder.path().join(format!("{}.xml", statement.party.name()));
        std::fs::write(&path, camt053(statement, at(DAY_MS + 60_000)).unwrap()).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peer/read_camt053.py");
        let output = std::process::Command::new(&python).arg(script).arg(&path).arg("2").output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let read: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(read["valid"], true, "{read}");
        assert_eq!(read["entries"], statement.lines.len(), "{read}");
        assert_eq!(i128::from(read["credits_minor"].as_i64().unwrap()), statement.credits_minor());
        assert_eq!(i128::from(read["debits_minor"].as_i64().unwrap()), statement.debits_minor());
        assert_eq!(read["opening_minor"], 0);
        let closing = statement.report_net_minor(&book.report);
        assert_eq!(
            i128::from(read["closing_minor"].as_i64().unwrap()),
            closing,
            "the ledger's net for the day"
        );
        let payments =
            statement.lines.iter().map(|line| line.payment.map(|id| format!("{:032x}", id.as_u128())));
        assert_eq!(read["end_to_end_ids"], serde_json::json!(payments.collect::<Vec<_>>()));
    }
}
