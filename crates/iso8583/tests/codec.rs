//! The codec alone: any message of the fields facepay uses comes back as it went, bitmaps and
//! lengths as the 1987 ASCII layout writes them, and every malformed message is refused with its
//! own code.

use facepay_iso8583::{CodecError, Length, Message, Mti, field, spec};
use proptest::prelude::*;

/// The fields the codec knows, but the secondary bitmap (the codec's own).
const FIELDS: [u8; 21] = [2, 3, 4, 7, 11, 12, 13, 18, 32, 37, 38, 39, 41, 42, 43, 44, 48, 49, 70, 90, 102];

/// A value that fits field `number`, drawn from `seed`.
fn value(number: u8, seed: u64) -> String {
    let spec = spec(number).unwrap();
    let length = match spec.length {
        Length::Fixed(n) => n,
        variable => (seed as usize) % (variable.max() + 1),
    };
    let alphabet: &[u8] = match spec.chars {
        facepay_iso8583::Chars::Numeric => b"0123456789",
        facepay_iso8583::Chars::AlphaNumeric => b"ABCXYZabcxyz0189",
        _ => b"Ab9 -/.:@~",
    };
    (0..length).map(|i| alphabet[(seed as usize / 3 + i * 7) % alphabet.len()] as char).collect()
}

proptest! {
    #[test]
    fn a_message_comes_back_as_it_went(mti in prop::sample::select(vec![100u16, 110, 200, 220, 420, 430, 800, 810]),
                                       present in prop::collection::vec(any::<bool>(), FIELDS.len()),
                                       seed in any::<u64>()) {
        let mut message = Message::new(Mti::parse(&format!("{mti:04}")).unwrap());
        for (&number, _) in FIELDS.iter().zip(&present).filter(|(_, on)| **on) {
            message.set(number, value(number, seed.wrapping_add(u64::from(number)))).unwrap();
        }
        let bytes = message.encode();
        prop_assert_eq!(Message::decode(&bytes).unwrap(), message.clone());
        // A secondary bitmap exactly when a field above 64 is there.
        let secondary = message.fields().any(|(number, _)| number > 64);
        prop_assert_eq!(bytes[4] >= b'8', secondary);
        // Any cut short is refused, never read as something else.
        for cut in 0..bytes.len() {
            prop_assert!(Message::decode(&bytes[..cut]).is_err(), "cut at {}", cut);
        }
    }
}

#[test]
fn the_layout_is_the_1987_ascii_one() {
    let mut echo = Message::new(Mti::NETWORK);
    echo.set(field::TRANSMITTED_AT, "1204163000").unwrap().set_number(field::STAN, 42).unwrap();
    echo.set_number(field::NETWORK_CODE, 301).unwrap();
    // Fields 7 and 11 in the primary bitmap, whose first bit says a secondary one follows with 70.
    assert_eq!(
        String::from_utf8(echo.encode()).unwrap(),
        ["0800", "8220000000000000", "0400000000000000", "1204163000", "000042", "301"].concat()
    );
    let mut authorization = Message::new(Mti::AUTHORIZATION);
    authorization.set(field::ACCOUNT, "DE89370400440532013000").unwrap();
    authorization.set(field::ACQUIRER, "7").unwrap();
    let text = String::from_utf8(authorization.encode()).unwrap();
    assert_eq!(&text[4..36], "80000001000000000000000004000000");
    assert_eq!(&text[36..], "01722DE89370400440532013000", "variable lengths in 2 digits");
    assert_eq!(Mti::AUTHORIZATION.response(), Mti::AUTHORIZATION_RESPONSE);
    assert_eq!(Mti::REVERSAL_ADVICE.response(), Mti::REVERSAL_ADVICE_RESPONSE);
    assert_eq!(Mti::COMPLETION_ADVICE.response(), Mti::COMPLETION_ADVICE_RESPONSE);
    assert!(Mti::NETWORK_RESPONSE.is_response() && !Mti::NETWORK.is_response());
}

#[test]
fn a_value_that_does_not_fit_its_field_is_refused_when_set() {
    let mut message = Message::new(Mti::AUTHORIZATION);
    let refused = |result: Result<&mut Message, CodecError>| result.unwrap_err().code();
    assert_eq!(refused(message.set(field::AMOUNT, "12")), "field_length");
    assert_eq!(refused(message.set(field::AMOUNT, "00000000012a")), "field_chars");
    assert_eq!(refused(message.set(field::PAN, "12345678901234567890")), "field_length");
    assert_eq!(refused(message.set(field::RRN, "ABC DEF 1234")), "field_chars");
    assert_eq!(refused(message.set(field::TERMINAL, "caf\u{e9}0001")), "field_length", "é is two bytes");
    assert_eq!(refused(message.set(field::TERMINAL, "tab\t0001")), "field_chars");
    assert_eq!(refused(message.set(5, "1")), "field_unsupported");
    assert_eq!(refused(message.set(field::SECONDARY_BITMAP, "0000000000000000")), "field_unsupported");
    assert_eq!(refused(message.set_number(field::STAN, 1_000_000)), "field_length");
    assert_eq!(message, Message::new(Mti::AUTHORIZATION), "nothing was set");
}

#[test]
fn malformed_messages_are_refused_with_their_codes() {
    let decode = |text: &str| Message::decode(text.as_bytes()).unwrap_err().code();
    assert_eq!(decode("01"), "mti_malformed");
    assert_eq!(decode("1100"), "mti_malformed", "only version 0 (1987)");
    assert_eq!(decode("01x0"), "mti_malformed");
    assert_eq!(decode("0100"), "bitmap_malformed");
    assert_eq!(decode("01004000000000000a00"), "bitmap_malformed", "lower-case hex");
    assert_eq!(decode("0100g000000000000000"), "bitmap_malformed");
    // Field 5 is not one facepay reads: its length is unknown, so nothing after it can be read.
    assert_eq!(decode("0100080000000000000012"), "field_unsupported");
    // Field 2: its length prefix not digits; too short for its prefix; over its maximum.
    assert_eq!(decode("01004000000000000000x1"), "length_prefix_malformed");
    assert_eq!(decode("0100400000000000000005123"), "message_truncated");
    assert_eq!(decode("0100400000000000000020123456789012345678901"), "field_length");
    assert_eq!(decode("01004000000000000000021A"), "field_chars");
    assert_eq!(decode("010040000000000000000212X"), "trailing_bytes");
    assert_eq!(Message::decode(b"010040000000000000000212").unwrap().get(field::PAN), Some("12"));
}
