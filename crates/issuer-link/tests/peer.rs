//! facepay's bank messages against an issuer host whose codec nobody here wrote: pyiso8583 with
//! its own 1987 ASCII specification (`tests/peer/issuer_host.py`). Each of the payment core's
//! messages goes through `wire` and the ISO 8583 codec over TCP with the 2-byte length; the host
//! decodes it with its codec and answers with its own, which `wire` reads back, so a mistake in
//! either direction fails here: sign-on and echo, an authorization approved and declined (05, 51),
//! one never answered and its reversal advice sent twice, a completion advice, a refund's credit,
//! bytes from the host that are no message, and a message from us the host cannot parse. Then
//! the link itself, from an outbox to the host and back: sign-on, answers taken, an unanswered
//! authorization declined as the bank unavailable at the link's timeout and then reversed,
//! advices acknowledged, echoes when quiet, and a reconnection after nonsense from the host.
//!
//! The host needs Python with pyiso8583: `scripts/test` installs it (pinned) in a scratch venv
//! and names its python in `FACEPAY_ISO8583_PEER_PYTHON`. Without it this test fails, saying so:
//! it never passes without having spoken to the peer.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use facepay_domain::{Currency, Money, PaymentId, Sealed, ShopperId, Timestamp};
use facepay_iso8583::{
    Answer, Deframer, Message, Mti, Network, answer, field, frame, network, request, rrn, stan,
};
use facepay_issuer_link::{LinkConfig, LinkStatus, SwitchSide};
use facepay_ledger::TransferId;
use facepay_payments::{BankTrace, CreditReason, IssuerAnswer, IssuerId, IssuerMessage, TraceNumber};

struct Host {
    child: Child,
    port: u16,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(clippy::disallowed_methods)] // the peer's python, named by the test set-up
fn start_host() -> Host {
    let python = std::env::var("FACEPAY_ISO8583_PEER_PYTHON").unwrap_or_else(|_| {
        panic!(
            "FACEPAY_ISO8583_PEER_PYTHON is not set: it names a python with pyiso8583 installed \
             (scripts/test makes one); this test speaks to that independent issuer host"
        )
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peer/issuer_host.py");
    let mut child = Command::new(&python)
        .arg(script)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start the issuer host with {python}: {err}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("the host's port");
    let port = line.trim().parse().unwrap_or_else(|_| panic!("the issuer host did not start: {line:?}"));
    Host { child, port }
}

struct Link {
    stream: TcpStream,
    deframer: Deframer,
}

impl Link {
    fn open(host: &Host) -> Link {
        let stream = TcpStream::connect(("127.0.0.1", host.port)).expect("the host listens");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Link { stream, deframer: Deframer::default() }
    }

    fn send(&mut self, message: &Message) {
        self.stream.write_all(&frame(&message.encode()).unwrap()).unwrap();
    }

    /// The next framed answer, or `None` once `wait` passed without one (or the host hung up).
    fn receive(&mut self, wait: Duration) -> Option<Vec<u8>> {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        loop {
            if let Some(message) = self.deframer.next_message() {
                return Some(message);
            }
            let mut buffer = [0u8; 4096];
            match self.stream.read(&mut buffer) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.deframer.push(&buffer[..n]),
            }
        }
    }

    /// What the host answered `message`, as `wire` reads it.
    fn exchange(&mut self, message: &Message) -> Answer {
        self.send(message);
        let bytes = self.receive(Duration::from_secs(5)).expect("the host answers");
        let decoded =
            Message::decode(&bytes).unwrap_or_else(|err| panic!("the host's answer does not decode: {err}"));
        answer(&decoded).unwrap_or_else(|err| panic!("{decoded:?} is not an answer: {err}"))
    }
}

const ACQUIRER: &str = "7";
const BANK: IssuerId = IssuerId(3);

fn sent_at() -> Timestamp {
    // 2026-12-04 16:30:00 UTC.
    Timestamp::from_unix_ms(1_796_401_800_000)
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::new("EUR").unwrap())
}

fn authorization(trace: u64, amount_minor: i64) -> (IssuerMessage, BankTrace) {
    let trace = BankTrace { number: trace, at: sent_at() };
    let message = IssuerMessage::Authorize {
        payment: PaymentId::from_u128(u128::from(trace.number)),
        issuer: BANK,
        shopper: ShopperId::from_u128(1),
        reference: Sealed::from_bytes(vec![1, 2, 3]),
        amount: eur(amount_minor),
        trace,
    };
    (message, trace)
}

