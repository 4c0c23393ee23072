//! One payment's life as an explicit state machine: which events each state accepts and what it
//! becomes. Everything else in the core asks this module before it moves money, so an event out
//! of order (capturing a declined payment, refunding twice the amount) is refused in one place.

use facepay_domain::{MerchantId, Money, PaymentId, ShopperId, TerminalId};
use serde::{Deserialize, Serialize};

use crate::decline::DeclineReason;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentState {
    /// The terminal sent amount and capture; nothing decided yet.
    Created,
    /// The match was not clearly ahead: the shopper must type the last 4 digits of their phone.
    NeedsPhoneDigits,
    /// Policy or risk asks the shopper to confirm with their PIN.
    NeedsPin,
    /// Funds are held here; the shopper's external bank has been asked to authorize them.
    AwaitingIssuer,
    /// Funds are held at the shopper's bank account.
    Authorized,
    /// The held funds moved to the merchant; `refunded_minor` of them have gone back.
    Captured {
        refunded_minor: i64,
    },
    Declined(DeclineReason),
    /// The merchant cancelled before capture; the hold was released.
    Voided,
    /// The terminal never learned the outcome in time; the payment was undone.
    Reversed,
    /// The hold ran out before capture.
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentEvent {
    AskPhoneDigits,
    AskPin,
    AskIssuer,
    Authorize,
    Decline(DeclineReason),
    Capture,
    Void,
    Reverse,
    Expire,
    Refund { amount_minor: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("a payment that is {state} cannot {event}")]
    NotAllowed { state: &'static str, event: &'static str },
    #[error("a refund must be above zero")]
    RefundNotPositive,
    #[error("the refund exceeds what is left to refund ({left_minor})")]
    RefundExceedsCaptured { left_minor: i64 },
}

impl TransitionError {
    pub fn code(&self) -> &'static str {
        match self {
            TransitionError::NotAllowed { .. } => "payment_transition_not_allowed",
            TransitionError::RefundNotPositive => "refund_not_positive",
            TransitionError::RefundExceedsCaptured { .. } => "refund_exceeds_captured",
        }
    }
}

impl PaymentState {
    pub fn name(&self) -> &'static str {
        match self {
            PaymentState::Created => "created",
            PaymentState::NeedsPhoneDigits => "needs_phone_digits",
            PaymentState::NeedsPin => "needs_pin",
            PaymentState::AwaitingIssuer => "awaiting_issuer",
            PaymentState::Authorized => "authorized",
            PaymentState::Captured { .. } => "captured",
            PaymentState::Declined(_) => "declined",
            PaymentState::Voided => "voided",
            PaymentState::Reversed => "reversed",
            PaymentState::Expired => "expired",
        }
    }

    /// The state after `event`, for a payment of `amount_minor`; the state itself is untouched.
    pub fn after(self, event: PaymentEvent, amount_minor: i64) -> Result<PaymentState, TransitionError> {
        use PaymentEvent as E;
        use PaymentState as S;
        let deciding = matches!(self, S::Created | S::NeedsPhoneDigits | S::NeedsPin | S::AwaitingIssuer);
        match (self, event) {
            // The phone digits are asked at most once, before anything else.
            (S::Created, E::AskPhoneDigits) => Ok(S::NeedsPhoneDigits),
            (S::Created | S::NeedsPhoneDigits, E::AskPin) => Ok(S::NeedsPin),
            (S::Created | S::NeedsPhoneDigits | S::NeedsPin, E::AskIssuer) => Ok(S::AwaitingIssuer),
            (_, E::Authorize) if deciding => Ok(S::Authorized),
            (_, E::Decline(reason)) if deciding => Ok(S::Declined(reason)),
            (S::Authorized, E::Capture) => Ok(S::Captured { refunded_minor: 0 }),
            (S::Authorized, E::Void) => Ok(S::Voided),
            (S::Authorized, E::Expire) => Ok(S::Expired),
            // Unknown outcome: undone whether or not it was captured, as long as nothing was refunded.
            (S::Authorized | S::Captured { refunded_minor: 0 }, E::Reverse) => Ok(S::Reversed),
            (S::Captured { refunded_minor }, E::Refund { amount_minor: refund }) => {
                if refund <= 0 {
                    return Err(TransitionError::RefundNotPositive);
                }
                let left_minor = amount_minor - refunded_minor;
                if refund > left_minor {
                    return Err(TransitionError::RefundExceedsCaptured { left_minor });
                }
                Ok(S::Captured { refunded_minor: refunded_minor + refund })
            }
            (state, event) => Err(TransitionError::NotAllowed { state: state.name(), event: event.name() }),
        }
    }
}

impl PaymentEvent {
    pub fn name(&self) -> &'static str {
        match self {
            PaymentEvent::AskPhoneDigits => "ask for phone digits",
            PaymentEvent::AskPin => "ask for the PIN",
            PaymentEvent::AskIssuer => "ask the issuer",
            PaymentEvent::Authorize => "be authorized",
            PaymentEvent::Decline(_) => "be declined",
            PaymentEvent::Capture => "be captured",
            PaymentEvent::Void => "be voided",
            PaymentEvent::Reverse => "be reversed",
            PaymentEvent::Expire => "expire",
            PaymentEvent::Refund { .. } => "be refunded",
        }
    }
}

/// A payment as the core keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: PaymentId,
    pub merchant: MerchantId,
    pub terminal: TerminalId,
    pub amount: Money,
    /// Known once identification succeeded.
    pub shopper: Option<ShopperId>,
    pub state: PaymentState,
}

impl Payment {
    pub fn new(id: PaymentId, merchant: MerchantId, terminal: TerminalId, amount: Money) -> Payment {
        Payment { id, merchant, terminal, amount, shopper: None, state: PaymentState::Created }
    }

