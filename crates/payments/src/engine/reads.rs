//! What callers read from the core: payments as terminals see them, parties, funding and the
//! audit head. Nothing here changes the core's state; the `take_*` hand the shell, once, the
//! effects a command left (risk events, issuer messages, audit entries).

use super::*;

impl PaymentCore {
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// The limit table in force: the operator's, once set, else the node's configured one.
    pub fn limit_table(&self) -> &LimitTable {
        self.operator_limits.as_ref().unwrap_or(&self.config.limits)
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn payment(&self, id: PaymentId) -> Option<PaymentView> {
        self.payments.get(&id).map(|record| view(&record.payment))
    }

    pub fn payments(&self) -> impl Iterator<Item = PaymentView> + '_ {
        self.payments.values().map(|record| view(&record.payment))
    }

    /// The ledger transfer holding a payment's funds, if one was placed.
    pub fn hold_of(&self, id: PaymentId) -> Option<TransferId> {
        self.payments.get(&id).and_then(|record| record.hold)
    }

    /// The payment itself (merchant, terminal, shopper once known), for access checks.
    pub fn payment_record(&self, id: PaymentId) -> Option<&Payment> {
        self.payments.get(&id).map(|record| &record.payment)
    }

    /// The merchant's order reference the payment was started with.
    pub fn order_id(&self, id: PaymentId) -> Option<&str> {
        self.payments.get(&id)?.request.order_id.as_deref()
    }

    /// The external bank a payment's funds were asked of, once the funds were chosen.
    pub fn payment_issuer(&self, id: PaymentId) -> Option<IssuerId> {
        self.payments.get(&id)?.funding.as_ref().map(FundingSource::issuer)
    }

    /// A terminal's retry under `idempotency_key`: the payment it started under that key, as
    /// it stands now, if the retry is for the same sale (amount, order, and a payment code or
    /// a face alike); another sale under the same key is refused, so a till can never hand
    /// over goods on an answer given for another amount. `None`: the key is new (or past its
    /// window).
    pub fn retry_of(
        &self,
        terminal: TerminalId,
        idempotency_key: &str,
        sale: &Sale<'_>,
    ) -> Option<Result<PaymentView, CoreError>> {
        let id = self.idempotency.get(&(terminal, idempotency_key.to_owned()))?;
        let first = &self.payments[id];
        let by_code = matches!(first.request.identification, Identification::PaymentCode(_));
        let same = first.request.amount == sale.amount
            && first.request.order_id.as_deref() == sale.order_id
            && by_code == sale.by_payment_code;
        Some(if same { Ok(view(&first.payment)) } else { Err(CoreError::IdempotencyKeyReused) })
    }

    /// The merchant a terminal is registered to.
    pub fn terminal_merchant(&self, id: TerminalId) -> Option<MerchantId> {
        self.terminals.get(&id).map(|terminal| terminal.merchant)
    }

    /// Why a terminal may not move money now: it is suspended, or its merchant is suspended or
    /// blacklisted. `None`: it may (or it is unknown).
    pub fn terminal_barred(&self, id: TerminalId) -> Option<DeclineReason> {
        let terminal = self.terminals.get(&id)?;
        if terminal.suspended {
            return Some(DeclineReason::TerminalSuspended);
        }
        match self.merchants[&terminal.merchant].status {
            MerchantStatus::Active => None,
            MerchantStatus::Suspended => Some(DeclineReason::MerchantSuspended),
            MerchantStatus::Blacklisted => Some(DeclineReason::MerchantBlacklisted),
        }
    }

    pub fn terminal_suspended(&self, id: TerminalId) -> Option<bool> {
        self.terminals.get(&id).map(|terminal| terminal.suspended)
    }

    pub fn terminal_credentials(&self, id: TerminalId) -> Option<&TerminalCredentials> {
        self.access.terminal(id)
    }

    pub fn api_key(&self, id: ApiKeyId) -> Option<&ApiKey> {
        self.access.api_key(id)
    }

    /// Whether an operator key exists that is not revoked (a new switch has none).
    pub fn has_operator_key(&self) -> bool {
        self.access.has_operator_key()
    }

    pub fn is_enrolled(&self, id: ShopperId) -> bool {
        self.shoppers.contains_key(&id)
    }

    /// Whether the shopper paused face payment (`None`: no such shopper).
    pub fn is_paused(&self, id: ShopperId) -> Option<bool> {
        self.shoppers.get(&id).map(|shopper| shopper.paused)
    }

    /// The shopper's masked name, sealed under their key.
    pub fn masked_name(&self, id: ShopperId) -> Option<&Sealed> {
        self.shoppers.get(&id)?.masked_name.as_ref()
    }

    /// The last 4 digits of the shopper's phone (the face index's bucket), sealed.
    pub fn phone_digits(&self, id: ShopperId) -> Option<&Sealed> {
        self.shoppers.get(&id)?.phone.as_ref().map(|(sealed, _)| sealed)
    }

    /// The consent text version the shopper accepted (sealed), and when.
    pub fn consent(&self, id: ShopperId) -> Option<(&Sealed, Timestamp)> {
        self.shoppers.get(&id)?.consent.as_ref().map(|(version, at)| (version, *at))
    }

