//! The parties and their standing: issuers, merchants, terminals and their credentials, shoppers
//! with their consent, PIN, limits and funding accounts, top-ups, and the audit log's appends.
//!
//! A shopper's personal fields (phone digits, masked name, consent, PIN hash, bank references)
//! arrive sealed under their personal key, or as its keyed digests; the core keeps them as they
//! came, checks only their size, and drops them when the shopper is forgotten.

use super::*;

impl PaymentCore {
    /// Registers an external bank, with the ledger account that records what it owes; it does
    /// not verify accounts (a bank registered before verification existed does not).
    pub fn register_issuer(&mut self, id: IssuerId, clearing_account: AccountId) -> Result<(), CoreError> {
        self.register_issuer_with(id, clearing_account, false)
    }

    /// Registers an external bank; one that `verifies_accounts` is asked to approve each
    /// account a shopper binds before it pays.
    pub fn register_issuer_with(
        &mut self,
        id: IssuerId,
        clearing_account: AccountId,
        verifies_accounts: bool,
    ) -> Result<(), CoreError> {
        if id == IssuerId::BUILT_IN || self.issuers.contains_key(&id) {
            return Err(CoreError::AlreadyRegistered(id.to_string()));
        }
        let rule = BalanceRule::Unbounded;
        self.open(Account::new(clearing_account, self.config.currency, rule, code::ISSUER_CLEARING))?;
        self.issuers.insert(id, clearing_account);
        self.owners.insert(clearing_account, LedgerSide::Issuer(id));
        if verifies_accounts {
            self.verifying_issuers.insert(id);
        }
        Ok(())
    }

    /// Registers a merchant, served by `acquirer`, with the ledger account it is paid into.
    pub fn register_merchant(
        &mut self,
        id: MerchantId,
        acquirer: AcquirerId,
        risk: MerchantRisk,
        account: AccountId,
    ) -> Result<(), CoreError> {
        if self.merchants.contains_key(&id) {
            return Err(CoreError::AlreadyRegistered(id.to_string()));
        }
        // Unbounded: refunds are bounded by the payment state machine, a chargeback may leave
        // the merchant owing, and settlement nets it.
        let ledger_account =
            Account::new(account, self.config.currency, BalanceRule::Unbounded, code::MERCHANT);
        self.open(ledger_account)?;
        let merchant = Merchant {
            acquirer,
            risk,
            status: MerchantStatus::Active,
            account,
            face_payment_off: false,
            own_limit: None,
        };
        self.owners.insert(merchant.account, LedgerSide::Acquirer(merchant.acquirer));
        self.merchants.insert(id, merchant);
        Ok(())
    }

    /// One sensitive request, appended to the audit chain.
    pub fn record_audit(&mut self, event: AuditEvent, now: Timestamp) -> Result<(), CoreError> {
        if !event.is_valid() {
            return Err(CoreError::AuditEventMalformed);
        }
        self.audit.append(event, now);
        Ok(())
    }

    /// The operator re-rates a merchant and sets or lifts its own limit.
    pub fn set_merchant_risk(
        &mut self,
        id: MerchantId,
        risk: MerchantRisk,
        limit: Option<Limit>,
    ) -> Result<(), CoreError> {
        if limit.is_some_and(|limit| !limit.is_valid()) {
            return Err(CoreError::LimitMalformed);
        }
        let merchant = self.merchants.get_mut(&id).ok_or(CoreError::UnknownMerchant(id))?;
        merchant.risk = risk;
        merchant.own_limit = limit;
        Ok(())
    }

    /// The operator's limit table, in place of the one the switch started with. Payments
    /// already authorized keep their place in today's totals.
    pub fn set_limit_table(&mut self, table: LimitTable) -> Result<(), CoreError> {
        if !table.is_valid() {
            return Err(CoreError::LimitMalformed);
        }
        self.operator_limits = Some(table);
        Ok(())
    }

    pub fn set_merchant_status(&mut self, id: MerchantId, status: MerchantStatus) -> Result<(), CoreError> {
        self.merchants.get_mut(&id).ok_or(CoreError::UnknownMerchant(id))?.status = status;
        Ok(())
    }