fn authorized(link: &mut Link, trace: u64, amount_minor: i64) -> Answer {
    let (message, _) = authorization(trace, amount_minor);
    link.exchange(&request(&message, Some("DE89370400440532013000"), ACQUIRER, sent_at()).unwrap())
}

#[test]
fn the_independent_issuer_host_reads_what_facepay_sends_and_facepay_reads_its_answers() {
    let host = start_host();
    let mut link = Link::open(&host);

    for (purpose, trace) in [(Network::SignOn, 1), (Network::Echo, 2)] {
        let answered = link.exchange(&network(purpose, trace, sent_at()));
        assert_eq!(answered, Answer::Network { stan: stan(trace), response_code: "00".into() });
    }
    assert_eq!(
        authorized(&mut link, 3, 1_250),
        Answer::Authorization { stan: stan(3), answer: IssuerAnswer::Approved, response_code: "00".into() }
    );
    for (trace, amount, code) in [(4, 1_205, "05"), (5, 9_951, "51")] {
        let declined = Answer::Authorization {
            stan: stan(trace),
            answer: IssuerAnswer::Declined,
            response_code: code.into(),
        };
        assert_eq!(authorized(&mut link, trace, amount), declined);
    }

    // Never answered: the switch declines at its timeout and the bank is told to reverse, twice
    // when the first advice's answer is lost; the host takes both.
    let (silent, original) = authorization(6, 4_291);
    link.send(&request(&silent, Some("DE89370400440532013000"), ACQUIRER, sent_at()).unwrap());
    assert!(link.receive(Duration::from_millis(500)).is_none(), "the host answers 91s never");
    let release = IssuerMessage::Release {
        payment: silent.payment().unwrap(),
        issuer: BANK,
        amount: eur(4_291),
        trace: 7,
        original,
    };
    let reversal = request(&release, None, ACQUIRER, sent_at().plus_ms(30_000)).unwrap();
    assert_eq!(reversal.get(field::RRN), Some(rrn(6).as_str()), "the payment's reference, not the advice's");
    for _ in 0..2 {
        assert_eq!(
            link.exchange(&reversal),
            Answer::Acknowledged { stan: stan(7), response_code: "00".into() }
        );
    }

    // The approved payment is captured in part and a refund credited back: each acknowledged.
    let (approved, original) = authorization(3, 1_250);
    let capture = IssuerMessage::Capture {
        payment: approved.payment().unwrap(),
        issuer: BANK,
        amount: eur(1_000),
        trace: 8,
        original,
    };
    let advice = request(&capture, None, ACQUIRER, sent_at()).unwrap();
    assert_eq!(advice.mti(), Mti::COMPLETION_ADVICE);
    assert_eq!(link.exchange(&advice), Answer::Acknowledged { stan: stan(8), response_code: "00".into() });
    let credit = IssuerMessage::Credit {
        payment: approved.payment().unwrap(),
        issuer: BANK,
        credit: TransferId(900),
        amount: eur(400),
        reason: CreditReason::Refund,
        trace: 9,
        original,
    };
    let credited = request(&credit, None, ACQUIRER, sent_at()).unwrap();
    assert_eq!((credited.mti(), credited.get(field::PROCESSING_CODE)), (Mti::FINANCIAL, Some("200000")));
    assert_eq!(link.exchange(&credited), Answer::Acknowledged { stan: stan(9), response_code: "00".into() });

    // Bytes from the host that are no message are refused with a code, not misread.
    let (nonsense, _) = authorization(10, 1_266);
    link.send(&request(&nonsense, Some("DE89370400440532013000"), ACQUIRER, sent_at()).unwrap());
    let garbage = link.receive(Duration::from_secs(5)).expect("the host answers 66s with nonsense");
    assert_eq!(Message::decode(&garbage).unwrap_err().code(), "mti_malformed");

    // A message the host cannot parse (field 2 says 19 digits, 3 follow): it hangs up.
    link.stream.write_all(&frame(b"01004000000000000000191234").unwrap()).unwrap();
    assert!(link.receive(Duration::from_secs(5)).is_none(), "the host hung up");
    let mut again = Link::open(&host);
    assert_eq!(
        again.exchange(&network(Network::Echo, 11, sent_at())),
        Answer::Network { stan: stan(11), response_code: "00".into() }
    );
}

