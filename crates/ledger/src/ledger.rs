//! The ledger itself: accounts, transfers, pending holds and their deadlines, and the journal of
//! every change in the order it happened. A plain in-memory state machine: the caller passes the
//! time in, and storage persists the journal; replaying the journal rebuilds the same state.
//!
//! A ledger that runs for years keeps only what its checks still need: its owner takes the
//! journal's new entries for the store (`take_journal`) and has it forget the transfers that
//! were settled long ago (`forget_settled_through`), so memory follows the traffic of one
//! window, not all history.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use facepay_domain::{Currency, Timestamp};
use serde::{Deserialize, Serialize};

use crate::account::{Account, AccountId, Totals};
use crate::error::{AccountError, TransferError};
use crate::transfer::{Applied, PendingState, Transfer, TransferId, TransferKind, TransferRequest};

/// One change to the ledger, in the order it was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JournalEntry {
    Opened(Account),
    Applied(Transfer),
    Expired { pending_id: TransferId, at: Timestamp },
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Ledger {
    accounts: HashMap<AccountId, Account>,
    transfers: HashMap<TransferId, Box<Transfer>>,
    pending: HashMap<TransferId, PendingState>,
    /// Held pending transfers by deadline, so expiry touches only what is due.
    deadlines: BTreeSet<(Timestamp, TransferId)>,
    /// The transfers still remembered, in the order they were applied, so the oldest are
    /// forgotten first.
    applied: VecDeque<(Timestamp, TransferId)>,
    /// The journal's entries since the owner last took them.
    journal: Vec<JournalEntry>,
    /// How many entries the journal has had in all, taken or not.
    recorded: u64,
    /// Scratch space for undoing a linked chain; kept to reuse its allocation. Not state.
    #[serde(skip)]
    undo: Vec<Undo>,
}

/// Equal ledgers hold the same accounts, transfers, holds and journal; the undo scratch space
/// is not state. (A replayed journal must rebuild an equal ledger.)
impl PartialEq for Ledger {
    fn eq(&self, other: &Ledger) -> bool {
        self.accounts == other.accounts
            && self.transfers == other.transfers
            && self.pending == other.pending
            && self.deadlines == other.deadlines
            && self.applied == other.applied
            && self.journal == other.journal
            && self.recorded == other.recorded
    }
}

/// How to take back one step of a linked chain that failed further on.
#[derive(Debug, Clone)]
enum Undo {
    Totals(AccountId, Totals),
    Inserted(TransferId),
    Pending(TransferId, Option<PendingState>),
    DeadlineAdded(Timestamp, TransferId),
    DeadlineRemoved(Timestamp, TransferId),
}

/// A broken invariant, found by [`Ledger::verify`]. Any of these is a bug in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvariantViolation {
    #[error("{currency}: posted debits {debits} differ from posted credits {credits}")]
    PostedUnbalanced { currency: Currency, debits: u128, credits: u128 },
    #[error("{currency}: pending debits {debits} differ from pending credits {credits}")]
    PendingUnbalanced { currency: Currency, debits: u128, credits: u128 },
    #[error("account {0:?} is beyond its balance rule")]
    BeyondRule(AccountId),
    #[error("account {0:?}: pending totals differ from the sum of its held transfers")]
    PendingTotalsDrift(AccountId),
}

/// The journal could not be replayed: it does not come from a ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal entry {index} does not replay: {reason}")]
pub struct ReplayError {
    pub index: usize,
    pub reason: String,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Opens an account with zero totals. Opening the same account again is a no-op.
    pub fn open_account(&mut self, account: Account) -> Result<Applied, AccountError> {
        if account.totals != Totals::default() {
            return Err(AccountError::TotalsMustBeZero);
        }
        if let Some(existing) = self.accounts.get(&account.id) {
            let same = existing.currency == account.currency
                && existing.rule == account.rule
                && existing.code == account.code;
            return if same {
                Ok(Applied::AlreadyExists)
            } else {
                Err(AccountError::ExistsWithDifferentFields(account.id))
            };
        }
        self.record(JournalEntry::Opened(account.clone()));
        self.accounts.insert(account.id, account);
        Ok(Applied::Created)
    }