    pub fn register_terminal(&mut self, id: TerminalId, merchant: MerchantId) -> Result<(), CoreError> {
        let status = self.merchants.get(&merchant).ok_or(CoreError::UnknownMerchant(merchant))?.status;
        merchant_in_standing(status)?;
        if self.terminals.contains_key(&id) {
            return Err(CoreError::AlreadyRegistered(id.to_string()));
        }
        self.terminals.insert(id, Terminal { merchant, suspended: false, face_payment_off: false });
        Ok(())
    }

    pub fn suspend_terminal(&mut self, id: TerminalId, suspended: bool) -> Result<(), CoreError> {
        self.terminals.get_mut(&id).ok_or(CoreError::UnknownTerminal(id))?.suspended = suspended;
        Ok(())
    }

    /// The emergency switch: face payment off (or back on) everywhere.
    pub fn switch_face_payment_everywhere(&mut self, off: bool) {
        self.face_payment_off_everywhere = off;
    }

    /// The emergency switch for one merchant.
    pub fn switch_face_payment_for_merchant(&mut self, id: MerchantId, off: bool) -> Result<(), CoreError> {
        self.merchants.get_mut(&id).ok_or(CoreError::UnknownMerchant(id))?.face_payment_off = off;
        Ok(())
    }

    /// The emergency switch for one terminal.
    pub fn switch_face_payment_for_terminal(&mut self, id: TerminalId, off: bool) -> Result<(), CoreError> {
        self.terminals.get_mut(&id).ok_or(CoreError::UnknownTerminal(id))?.face_payment_off = off;
        Ok(())
    }

    /// Signs a shopper up with their phone digits, sealed and digested under their key.
    pub fn enroll_shopper(
        &mut self,
        id: ShopperId,
        phone: &Sealed,
        phone_digest: KeyedDigest,
    ) -> Result<(), CoreError> {
        bounded(phone)?;
        if self.shoppers.contains_key(&id) {
            return Err(CoreError::AlreadyRegistered(id.to_string()));
        }
        self.shoppers.insert(
            id,
            Shopper {
                phone: Some((phone.clone(), phone_digest)),
                paused: false,
                tier: ShopperRiskTier::Standard,
                own_limit: None,
                funding: Vec::new(),
                default_funding: None,
                pin: None,
                pin_guard: PinGuard::default(),
                usage: DailyUsage::default(),
                masked_name: None,
                consent: None,
                bank_references: BTreeMap::new(),
                bindings: BTreeMap::new(),
            },
        );
        Ok(())
    }

    /// Issues an API key for `role`, whose merchant, bank or shopper must exist.
    pub fn issue_api_key(
        &mut self,
        id: ApiKeyId,
        secret_hash: SecretHash,
        role: Role,
    ) -> Result<(), CoreError> {
        match role {
            Role::Operator => {}
            Role::Merchant(merchant) if !self.merchants.contains_key(&merchant) => {
                return Err(CoreError::UnknownMerchant(merchant));
            }
            Role::Issuer(issuer) if !self.issuers.contains_key(&issuer) => {
                return Err(CoreError::UnknownIssuer(issuer));
            }
            Role::Shopper(shopper) if !self.shoppers.contains_key(&shopper) => {
                return Err(CoreError::UnknownShopper(shopper));
            }
            Role::Merchant(_) | Role::Issuer(_) | Role::Shopper(_) => {}
        }
        Ok(self.access.issue_api_key(id, secret_hash, role)?)
    }

    pub fn revoke_api_key(&mut self, id: ApiKeyId) -> Result<(), CoreError> {
        Ok(self.access.revoke_api_key(id)?)
    }

    /// A one-time code the terminal activates with until `expires_at`.
    pub fn issue_activation_code(
        &mut self,
        terminal: TerminalId,
        code_hash: SecretHash,
        expires_at: Timestamp,
    ) -> Result<(), CoreError> {
        if !self.terminals.contains_key(&terminal) {
            return Err(CoreError::UnknownTerminal(terminal));
        }
        self.merchant_of_terminal_in_standing(terminal)?;
        Ok(self.access.issue_activation_code(terminal, code_hash, expires_at)?)
    }

    /// The terminal proves the code and hands in the public key it signs with from now on.
    pub fn activate_terminal(
        &mut self,
        terminal: TerminalId,
        code_hash: &SecretHash,
        public_key: PublicKey,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        self.merchant_of_terminal_in_standing(terminal)?;
        Ok(self.access.activate(terminal, code_hash, public_key, now)?)
    }

