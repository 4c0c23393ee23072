//! One bank's connection: TCP with the 2-byte length header, a sign-on when it opens, an echo when
//! it has been quiet, reconnection with a doubling back-off after any failure, and at most
//! `in_flight_max` requests waiting for answers. The switch's side (its outbox for this bank,
//! acknowledgements, the bank's answers) comes in through `SwitchSide`, so the link runs the same
//! against a node or a test.
//!
//! Delivery: an authorization is acknowledged in the outbox once sent, answered or not: a bank
//! that does not answer within `answer_timeout` is told to the switch as `Unavailable`, which
//! declines the payment and queues a release, sent as a reversal advice (the core's own outcome
//! timeout does the same for a link that is down); an account's verification likewise, an
//! unanswered one refused with 91. A reversal, completion or credit is
//! acknowledged only when the bank answers it with 00; until then it is sent again after each
//! timeout (at least once; the bank knows a repeat by its field 90 or credit id).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use facepay_domain::{PaymentId, Timestamp};
use facepay_iso8583::{Answer, Deframer, Message, Mti, Network, answer, frame, network, request, stan};
use facepay_payments::{IssuerAnswer, IssuerId, IssuerMessage, TraceNumber};

/// What the link needs from the switch.
pub trait SwitchSide: Send + Sync {
    /// The bank's undelivered messages, oldest first, by outbox id.
    fn pending(&self, bank: IssuerId, max: usize) -> Result<Vec<(u64, IssuerMessage)>, String>;
    fn acknowledge(&self, ids: &[u64]) -> Result<(), String>;
    /// The account's reference for an authorization, opened; `None` once its shopper deleted it.
    fn reference(&self, message: &IssuerMessage) -> Option<String>;
    /// The bank answered the authorization of `payment`.
    fn answered(&self, payment: PaymentId, answer: IssuerAnswer, response_code: &str) -> Result<(), String>;
    /// The bank answered the verification of an account it was sent under `trace`.
    fn account_answered(
        &self,
        bank: IssuerId,
        trace: TraceNumber,
        answer: IssuerAnswer,
        response_code: &str,
    ) -> Result<(), String>;
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub bank: IssuerId,
    pub address: SocketAddr,
    /// The switch's acquiring institution id, field 32 (1 to 11 digits).
    pub acquirer: String,
    pub answer_timeout: Duration,
    /// An echo goes out after this long without a message from the bank.
    pub echo_every: Duration,
    pub in_flight_max: usize,
    pub backoff_max: Duration,
}

/// What the link has done, for metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStatus {
    pub connected: bool,
    pub connections: u64,
    pub sent: u64,
    pub answers: u64,
    /// Sign-ons and echoes the bank answered.
    pub network_answered: u64,
    pub timeouts: u64,
    /// Messages from the bank that could not be read; each closes the connection.
    pub unreadable: u64,
}

/// A request waiting for its answer.
struct InFlight {
    /// The outbox message to acknowledge when the bank takes it (advices only).
    outbox_id: Option<u64>,
    asked: Option<Asked>,
    sent_ms: i64,
}

/// What an 0100 asked the bank, which its answer goes to.
#[derive(Clone, Copy)]
enum Asked {
    Payment(PaymentId),
    Account(TraceNumber),
}

/// The link's own trace numbers for sign-ons and echoes: answers are matched by their type and
/// STAN, so these never meet the core's numbers for transactions.
const NETWORK_TRACE_START: u64 = 1;
const TICK: Duration = Duration::from_millis(20);

