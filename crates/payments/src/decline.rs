//! Why a payment was declined: one enum value per business reason, each with a stable code that
//! terminals, reports and tests rely on, and a message a shopper at the till can act on.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeclineReason {
    /// Face payment is switched off here (emergency switch for a terminal, merchant or all).
    FacePaymentOff,
    TerminalSuspended,
    MerchantSuspended,
    MerchantBlacklisted,
    /// The capture did not pass presentation-attack detection.
    LivenessFailed,
    /// Nobody enrolled matches the face.
    NoMatch,
    /// Even with the phone digits, the match is not clear.
    StillAmbiguous,
    /// The shopper paused face payment.
    ShopperPaused,
    PinLocked,
    /// Policy asks for a PIN and the shopper never set one.
    PinNotSet,
    LimitPerTransactionExceeded,
    LimitDailyExceeded,
    InsufficientFunds,
    IssuerDeclined,
    /// The shopper's bank did not answer in time.
    IssuerUnavailable,
    RiskDeclined,
    /// The payment code was never issued, was already used or has lapsed.
    PaymentCodeInvalid,
}

impl DeclineReason {
    pub fn code(&self) -> &'static str {
        match self {
            DeclineReason::FacePaymentOff => "face_payment_off",
            DeclineReason::TerminalSuspended => "terminal_suspended",
            DeclineReason::MerchantSuspended => "merchant_suspended",
            DeclineReason::MerchantBlacklisted => "merchant_blacklisted",
            DeclineReason::LivenessFailed => "liveness_failed",
            DeclineReason::NoMatch => "no_match",
            DeclineReason::StillAmbiguous => "still_ambiguous",
            DeclineReason::ShopperPaused => "shopper_paused",
            DeclineReason::PinLocked => "pin_locked",
            DeclineReason::PinNotSet => "pin_not_set",
            DeclineReason::LimitPerTransactionExceeded => "limit_per_transaction_exceeded",
            DeclineReason::LimitDailyExceeded => "limit_daily_exceeded",
            DeclineReason::InsufficientFunds => "insufficient_funds",
            DeclineReason::IssuerDeclined => "issuer_declined",
            DeclineReason::IssuerUnavailable => "issuer_unavailable",
            DeclineReason::RiskDeclined => "risk_declined",
            DeclineReason::PaymentCodeInvalid => "payment_code_invalid",
        }
    }

    /// What the terminal shows the shopper.
    pub fn message(&self) -> &'static str {
        match self {
            DeclineReason::FacePaymentOff => {
                "Face payment is not available here right now. Please pay another way."
            }
            DeclineReason::TerminalSuspended => {
                "This terminal cannot take face payments. Please pay another way."
            }
            DeclineReason::MerchantSuspended | DeclineReason::MerchantBlacklisted => {
                "This shop cannot take face payments. Please pay another way."
            }
            DeclineReason::LivenessFailed => {
                "We could not confirm a live face. Please look at the camera and try again."
            }
            DeclineReason::NoMatch => "We did not recognise you. Please pay with your payment code.",
            DeclineReason::StillAmbiguous => {
                "We could not confirm who you are. Please pay with your payment code."
            }
            DeclineReason::ShopperPaused => "Face payment is paused on your account.",
            DeclineReason::PinLocked => "Too many wrong PINs. Face payment is locked for a while.",
            DeclineReason::PinNotSet => "This payment needs your payment PIN; set one first.",
            DeclineReason::LimitPerTransactionExceeded => "This amount is above your face-payment limit.",
            DeclineReason::LimitDailyExceeded => "This would exceed your daily face-payment limit.",
            DeclineReason::InsufficientFunds => "Your account does not have enough funds.",
            DeclineReason::IssuerDeclined => "Your bank declined the payment.",
            DeclineReason::IssuerUnavailable => {
                "Your bank did not answer in time. Please try again or pay another way."
            }
            DeclineReason::RiskDeclined => "This payment cannot be made by face. Please pay another way.",
            DeclineReason::PaymentCodeInvalid => {
                "This payment code is not valid any more. Please show a new one."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_reason_has_its_own_code_and_a_message() {
        let all = [
            DeclineReason::FacePaymentOff,
            DeclineReason::TerminalSuspended,
            DeclineReason::MerchantSuspended,
            DeclineReason::MerchantBlacklisted,
            DeclineReason::LivenessFailed,
            DeclineReason::NoMatch,
            DeclineReason::StillAmbiguous,
            DeclineReason::ShopperPaused,
            DeclineReason::PinLocked,
            DeclineReason::PinNotSet,
            DeclineReason::LimitPerTransactionExceeded,
            DeclineReason::LimitDailyExceeded,
            DeclineReason::InsufficientFunds,
            DeclineReason::IssuerDeclined,
            DeclineReason::IssuerUnavailable,
            DeclineReason::RiskDeclined,
            DeclineReason::PaymentCodeInvalid,
        ];
        let codes: HashSet<_> = all.iter().map(DeclineReason::code).collect();
        assert_eq!(codes.len(), all.len());
        assert!(codes.iter().all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        assert!(all.iter().all(|r| r.message().ends_with('.')));
    }
}