    /// Refuses a new code or activation for a terminal whose merchant is suspended or
    /// blacklisted (a suspended or revoked terminal is the access rules' business).
    fn merchant_of_terminal_in_standing(&self, terminal: TerminalId) -> Result<(), CoreError> {
        match self.terminals.get(&terminal) {
            Some(terminal) => merchant_in_standing(self.merchants[&terminal.merchant].status),
            None => Err(CoreError::UnknownTerminal(terminal)),
        }
    }

    /// Revokes a terminal for good: its key stops working and it takes no more payments.
    pub fn revoke_terminal(&mut self, terminal: TerminalId) -> Result<(), CoreError> {
        self.terminals.get_mut(&terminal).ok_or(CoreError::UnknownTerminal(terminal))?.suspended = true;
        self.access.revoke_terminal(terminal);
        Ok(())
    }

    /// Sets the name a terminal shows; the caller masks and seals it.
    pub fn name_shopper(&mut self, id: ShopperId, masked_name: &Sealed) -> Result<(), CoreError> {
        bounded(masked_name)?;
        self.shopper_mut(id)?.masked_name = Some(masked_name.clone());
        Ok(())
    }

    /// Records that the shopper accepted a consent text version (sealed) at `now`.
    pub fn record_consent(
        &mut self,
        id: ShopperId,
        text_version: &Sealed,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        bounded(text_version)?;
        self.shopper_mut(id)?.consent = Some((text_version.clone(), now));
        Ok(())
    }

    /// The shopper deleted everything: face payment stops, their keys are revoked and their name
    /// forgotten. (The face itself is shredded in the vault; payments already made stay on the
    /// books, as the law on records requires.)
    pub fn forget_shopper(&mut self, id: ShopperId) -> Result<(), CoreError> {
        let shopper = self.shopper_mut(id)?;
        // The record stays (payments and disputes name the shopper), its personal data goes:
        // no digits to match, no PIN, no accounts for any bank to list, no name, no consent.
        shopper.paused = true;
        shopper.phone = None;
        shopper.pin = None;
        shopper.bank_references.clear();
        shopper.bindings.clear();
        shopper.funding.clear();
        shopper.default_funding = None;
        shopper.masked_name = None;
        shopper.consent = None;
        shopper.tier = ShopperRiskTier::Standard;
        shopper.own_limit = None;
        self.access.revoke_role(Role::Shopper(id));
        self.payment_codes.retire(id);
        self.verifications.retain(|_, (shopper, _)| *shopper != id);
        Ok(())
    }

    /// A one-payment code for the shopper to show, lapsing at `expires_at`; it replaces any
    /// earlier code of theirs.
    pub fn issue_payment_code(
        &mut self,
        id: ShopperId,
        code_hash: SecretHash,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        self.shopper_mut(id)?;
        if expires_at <= now {
            return Err(CoreError::PaymentCodeLapsed);
        }
        self.payment_codes.issue(id, code_hash, expires_at);
        Ok(())
    }

    pub fn pause_shopper(&mut self, id: ShopperId, paused: bool) -> Result<(), CoreError> {
        self.shopper_mut(id)?.paused = paused;
        Ok(())
    }

    pub fn set_shopper_limit(
        &mut self,
        id: ShopperId,
        limit: Option<Limit>,
        tier: Option<ShopperRiskTier>,
    ) -> Result<(), CoreError> {
        if limit.is_some_and(|limit| !limit.is_valid()) {
            return Err(CoreError::LimitMalformed);
        }
        let shopper = self.shopper_mut(id)?;
        shopper.own_limit = limit;
        shopper.tier = tier.unwrap_or(shopper.tier);
        Ok(())
    }

    pub fn set_shopper_tier(&mut self, id: ShopperId, tier: ShopperRiskTier) -> Result<(), CoreError> {
        self.shopper_mut(id)?.tier = tier;
        Ok(())
    }

    /// Sets or changes the PIN, by its hash sealed under the shopper's key.
    pub fn set_pin_hash(&mut self, id: ShopperId, hash: &Sealed) -> Result<(), CoreError> {
        bounded(hash)?;
        let shopper = self.shopper_mut(id)?;
        shopper.pin = Some(hash.clone());
        shopper.pin_guard = PinGuard::default();
        Ok(())
    }

