//! What callers were told, kept by the simulation itself: the oracle the core's records are
//! checked against. A terminal that heard "captured" gave the goods away, and one that heard a
//! refund accepted handed the money back; whatever the core holds later must agree with that,
//! across crashes, failed writes and replays.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use facepay_domain::PaymentId;
use facepay_ledger::TransferId;
use facepay_payments::{Command, CoreError, PaymentCore, PaymentRow, PaymentState, Reply};

#[derive(Debug, Default)]
pub struct Told {
    /// Payments a terminal was told are captured.
    captured: BTreeSet<PaymentId>,
    /// Captured payments a terminal was told are reversed.
    reversed: BTreeSet<PaymentId>,
    /// Refunds a merchant was told were accepted, by refund id and payment: how much.
    refunds: HashMap<(TransferId, PaymentId), i64>,
    /// The payment and amount each refund id was last accepted for.
    last_use: HashMap<TransferId, (PaymentId, i64)>,
}

impl Told {
    /// Notes what the caller of `command` heard; a refund id accepted twice for different
    /// refunds is itself a violation while the core (`after` the command) still holds the
    /// first one's payment. (The API derives refund ids from their payment, so only the
    /// simulator reuses one across payments; the switch remembers it as long as its payment.)
    pub fn hear(
        &mut self,
        command: &Command,
        reply: &Result<Reply, CoreError>,
        after: &PaymentCore,
    ) -> Result<(), String> {
        let Ok(Reply::Payment(view)) = reply else { return Ok(()) };
        match command {
            Command::Capture { payment } if matches!(view.state, PaymentState::Captured { .. }) => {
                self.captured.insert(*payment);
            }
            Command::Reverse { payment }
                if view.state == PaymentState::Reversed && self.captured.contains(payment) =>
            {
                self.reversed.insert(*payment);
            }
            Command::Refund { payment, refund_id, amount_minor } => {
                let refund = (*payment, *amount_minor);
                if let Some(earlier) = self.last_use.insert(*refund_id, refund)
                    && earlier != refund
                    && after.payment(earlier.0).is_some()
                {
                    return Err(format!(
                        "refund {refund_id:?} was accepted as {earlier:?} and as {refund:?}"
                    ));
                }
                self.refunds.insert((*refund_id, *payment), *amount_minor);
            }
            _ => {}
        }
        Ok(())
    }

    /// Every payment told captured is captured (or told reversed, and reversed), with exactly
    /// the refunds told accepted, never more than its amount, in the store's read model.
    pub fn check(&self, payments: &BTreeMap<PaymentId, PaymentRow>) -> Result<(), String> {
        let mut refunded: HashMap<PaymentId, i64> = HashMap::new();
        for (&(_, payment), &amount_minor) in &self.refunds {
            *refunded.entry(payment).or_default() += amount_minor;
        }
        for &payment in &self.captured {
            let state = payments.get(&payment).ok_or(format!("{payment}, told captured, is gone"))?.state;
            let told_refunded = refunded.get(&payment).copied().unwrap_or(0);
            let agrees = if self.reversed.contains(&payment) {
                state == PaymentState::Reversed
            } else {
                state == PaymentState::Captured { refunded_minor: told_refunded }
            };
            if !agrees {
                return Err(format!(
                    "{payment} was told captured with {told_refunded} refunded{}, the core says {state:?}",
                    if self.reversed.contains(&payment) { " and then reversed" } else { "" }
                ));
            }
        }
        if let Some((payment, _)) = refunded.iter().find(|(payment, _)| !self.captured.contains(payment)) {
            return Err(format!(
                "a refund of {payment} was accepted, but no terminal was told it was captured"
            ));
        }
        Ok(())
    }
}
