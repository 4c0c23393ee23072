//! The invariants, checked after every step and at the end of a run. Each names what broke.
//!
//! Money is checked per holder against what the payment and dispute records say should have
//! moved: wallets, the bank's clearing account, merchants and the reserve each hold exactly what
//! their captured, refunded, compensated and charged-back payments imply, so a double charge,
//! a lost refund or money from nowhere shows at the step it happens. The payment records are
//! the store's read model (the core forgets payments past their windows), the disputes those
//! the operator was told of.

use std::collections::{BTreeMap, HashMap};

use facepay_domain::{PaymentId, ShopperId, Timestamp};
use facepay_ledger::{AccountId, PendingState, TransferKind};
use facepay_payments::{
    AcquirerId, Dispute, DisputeId, DisputeState, IssuerId, MemoryJournal, PaymentCore, PaymentRow,
    PaymentState,
};

use crate::bank::Bank;
use crate::world::{
    BANK, BANK_CLEARING, MERCHANTS, RESERVE, TOP_UP_MINOR, World, merchant_account, pays_by_bank, wallet,
    wallet_shoppers,
};

/// The history the checks read: every payment as the store's read model holds it, and every
/// dispute as its last answer told it.
pub struct History<'a> {
    pub payments: &'a BTreeMap<PaymentId, PaymentRow>,
    pub disputes: &'a HashMap<DisputeId, Dispute>,
    pub shopper_of: &'a HashMap<PaymentId, ShopperId>,
}

/// After every step: the ledger is sound and every holder has what the records imply.
pub fn after_step(core: &PaymentCore, world: &World, history: &History<'_>) -> Result<(), String> {
    core.ledger().verify().map_err(|broken| format!("ledger: {broken}"))?;
    let shopper_of = history.shopper_of;
    let mut disputed: HashMap<PaymentId, i64> = HashMap::new();
    let (mut to_shoppers_by_wallet, mut to_shoppers_by_bank, mut charged_back, mut compensated) =
        (0, 0, 0, 0);
    for dispute in history.disputes.values() {
        if dispute.state != DisputeState::Rejected {
            *disputed.entry(dispute.payment).or_default() += dispute.amount_minor;
        }
        if matches!(dispute.state, DisputeState::Compensated | DisputeState::ChargedBack) {
            compensated += i128::from(dispute.amount_minor);
            if pays_by_bank(shopper_of[&dispute.payment]) {
                to_shoppers_by_bank += i128::from(dispute.amount_minor);
            } else {
                to_shoppers_by_wallet += i128::from(dispute.amount_minor);
            }
        }
        if dispute.state == DisputeState::ChargedBack {
            charged_back += i128::from(dispute.amount_minor);
        }
    }
    let (mut kept_by_wallet_payments, mut kept_by_bank_payments) = (0i128, 0i128);
    for payment in history.payments.values() {
        let PaymentState::Captured { refunded_minor } = payment.state else { continue };
        let under_dispute = disputed.get(&payment.id).copied().unwrap_or(0);
        if refunded_minor < 0 || refunded_minor + under_dispute > payment.amount.amount_minor {
            return Err(format!(
                "{} returned {refunded_minor} by refund and {under_dispute} by dispute of {}",
                payment.id, payment.amount
            ));
        }
        let kept = i128::from(payment.amount.amount_minor - refunded_minor);
        if pays_by_bank(shopper_of[&payment.id]) {
            kept_by_bank_payments += kept;
        } else {
            kept_by_wallet_payments += kept;
        }
    }
    let expect = |what: &str, held: i128, expected: i128| {
        if held == expected { Ok(()) } else { Err(format!("{what} hold {held}, the records say {expected}")) }
    };
    let merchants = merchants_total(core);
    expect("merchants", merchants, kept_by_wallet_payments + kept_by_bank_payments - charged_back)?;
    let wallets = wallets_total(core);
    let topped_up = i128::from(TOP_UP_MINOR) * wallet_shoppers().count() as i128;
    expect("wallets", wallets, topped_up - kept_by_wallet_payments + to_shoppers_by_wallet)?;
    expect(
        "the bank's clearing account",
        balance(core, BANK_CLEARING),
        to_shoppers_by_bank - kept_by_bank_payments,
    )?;
    expect(
        "the reserve",
        balance(core, RESERVE),
        i128::from(world.reserve_minor) - compensated + charged_back,
    )
}

