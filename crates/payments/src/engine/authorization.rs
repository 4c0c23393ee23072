//! A payment from the terminal's request to its authorization: the gates, identification
//! (face, phone digits, payment code), the PIN, limits and risk rules, and the hold on the funds.

use super::*;

impl PaymentCore {
    /// A terminal asks to take a payment. A retry with the same key returns where the first
    /// request stands now, and moves no money again.
    pub fn start_payment(&mut self, request: StartPayment, now: Timestamp) -> Result<PaymentView, CoreError> {
        let key = (request.terminal, request.idempotency_key.clone());
        if let Some(&existing) = self.idempotency.get(&key) {
            let record = &self.payments[&existing];
            return if record.request == request {
                Ok(view(&record.payment))
            } else {
                Err(CoreError::IdempotencyKeyReused)
            };
        }
        if self.payments.contains_key(&request.payment_id) {
            return Err(CoreError::PaymentIdTaken(request.payment_id));
        }
        let terminal =
            self.terminals.get(&request.terminal).ok_or(CoreError::UnknownTerminal(request.terminal))?;
        if request.amount.currency != self.config.currency {
            return Err(CoreError::CurrencyNotSupported);
        }
        if request.amount.amount_minor <= 0 {
            return Err(CoreError::AmountNotPositive);
        }
        let merchant = &self.merchants[&terminal.merchant];
        let payment = Payment::new(request.payment_id, terminal.merchant, request.terminal, request.amount);
        let by_face = !matches!(request.identification, Identification::PaymentCode(_));
        let face_off =
            self.face_payment_off_everywhere || merchant.face_payment_off || terminal.face_payment_off;
        // The emergency switch turns face payment off; the payment code is what still works.
        let gate = if by_face && face_off {
            Some(DeclineReason::FacePaymentOff)
        } else if terminal.suspended {
            Some(DeclineReason::TerminalSuspended)
        } else {
            None
        };
        let standing = match merchant.status {
            MerchantStatus::Active => None,
            MerchantStatus::Suspended => {
                Some((RiskRule::MerchantSuspended, DeclineReason::MerchantSuspended))
            }
            MerchantStatus::Blacklisted => {
                Some((RiskRule::MerchantBlacklisted, DeclineReason::MerchantBlacklisted))
            }
        };
        let id = request.payment_id;
        let terminal_id = request.terminal;
        let liveness_passed = request.liveness_passed;
        let identification = request.identification.clone();
        self.idempotency.insert(key, id);
        self.payments.insert(
            id,
            Box::new(PaymentRecord {
                payment,
                request,
                created_at: now,
                outcome_due: now.plus_ms(self.config.outcome_timeout_ms),
                hold_ms: self.config.hold_timeout_ms,
                funding: None,
                hold: None,
                reserved_day: None,
                risk_elevated: false,
                disputed_minor: 0,
                disputes: Vec::new(),
                refund_ids: Vec::new(),
                bank_trace: None,
            }),
        );
        self.schedule_retirement(id, now);
        if let Some(reason) = gate {
            return self.decline(id, reason);
        }
        if let Some((rule, reason)) = standing {
            let event = RiskEvent {
                payment: id,
                at: now,
                rule,
                verdict: RiskVerdict::Decline,
                detail: "the merchant may not take face payments".into(),
            };
            self.risk_events.push(event);
            return self.decline(id, reason);
        }
        let assessment = self.risk.assess_terminal(&self.config.risk, terminal_id, now);
        if self.heed(id, &assessment, now) {
            // Failed identifications past the limit: the terminal is being used to probe the
            // gallery. It stays suspended until its merchant or the operator lifts it (the risk
            // event just raised tells them).
            let probing = assessment.fired.iter().any(|&(rule, verdict, _)| {
                rule == RiskRule::TerminalFailedIdentifications && verdict == RiskVerdict::Decline
            });
            if probing {
                self.suspend_terminal(terminal_id, true)?;
            }
            return self.decline(id, DeclineReason::RiskDeclined);
        }
        if by_face && !liveness_passed {
            self.risk.note_failed_identification(&self.config.risk, terminal_id, now);
            return self.decline(id, DeclineReason::LivenessFailed);
        }
        match identification {
            Identification::NoMatch => {
                self.risk.note_failed_identification(&self.config.risk, terminal_id, now);
                self.decline(id, DeclineReason::NoMatch)
            }
            Identification::Match(shopper) => self.decide_for(id, shopper, FoundBy::Face, now),
            Identification::PaymentCode(code_hash) => match self.payment_codes.redeem(&code_hash, now) {
                Some(shopper) => self.decide_for(id, shopper, FoundBy::PaymentCode, now),
                None => {
                    self.risk.note_failed_identification(&self.config.risk, terminal_id, now);
                    self.decline(id, DeclineReason::PaymentCodeInvalid)
                }
            },
            Identification::Ambiguous => {
                let record = self.payments.get_mut(&id).expect("inserted above");
                record.payment.apply(PaymentEvent::AskPhoneDigits)?;
                Ok(view(&record.payment))
            }
        }
    }

