//! Disputes: a shopper says a captured payment was not theirs (or not as agreed). The operator
//! gathers evidence from both sides and decides. When the shopper cannot be shown to be at fault
//! they are compensated first, from the operator's reserve, without waiting for the merchant;
//! the merchant is charged back later, which refills the reserve.
//!
//! Money under dispute is set aside from the payment's refundable amount the moment the dispute
//! opens, so refunds and disputes together never return more than was captured.

use facepay_domain::{PaymentId, Sealed, Timestamp};
use facepay_ledger::{TransferError, TransferId, TransferKind};
use serde::{Deserialize, Serialize};

use crate::engine::{CoreError, PaymentCore, code, positive_amount, transfer};
use crate::issuer::CreditReason;
use crate::payment::PaymentState;
use crate::personal::bounded;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DisputeId(pub u128);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisputeState {
    /// Evidence is being gathered.
    Open,
    /// The shopper was shown to be at fault: nothing is paid.
    Rejected,
    /// The shopper was paid back from the reserve.
    Compensated,
    /// The merchant paid the reserve back.
    ChargedBack,
}

/// Who gave a piece of evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Party {
    Shopper,
    Merchant,
    Operator,
}

/// The operator's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Finding {
    ShopperAtFault,
    ShopperNotShownAtFault,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub party: Party,
    pub at: Timestamp,
    /// Sealed under the personal key of the shopper who paid: a note about a payment tells who
    /// they are and what happened, and goes with their key.
    pub note: Sealed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub id: DisputeId,
    pub payment: PaymentId,
    pub amount_minor: i64,
    pub opened_at: Timestamp,
    pub state: DisputeState,
    pub evidence: Vec<Evidence>,
}

/// The longest evidence note, in bytes, and how many notes one dispute keeps.
pub const EVIDENCE_NOTE_MAX: usize = 2_000;

/// A note says something (not only blanks) in at most `EVIDENCE_NOTE_MAX` bytes. The core sees
/// notes only sealed, so the API asks this before sealing one, and before opening a dispute, so a
/// dispute never opens on a note it would refuse.
pub fn evidence_note_valid(note: &str) -> bool {
    !note.trim().is_empty() && note.len() <= EVIDENCE_NOTE_MAX
}
pub const EVIDENCE_MAX: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisputeError {
    #[error("dispute {0:?} does not exist")]
    Unknown(DisputeId),
    #[error("dispute id {0:?} was used for a different dispute")]
    IdReused(DisputeId),
    #[error("only a captured payment can be disputed")]
    PaymentNotCaptured,
    #[error("a disputed amount must be above zero")]
    AmountNotPositive,
    #[error("the disputed amount exceeds what is neither refunded nor disputed ({left_minor})")]
    ExceedsCaptured { left_minor: i64 },
    #[error("the dispute is {0:?}, not open")]
    NotOpen(DisputeState),
    #[error("only a compensated dispute can be charged back; this one is {0:?}")]
    NotCompensated(DisputeState),
    #[error("an evidence note is 1 to {EVIDENCE_NOTE_MAX} bytes")]
    NoteLength,
    #[error("a dispute keeps at most {EVIDENCE_MAX} evidence notes")]
    TooMuchEvidence,
    #[error("the reserve cannot cover this compensation; fund it first")]
    ReserveInsufficient,
}

impl DisputeError {
    pub fn code(&self) -> &'static str {
        match self {
            DisputeError::Unknown(_) => "dispute_unknown",
            DisputeError::IdReused(_) => "dispute_id_reused",
            DisputeError::PaymentNotCaptured => "dispute_payment_not_captured",
            DisputeError::AmountNotPositive => "dispute_amount_not_positive",
            DisputeError::ExceedsCaptured { .. } => "dispute_exceeds_captured",
            DisputeError::NotOpen(_) => "dispute_not_open",
            DisputeError::NotCompensated(_) => "dispute_not_compensated",
            DisputeError::NoteLength => "evidence_note_length",
            DisputeError::TooMuchEvidence => "evidence_too_much",
            DisputeError::ReserveInsufficient => "reserve_insufficient",
        }
    }
}

impl PaymentCore {
    pub fn dispute(&self, id: DisputeId) -> Option<&Dispute> {
        self.disputes.get(&id)
    }

    pub fn disputes(&self) -> impl Iterator<Item = &Dispute> {
        self.disputes.values()
    }

    /// Adds money to the reserve, from the funding source. Idempotent by `transfer_id`.
    pub fn fund_reserve(
        &mut self,
        amount_minor: i64,
        transfer_id: TransferId,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        let amount = positive_amount(amount_minor)?;
        self.deposit(self.config.reserve_account, amount, transfer_id, code::RESERVE_FUNDING, now)
    }