/// The switch as the link sees it: the bank's outbox, what was acknowledged and answered.
#[derive(Default)]
struct FakeSwitch {
    outbox: Mutex<Vec<(u64, IssuerMessage)>>,
    acknowledged: Mutex<BTreeSet<u64>>,
    answers: Mutex<Vec<(PaymentId, IssuerAnswer, String)>>,
    verified: Mutex<Vec<(TraceNumber, IssuerAnswer, String)>>,
}

/// The verification whose account the host does not know (its reference ends in 0000).
const UNKNOWN_ACCOUNT: TraceNumber = 21;

/// A payment whose shopper deleted their account's reference before it was sent.
const FORGOTTEN: PaymentId = PaymentId::from_u128(99);

impl SwitchSide for FakeSwitch {
    fn pending(&self, _: IssuerId, max: usize) -> Result<Vec<(u64, IssuerMessage)>, String> {
        let acknowledged = self.acknowledged.lock().unwrap();
        let outbox = self.outbox.lock().unwrap();
        Ok(outbox.iter().filter(|(id, _)| !acknowledged.contains(id)).take(max).cloned().collect())
    }

    fn acknowledge(&self, ids: &[u64]) -> Result<(), String> {
        self.acknowledged.lock().unwrap().extend(ids);
        Ok(())
    }

    fn reference(&self, message: &IssuerMessage) -> Option<String> {
        match message {
            IssuerMessage::VerifyAccount { trace, .. } if trace.number == UNKNOWN_ACCOUNT => {
                Some("DE89370400440000000000".to_owned())
            }
            _ => (message.payment() != Some(FORGOTTEN)).then(|| "DE89370400440532013000".to_owned()),
        }
    }

    fn account_answered(
        &self,
        _: IssuerId,
        trace: TraceNumber,
        answer: IssuerAnswer,
        response_code: &str,
    ) -> Result<(), String> {
        self.verified.lock().unwrap().push((trace, answer, response_code.to_owned()));
        Ok(())
    }

    fn answered(&self, payment: PaymentId, answer: IssuerAnswer, response_code: &str) -> Result<(), String> {
        self.answers.lock().unwrap().push((payment, answer, response_code.to_owned()));
        Ok(())
    }

    #[allow(clippy::disallowed_methods)] // the link's clock in a test against a live host
    fn now(&self) -> Timestamp {
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        Timestamp::from_unix_ms(i64::try_from(since_epoch.as_millis()).unwrap())
    }
}

impl FakeSwitch {
    fn queue(&self, id: u64, message: IssuerMessage) {
        self.outbox.lock().unwrap().push((id, message));
    }

    fn acknowledged(&self, ids: &[u64]) -> bool {
        let acknowledged = self.acknowledged.lock().unwrap();
        ids.iter().all(|id| acknowledged.contains(id))
    }
}

/// Waits up to 10 s for `done`.
#[allow(clippy::disallowed_methods)] // polls a live link
fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not happen in 10 s");
}