    /// Applies a batch at `now`, one result per request, in order. Requests marked `linked` form
    /// a chain with the next one: if any of a chain fails, none of it happened.
    pub fn submit(
        &mut self,
        batch: &[TransferRequest],
        now: Timestamp,
    ) -> Vec<Result<Applied, TransferError>> {
        let mut results = Vec::with_capacity(batch.len());
        let mut chain_start = 0;
        let mut chain_failed = false;
        self.undo.clear();
        for (index, request) in batch.iter().enumerate() {
            let is_last = index + 1 == batch.len();
            let result = if chain_failed {
                Err(TransferError::LinkedEventFailed)
            } else if request.linked && is_last {
                Err(TransferError::LinkedChainOpen)
            } else {
                self.apply(request, now)
            };
            if result.is_err() && !chain_failed && (request.linked || index > chain_start) {
                // This request is part of a chain: take back what the chain did so far.
                chain_failed = true;
                self.roll_back();
                for earlier in &mut results[chain_start..index] {
                    *earlier = Err(TransferError::LinkedEventFailed);
                }
            }
            results.push(result);
            if !request.linked {
                chain_start = index + 1;
                chain_failed = false;
                self.undo.clear();
            }
        }
        results
    }

    /// Applies one request on its own (not linked).
    pub fn apply_one(&mut self, request: &TransferRequest, now: Timestamp) -> Result<Applied, TransferError> {
        let request = TransferRequest { linked: false, ..*request };
        self.undo.clear();
        let result = self.apply(&request, now);
        self.undo.clear();
        result
    }

    /// Releases every held transfer whose deadline is at or before `now`; returns their ids.
    pub fn expire_due(&mut self, now: Timestamp) -> Vec<TransferId> {
        let due: Vec<(Timestamp, TransferId)> =
            self.deadlines.range(..=(now, TransferId(u128::MAX))).copied().collect();
        for &(_, pending_id) in &due {
            self.expire(pending_id, now);
        }
        due.into_iter().map(|(_, id)| id).collect()
    }

    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    pub fn transfer(&self, id: TransferId) -> Option<&Transfer> {
        self.transfers.get(&id).map(|transfer| &**transfer)
    }

    pub fn pending_state(&self, id: TransferId) -> Option<PendingState> {
        self.pending.get(&id).copied()
    }

    /// The earliest deadline of a held transfer, for a caller scheduling the next expiry.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// The journal's entries since the owner last took them (all of them, for an owner that
    /// never takes them).
    pub fn journal(&self) -> &[JournalEntry] {
        &self.journal
    }

    /// How many entries the journal has had in all, taken or not.
    pub fn journal_len(&self) -> u64 {
        self.recorded
    }

    /// Hands the owner the journal's entries since it last took them, for it to store.
    pub fn take_journal(&mut self) -> Vec<JournalEntry> {
        std::mem::take(&mut self.journal)
    }

    /// Forgets the transfers applied at or before `cutoff` that no longer hold money, oldest
    /// first, stopping at the first that still does; returns how many went. A forgotten id is
    /// new again: callers forget only what is past every retry they accept.
    pub fn forget_settled_through(&mut self, cutoff: Timestamp) -> usize {
        let mut forgotten = 0;
        while let Some(&(at, id)) = self.applied.front()
            && at <= cutoff
            && self.pending.get(&id) != Some(&PendingState::Held)
        {
            self.applied.pop_front();
            self.transfers.remove(&id);
            self.pending.remove(&id);
            forgotten += 1;
        }
        forgotten
    }

    /// When the oldest transfer remembered was applied, unless it still holds money (then its
    /// hold's deadline comes first): the owner forgets it once that is a window ago.
    pub fn oldest_settled(&self) -> Option<Timestamp> {
        let &(at, id) = self.applied.front()?;
        (self.pending.get(&id) != Some(&PendingState::Held)).then_some(at)
    }

    /// How many transfers the ledger remembers.
    pub fn transfers_held(&self) -> usize {
        self.transfers.len()
    }

    /// Rebuilds a ledger from its journal alone.
    pub fn replay(journal: &[JournalEntry]) -> Result<Ledger, ReplayError> {
        let mut ledger = Ledger::new();
        ledger.replay_more(journal)?;
        Ok(ledger)
    }

    /// Applies journal entries that follow this ledger's own journal, as a follower does with the
    /// entries it has not seen yet. On an error, the entries before the bad one stay applied.
    pub fn replay_more(&mut self, entries: &[JournalEntry]) -> Result<(), ReplayError> {
        let first = usize::try_from(self.recorded).expect("a journal's length fits in memory");
        for (offset, entry) in entries.iter().enumerate() {
            let fail = |reason: String| ReplayError { index: first + offset, reason };
            match entry {
                JournalEntry::Opened(account) => match self.open_account(account.clone()) {
                    Ok(Applied::Created) => {}
                    other => return Err(fail(format!("open gave {other:?}"))),
                },
                JournalEntry::Applied(transfer) => {
                    let request = TransferRequest { linked: false, ..transfer.request };
                    match self.apply_one(&request, transfer.timestamp) {
                        Ok(Applied::Created) => {}
                        other => return Err(fail(format!("transfer gave {other:?}"))),
                    }
                }
                JournalEntry::Expired { pending_id, at } => {
                    if self.pending.get(pending_id) != Some(&PendingState::Held) {
                        return Err(fail(format!("{pending_id:?} was not held")));
                    }
                    self.expire(*pending_id, *at);
                }
            }
        }
        Ok(())
    }

