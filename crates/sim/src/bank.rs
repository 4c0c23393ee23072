//! The external bank as the simulation plays it: it receives the switch's messages (at least
//! once: a restarted switch sends them again), answers authorizations after a while, sometimes
//! declines, sometimes never answers (and sometimes its link says so before the switch's own
//! timeout), and its answers are sometimes lost on the way back.
//! It remembers what it approved and what it was told to release, so the end of a run can check
//! that no authorization was left hanging at the bank, and keeps its own books of what it was
//! told moved (each capture once per payment, each credit once per credit id), which must equal
//! the switch's.

use std::collections::{BTreeMap, BTreeSet};

use facepay_domain::PaymentId;
use facepay_ledger::TransferId;
use facepay_payments::{IssuerAnswer, IssuerMessage};

use crate::Rng;

#[derive(Debug, Default)]
pub struct Bank {
    /// Answers on their way back to the switch.
    pub in_flight: Vec<(PaymentId, IssuerAnswer)>,
    pub approved: BTreeSet<PaymentId>,
    pub released: BTreeSet<PaymentId>,
    asked: BTreeSet<PaymentId>,
    /// What the bank posted for each payment it was told was captured.
    pub captured: BTreeMap<PaymentId, i64>,
    /// What it paid back to shoppers, by credit id: the payment and the amount.
    pub credited: BTreeMap<TransferId, (PaymentId, i64)>,
}

impl Bank {
    /// Takes the switch's messages; a message seen before is a duplicate and changes nothing.
    pub fn receive(&mut self, messages: Vec<IssuerMessage>, rng: &mut Rng) {
        for message in messages {
            match message {
                IssuerMessage::Authorize { payment, .. } => {
                    if !self.asked.insert(payment) {
                        continue;
                    }
                    match rng.below(100) {
                        0..=79 => {
                            self.approved.insert(payment);
                            self.in_flight.push((payment, IssuerAnswer::Approved));
                        }
                        80..=94 => self.in_flight.push((payment, IssuerAnswer::Declined)),
                        // Silent, and the bank link gives up first: the switch declines at once.
                        95..=97 => self.in_flight.push((payment, IssuerAnswer::Unavailable)),
                        // Silent: the switch must time out.
                        _ => {}
                    }
                }
                IssuerMessage::Release { payment, .. } => {
                    self.released.insert(payment);
                }
                IssuerMessage::Capture { payment, amount, .. } => {
                    self.captured.entry(payment).or_insert(amount.amount_minor);
                }
                IssuerMessage::Credit { payment, credit, amount, .. } => {
                    self.credited.entry(credit).or_insert((payment, amount.amount_minor));
                }
            }
        }
    }

    /// One answer reaches the switch; `None` when none is on its way or it was lost. Sometimes
    /// the bank sends the same answer again later.
    pub fn next_answer(&mut self, rng: &mut Rng) -> Option<(PaymentId, IssuerAnswer)> {
        if self.in_flight.is_empty() {
            return None;
        }
        let index = rng.below(self.in_flight.len() as u64) as usize;
        let answer = if rng.chance(10) { self.in_flight[index] } else { self.in_flight.swap_remove(index) };
        (!rng.chance(5)).then_some(answer)
    }
}