    /// The bank's reference for one of the shopper's bound accounts, sealed.
    pub fn bank_reference(&self, id: ShopperId, account: KeyedDigest) -> Option<&Sealed> {
        self.shoppers.get(&id)?.bank_references.get(&account)
    }

    /// The shopper's built-in wallets, in the order they were bound.
    pub fn wallets_of(&self, id: ShopperId) -> Vec<AccountId> {
        let Some(shopper) = self.shoppers.get(&id) else { return Vec::new() };
        shopper
            .funding
            .iter()
            .filter_map(|source| match source {
                FundingSource::Wallet(account) => Some(*account),
                FundingSource::BankAccount { .. } => None,
            })
            .collect()
    }

    /// Every merchant, by id: its risk level, own limit, standing and emergency switch.
    pub fn merchants(&self) -> Vec<MerchantInfo> {
        let mut merchants: Vec<MerchantInfo> = self
            .merchants
            .iter()
            .map(|(&id, merchant)| MerchantInfo {
                id,
                risk: merchant.risk,
                own_limit: merchant.own_limit,
                status: merchant.status,
                face_payment_off: merchant.face_payment_off,
            })
            .collect();
        merchants.sort_by_key(|merchant| merchant.id);
        merchants
    }

    /// A merchant's terminals, by id, with whether each has face payment switched off.
    pub fn terminals_of(&self, merchant: MerchantId) -> Vec<(TerminalId, bool)> {
        let mut terminals: Vec<(TerminalId, bool)> = self
            .terminals
            .iter()
            .filter(|(_, terminal)| terminal.merchant == merchant)
            .map(|(&id, terminal)| (id, terminal.face_payment_off))
            .collect();
        terminals.sort();
        terminals
    }

    pub fn face_payment_off_everywhere(&self) -> bool {
        self.face_payment_off_everywhere
    }

    /// Risk rules that fired since the last call, oldest first.
    pub fn take_risk_events(&mut self) -> Vec<RiskEvent> {
        std::mem::take(&mut self.risk_events)
    }

    /// Messages for external banks queued since the last call, oldest first.
    pub fn take_issuer_messages(&mut self) -> Vec<IssuerMessage> {
        std::mem::take(&mut self.issuer_messages)
    }

    /// How many entries the audit log holds (they live in the store) and its newest hash, for
    /// an auditor to keep (32 zero bytes while it is empty).
    pub fn audit_head(&self) -> (u64, [u8; 32]) {
        (self.audit.length(), self.audit.head())
    }

    /// The audit entries the last command appended, for the store; each is taken once.
    pub fn take_audit_entries(&mut self) -> Vec<AuditEntry> {
        self.audit.take_new()
    }

    /// A merchant's risk level and own limit.
    pub fn merchant_risk(&self, id: MerchantId) -> Option<(MerchantRisk, Option<Limit>)> {
        self.merchants.get(&id).map(|merchant| (merchant.risk, merchant.own_limit))
    }

    /// The shopper's own limit, if they set one, and the tier the operator gave them.
    pub fn shopper_limit(&self, id: ShopperId) -> Option<(Option<Limit>, ShopperRiskTier)> {
        self.shoppers.get(&id).map(|shopper| (shopper.own_limit, shopper.tier))
    }

    /// Every bank account the shopper bound, usable or not (yet): its bank, its digest, the
    /// reference sealed, whether it is the default, and what its bank said.
    pub fn bank_accounts_of(&self, id: ShopperId) -> Vec<BankAccountView> {
        let Some(shopper) = self.shoppers.get(&id) else { return Vec::new() };
        let usable = shopper.funding.iter().filter_map(|source| match source {
            FundingSource::BankAccount { issuer, account } => Some(BankAccountView {
                issuer: *issuer,
                account: *account,
                reference: shopper.bank_references.get(account).cloned(),
                default: shopper.default_funding.as_ref() == Some(source),
                standing: None,
            }),
            FundingSource::Wallet(_) => None,
        });
        let waiting = shopper.bindings.iter().map(|(account, binding)| BankAccountView {
            issuer: binding.issuer,
            account: *account,
            reference: shopper.bank_references.get(account).cloned(),
            default: false,
            standing: Some(binding.state.clone()),
        });
        usable.chain(waiting).collect()
    }

    /// Every account the shopper bound, and which one pays by default.
    pub fn funding_of(&self, id: ShopperId) -> (Vec<FundingSource>, Option<FundingSource>) {
        self.shoppers.get(&id).map_or((Vec::new(), None), |s| (s.funding.clone(), s.default_funding.clone()))
    }

    /// The accounts at `issuer` that shoppers bound for face payment: whose, the bank's
    /// reference sealed under their key, and whether it is their default. A forgotten shopper
    /// has none.
    pub fn bank_accounts_at(&self, issuer: IssuerId) -> Vec<(ShopperId, Sealed, bool)> {
        self.shoppers
            .iter()
            .flat_map(|(&id, shopper)| {
                shopper.funding.iter().filter_map(move |source| match source {
                    FundingSource::BankAccount { issuer: at, account } if *at == issuer => {
                        let is_default = shopper.default_funding.as_ref() == Some(source);
                        Some((id, shopper.bank_references[account].clone(), is_default))
                    }
                    _ => None,
                })
            })
            .collect()
    }
}