    /// Checks every invariant from scratch: per currency, debits equal credits (posted and
    /// pending); every account within its rule; pending totals equal the held transfers.
    pub fn verify(&self) -> Result<(), InvariantViolation> {
        let mut sums: BTreeMap<Currency, [u128; 4]> = BTreeMap::new();
        for account in self.accounts.values() {
            if !account.within_rule() {
                return Err(InvariantViolation::BeyondRule(account.id));
            }
            let t = account.totals;
            let sum = sums.entry(account.currency).or_default();
            sum[0] += u128::from(t.debits_posted);
            sum[1] += u128::from(t.credits_posted);
            sum[2] += u128::from(t.debits_pending);
            sum[3] += u128::from(t.credits_pending);
        }
        for (&currency, &[debits_posted, credits_posted, debits_pending, credits_pending]) in &sums {
            if debits_posted != credits_posted {
                return Err(InvariantViolation::PostedUnbalanced {
                    currency,
                    debits: debits_posted,
                    credits: credits_posted,
                });
            }
            if debits_pending != credits_pending {
                return Err(InvariantViolation::PendingUnbalanced {
                    currency,
                    debits: debits_pending,
                    credits: credits_pending,
                });
            }
        }
        let mut held: HashMap<AccountId, (u64, u64)> = HashMap::new();
        for (id, _) in self.pending.iter().filter(|(_, state)| **state == PendingState::Held) {
            let request = self.transfers[id].request;
            held.entry(request.debit).or_default().0 += request.amount;
            held.entry(request.credit).or_default().1 += request.amount;
        }
        for account in self.accounts.values() {
            let (debits, credits) = held.get(&account.id).copied().unwrap_or_default();
            if (debits, credits) != (account.totals.debits_pending, account.totals.credits_pending) {
                return Err(InvariantViolation::PendingTotalsDrift(account.id));
            }
        }
        Ok(())
    }

    fn apply(&mut self, request: &TransferRequest, now: Timestamp) -> Result<Applied, TransferError> {
        if request.amount == 0 {
            return Err(TransferError::AmountMustNotBeZero);
        }
        if request.debit == request.credit {
            return Err(TransferError::AccountsMustBeDifferent);
        }
        if let Some(existing) = self.transfers.get(&request.id) {
            // `linked` only says how the request was batched, not what it does.
            let same = TransferRequest { linked: existing.request.linked, ..*request } == existing.request;
            return if same {
                Ok(Applied::AlreadyExists)
            } else {
                Err(TransferError::ExistsWithDifferentFields(request.id))
            };
        }
        let debit =
            self.accounts.get(&request.debit).ok_or(TransferError::DebitAccountNotFound(request.debit))?;
        let credit =
            self.accounts.get(&request.credit).ok_or(TransferError::CreditAccountNotFound(request.credit))?;
        if debit.currency != credit.currency {
            return Err(TransferError::CurrencyMismatch);
        }
        let (mut debit_totals, mut credit_totals) = (debit.totals, credit.totals);
        let amount = request.amount;
        let mut expires_at = None;
        match request.kind {
            TransferKind::Posted | TransferKind::Pending { .. } => {
                let exceeds = |available: Option<i128>| available.is_some_and(|a| a < i128::from(amount));
                if exceeds(debit.available_to_debit()) {
                    return Err(TransferError::ExceedsCredits);
                }
                if exceeds(credit.available_to_credit()) {
                    return Err(TransferError::ExceedsDebits);
                }
                if let TransferKind::Pending { timeout_ms } = request.kind {
                    if timeout_ms == 0 {
                        return Err(TransferError::TimeoutMustNotBeZero);
                    }
                    debit_totals.debits_pending = add(debit_totals.debits_pending, amount)?;
                    credit_totals.credits_pending = add(credit_totals.credits_pending, amount)?;
                    let timeout_ms = i64::try_from(timeout_ms).unwrap_or(i64::MAX);
                    expires_at = Some(now.plus_ms(timeout_ms));
                } else {
                    debit_totals.debits_posted = add(debit_totals.debits_posted, amount)?;
                    credit_totals.credits_posted = add(credit_totals.credits_posted, amount)?;
                }
            }
            TransferKind::PostPending { pending_id } | TransferKind::VoidPending { pending_id } => {
                let held = self.held_transfer(pending_id, now)?;
                if (held.request.debit, held.request.credit) != (request.debit, request.credit) {
                    return Err(TransferError::PendingAccountsDiffer);
                }
                let held_amount = held.request.amount;
                let is_post = matches!(request.kind, TransferKind::PostPending { .. });
                if is_post && amount > held_amount {
                    return Err(TransferError::PostExceedsPending);
                }
                if !is_post && amount != held_amount {
                    return Err(TransferError::VoidAmountDiffers);
                }
                // The held amount always sits in the pending totals (`verify` checks it).
                debit_totals.debits_pending -= held_amount;
                credit_totals.credits_pending -= held_amount;
                if is_post {
                    debit_totals.debits_posted = add(debit_totals.debits_posted, amount)?;
                    credit_totals.credits_posted = add(credit_totals.credits_posted, amount)?;
                }
                let deadline = held.expires_at.expect("a held transfer has a deadline");
                let settled = if is_post { PendingState::Posted { amount } } else { PendingState::Voided };
                self.set_pending(pending_id, settled);
                self.deadlines.remove(&(deadline, pending_id));
                self.undo.push(Undo::DeadlineRemoved(deadline, pending_id));
            }
        }
        self.set_totals(request.debit, debit_totals);
        self.set_totals(request.credit, credit_totals);
        let transfer = Transfer { request: *request, timestamp: now, expires_at };
        if let Some(deadline) = expires_at {
            self.set_pending(request.id, PendingState::Held);
            self.deadlines.insert((deadline, request.id));
            self.undo.push(Undo::DeadlineAdded(deadline, request.id));
        }
        self.transfers.insert(request.id, Box::new(transfer));
        self.applied.push_back((now, request.id));
        self.undo.push(Undo::Inserted(request.id));
        self.record(JournalEntry::Applied(transfer));
        Ok(Applied::Created)
    }