    /// Replaces the PIN if the current one was typed right (`current_matched`). A wrong one is
    /// counted toward the lockout like a wrong PIN at a terminal: the answer is the tries left
    /// (0 when this try locked it). While locked nothing is compared or changed, so a stolen
    /// app key can neither guess the PIN here nor lift a lockout by setting a new one.
    pub fn change_pin(
        &mut self,
        id: ShopperId,
        current_matched: bool,
        hash: &Sealed,
        now: Timestamp,
    ) -> Result<Option<u8>, CoreError> {
        bounded(hash)?;
        let shopper = self.shopper_mut(id)?;
        if shopper.pin.is_none() {
            return Err(PinError::NotSet.into());
        }
        let locked = shopper.pin_guard.is_locked(now);
        match shopper.pin_guard.record(current_matched, now) {
            // While locked a try compares nothing and counts for nothing: the lock's end only.
            Err(lock) if locked => Err(lock.into()),
            Ok(()) => {
                shopper.pin = Some(hash.clone());
                Ok(None)
            }
            Err(PinError::Wrong { tries_left }) => Ok(Some(tries_left)),
            Err(_) => Ok(Some(0)),
        }
    }

    /// The shopper's PIN hash, sealed, if they set one (the edge opens it to compare a PIN typed
    /// in the app).
    pub fn sealed_pin_hash(&self, id: ShopperId) -> Option<&Sealed> {
        self.shoppers.get(&id)?.pin.as_ref()
    }

    /// Binds a wallet at the built-in issuer to the shopper; the first one becomes the default.
    pub fn bind_wallet(
        &mut self,
        shopper: ShopperId,
        account: AccountId,
        make_default: bool,
    ) -> Result<(), CoreError> {
        self.shopper_mut(shopper)?;
        let rule = BalanceRule::DebitsWithinCredits { credit_limit: 0 };
        self.open(Account::new(account, self.config.currency, rule, code::WALLET))?;
        self.shopper_mut(shopper)?.bind(FundingSource::Wallet(account), make_default);
        Ok(())
    }

    /// Binds an account at an external bank: the bank's reference for it sealed, and its
    /// keyed digest, which names the account from now on. At a bank that verifies accounts it
    /// pays only once the bank approves the verification queued here (`account_verified`).
    pub fn bind_bank_account(
        &mut self,
        shopper: ShopperId,
        issuer: IssuerId,
        account: KeyedDigest,
        reference: &Sealed,
        make_default: bool,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        bounded(reference)?;
        if !self.issuers.contains_key(&issuer) {
            return Err(CoreError::UnknownIssuer(issuer));
        }
        let source = FundingSource::BankAccount { issuer, account };
        let verifies = self.verifying_issuers.contains(&issuer);
        let shopper_record = self.shopper_mut(shopper)?;
        let awaiting = shopper_record
            .bindings
            .get(&account)
            .is_some_and(|binding| matches!(binding.state, BindingState::AwaitingBank { .. }));
        if shopper_record.funding.contains(&source) || awaiting {
            return Err(CoreError::AlreadyRegistered(format!("{issuer} account of {shopper}")));
        }
        shopper_record.bank_references.insert(account, reference.clone());
        if !verifies {
            shopper_record.bindings.remove(&account);
            shopper_record.bind(source, make_default);
            return Ok(());
        }
        let trace = BankTrace { number: self.next_bank_trace(issuer), at: now };
        let state = BindingState::AwaitingBank { trace: trace.number };
        let binding = Binding { issuer, make_default, state };
        self.shopper_mut(shopper)?.bindings.insert(account, binding);
        self.verifications.insert((issuer, trace.number), (shopper, account));
        let (reference, currency) = (reference.clone(), self.config.currency);
        let message = IssuerMessage::VerifyAccount { shopper, issuer, reference, currency, trace };
        self.issuer_messages.push(message);
        Ok(())
    }

    /// The bank answered the verification it was sent under `trace`: approved, the account
    /// pays (as the default if the shopper asked so); refused, the shopper is told why. An
    /// account unbound or a shopper forgotten meanwhile stays so.
    pub fn account_verified(
        &mut self,
        issuer: IssuerId,
        trace: TraceNumber,
        answer: IssuerAnswer,
        response_code: &str,
    ) -> Result<(), CoreError> {
        if !response_code_valid(response_code) {
            return Err(CoreError::ResponseCodeMalformed);
        }
        let (shopper, account) = self
            .verifications
            .remove(&(issuer, trace))
            .ok_or(CoreError::VerificationUnknown(issuer, trace))?;
        let record = self.shopper_mut(shopper)?;
        let Some(binding) = record.bindings.get_mut(&account) else { return Ok(()) };
        if binding.state != (BindingState::AwaitingBank { trace }) {
            return Ok(());
        }
        match answer {
            IssuerAnswer::Approved => {
                let make_default = binding.make_default;
                record.bindings.remove(&account);
                record.bind(FundingSource::BankAccount { issuer, account }, make_default);
            }
            IssuerAnswer::Declined | IssuerAnswer::Unavailable => {
                // The reference stays, so the shopper's app can say which account was refused.
                binding.state = BindingState::Refused { response_code: response_code.to_owned() };
            }
        }
        Ok(())
    }

