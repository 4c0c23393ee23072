//! The external bank as the simulation plays it, on the wire: each of the switch's messages is
//! encoded as the ISO 8583 request a bank link sends (`facepay_iso8583::request`), framed,
//! deframed and decoded, and the bank reads only what the bytes say (the type, STAN, RRN,
//! amount, field 48); its answers to authorizations are ISO 8583 0110s that the link side decodes
//! and matches back by STAN. It receives messages at least once (a restarted switch sends them
//! again), answers authorizations after a while, sometimes declines, sometimes never answers
//! (and sometimes its link gives up before the switch's own timeout), and its answers are
//! sometimes lost on the way back.
//!
//! It remembers what it approved and what it was told to release, so the end of a run can check
//! that no authorization was left hanging at the bank, and keeps its own books of what it was
//! told moved (each capture once per payment, each credit once per credit id), which must equal
//! the switch's.

use std::collections::{BTreeMap, BTreeSet};

use facepay_domain::{PaymentId, Timestamp};
use facepay_iso8583::{Answer, Deframer, Message, Mti, answer, field, frame, request};
use facepay_payments::{IssuerAnswer, IssuerMessage};

use crate::Rng;

/// The switch's acquirer id on the simulated link.
const ACQUIRER: &str = "1";

/// An answer on its way back to the switch.
#[derive(Debug, Clone)]
enum Answering {
    /// The bank's 0110, as bytes.
    Wire(Vec<u8>),
    /// The link heard nothing in time and says so.
    LinkGaveUp(PaymentId),
}

#[derive(Debug, Default)]
pub struct Bank {
    in_flight: Vec<Answering>,
    pub approved: BTreeSet<PaymentId>,
    pub released: BTreeSet<PaymentId>,
    /// What the bank posted for each payment it was told was captured.
    pub captured: BTreeMap<PaymentId, i64>,
    /// What it paid back to shoppers, by the credit id field 48 carried: the payment and amount.
    pub credited: BTreeMap<String, (PaymentId, i64)>,
    /// Authorizations the bank has seen, by RRN.
    asked: BTreeSet<String>,
    /// The link side's record of what it sent: the payment of each RRN and of each STAN.
    by_rrn: BTreeMap<String, PaymentId>,
    by_stan: BTreeMap<String, PaymentId>,
}

impl Bank {
    /// Takes the switch's messages, through the wire; a message seen before changes nothing.
    pub fn receive(&mut self, messages: Vec<IssuerMessage>, now: Timestamp, rng: &mut Rng) {
        let mut stream = Vec::new();
        for message in &messages {
            let sent =
                request(message, Some("acct-sim"), ACQUIRER, now).expect("the simulation's messages encode");
            if let IssuerMessage::Authorize { payment, .. } = message {
                let field_of = |number| sent.get(number).expect("an authorization has it").to_owned();
                self.by_rrn.insert(field_of(field::RRN), *payment);
                self.by_stan.insert(field_of(field::STAN), *payment);
            }
            stream.extend(frame(&sent.encode()).expect("small messages"));
        }
        // The bank reads the stream in pieces of any size.
        let mut deframer = Deframer::default();
        for piece in stream.chunks(1 + rng.below(64) as usize) {
            deframer.push(piece);
            while let Some(bytes) = deframer.next_message() {
                let heard = Message::decode(&bytes).expect("the bank reads what the switch sends");
                self.hear(&heard, rng);
            }
        }
    }

    fn hear(&mut self, heard: &Message, rng: &mut Rng) {
        let get = |number| heard.get(number).unwrap_or_default().to_owned();
        let rrn = get(field::RRN);
        let payment = *self.by_rrn.get(&rrn).expect("an RRN the link sent");
        let amount: i64 = get(field::AMOUNT).parse().expect("12 digits");
        match heard.mti() {
            Mti::AUTHORIZATION => {
                if !self.asked.insert(rrn.clone()) {
                    return;
                }
                let answer_code = match rng.below(100) {
                    0..=79 => "00",
                    // Declines with the codes banks send most: do not honour, insufficient
                    // funds, wrong PIN.
                    80..=84 => "05",
                    85..=89 => "51",
                    90..=94 => "55",
                    95..=97 => {
                        self.in_flight.push(Answering::LinkGaveUp(payment));
                        return;
                    }
                    // Silent: the switch must time out.
                    _ => return,
                };
                if answer_code == "00" {
                    self.approved.insert(payment);
                }
                let mut reply = Message::new(Mti::AUTHORIZATION_RESPONSE);
                reply.set(field::STAN, get(field::STAN)).expect("6 digits");
                reply.set(field::RRN, rrn).expect("12 digits");
                reply.set(field::RESPONSE_CODE, answer_code).expect("2 characters");
                self.in_flight.push(Answering::Wire(reply.encode()));
            }
            Mti::REVERSAL_ADVICE => {
                self.released.insert(payment);
            }
            Mti::COMPLETION_ADVICE => {
                self.captured.entry(payment).or_insert(amount);
            }
            Mti::FINANCIAL => {
                let credit = get(field::PRIVATE_DATA);
                self.credited.entry(credit).or_insert((payment, amount));
            }
            other => panic!("the switch sent the bank a {other}"),
        }
    }

    /// One answer reaches the switch, decoded and matched by STAN; `None` when none is on its
    /// way or it was lost. Sometimes the bank sends the same answer again later.
    pub fn next_answer(&mut self, rng: &mut Rng) -> Option<(PaymentId, IssuerAnswer)> {
        if self.in_flight.is_empty() {
            return None;
        }
        let index = rng.below(self.in_flight.len() as u64) as usize;
        let answering =
            if rng.chance(10) { self.in_flight[index].clone() } else { self.in_flight.swap_remove(index) };
        if rng.chance(5) {
            return None;
        }
        match answering {
            Answering::LinkGaveUp(payment) => Some((payment, IssuerAnswer::Unavailable)),
            Answering::Wire(bytes) => {
                let decoded = Message::decode(&bytes).expect("the switch reads the bank's answer");
                match answer(&decoded).expect("an answer to an authorization") {
                    Answer::Authorization { stan, answer, .. } => {
                        Some((*self.by_stan.get(&stan).expect("a STAN the link sent"), answer))
                    }
                    other => panic!("the bank answered an authorization with {other:?}"),
                }
            }
        }
    }
}