/// Each shopper's payments that hold or took money on one day stay within the daily limit, and
/// each within the per-transaction limit, however they raced. `reserved_on` is the day each
/// payment's allowance was taken.
pub fn within_limits(
    world: &World,
    history: &History<'_>,
    reserved_on: &HashMap<PaymentId, i64>,
) -> Result<(), String> {
    let shopper_of = history.shopper_of;
    let mut per_day: HashMap<(ShopperId, i64), i64> = HashMap::new();
    for payment in history.payments.values() {
        if !takes_allowance(payment.state) {
            continue;
        }
        let amount = payment.amount.amount_minor;
        if amount > world.shopper_limit.per_transaction_minor {
            return Err(format!("{} of {} passed the per-transaction limit", payment.id, payment.amount));
        }
        let day =
            reserved_on.get(&payment.id).ok_or(format!("{} holds money but was never seen", payment.id))?;
        *per_day.entry((shopper_of[&payment.id], *day)).or_default() += amount;
    }
    match per_day.iter().find(|(_, total)| **total > world.shopper_limit.daily_minor) {
        Some(((shopper, day), total)) => {
            Err(format!("{shopper} committed {total} on day {day}, past the daily limit"))
        }
        None => Ok(()),
    }
}

/// No payment ever held funds twice (a retry must not place a second hold): the ledger placed
/// as many holds as payments were seen holding their allowance.
pub fn one_hold_per_payment(
    journal: &MemoryJournal,
    reserved_on: &HashMap<PaymentId, i64>,
) -> Result<(), String> {
    let holds = (journal.stored_movements().iter())
        .filter(|movement| matches!(movement.kind, TransferKind::Pending { .. }))
        .count();
    if holds == reserved_on.len() {
        Ok(())
    } else {
        Err(format!("{holds} holds were placed for {} payments", reserved_on.len()))
    }
}

/// After every timeout has passed: nothing is left in between, at the switch or at the bank,
/// and settlement accounts for every balance.
pub fn at_end(
    core: &PaymentCore,
    journal: &mut MemoryJournal,
    bank: &Bank,
    end: Timestamp,
) -> Result<(), String> {
    for payment in core.payments() {
        if let Some(hold) = core.hold_of(payment.id)
            && core.ledger().pending_state(hold) == Some(PendingState::Held)
        {
            return Err(format!("the hold of {} never ended", payment.id));
        }
    }
    for payment in journal.payment_rows().values() {
        if matches!(payment.state, PaymentState::Authorized | PaymentState::AwaitingIssuer) {
            return Err(format!("{} is still {} after every timeout", payment.id, payment.state.name()));
        }
        let captured = matches!(payment.state, PaymentState::Captured { .. });
        if bank.released.contains(&payment.id) && captured {
            return Err(format!("the bank was told to release {}, which was captured", payment.id));
        }
        let kept_by_switch = captured || payment.state == PaymentState::Reversed;
        if bank.approved.contains(&payment.id) && !bank.released.contains(&payment.id) && !kept_by_switch {
            return Err(format!(
                "the bank still holds {} for a payment that is {}",
                payment.id,
                payment.state.name()
            ));
        }
        // The bank posted a capture exactly for the payments the switch captured, for as much.
        let at_bank = bank.captured.get(&payment.id).copied();
        let expected = match payment.state {
            PaymentState::Captured { .. } => Some(payment.amount.amount_minor),
            // Undone after or before its capture: the bank may have posted it (then a credit
            // gave it back) or not.
            PaymentState::Reversed => at_bank,
            _ => None,
        };
        if payment.issuer == Some(BANK) && at_bank != expected {
            return Err(format!(
                "the bank posted {at_bank:?} for {}, which is {}",
                payment.id,
                payment.state.name()
            ));
        }
    }
    // The bank's books, kept from what it was told, equal the switch's clearing account.
    let credited: i64 = bank.credited.values().map(|(_, amount)| amount).sum();
    let bank_net = bank.captured.values().sum::<i64>() - credited;
    if i128::from(bank_net) != -balance(core, BANK_CLEARING) {
        return Err(format!(
            "the bank's books say it owes {bank_net}; the switch's clearing account says {}",
            -balance(core, BANK_CLEARING)
        ));
    }
    settlement_accounts_for_every_balance(core, journal, end)
}

