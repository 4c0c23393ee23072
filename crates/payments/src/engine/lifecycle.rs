//! A payment after its decision: capture, void, reversal, refunds, the external bank's answer, and
//! time passing (outcome timeouts, hold expiry) through the sweep and its deadline index.

use super::*;

impl PaymentCore {
    /// The terminal confirms it showed the approval: the held funds move to the merchant.
    pub fn capture(&mut self, id: PaymentId, now: Timestamp) -> Result<PaymentView, CoreError> {
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        let captured =
            record.payment.state.after(PaymentEvent::Capture, record.payment.amount.amount_minor)?;
        // A hold that ran out before the terminal confirmed leaves the payment expired.
        self.settle_hold(id, |pending_id| TransferKind::PostPending { pending_id }, now)?;
        let record = self.payments.get_mut(&id).expect("checked above");
        record.payment.state = captured;
        let amount = record.payment.amount;
        self.tell_bank_captured(id, amount);
        Ok(view(&self.payments[&id].payment))
    }

    /// The merchant cancels an authorized payment before capture.
    pub fn void(&mut self, id: PaymentId, now: Timestamp) -> Result<PaymentView, CoreError> {
        self.release_hold(id, PaymentEvent::Void, now)
    }

    /// Undoes a payment whose outcome the terminal never learned.
    pub fn reverse(&mut self, id: PaymentId, now: Timestamp) -> Result<PaymentView, CoreError> {
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        match record.payment.state {
            PaymentState::Captured { refunded_minor: 0 } => {
                let amount = record.payment.amount.amount_minor;
                if record.disputed_minor > 0 {
                    let event = "be reversed";
                    return Err(TransitionError::NotAllowed { state: "under dispute", event }.into());
                }
                record.payment.state.after(PaymentEvent::Reverse, amount)?;
                self.pay_back(id, None, amount, CreditReason::Reversal, now)?;
                self.release_limit(id);
                let record = self.payments.get_mut(&id).expect("checked above");
                record.payment.state = PaymentState::Reversed;
                Ok(view(&record.payment))
            }
            _ => self.release_hold(id, PaymentEvent::Reverse, now),
        }
    }

    /// Refunds part or all of a captured payment. Idempotent by `refund_id`; the total refunded
    /// never exceeds what was captured, however the requests interleave.
    pub fn refund(
        &mut self,
        id: PaymentId,
        refund_id: TransferId,
        amount_minor: i64,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        if let Some(&(payment, amount)) = self.refunds.get(&refund_id) {
            return if (payment, amount) == (id, amount_minor) {
                Ok(self.payment(id).expect("refunds name payments"))
            } else {
                Err(CoreError::RefundIdReused(refund_id))
            };
        }
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        if now >= record.created_at.plus_ms(self.config.retention.refund_window_ms) {
            return Err(CoreError::PaymentWindowClosed(id));
        }
        // Money under dispute is not refundable: it is returned through the dispute.
        let refundable = record.payment.amount.amount_minor - record.disputed_minor;
        let refunded = record.payment.state.after(PaymentEvent::Refund { amount_minor }, refundable)?;
        self.pay_back(id, Some(refund_id), amount_minor, CreditReason::Refund, now)?;
        self.refunds.insert(refund_id, (id, amount_minor));
        let record = self.payments.get_mut(&id).expect("checked above");
        record.payment.state = refunded;
        record.refund_ids.push(refund_id);
        Ok(view(&record.payment))
    }

    /// The external bank answered an authorization request.
    pub fn issuer_answered(
        &mut self,
        id: PaymentId,
        answer: IssuerAnswer,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        if record.payment.state != PaymentState::AwaitingIssuer {
            // Too late (timed out, so the bank was told to release) or never asked.
            let event = "take the issuer's answer";
            return Err(TransitionError::NotAllowed { state: record.payment.state.name(), event }.into());
        }
        match answer {
            IssuerAnswer::Approved => {
                let record = self.payments.get_mut(&id).expect("checked above");
                record.payment.apply(PaymentEvent::Authorize)?;
                let (shopper, terminal) = (record.payment.shopper, record.payment.terminal);
                let amount = record.payment.amount.amount_minor;
                self.risk.note_authorized(shopper.expect("identified"), terminal, amount);
                Ok(view(&record.payment))
            }
            IssuerAnswer::Declined => self.abandon_awaiting(id, DeclineReason::IssuerDeclined, now),
            IssuerAnswer::Unavailable => self.abandon_awaiting(id, DeclineReason::IssuerUnavailable, now),
        }
    }