#[test]
fn the_link_moves_the_outbox_to_the_host_and_its_answers_back() {
    let host = start_host();
    let switch = Arc::new(FakeSwitch::default());
    let authorization_of = |trace: u64, payment: PaymentId, amount_minor: i64| {
        let (IssuerMessage::Authorize { shopper, reference, amount, trace, issuer, .. }, _) =
            authorization(trace, amount_minor)
        else {
            unreachable!("an authorization")
        };
        IssuerMessage::Authorize { payment, issuer, shopper, reference, amount, trace }
    };
    let [approved, declined, silent] = [1, 2, 3].map(PaymentId::from_u128);
    switch.queue(1, authorization_of(1, approved, 1_250));
    switch.queue(2, authorization_of(2, declined, 9_951));
    switch.queue(3, authorization_of(3, silent, 4_291));
    switch.queue(4, authorization_of(4, FORGOTTEN, 500));
    let config = LinkConfig {
        bank: BANK,
        address: ([127, 0, 0, 1], host.port).into(),
        acquirer: ACQUIRER.into(),
        answer_timeout: Duration::from_millis(400),
        echo_every: Duration::from_millis(200),
        in_flight_max: 8,
        backoff_max: Duration::from_millis(400),
    };
    let status = Arc::new(Mutex::new(LinkStatus::default()));
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let link = {
        let (switch, status) = (switch.clone(), status.clone());
        std::thread::spawn(move || facepay_issuer_link::run(&config, switch.as_ref(), &status, &stopped))
    };

    eventually("the answers", || switch.answers.lock().unwrap().len() == 4);
    let mut answers = switch.answers.lock().unwrap().clone();
    answers.sort_by_key(|(payment, ..)| *payment);
    assert_eq!(
        answers,
        [
            (approved, IssuerAnswer::Approved, "00".to_owned()),
            (declined, IssuerAnswer::Declined, "51".to_owned()),
            (silent, IssuerAnswer::Unavailable, "91".to_owned()),
            (FORGOTTEN, IssuerAnswer::Declined, "14".to_owned()),
        ]
    );
    assert!(switch.acknowledged(&[1, 2, 3, 4]), "authorizations leave the outbox once sent");
    assert_eq!(status.lock().unwrap().timeouts, 1, "the silent one");

    // The switch declined the silent one and releases it; the approved one is captured and
    // partly refunded: each advice leaves the outbox when the host takes it.
    let original = |number| BankTrace { number, at: sent_at() };
    switch.queue(
        5,
        IssuerMessage::Release {
            payment: silent,
            issuer: BANK,
            amount: eur(4_291),
            trace: 5,
            original: original(3),
        },
    );
    switch.queue(
        6,
        IssuerMessage::Capture {
            payment: approved,
            issuer: BANK,
            amount: eur(1_250),
            trace: 6,
            original: original(1),
        },
    );
    let refund = IssuerMessage::Credit {
        payment: approved,
        issuer: BANK,
        credit: TransferId(900),
        amount: eur(250),
        reason: CreditReason::Refund,
        trace: 7,
        original: original(1),
    };
    switch.queue(7, refund);
    eventually("the advices taken", || switch.acknowledged(&[5, 6, 7]));

    // Two accounts bound: the host knows the first (approved) and not the second (14).
    for (id, trace) in [(20, 20), (21, UNKNOWN_ACCOUNT)] {
        let verify = IssuerMessage::VerifyAccount {
            shopper: ShopperId::from_u128(1),
            issuer: BANK,
            reference: Sealed::from_bytes(vec![1]),
            currency: Currency::new("EUR").unwrap(),
            trace: BankTrace { number: trace, at: sent_at() },
        };
        switch.queue(id, verify);
    }
    eventually("the verifications' answers", || switch.verified.lock().unwrap().len() == 2);
    let mut verified = switch.verified.lock().unwrap().clone();
    verified.sort_by_key(|(trace, ..)| *trace);
    assert_eq!(
        verified,
        [
            (20, IssuerAnswer::Approved, "00".to_owned()),
            (UNKNOWN_ACCOUNT, IssuerAnswer::Declined, "14".to_owned())
        ]
    );
    assert!(switch.acknowledged(&[20, 21]), "verifications leave the outbox once sent");
    // Quiet: echoes go out and are answered (the sign-on was the first network answer).
    eventually("two echoes", || status.lock().unwrap().network_answered >= 3);

    // Nonsense from the host: the link drops the connection, comes back and signs on again.
    switch.queue(8, authorization_of(8, PaymentId::from_u128(8), 1_266));
    eventually("a reconnection", || {
        let status = status.lock().unwrap();
        status.unreadable == 1 && status.connections == 2 && status.connected
    });
    let answered_before = status.lock().unwrap().network_answered;
    eventually("the sign-on on the new connection", || {
        status.lock().unwrap().network_answered > answered_before
    });
    // The nonsense was no answer: the authorization times out like a silence.
    eventually("the nonsense's timeout", || switch.answers.lock().unwrap().len() == 5);
    assert_eq!(switch.answers.lock().unwrap()[4].1, IssuerAnswer::Unavailable);
    stop.send(()).unwrap();
    link.join().unwrap();
    assert!(!status.lock().unwrap().connected);
}