    /// The shopper typed the last 4 digits of their phone after an ambiguous match, and the
    /// caller searched that digit bucket: `found` is its match, if any, which counts only when
    /// the digits digested under that shopper's key are the ones kept at their sign-up.
    pub fn provide_phone_digits(
        &mut self,
        id: PaymentId,
        found: Option<&BucketMatch>,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        if record.payment.state != PaymentState::NeedsPhoneDigits {
            let event = "take phone digits";
            return Err(TransitionError::NotAllowed { state: record.payment.state.name(), event }.into());
        }
        let kept =
            |shopper: &ShopperId| self.shoppers.get(shopper).and_then(|s| s.phone.as_ref()).map(|p| &p.1);
        match found.filter(|found| kept(&found.shopper) == Some(&found.digest)) {
            Some(found) => {
                let by = if found.pin_required { FoundBy::FaceWithPin } else { FoundBy::Face };
                self.decide_for(id, found.shopper, by, now)
            }
            None => {
                let terminal = record.payment.terminal;
                self.risk.note_failed_identification(&self.config.risk, terminal, now);
                self.decline(id, DeclineReason::StillAmbiguous)
            }
        }
    }

    /// The shopper a payment waits on for a PIN, their sealed PIN hash and wrong-try guard.
    pub(crate) fn pin_awaited(&self, id: PaymentId) -> Result<(ShopperId, &Sealed, PinGuard), CoreError> {
        let record = self.payments.get(&id).ok_or(CoreError::UnknownPayment(id))?;
        if record.payment.state != PaymentState::NeedsPin {
            let event = "take a PIN";
            return Err(TransitionError::NotAllowed { state: record.payment.state.name(), event }.into());
        }
        let shopper_id = record.payment.shopper.expect("a payment waiting for a PIN has its shopper");
        let shopper = &self.shoppers[&shopper_id];
        // A shopper forgotten while their payment waited for the PIN has none to check.
        let hash = shopper.pin.as_ref().ok_or(CoreError::UnknownShopper(shopper_id))?;
        Ok((shopper_id, hash, shopper.pin_guard))
    }

    /// Records a PIN try whose comparison (`PinCheck::verdict`) gave `matched`.
    pub fn pin_checked(
        &mut self,
        id: PaymentId,
        matched: bool,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        self.pin_awaited(id)?;
        let shopper_id = self.payments[&id].payment.shopper.expect("checked above");
        let shopper = self.shoppers.get_mut(&shopper_id).expect("payments name enrolled shoppers");
        match shopper.pin_guard.record(matched, now) {
            Ok(()) => self.authorize(id, now),
            Err(PinError::Locked { .. }) => self.decline(id, DeclineReason::PinLocked),
            Err(wrong) => Err(wrong.into()),
        }
    }

    /// Identification found `shopper`: check them, then ask for the PIN or authorize.
    pub(super) fn decide_for(
        &mut self,
        id: PaymentId,
        shopper_id: ShopperId,
        by: FoundBy,
        now: Timestamp,
    ) -> Result<PaymentView, CoreError> {
        let by_face = by != FoundBy::PaymentCode;
        let Some(shopper) = self.shoppers.get(&shopper_id) else {
            return self.decline(id, DeclineReason::NoMatch);
        };
        let record = self.payments.get_mut(&id).expect("decide_for is called on a stored payment");
        record.payment.shopper = Some(shopper_id);
        let amount = record.payment.amount.amount_minor;
        if shopper.paused && by_face {
            return self.decline(id, DeclineReason::ShopperPaused);
        }
        if shopper.pin_guard.is_locked(now) {
            return self.decline(id, DeclineReason::PinLocked);
        }
        if shopper.default_funding.is_none() {
            return self.decline(id, DeclineReason::InsufficientFunds);
        }
        let limit = self.limit_for(id, shopper_id);
        let mut trial = self.shoppers[&shopper_id].usage;
        if let Err(err) = trial.reserve(self.limit_table(), limit, amount, now) {
            return self.decline(id, limit_decline(err));
        }
        let terminal = self.payments[&id].payment.terminal;
        let assessment = self.risk.assess_shopper(&self.config.risk, shopper_id, terminal, amount, now);
        if self.heed(id, &assessment, now) {
            return self.decline(id, DeclineReason::RiskDeclined);
        }
        let elevated = self.payments[&id].risk_elevated || assessment.verdict == RiskVerdict::StepUp;
        if by == FoundBy::FaceWithPin || self.config.pin_policy.requires_pin(amount, elevated) {
            if self.shoppers[&shopper_id].pin.is_none() {
                return self.decline(id, DeclineReason::PinNotSet);
            }
            let record = self.payments.get_mut(&id).expect("stored");
            record.payment.apply(PaymentEvent::AskPin)?;
            return Ok(view(&record.payment));
        }
        self.authorize(id, now)
    }