    /// The shopper disputes `amount_minor` of a captured payment. Idempotent by `id`.
    pub fn open_dispute(
        &mut self,
        id: DisputeId,
        payment: PaymentId,
        amount_minor: i64,
        now: Timestamp,
    ) -> Result<Dispute, CoreError> {
        if let Some(existing) = self.disputes.get(&id) {
            return if (existing.payment, existing.amount_minor) == (payment, amount_minor) {
                Ok(existing.clone())
            } else {
                Err(DisputeError::IdReused(id).into())
            };
        }
        let window_ms = self.config.retention.refund_window_ms;
        let record = self.payments.get_mut(&payment).ok_or(CoreError::UnknownPayment(payment))?;
        let PaymentState::Captured { refunded_minor } = record.payment.state else {
            return Err(DisputeError::PaymentNotCaptured.into());
        };
        if now >= record.created_at.plus_ms(window_ms) {
            return Err(CoreError::PaymentWindowClosed(payment));
        }
        if amount_minor <= 0 {
            return Err(DisputeError::AmountNotPositive.into());
        }
        let left_minor = record.payment.amount.amount_minor - refunded_minor - record.disputed_minor;
        if amount_minor > left_minor {
            return Err(DisputeError::ExceedsCaptured { left_minor }.into());
        }
        record.disputed_minor += amount_minor;
        record.disputes.push(id);
        let dispute = Dispute {
            id,
            payment,
            amount_minor,
            opened_at: now,
            state: DisputeState::Open,
            evidence: Vec::new(),
        };
        self.disputes.insert(id, dispute.clone());
        Ok(dispute)
    }

    pub fn add_dispute_evidence(
        &mut self,
        id: DisputeId,
        party: Party,
        note: &Sealed,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        let dispute = self.open_dispute_mut(id)?;
        bounded(note)?;
        if dispute.evidence.len() == EVIDENCE_MAX {
            return Err(DisputeError::TooMuchEvidence.into());
        }
        dispute.evidence.push(Evidence { party, at: now, note: note.clone() });
        Ok(())
    }

    /// The operator decides. Not at fault: the shopper is paid back from the reserve now.
    pub fn resolve_dispute(
        &mut self,
        id: DisputeId,
        finding: Finding,
        now: Timestamp,
    ) -> Result<Dispute, CoreError> {
        let dispute = self.open_dispute_mut(id)?;
        let (payment, amount) = (dispute.payment, dispute.amount_minor);
        match finding {
            Finding::ShopperAtFault => {
                self.payments.get_mut(&payment).expect("disputes name payments").disputed_minor -= amount;
                self.set_state(id, DisputeState::Rejected)
            }
            Finding::ShopperNotShownAtFault => {
                let funding =
                    self.payments[&payment].funding.as_ref().expect("a captured payment has funding");
                let shopper_side = self.ledger_account(funding);
                let reserve = self.config.reserve_account;
                let transfer_id = self.own_transfer_id();
                let request = transfer(
                    transfer_id,
                    reserve,
                    shopper_side,
                    amount as u64,
                    TransferKind::Posted,
                    code::COMPENSATION,
                );
                match self.apply_own(payment, &request, now) {
                    Ok(_) => {
                        self.tell_bank_credited(payment, transfer_id, amount, CreditReason::Compensation);
                        self.set_state(id, DisputeState::Compensated)
                    }
                    Err(TransferError::ExceedsCredits) => Err(DisputeError::ReserveInsufficient.into()),
                    Err(other) => Err(other.into()),
                }
            }
        }
    }

    /// Recovers a compensated dispute from the merchant, refilling the reserve.
    pub fn charge_back(&mut self, id: DisputeId, now: Timestamp) -> Result<Dispute, CoreError> {
        let dispute = self.disputes.get(&id).ok_or(DisputeError::Unknown(id))?;
        if dispute.state != DisputeState::Compensated {
            return Err(DisputeError::NotCompensated(dispute.state).into());
        }
        let (amount, payment) = (dispute.amount_minor as u64, dispute.payment);
        let merchant = self.payments[&payment].payment.merchant;
        let merchant_account = self.merchants[&merchant].account;
        let transfer_id = self.own_transfer_id();
        let reserve = self.config.reserve_account;
        let request =
            transfer(transfer_id, merchant_account, reserve, amount, TransferKind::Posted, code::CHARGEBACK);
        self.apply_own(payment, &request, now)?;
        self.set_state(id, DisputeState::ChargedBack)
    }

    fn open_dispute_mut(&mut self, id: DisputeId) -> Result<&mut Dispute, CoreError> {
        let dispute = self.disputes.get_mut(&id).ok_or(DisputeError::Unknown(id))?;
        if dispute.state != DisputeState::Open {
            return Err(DisputeError::NotOpen(dispute.state).into());
        }
        Ok(dispute)
    }

    fn set_state(&mut self, id: DisputeId, state: DisputeState) -> Result<Dispute, CoreError> {
        let dispute = self.disputes.get_mut(&id).expect("callers looked it up");
        dispute.state = state;
        Ok(dispute.clone())
    }
}
