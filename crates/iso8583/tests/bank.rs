//! The mapping alone: each of the core's bank messages as the request's exact fields, the
//! numbers' ranges, and every message that cannot be sent or answer that cannot be read refused
//! with its code.

use facepay_domain::{Currency, Money, PaymentId, Sealed, ShopperId, Timestamp};
use facepay_iso8583::{Answer, Message, Mti, Network, answer, field, network, request, rrn, stan};
use facepay_ledger::TransferId;
use facepay_payments::{BankTrace, CreditReason, IssuerAnswer, IssuerId, IssuerMessage};

const BANK: IssuerId = IssuerId(3);

/// 2026-12-04 16:30:05 UTC.
const AT: Timestamp = Timestamp::from_unix_ms(1_796_401_805_000);

fn money(minor: i64, code: &str) -> Money {
    Money::new(minor, Currency::new(code).unwrap())
}

fn authorize(amount: Money) -> IssuerMessage {
    IssuerMessage::Authorize {
        payment: PaymentId::from_u128(9),
        issuer: BANK,
        shopper: ShopperId::from_u128(1),
        reference: Sealed::from_bytes(vec![1]),
        amount,
        trace: BankTrace { number: 1_000_123, at: AT },
    }
}

fn fields(message: &Message) -> Vec<(u8, String)> {
    message.fields().map(|(number, value)| (number, value.to_owned())).collect()
}

#[test]
fn each_bank_message_is_its_iso_8583_request() {
    let authorization = request(&authorize(money(12_345, "EUR")), Some("tok-alice"), "7", AT).unwrap();
    assert_eq!(authorization.mti(), Mti::AUTHORIZATION);
    let expected = [
        (3, "000000"),
        (4, "000000012345"),
        (7, "1204163005"),
        (11, "000124"),
        (32, "7"),
        (37, "000001000123"),
        (49, "978"),
        (102, "tok-alice"),
    ];
    assert_eq!(fields(&authorization), expected.map(|(n, v)| (n, v.to_owned())));

    let original = BankTrace { number: 1_000_123, at: AT };
    let later = AT.plus_ms(60_000);
    let release = IssuerMessage::Release {
        payment: PaymentId::from_u128(9),
        issuer: BANK,
        amount: money(12_345, "CNY"),
        trace: 7,
        original,
    };
    let reversal = request(&release, None, "7", later).unwrap();
    assert_eq!(reversal.mti(), Mti::REVERSAL_ADVICE);
    assert_eq!(reversal.get(field::STAN), Some("000007"));
    assert_eq!(reversal.get(field::TRANSMITTED_AT), Some("1204163105"));
    assert_eq!(reversal.get(field::RRN), Some("000001000123"));
    assert_eq!(reversal.get(field::CURRENCY), Some("156"));
    // The authorization's type, STAN and time, the acquirer in 11 digits, no forwarding institution.
    let original_data = ["0100", "000124", "1204163005", "00000000007", "00000000000"].concat();
    assert_eq!(reversal.get(field::ORIGINAL_DATA), Some(original_data.as_str()));
    assert_eq!(reversal.get(field::ACCOUNT), None, "the payment's reference names it");

    let credit = IssuerMessage::Credit {
        payment: PaymentId::from_u128(9),
        issuer: BANK,
        credit: TransferId(0xab),
        amount: money(500, "EUR"),
        reason: CreditReason::Compensation,
        trace: 8,
        original,
    };
    let credited = request(&credit, None, "7", later).unwrap();
    assert_eq!((credited.mti(), credited.get(field::PROCESSING_CODE)), (Mti::FINANCIAL, Some("200000")));
    assert_eq!(
        credited.get(field::PRIVATE_DATA),
        Some("credit=crd_000000000000000000000000000000ab;reason=compensation")
    );
    let capture = IssuerMessage::Capture {
        payment: PaymentId::from_u128(9),
        issuer: BANK,
        amount: money(300, "EUR"),
        trace: 9,
        original,
    };
    let advice = request(&capture, None, "7", later).unwrap();
    assert_eq!((advice.mti(), advice.get(field::AMOUNT)), (Mti::COMPLETION_ADVICE, Some("000000000300")));

    let echo = network(Network::Echo, 12, AT);
    assert_eq!(
        fields(&echo),
        [(7, "1204163005"), (11, "000012"), (70, "301")].map(|(n, v)| (n, v.to_owned()))
    );
    assert_eq!(network(Network::SignOn, 12, AT).get(field::NETWORK_CODE), Some("001"));
}

#[test]
fn trace_numbers_keep_to_their_fields() {
    assert_eq!([stan(0), stan(1), stan(999_999), stan(1_000_000)], ["000001", "000001", "999999", "000001"]);
    assert_eq!(stan(1_999_998), "999999");
    assert_eq!((rrn(42), rrn(1_000_000_000_007)), ("000000000042".to_owned(), "000000000007".to_owned()));
}

#[test]
fn what_cannot_be_sent_or_read_is_refused_with_its_code() {
    let refused = |result: Result<Message, facepay_iso8583::WireError>| result.unwrap_err().code();
    assert_eq!(
        refused(request(&authorize(money(1, "XTS")), Some("tok"), "7", AT)),
        "currency_without_numeric_code"
    );
    assert_eq!(refused(request(&authorize(money(1, "EUR")), None, "7", AT)), "reference_missing");
    assert_eq!(refused(request(&authorize(money(1, "EUR")), Some("tok"), "", AT)), "acquirer_malformed");
    assert_eq!(
        refused(request(&authorize(money(1, "EUR")), Some("tok"), "123456789012", AT)),
        "acquirer_malformed"
    );
    assert_eq!(refused(request(&authorize(money(1, "EUR")), Some(&"x".repeat(29)), "7", AT)), "field_length");

    let mut approved = Message::new(Mti::AUTHORIZATION_RESPONSE);
    approved.set(field::STAN, "000124").unwrap().set(field::RESPONSE_CODE, "00").unwrap();
    let read = answer(&approved).unwrap();
    assert_eq!(
        read,
        Answer::Authorization {
            stan: "000124".into(),
            answer: IssuerAnswer::Approved,
            response_code: "00".into()
        }
    );
    let mut no_code = Message::new(Mti::AUTHORIZATION_RESPONSE);
    no_code.set(field::STAN, "000124").unwrap();
    assert_eq!(answer(&no_code).unwrap_err().code(), "field_missing");
    assert_eq!(answer(&Message::new(Mti::AUTHORIZATION)).unwrap_err().code(), "not_an_answer", "a request");
    let mut other = Message::new(Mti::parse("0130").unwrap());
    other.set(field::STAN, "000001").unwrap().set(field::RESPONSE_CODE, "00").unwrap();
    assert_eq!(
        answer(&other).unwrap_err().code(),
        "not_an_answer",
        "an advice response the switch never asks for"
    );
}