    /// Time passing: declines payments whose bank did not answer in time, reverses
    /// authorizations the terminal did not confirm in time, expires holds past their deadline,
    /// and drops lapsed payment codes. Costs what is due, not what is stored. Returns the
    /// payments it touched.
    pub fn sweep(&mut self, now: Timestamp) -> Vec<PaymentId> {
        // Transit days close before their holds' deadlines are looked at, however late the sweep.
        self.transit_sweep(now);
        self.payment_codes.sweep(now);
        let mut touched = Vec::new();
        while let Some(&(deadline, id)) = self.outcome_deadlines.first()
            && deadline <= now
        {
            self.outcome_deadlines.pop_first();
            let undone = match self.payments[&id].payment.state {
                PaymentState::AwaitingIssuer => {
                    self.abandon_awaiting(id, DeclineReason::IssuerUnavailable, now)
                }
                PaymentState::Authorized => self.reverse(id, now),
                // Moved on without `settle_deadline` (a direct call, as tests make): nothing due.
                _ => continue,
            };
            if undone.is_ok() {
                touched.push(id);
            }
        }
        touched.extend(self.expire_holds(now));
        // Before any of them is forgotten, so the read model keeps how each ended.
        for &id in &touched {
            self.mark_changed(id);
            self.transit_payment_moved(id, now);
        }
        self.retire_due(now);
        touched
    }

    /// The earliest time at which a sweep would change anything: a payment's outcome timeout,
    /// a hold's deadline, a payment code's lapse, a payment's retirement or the oldest ledger
    /// transfer's. A node sweeps only once it has passed, so an idle node journals nothing.
    pub fn next_due(&self) -> Option<Timestamp> {
        let outcome = self.outcome_deadlines.first().map(|&(at, _)| at);
        let retirement = self.retirements.first().map(|&(at, _)| at);
        let longest = self.config.retention.longest_ms();
        let transfer = self.ledger.oldest_settled().map(|at| at.plus_ms(longest));
        let transit = self.transit_next_due();
        [outcome, self.ledger.next_deadline(), self.payment_codes.next_lapse(), retirement, transfer, transit]
            .into_iter()
            .flatten()
            .min()
    }

    /// Takes a payment that no longer waits for its outcome out of the deadline index: the
    /// command runner calls it for the payment each command names, and expiry for the payments
    /// whose holds it ended.
    pub(crate) fn settle_deadline(&mut self, id: PaymentId) {
        let Some(record) = self.payments.get(&id) else { return };
        if !matches!(record.payment.state, PaymentState::Authorized | PaymentState::AwaitingIssuer) {
            self.outcome_deadlines.remove(&(record.outcome_due, id));
        }
    }

    /// Lets the ledger expire every hold past its deadline and marks those payments expired.
    pub(super) fn expire_holds(&mut self, now: Timestamp) -> Vec<PaymentId> {
        let mut by_hold: Vec<PaymentId> =
            (self.ledger.expire_due(now).iter()).filter_map(|hold| self.hold_owner.remove(hold)).collect();
        by_hold.sort();
        for &id in &by_hold {
            self.settle_expired(id);
        }
        by_hold
    }

    /// Ends a payment waiting for its bank: the hold and the day's allowance are given back.
    /// Unless the bank itself declined, it is told to drop whatever it authorized.
    pub(super) fn abandon_awaiting(
        &mut self,
        id: PaymentId,
        reason: DeclineReason,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        if !self.void_hold(id, now)? {
            return Ok(self.payment(id).expect("stored"));
        }
        if reason != DeclineReason::IssuerDeclined {
            self.tell_bank_to_release(id);
        }
        self.decline(id, reason)
    }

    /// The next trace number for a message to `issuer`.
    pub(super) fn next_bank_trace(&mut self, issuer: IssuerId) -> TraceNumber {
        let last = self.bank_traces.entry(issuer).or_default();
        *last += 1;
        *last
    }

    /// The bank a payment is funded at, with its authorization there and a trace number for the
    /// next message about it; none for a wallet.
    fn bank_of(&mut self, id: PaymentId) -> Option<(IssuerId, TraceNumber, BankTrace)> {
        let record = &self.payments[&id];
        let Some(FundingSource::BankAccount { issuer, .. }) = record.funding else { return None };
        let original = record.bank_trace.unwrap_or_default();
        Some((issuer, self.next_bank_trace(issuer), original))
    }

    /// Tells the bank of a payment funded there that `amount` of its hold was captured.
    pub(super) fn tell_bank_captured(&mut self, id: PaymentId, amount: Money) {
        if let Some((issuer, trace, original)) = self.bank_of(id) {
            let message = IssuerMessage::Capture { payment: id, issuer, amount, trace, original };
            self.issuer_messages.push(message);
        }
    }

    /// Tells the bank of a payment funded there that `amount_minor` went back to the shopper's
    /// account under transfer `credit`.
    pub(crate) fn tell_bank_credited(
        &mut self,
        id: PaymentId,
        credit: TransferId,
        amount_minor: i64,
        reason: CreditReason,
    ) {
        if let Some((issuer, trace, original)) = self.bank_of(id) {
            let amount = Money::new(amount_minor, self.config.currency);
            let message =
                IssuerMessage::Credit { payment: id, issuer, credit, amount, reason, trace, original };
            self.issuer_messages.push(message);
        }
    }