    /// Unbinds an account; the default moves to the first one left. A wallet still holding money
    /// stays bound (the money would have no owner).
    pub fn unbind_funding(&mut self, shopper: ShopperId, source: &FundingSource) -> Result<(), CoreError> {
        if let FundingSource::Wallet(account) = source
            && self
                .ledger
                .account(*account)
                .is_some_and(|a| a.posted_balance() != 0 || a.totals.debits_pending != 0)
        {
            return Err(CoreError::WalletNotEmpty);
        }
        let shopper = self.shopper_mut(shopper)?;
        if let FundingSource::BankAccount { account, .. } = source
            && let Some(binding) = shopper.bindings.remove(account)
        {
            // Not approved (yet): the shopper withdraws it, and any answer to come is ignored.
            shopper.bank_references.remove(account);
            if let BindingState::AwaitingBank { trace } = binding.state {
                self.verifications.remove(&(binding.issuer, trace));
            }
            return Ok(());
        }
        let before = shopper.funding.len();
        shopper.funding.retain(|bound| bound != source);
        if shopper.funding.len() == before {
            return Err(CoreError::FundingNotBound);
        }
        if let FundingSource::BankAccount { account, .. } = source {
            shopper.bank_references.remove(account);
        }
        if shopper.default_funding.as_ref() == Some(source) {
            shopper.default_funding = shopper.funding.first().cloned();
        }
        Ok(())
    }

    pub fn choose_default_funding(
        &mut self,
        shopper: ShopperId,
        source: &FundingSource,
    ) -> Result<(), CoreError> {
        let shopper = self.shopper_mut(shopper)?;
        if !shopper.funding.contains(source) {
            return Err(CoreError::FundingNotBound);
        }
        shopper.default_funding = Some(source.clone());
        Ok(())
    }

    /// Adds money to a built-in wallet, from the funding source. Idempotent by `transfer_id`.
    pub fn top_up(
        &mut self,
        account: AccountId,
        amount_minor: i64,
        transfer_id: TransferId,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        let amount = positive_amount(amount_minor)?;
        if self.ledger.account(account).is_none_or(|a| a.code != code::WALLET) {
            return Err(CoreError::NotAWallet);
        }
        self.deposit(account, amount, transfer_id, code::TOP_UP, now)
    }

    /// Moves money in from the funding source, posted at once; `code` says why.
    pub(crate) fn deposit(
        &mut self,
        account: AccountId,
        amount: u64,
        transfer_id: TransferId,
        code: u32,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        let request =
            transfer(transfer_id, self.config.funding_source, account, amount, TransferKind::Posted, code);
        self.ledger.apply_one(&request, now)?;
        Ok(())
    }

    pub(super) fn shopper_mut(&mut self, id: ShopperId) -> Result<&mut Shopper, CoreError> {
        self.shoppers.get_mut(&id).ok_or(CoreError::UnknownShopper(id))
    }

    pub(super) fn open(&mut self, account: Account) -> Result<(), CoreError> {
        let id = account.id;
        match self.ledger.open_account(account) {
            Ok(Applied::Created) => Ok(()),
            _ => Err(CoreError::AlreadyRegistered(format!("ledger account {}", id.0))),
        }
    }
}

/// A merchant's status as a refusal of anything new: terminals, codes, activations.
fn merchant_in_standing(status: MerchantStatus) -> Result<(), CoreError> {
    match status {
        MerchantStatus::Active => Ok(()),
        MerchantStatus::Suspended => Err(CoreError::NotInStanding(DeclineReason::MerchantSuspended)),
        MerchantStatus::Blacklisted => Err(CoreError::NotInStanding(DeclineReason::MerchantBlacklisted)),
    }
}