/// Runs the link until `stop` says so (or its sender is dropped).
pub fn run(config: &LinkConfig, side: &dyn SwitchSide, status: &Arc<Mutex<LinkStatus>>, stop: &Receiver<()>) {
    let mut backoff = Duration::from_millis(100);
    let mut network_trace = NETWORK_TRACE_START;
    loop {
        match TcpStream::connect_timeout(&config.address, config.answer_timeout) {
            Ok(stream) => {
                backoff = Duration::from_millis(100);
                update(status, |s| {
                    s.connected = true;
                    s.connections += 1;
                });
                let mut session = Session {
                    config,
                    side,
                    status,
                    stream,
                    deframer: Deframer::default(),
                    network_trace,
                    in_flight: BTreeMap::new(),
                };
                let stopped = session.serve(stop);
                session.abandon_authorizations();
                network_trace = session.network_trace;
                update(status, |s| s.connected = false);
                if stopped {
                    return;
                }
            }
            Err(_) => backoff = (backoff * 2).min(config.backoff_max),
        }
        match stop.recv_timeout(backoff) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

fn update(status: &Mutex<LinkStatus>, change: impl FnOnce(&mut LinkStatus)) {
    change(&mut status.lock().unwrap_or_else(PoisonError::into_inner));
}

struct Session<'a> {
    config: &'a LinkConfig,
    side: &'a dyn SwitchSide,
    status: &'a Mutex<LinkStatus>,
    stream: TcpStream,
    deframer: Deframer,
    network_trace: u64,
    /// Requests waiting for their answers, by the answer's type and STAN.
    in_flight: BTreeMap<(Mti, String), InFlight>,
}

impl Session<'_> {
    /// Serves one connection; true when told to stop, false when the connection failed.
    fn serve(&mut self, stop: &Receiver<()>) -> bool {
        if self.stream.set_read_timeout(Some(TICK)).is_err() {
            return false;
        }
        let mut last_heard = self.side.now().unix_ms;
        if !self.send_network(Network::SignOn) {
            return false;
        }
        loop {
            match stop.try_recv() {
                Ok(()) | Err(std::sync::mpsc::TryRecvError::Disconnected) => return true,
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
            let now = self.side.now().unix_ms;
            if !self.send_pending() {
                return false;
            }
            match self.read_answers() {
                Some(0) => {}
                Some(_) => last_heard = now,
                None => return false,
            }
            let timeout = i64::try_from(self.config.answer_timeout.as_millis()).unwrap_or(i64::MAX);
            let expired: Vec<(Mti, String)> = self
                .in_flight
                .iter()
                .filter(|(_, f)| now - f.sent_ms > timeout)
                .map(|(key, _)| key.clone())
                .collect();
            // An unanswered authorization is declined now (its release follows as a reversal);
            // an advice is sent again.
            for key in expired {
                let gone = self.in_flight.remove(&key).expect("listed");
                update(self.status, |s| s.timeouts += 1);
                if key.0 == Mti::AUTHORIZATION_RESPONSE
                    && let Some(asked) = gone.asked
                {
                    self.tell(asked, IssuerAnswer::Unavailable, "91");
                }
            }
            let echo_every = i64::try_from(self.config.echo_every.as_millis()).unwrap_or(i64::MAX);
            let echo_waiting = self.in_flight.keys().any(|(mti, _)| *mti == Mti::NETWORK_RESPONSE);
            if now - last_heard > echo_every && !echo_waiting && !self.send_network(Network::Echo) {
                return false;
            }
        }
    }

    fn send(&mut self, message: &Message) -> bool {
        let Ok(framed) = frame(&message.encode()) else { return false };
        let sent = self.stream.write_all(&framed).is_ok();
        if sent {
            update(self.status, |s| s.sent += 1);
        }
        sent
    }

    /// The connection is gone, and with it any answer to what it carried: each authorization
    /// still waiting is declined as the bank unavailable (advices go again on the next one).
    fn abandon_authorizations(&mut self) {
        for ((mti, _), waiting) in std::mem::take(&mut self.in_flight) {
            if mti == Mti::AUTHORIZATION_RESPONSE
                && let Some(asked) = waiting.asked
            {
                self.tell(asked, IssuerAnswer::Unavailable, "91");
            }
        }
    }

    /// Hands the bank's answer to an 0100 to the switch (an answer it refuses, being too late,
    /// changes nothing).
    fn tell(&self, asked: Asked, answer: IssuerAnswer, response_code: &str) {
        let _ = match asked {
            Asked::Payment(payment) => self.side.answered(payment, answer, response_code),
            Asked::Account(trace) => {
                self.side.account_answered(self.config.bank, trace, answer, response_code)
            }
        };
    }

    fn send_network(&mut self, purpose: Network) -> bool {
        self.network_trace += 1;
        let now = self.side.now();
        let message = network(purpose, self.network_trace, now);
        let key = (Mti::NETWORK_RESPONSE, stan(self.network_trace));
        self.in_flight.insert(key, InFlight { outbox_id: None, asked: None, sent_ms: now.unix_ms });
        self.send(&message)
    }

    /// Sends what the outbox holds for the bank and is not yet waiting for an answer.
    fn send_pending(&mut self) -> bool {
        let room = self.config.in_flight_max.saturating_sub(self.in_flight.len());
        if room == 0 {
            return true;
        }
        let waiting: BTreeSet<u64> = self.in_flight.values().filter_map(|f| f.outbox_id).collect();
        let Ok(pending) = self.side.pending(self.config.bank, self.config.in_flight_max + waiting.len())
        else {
            return true;
        };
        for (id, message) in pending.into_iter().filter(|(id, _)| !waiting.contains(id)).take(room) {
            let asked = match &message {
                IssuerMessage::Authorize { payment, .. } => Some(Asked::Payment(*payment)),
                IssuerMessage::VerifyAccount { trace, .. } => Some(Asked::Account(trace.number)),
                _ => None,
            };
            let reference = match asked {
                Some(asked) => match self.side.reference(&message) {
                    Some(reference) => Some(reference),
                    None => {
                        // The shopper deleted the account's reference before it was sent.
                        self.tell(asked, IssuerAnswer::Declined, "14");
                        let _ = self.side.acknowledge(&[id]);
                        continue;
                    }
                },
                None => None,
            };
            let now = self.side.now();
            let Ok(wire) = request(&message, reference.as_deref(), &self.config.acquirer, now) else {
                // A message this bank cannot be sent (a currency without a numeric code) is
                // left in the outbox for the operator to see.
                continue;
            };
            let key = (
                wire.mti().response(),
                wire.get(facepay_iso8583::field::STAN).unwrap_or_default().to_owned(),
            );
            let authorization = asked.is_some();
            // An 0100 leaves the outbox once sent; an advice when the bank takes it.
            let outbox_id = (!authorization).then_some(id);
            self.in_flight.insert(key, InFlight { outbox_id, asked, sent_ms: now.unix_ms });
            if !self.send(&wire) {
                return false;
            }
            if authorization {
                let _ = self.side.acknowledge(&[id]);
            }
        }
        true
    }

    /// Reads what has come; how many answers, or `None` when the connection must close.
    fn read_answers(&mut self) -> Option<usize> {
        let mut buffer = [0u8; 8192];
        match self.stream.read(&mut buffer) {
            Ok(0) => return None,
            Ok(n) => self.deframer.push(&buffer[..n]),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
        let mut read = 0;
        while let Some(bytes) = self.deframer.next_message() {
            let Ok(answered) =
                Message::decode(&bytes).map_err(|_| ()).and_then(|m| answer(&m).map_err(|_| ()))
            else {
                update(self.status, |s| s.unreadable += 1);
                return None;
            };
            read += 1;
            update(self.status, |s| s.answers += 1);
            self.take(answered);
        }
        Some(read)
    }

    fn take(&mut self, answered: Answer) {
        let (key, code) = match &answered {
            Answer::Authorization { stan, response_code, .. } => {
                ((Mti::AUTHORIZATION_RESPONSE, stan), response_code)
            }
            Answer::Acknowledged { stan, response_code } => {
                let key =
                    [Mti::REVERSAL_ADVICE_RESPONSE, Mti::COMPLETION_ADVICE_RESPONSE, Mti::FINANCIAL_RESPONSE]
                        .into_iter()
                        .find(|mti| self.in_flight.contains_key(&(*mti, stan.clone())))
                        .unwrap_or(Mti::REVERSAL_ADVICE_RESPONSE);
                ((key, stan), response_code)
            }
            Answer::Network { stan, response_code } => ((Mti::NETWORK_RESPONSE, stan), response_code),
        };
        // An answer to nothing waiting (late, after its timeout) changes nothing.
        let Some(waiting) = self.in_flight.remove(&(key.0, key.1.clone())) else { return };
        match answered {
            Answer::Authorization { answer, response_code, .. } => {
                if let Some(asked) = waiting.asked {
                    self.tell(asked, answer, &response_code);
                }
                if let Some(id) = waiting.outbox_id {
                    let _ = self.side.acknowledge(&[id]);
                }
            }
            Answer::Acknowledged { .. } if code == "00" => {
                if let Some(id) = waiting.outbox_id {
                    let _ = self.side.acknowledge(&[id]);
                }
            }
            // Refused: left in the outbox, sent again.
            Answer::Acknowledged { .. } => {}
            Answer::Network { .. } => update(self.status, |s| s.network_answered += 1),
        }
    }
}