/// The settlement report for `[from, to)`, read from the store's movements.
fn settlement(
    journal: &mut MemoryJournal,
    from: Timestamp,
    to: Timestamp,
) -> Result<facepay_payments::SettlementReport, String> {
    let report = facepay_payments::settlement_report(journal, "EUR", from, to);
    report.map_err(|err| format!("settlement: {err}"))?.map_err(|err| format!("settlement: {err}"))
}

/// Day by day and all at once, the settlement report matches the ledger's balances.
fn settlement_accounts_for_every_balance(
    core: &PaymentCore,
    journal: &mut MemoryJournal,
    end: Timestamp,
) -> Result<(), String> {
    let start = Timestamp::from_unix_ms(0);
    let whole = settlement(journal, start, end)?;
    if !whole.balances() {
        return Err("the settlement report does not balance".into());
    }
    let net_of_issuer =
        |issuer| whole.issuers.iter().find(|l| l.issuer == issuer).map_or(0, |l| l.position.net_minor);
    let acquirer_net =
        whole.acquirers.iter().find(|l| l.acquirer == AcquirerId(1)).map_or(0, |l| l.position.net_minor);
    let merchants = merchants_total(core);
    let wallets = wallets_total(core);
    let built_in = whole.issuers.iter().find(|l| l.issuer == IssuerId::BUILT_IN).map(|l| l.position);
    let deposits = built_in.map_or(0, |p| p.deposits_minor);
    let mismatch = if i128::from(acquirer_net) != merchants {
        Some("the acquirer's net")
    } else if i128::from(net_of_issuer(BANK)) != -balance(core, BANK_CLEARING) {
        Some("the bank's net")
    } else if i128::from(deposits - net_of_issuer(IssuerId::BUILT_IN)) != wallets {
        Some("the wallets' net")
    } else if i128::from(whole.reserve.net_minor) != balance(core, RESERVE) {
        Some("the reserve's net")
    } else {
        None
    };
    if let Some(what) = mismatch {
        return Err(format!("settlement: {what} differs from the ledger"));
    }
    // Cut into days (of an hour, so a run spans several), the reports add up to the whole.
    const DAY_MS: i64 = 3_600_000;
    let mut acquirer_sum = 0i64;
    let mut from = start;
    while from < end {
        let to = from.plus_ms(DAY_MS).min(end);
        let day = settlement(journal, from, to)?;
        acquirer_sum += day.acquirers.iter().map(|l| l.position.net_minor).sum::<i64>();
        from = to;
    }
    if acquirer_sum != acquirer_net {
        return Err(format!("daily reports add up to {acquirer_sum}, the whole window to {acquirer_net}"));
    }
    Ok(())
}

/// A payment in one of these states holds its share of the shopper's daily limit.
pub fn takes_allowance(state: PaymentState) -> bool {
    matches!(state, PaymentState::AwaitingIssuer | PaymentState::Authorized | PaymentState::Captured { .. })
}

fn merchants_total(core: &PaymentCore) -> i128 {
    (0..MERCHANTS).map(|m| balance(core, merchant_account(m))).sum()
}

fn wallets_total(core: &PaymentCore) -> i128 {
    wallet_shoppers().map(|s| balance(core, wallet(s))).sum()
}

pub fn balance(core: &PaymentCore, account: AccountId) -> i128 {
    core.ledger().account(account).map_or(0, |a| a.posted_balance())
}