    /// Reserves the daily limit and holds the funds; either both happen or neither.
    pub(super) fn authorize(&mut self, id: PaymentId, now: Timestamp) -> Result<PaymentView, CoreError> {
        let record = &self.payments[&id];
        let shopper_id = record.payment.shopper.expect("authorize follows identification");
        let amount = record.payment.amount.amount_minor;
        let (outcome_due, timeout_ms) = (record.outcome_due, record.hold_ms);
        let merchant_account = self.merchants[&record.payment.merchant].account;
        let limit = self.limit_for(id, shopper_id);
        // `limit_table`, borrowed apart from the shopper it is applied to.
        let table = self.operator_limits.as_ref().unwrap_or(&self.config.limits);
        let shopper = self.shoppers.get_mut(&shopper_id).expect("enrolled");
        let funding = shopper.default_funding.clone().expect("checked in decide_for");
        let day = match shopper.usage.reserve(table, limit, amount, now) {
            Ok(day) => day,
            Err(err) => return self.decline(id, limit_decline(err)),
        };
        let hold_id = self.own_transfer_id();
        let hold = transfer(
            hold_id,
            self.ledger_account(&funding),
            merchant_account,
            amount as u64,
            TransferKind::Pending { timeout_ms },
            code::PAYMENT,
        );
        if let Err(err) = self.apply_own(id, &hold, now) {
            self.shoppers.get_mut(&shopper_id).expect("enrolled").usage.release(amount, day);
            return match err {
                TransferError::ExceedsCredits => self.decline(id, DeclineReason::InsufficientFunds),
                other => Err(other.into()),
            };
        }
        self.hold_owner.insert(hold_id, id);
        self.outcome_deadlines.insert((outcome_due, id));
        let record = self.payments.get_mut(&id).expect("stored");
        record.hold = Some(hold_id);
        record.reserved_day = Some(day);
        match funding {
            FundingSource::Wallet(_) => {
                record.payment.apply(PaymentEvent::Authorize)?;
                record.funding = Some(funding);
                let terminal = record.payment.terminal;
                self.risk.note_authorized(shopper_id, terminal, amount);
            }
            FundingSource::BankAccount { issuer, account } => {
                record.payment.apply(PaymentEvent::AskIssuer)?;
                record.funding = Some(FundingSource::BankAccount { issuer, account });
                let amount = record.payment.amount;
                let trace = BankTrace { number: self.next_bank_trace(issuer), at: now };
                self.payments.get_mut(&id).expect("stored").bank_trace = Some(trace);
                let reference = self.shoppers[&shopper_id].bank_references[&account].clone();
                let message = IssuerMessage::Authorize {
                    payment: id,
                    issuer,
                    shopper: shopper_id,
                    reference,
                    amount,
                    trace,
                };
                self.issuer_messages.push(message);
            }
        }
        Ok(view(&self.payments[&id].payment))
    }

    /// Records the rules that fired; true when one of them declines the payment.
    pub(super) fn heed(&mut self, id: PaymentId, assessment: &Assessment, now: Timestamp) -> bool {
        for (rule, verdict, detail) in &assessment.fired {
            let event =
                RiskEvent { payment: id, at: now, rule: *rule, verdict: *verdict, detail: detail.clone() };
            self.risk_events.push(event);
        }
        let record = self.payments.get_mut(&id).expect("assessed payments are stored");
        record.risk_elevated |= assessment.verdict == RiskVerdict::StepUp;
        assessment.verdict == RiskVerdict::Decline
    }

    /// The ledger account a funding source draws on: the wallet itself, or the bank's clearing
    /// account.
    pub(crate) fn ledger_account(&self, source: &FundingSource) -> AccountId {
        match source {
            FundingSource::Wallet(account) => *account,
            FundingSource::BankAccount { issuer, .. } => self.issuers[issuer],
        }
    }

    pub(super) fn decline(&mut self, id: PaymentId, reason: DeclineReason) -> Result<PaymentView, CoreError> {
        let record = self.payments.get_mut(&id).expect("decline is called on a stored payment");
        record.payment.apply(PaymentEvent::Decline(reason))?;
        Ok(view(&record.payment))
    }

    pub(super) fn limit_for(&self, id: PaymentId, shopper_id: ShopperId) -> Limit {
        let record = &self.payments[&id];
        let shopper = &self.shoppers[&shopper_id];
        self.limit_table().effective(&LimitContext {
            merchant_risk: self.merchants[&record.payment.merchant].risk,
            transaction_type: record.request.transaction_type,
            shopper_tier: shopper.tier,
            shopper_setting: shopper.own_limit,
            merchant_setting: self.merchants[&record.payment.merchant].own_limit,
        })
    }
}

/// How a payment found its shopper, which decides what the shopper must still prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FoundBy {
    /// A face match at or above the PIN-free level.
    Face,
    /// A face match in a phone-digit bucket below the PIN-free level: the PIN must confirm it.
    FaceWithPin,
    /// The shopper's payment code: not a face, so a face-payment pause does not stop it.
    PaymentCode,
}