    /// Moves to the state after `event`, or leaves the payment as it was and says why not.
    pub fn apply(&mut self, event: PaymentEvent) -> Result<PaymentState, TransitionError> {
        self.state = self.state.after(event, self.amount.amount_minor)?;
        Ok(self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decline::DeclineReason;

    const AMOUNT: i64 = 1_000;

    fn states() -> [PaymentState; 11] {
        [
            PaymentState::Created,
            PaymentState::NeedsPhoneDigits,
            PaymentState::NeedsPin,
            PaymentState::AwaitingIssuer,
            PaymentState::Authorized,
            PaymentState::Captured { refunded_minor: 0 },
            PaymentState::Captured { refunded_minor: 400 },
            PaymentState::Declined(DeclineReason::NoMatch),
            PaymentState::Voided,
            PaymentState::Reversed,
            PaymentState::Expired,
        ]
    }

    fn events() -> [PaymentEvent; 10] {
        [
            PaymentEvent::AskPhoneDigits,
            PaymentEvent::AskPin,
            PaymentEvent::AskIssuer,
            PaymentEvent::Authorize,
            PaymentEvent::Decline(DeclineReason::LimitDailyExceeded),
            PaymentEvent::Capture,
            PaymentEvent::Void,
            PaymentEvent::Reverse,
            PaymentEvent::Expire,
            PaymentEvent::Refund { amount_minor: 100 },
        ]
    }

    /// The whole transition table: every state against every event, each outcome spelled out.
    #[test]
    fn every_state_and_event_pair_has_the_expected_outcome() {
        use PaymentEvent as E;
        use PaymentState as S;
        let declined = S::Declined(DeclineReason::LimitDailyExceeded);
        let allowed = |state: S, event: E| -> Option<S> {
            Some(match (state, event) {
                (S::Created, E::AskPhoneDigits) => S::NeedsPhoneDigits,
                (S::Created | S::NeedsPhoneDigits, E::AskPin) => S::NeedsPin,
                (S::Created | S::NeedsPhoneDigits | S::NeedsPin, E::AskIssuer) => S::AwaitingIssuer,
                (S::Created | S::NeedsPhoneDigits | S::NeedsPin | S::AwaitingIssuer, E::Authorize) => {
                    S::Authorized
                }
                (S::Created | S::NeedsPhoneDigits | S::NeedsPin | S::AwaitingIssuer, E::Decline(_)) => {
                    declined
                }
                (S::Authorized, E::Capture) => S::Captured { refunded_minor: 0 },
                (S::Authorized, E::Void) => S::Voided,
                (S::Authorized, E::Expire) => S::Expired,
                (S::Authorized | S::Captured { refunded_minor: 0 }, E::Reverse) => S::Reversed,
                (S::Captured { refunded_minor }, E::Refund { amount_minor }) => {
                    S::Captured { refunded_minor: refunded_minor + amount_minor }
                }
                _ => return None,
            })
        };
        let mut allowed_count = 0;
        for state in states() {
            for event in events() {
                let got = state.after(event, AMOUNT);
                match allowed(state, event) {
                    Some(expected) => {
                        allowed_count += 1;
                        assert_eq!(got, Ok(expected), "{state:?} + {event:?}");
                    }
                    None => assert_eq!(
                        got,
                        Err(TransitionError::NotAllowed { state: state.name(), event: event.name() }),
                        "{state:?} + {event:?}"
                    ),
                }
            }
        }
        assert_eq!(allowed_count, 21, "the table above allows 21 of the pairs tested");
    }

    #[test]
    fn refunds_never_exceed_the_captured_amount() {
        let mut state = PaymentState::Captured { refunded_minor: 0 };
        for refund in [300, 300, 300] {
            state = state.after(PaymentEvent::Refund { amount_minor: refund }, AMOUNT).unwrap();
        }
        assert_eq!(state, PaymentState::Captured { refunded_minor: 900 });
        let too_much = state.after(PaymentEvent::Refund { amount_minor: 101 }, AMOUNT).unwrap_err();
        assert_eq!(too_much, TransitionError::RefundExceedsCaptured { left_minor: 100 });
        assert_eq!(too_much.code(), "refund_exceeds_captured");
        for bad in [0, -1] {
            let err = state.after(PaymentEvent::Refund { amount_minor: bad }, AMOUNT).unwrap_err();
            assert_eq!(err.code(), "refund_not_positive");
        }
        let full = state.after(PaymentEvent::Refund { amount_minor: 100 }, AMOUNT).unwrap();
        assert_eq!(full, PaymentState::Captured { refunded_minor: AMOUNT });
        // A payment with refunds can no longer be reversed as if it never happened.
        assert_eq!(
            full.after(PaymentEvent::Reverse, AMOUNT).unwrap_err().code(),
            "payment_transition_not_allowed"
        );
    }

    #[test]
    fn a_refused_event_leaves_the_payment_as_it_was() {
        let eur = facepay_domain::Currency::new("EUR").unwrap();
        let mut payment = Payment::new(
            PaymentId::from_u128(1),
            MerchantId::from_u128(2),
            TerminalId::from_u128(3),
            Money::new(AMOUNT, eur),
        );
        assert!(payment.apply(PaymentEvent::Capture).is_err());
        assert_eq!(payment.state, PaymentState::Created);
        assert_eq!(payment.apply(PaymentEvent::Authorize), Ok(PaymentState::Authorized));
        assert_eq!(payment.apply(PaymentEvent::Capture), Ok(PaymentState::Captured { refunded_minor: 0 }));
        assert!(payment.apply(PaymentEvent::Refund { amount_minor: AMOUNT + 1 }).is_err());
        assert_eq!(payment.state, PaymentState::Captured { refunded_minor: 0 });
    }
}