    /// Queues a release for a payment funded at an external bank; wallets need none.
    pub(super) fn tell_bank_to_release(&mut self, id: PaymentId) {
        if let Some((issuer, trace, original)) = self.bank_of(id) {
            let amount = self.payments[&id].payment.amount;
            let message = IssuerMessage::Release { payment: id, issuer, amount, trace, original };
            self.issuer_messages.push(message);
        }
    }

    pub(super) fn release_hold(
        &mut self,
        id: PaymentId,
        event: PaymentEvent,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        let next = record.payment.state.after(event, record.payment.amount.amount_minor)?;
        if !self.void_hold(id, now)? {
            return Ok(self.payment(id).expect("stored"));
        }
        self.tell_bank_to_release(id);
        let record = self.payments.get_mut(&id).expect("checked above");
        record.payment.state = next;
        Ok(view(&record.payment))
    }

    /// Voids the payment's hold and gives its share of the daily limit back. False when the hold
    /// was past its deadline: then the holds due are expired here, which ends the payment and
    /// releases both, as the void wanted.
    pub(super) fn void_hold(&mut self, id: PaymentId, now: Timestamp) -> Result<bool, CoreError> {
        match self.settle_hold(id, |pending_id| TransferKind::VoidPending { pending_id }, now) {
            Ok(()) => {
                self.release_limit(id);
                Ok(true)
            }
            Err(TransferError::PendingExpired(_)) => {
                self.expire_holds(now);
                Ok(false)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Posts or voids the payment's hold in full (`settle` names which). A hold past its
    /// deadline is refused by the ledger, and nothing changes: the sweep, due by then, expires it.
    pub(super) fn settle_hold(
        &mut self,
        id: PaymentId,
        settle: impl FnOnce(TransferId) -> TransferKind,
        now: Timestamp,
    ) -> Result<(), TransferError> {
        let hold = self.payments[&id].hold.expect("an authorized payment has a hold");
        let held = self.ledger.transfer(hold).expect("holds are in the ledger").request;
        let settle_id = self.own_transfer_id();
        let request = transfer(settle_id, held.debit, held.credit, held.amount, settle(hold), code::PAYMENT);
        self.apply_own(id, &request, now)?;
        self.hold_owner.remove(&hold);
        Ok(())
    }

    /// Moves `amount_minor` of a captured payment from the merchant back to the account it
    /// came from, under the caller's transfer id (a refund's) or one of the core's own (a
    /// reversal's), and tells a bank that holds that account.
    pub(super) fn pay_back(
        &mut self,
        id: PaymentId,
        transfer_id: Option<TransferId>,
        amount_minor: i64,
        reason: CreditReason,
        now: Timestamp,
    ) -> Result<(), TransferError> {
        let record = &self.payments[&id];
        let funding = record.funding.as_ref().expect("a captured payment has a funding account");
        let merchant_account = self.merchants[&record.payment.merchant].account;
        let back = self.ledger_account(funding);
        let amount = amount_minor as u64;
        let code = match reason {
            CreditReason::Refund => code::REFUND,
            CreditReason::Reversal => code::REVERSAL,
            CreditReason::Compensation => code::COMPENSATION,
        };
        let request = |id| transfer(id, merchant_account, back, amount, TransferKind::Posted, code);
        let credit = match transfer_id {
            Some(chosen) => {
                self.ledger.apply_one(&request(chosen), now)?;
                self.mark_moved_for(id, chosen);
                chosen
            }
            None => {
                let own = self.own_transfer_id();
                self.apply_own(id, &request(own), now)?;
                own
            }
        };
        self.tell_bank_credited(id, credit, amount_minor, reason);
        Ok(())
    }

    /// The ledger expired this payment's hold: mark it, give its limit back, and tell the bank.
    pub(super) fn settle_expired(&mut self, id: PaymentId) {
        let record = self.payments.get_mut(&id).expect("stored");
        let hold = record.hold.expect("a payment with funds held has a hold");
        if self.ledger.pending_state(hold) != Some(PendingState::Expired) {
            return;
        }
        let ended = match record.payment.state {
            PaymentState::Authorized => record.payment.apply(PaymentEvent::Expire),
            PaymentState::AwaitingIssuer => {
                record.payment.apply(PaymentEvent::Decline(DeclineReason::IssuerUnavailable))
            }
            _ => return,
        };
        ended.expect("both states accept the event");
        // Expired by a sweep or on the way of a command about another payment: either way the
        // read model hears of it.
        self.mark_changed(id);
        self.settle_deadline(id);
        self.release_limit(id);
        self.tell_bank_to_release(id);
    }

    pub(super) fn release_limit(&mut self, id: PaymentId) {
        let record = &self.payments[&id];
        if let (Some(shopper), Some(day)) = (record.payment.shopper, record.reserved_day) {
            let amount = record.payment.amount.amount_minor;
            self.shoppers.get_mut(&shopper).expect("enrolled").usage.release(amount, day);
        }
    }
}