    /// The pending transfer `id`, if it can still be posted or voided at `now`.
    fn held_transfer(&self, id: TransferId, now: Timestamp) -> Result<Transfer, TransferError> {
        let transfer = **self.transfers.get(&id).ok_or(TransferError::PendingNotFound(id))?;
        match self.pending.get(&id) {
            None => Err(TransferError::NotPending(id)),
            Some(PendingState::Posted { .. }) => Err(TransferError::PendingAlreadyPosted(id)),
            Some(PendingState::Voided) => Err(TransferError::PendingAlreadyVoided(id)),
            Some(PendingState::Expired) => Err(TransferError::PendingExpired(id)),
            Some(PendingState::Held) if transfer.expires_at.is_some_and(|at| at <= now) => {
                Err(TransferError::PendingExpired(id))
            }
            Some(PendingState::Held) => Ok(transfer),
        }
    }

    fn expire(&mut self, pending_id: TransferId, at: Timestamp) {
        let Transfer { request, expires_at, .. } = *self.transfers[&pending_id];
        let deadline = expires_at.expect("a held transfer has a deadline");
        for (account, is_debit) in [(request.debit, true), (request.credit, false)] {
            let totals = &mut self.accounts.get_mut(&account).expect("accounts are never removed").totals;
            if is_debit {
                totals.debits_pending -= request.amount;
            } else {
                totals.credits_pending -= request.amount;
            }
        }
        self.pending.insert(pending_id, PendingState::Expired);
        self.deadlines.remove(&(deadline, pending_id));
        self.record(JournalEntry::Expired { pending_id, at });
    }

    fn record(&mut self, entry: JournalEntry) {
        self.journal.push(entry);
        self.recorded += 1;
    }

    fn set_totals(&mut self, id: AccountId, totals: Totals) {
        let account = self.accounts.get_mut(&id).expect("checked above");
        self.undo.push(Undo::Totals(id, account.totals));
        account.totals = totals;
    }

    fn set_pending(&mut self, id: TransferId, state: PendingState) {
        let previous = self.pending.insert(id, state);
        self.undo.push(Undo::Pending(id, previous));
    }

    /// Takes back every step recorded since the chain started, newest first.
    fn roll_back(&mut self) {
        while let Some(step) = self.undo.pop() {
            match step {
                Undo::Totals(id, totals) => {
                    self.accounts.get_mut(&id).expect("never removed").totals = totals
                }
                Undo::Inserted(id) => {
                    self.transfers.remove(&id);
                    self.applied.pop_back();
                    self.recorded -= 1;
                    let popped = self.journal.pop();
                    debug_assert!(matches!(popped, Some(JournalEntry::Applied(t)) if t.request.id == id));
                }
                Undo::Pending(id, None) => {
                    self.pending.remove(&id);
                }
                Undo::Pending(id, Some(state)) => {
                    self.pending.insert(id, state);
                }
                Undo::DeadlineAdded(at, id) => {
                    self.deadlines.remove(&(at, id));
                }
                Undo::DeadlineRemoved(at, id) => {
                    self.deadlines.insert((at, id));
                }
            }
        }
    }
}

fn add(total: u64, amount: u64) -> Result<u64, TransferError> {
    total.checked_add(amount).ok_or(TransferError::Overflow)
}
