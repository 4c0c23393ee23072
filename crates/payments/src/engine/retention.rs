//! What the core forgets, and what it hands the read model first. A payment stays in memory
//! while a command may still name it: until its idempotency window has passed, and for a
//! captured one until its refund and dispute window has too, with no dispute still open or
//! compensated and no money still held. Then the sweep forgets it (its record, key, refunds and
//! disputes), and the ledger forgets the transfers settled before the longest window. The store
//! already holds every row: `take_read_model` hands the shell each command's changes to write
//! with its journal entry.

use super::*;
use crate::dispute::DisputeState;

impl PaymentCore {
    /// The read model's rows for what the commands since the last call changed: each changed
    /// payment as it stands now and each transfer the ledger applied, in order. Taken once.
    pub fn take_read_model(&mut self) -> ReadModel {
        let changed = std::mem::take(&mut self.changed);
        let mut payments = changed.retired_rows;
        payments.extend(changed.ids.into_iter().filter_map(|id| self.payment_row(id)));
        let entries = self.ledger.take_journal();
        let first = self.ledger.journal_len() - entries.len() as u64 + 1;
        let movements = (first..)
            .zip(entries)
            .filter_map(|(number, entry)| match entry {
                facepay_ledger::JournalEntry::Applied(applied) => {
                    let request = applied.request;
                    Some(Movement {
                        number,
                        transfer: request.id,
                        at: applied.timestamp,
                        kind: request.kind,
                        code: request.code,
                        amount: request.amount,
                        debit: self.side_of(request.debit),
                        credit: self.side_of(request.credit),
                        payment: changed.movement_payments.get(&request.id).copied(),
                    })
                }
                _ => None,
            })
            .collect();
        ReadModel { payments, movements }
    }

    /// Notes that a command changed `id`, for the read model.
    pub(crate) fn mark_changed(&mut self, id: PaymentId) {
        self.changed.ids.insert(id);
    }

    /// Notes that `transfer` moved money for `payment`, for the read model's movement.
    pub(crate) fn mark_moved_for(&mut self, payment: PaymentId, transfer: TransferId) {
        self.changed.movement_payments.insert(transfer, payment);
    }

    /// How many payments the core holds in memory.
    pub fn payments_held(&self) -> usize {
        self.payments.len()
    }

    /// When a payment started now is first looked at for forgetting.
    pub(crate) fn schedule_retirement(&mut self, id: PaymentId, started: Timestamp) {
        let at = started.plus_ms(self.config.retention.idempotency_ms);
        self.retirements.insert((at, id));
    }

    /// The sweep's last step: forgets the payments whose windows have passed (a payment that
    /// must stay is looked at again later) and the ledger transfers settled before the longest
    /// window.
    pub(crate) fn retire_due(&mut self, now: Timestamp) {
        let retention = self.config.retention;
        while let Some(&(at, id)) = self.retirements.first()
            && at <= now
        {
            self.retirements.pop_first();
            let record = &self.payments[&id];
            let captured = matches!(record.payment.state, PaymentState::Captured { .. });
            let refundable_until = record.created_at.plus_ms(retention.refund_window_ms);
            let holds_money =
                matches!(record.payment.state, PaymentState::Authorized | PaymentState::AwaitingIssuer);
            let dispute_unsettled = record.disputes.iter().any(|dispute| {
                matches!(self.disputes[dispute].state, DisputeState::Open | DisputeState::Compensated)
            });
            if captured && refundable_until > now {
                self.retirements.insert((refundable_until, id));
            } else if holds_money || dispute_unsettled {
                self.retirements.insert((now.plus_ms(retention.idempotency_ms), id));
            } else {
                self.retire(id);
            }
        }
        self.ledger.forget_settled_through(now.plus_ms(-retention.longest_ms()));
    }

    fn retire(&mut self, id: PaymentId) {
        if self.changed.ids.remove(&id) {
            let row = self.payment_row(id).expect("a payment being retired is held");
            self.changed.retired_rows.push(row);
        }
        let record = self.payments.remove(&id).expect("a scheduled payment is held");
        self.idempotency.remove(&(record.request.terminal, record.request.idempotency_key.clone()));
        for refund in &record.refund_ids {
            self.refunds.remove(refund);
        }
        for dispute in &record.disputes {
            self.disputes.remove(dispute);
        }
    }

    /// The payment `id` as the read model keeps it, while the core holds it.
    pub fn payment_row(&self, id: PaymentId) -> Option<PaymentRow> {
        let record = self.payments.get(&id)?;
        Some(PaymentRow {
            id,
            merchant: record.payment.merchant,
            terminal: record.payment.terminal,
            shopper: record.payment.shopper,
            amount: record.payment.amount,
            state: record.payment.state,
            order_id: record.request.order_id.clone(),
            issuer: record.funding.as_ref().map(FundingSource::issuer),
            started_at: record.created_at,
            bank_trace: record.bank_trace,
        })
    }

    /// Whose side of the books `account` is on (a wallet is the built-in issuer's).
    fn side_of(&self, account: AccountId) -> LedgerSide {
        match self.owners.get(&account) {
            Some(side) => *side,
            None if self.ledger.account(account).is_some_and(|a| a.code == code::WALLET) => {
                LedgerSide::Issuer(IssuerId::BUILT_IN)
            }
            None => LedgerSide::Unowned(account),
        }
    }
}
