//! facepay's codec against an issuer host whose codec nobody here wrote: pyiso8583 with its own
//! 1987 ASCII specification (`tests/peer/issuer_host.py`). Every message goes over TCP with the
//! 2-byte length, the host decodes it with its codec and answers with its own, so a mistake in
//! either direction fails here: echo, sign-on, an authorization approved and declined (05, 51),
//! a reversal advice sent twice, a refund and a completion advice, an answer that never comes,
//! bytes from the host that are no message, and a message from us the host cannot parse.
//!
//! The host needs Python with pyiso8583: `scripts/test` installs it (pinned) in a scratch venv
//! and names its python in `FACEPAY_ISO8583_PEER_PYTHON`. Without it this test fails, saying so:
//! it never passes without having spoken to the peer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use facepay_iso8583::{Deframer, Message, Mti, field, frame};

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

    fn exchange(&mut self, message: &Message) -> Message {
        self.send(message);
        let bytes = self.receive(Duration::from_secs(5)).expect("the host answers");
        Message::decode(&bytes).unwrap_or_else(|err| panic!("the host's answer does not decode: {err}"))
    }
}

fn network(code: u64, stan: u64) -> Message {
    let mut message = Message::new(Mti::NETWORK);
    message.set(field::TRANSMITTED_AT, "1204163000").unwrap();
    message.set_number(field::STAN, stan).unwrap().set_number(field::NETWORK_CODE, code).unwrap();
    message
}

fn authorization(stan: u64, amount_minor: u64) -> Message {
    let mut message = Message::new(Mti::AUTHORIZATION);
    message.set_number(field::PROCESSING_CODE, 0).unwrap();
    message.set_number(field::AMOUNT, amount_minor).unwrap();
    message.set(field::TRANSMITTED_AT, "1204163000").unwrap();
    message.set_number(field::STAN, stan).unwrap();
    message.set(field::ACQUIRER, "7").unwrap();
    message.set(field::RRN, format!("633816{stan:06}")).unwrap();
    message.set(field::TERMINAL, "GATE0001").unwrap();
    message.set(field::MERCHANT, "METRO          ").unwrap();
    message.set(field::CURRENCY, "978").unwrap();
    message.set(field::ACCOUNT, "DE89370400440532013000").unwrap();
    message
}

#[test]
fn the_independent_issuer_host_reads_what_facepay_writes_and_facepay_reads_its_answers() {
    let host = start_host();
    let mut link = Link::open(&host);

    for (code, stan) in [(1, 1), (301, 2)] {
        let answer = link.exchange(&network(code, stan));
        assert_eq!(answer.mti(), Mti::NETWORK_RESPONSE);
        assert_eq!(answer.get(field::RESPONSE_CODE), Some("00"));
        assert_eq!(answer.get(field::STAN).map(str::to_owned), Some(format!("{stan:06}")));
        assert_eq!(answer.get(field::NETWORK_CODE).map(str::to_owned), Some(format!("{code:03}")));
    }

    let approved = link.exchange(&authorization(3, 1_250));
    assert_eq!(approved.mti(), Mti::AUTHORIZATION_RESPONSE);
    assert_eq!(approved.get(field::RESPONSE_CODE), Some("00"));
    assert_eq!(approved.get(field::APPROVAL_CODE), Some("A00003"));
    // Everything the host echoes came through its decoder and encoder unchanged.
    for number in [field::AMOUNT, field::STAN, field::RRN, field::TERMINAL, field::MERCHANT, field::ACCOUNT] {
        assert_eq!(approved.get(number), authorization(3, 1_250).get(number), "field {number}");
    }
    for (amount, code) in [(1_205, "05"), (9_951, "51")] {
        let declined = link.exchange(&authorization(4, amount));
        assert_eq!(
            (declined.get(field::RESPONSE_CODE), declined.get(field::APPROVAL_CODE)),
            (Some(code), None)
        );
    }

    // No answer: the switch gives up and reverses; the host takes the advice, again if it is resent.
    link.send(&authorization(5, 4_291));
    assert!(link.receive(Duration::from_millis(500)).is_none(), "the host answers 91s never");
    let mut reversal = Message::new(Mti::REVERSAL_ADVICE);
    for number in [field::PROCESSING_CODE, field::AMOUNT, field::TRANSMITTED_AT, field::STAN, field::ACQUIRER]
    {
        reversal.set(number, authorization(5, 4_291).get(number).unwrap()).unwrap();
    }
    reversal.set(field::ORIGINAL_DATA, format!("0100{:06}{}{:011}{:011}", 5, "1204163000", 7, 0)).unwrap();
    for _ in 0..2 {
        let answer = link.exchange(&reversal);
        assert_eq!(
            (answer.mti(), answer.get(field::RESPONSE_CODE)),
            (Mti::REVERSAL_ADVICE_RESPONSE, Some("00"))
        );
        assert_eq!(answer.get(field::ORIGINAL_DATA), reversal.get(field::ORIGINAL_DATA));
    }

    let mut refund = authorization(6, 500);
    let mut refund_message = Message::new(Mti::FINANCIAL);
    refund.set_number(field::PROCESSING_CODE, 200_000).unwrap();
    for (number, value) in refund.fields() {
        refund_message.set(number, value).unwrap();
    }
    let answer = link.exchange(&refund_message);
    assert_eq!((answer.mti(), answer.get(field::PROCESSING_CODE)), (Mti::FINANCIAL_RESPONSE, Some("200000")));
    let mut advice = Message::new(Mti::COMPLETION_ADVICE);
    for (number, value) in authorization(3, 1_250).fields() {
        advice.set(number, value).unwrap();
    }
    assert_eq!(link.exchange(&advice).mti(), Mti::COMPLETION_ADVICE_RESPONSE);

    // Bytes from the host that are no message are refused with a code, not misread.
    link.send(&authorization(7, 1_266));
    let garbage = link.receive(Duration::from_secs(5)).expect("the host answers 66s with nonsense");
    assert_eq!(Message::decode(&garbage).unwrap_err().code(), "mti_malformed");

    // A message the host cannot parse (field 2 says 19 digits, 3 follow): it hangs up.
    link.stream.write_all(&frame(b"01004000000000000000191234").unwrap()).unwrap();
    assert!(link.receive(Duration::from_secs(5)).is_none(), "the host hung up");
    // A new connection works as before.
    let mut again = Link::open(&host);
    assert_eq!(again.exchange(&network(301, 8)).get(field::RESPONSE_CODE), Some("00"));
}
