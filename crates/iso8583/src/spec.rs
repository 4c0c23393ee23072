//! The fields facepay uses, as the 1987 layout defines them (pyiso8583's `default_ascii` gives
//! the same lengths): a message with any other field cannot be read, since its length is unknown.

/// How long a field is: always `Fixed` characters, or up to its maximum after a 2-digit (`LlVar`)
/// or 3-digit (`LllVar`) length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    Fixed(usize),
    LlVar(usize),
    LllVar(usize),
}

/// Which characters a field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chars {
    /// `n`: digits.
    Numeric,
    /// `an`: letters and digits.
    AlphaNumeric,
    /// `ans`: printable ASCII, space included.
    Text,
    /// `b`: a bitmap, 16 hex characters.
    Bitmap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub number: u8,
    pub name: &'static str,
    pub length: Length,
    pub chars: Chars,
}

/// Field numbers by name.
pub mod field {
    pub const SECONDARY_BITMAP: u8 = 1;
    pub const PAN: u8 = 2;
    pub const PROCESSING_CODE: u8 = 3;
    pub const AMOUNT: u8 = 4;
    pub const TRANSMITTED_AT: u8 = 7;
    pub const STAN: u8 = 11;
    pub const LOCAL_TIME: u8 = 12;
    pub const LOCAL_DATE: u8 = 13;
    pub const MERCHANT_TYPE: u8 = 18;
    pub const CONDITION: u8 = 25;
    pub const ACQUIRER: u8 = 32;
    pub const RRN: u8 = 37;
    pub const APPROVAL_CODE: u8 = 38;
    pub const RESPONSE_CODE: u8 = 39;
    pub const TERMINAL: u8 = 41;
    pub const MERCHANT: u8 = 42;
    pub const MERCHANT_NAME: u8 = 43;
    pub const ADDITIONAL_RESPONSE: u8 = 44;
    pub const PRIVATE_DATA: u8 = 48;
    pub const CURRENCY: u8 = 49;
    pub const NETWORK_CODE: u8 = 70;
    pub const ORIGINAL_DATA: u8 = 90;
    pub const ACCOUNT: u8 = 102;
}

const fn spec_of(number: u8, name: &'static str, length: Length, chars: Chars) -> FieldSpec {
    FieldSpec { number, name, length, chars }
}

const SPECS: &[FieldSpec] = &[
    spec_of(1, "secondary bitmap", Length::Fixed(16), Chars::Bitmap),
    spec_of(2, "primary account number", Length::LlVar(19), Chars::Numeric),
    spec_of(3, "processing code", Length::Fixed(6), Chars::Numeric),
    spec_of(4, "amount, transaction", Length::Fixed(12), Chars::Numeric),
    spec_of(7, "transmission date and time", Length::Fixed(10), Chars::Numeric),
    spec_of(11, "system trace audit number", Length::Fixed(6), Chars::Numeric),
    spec_of(12, "time, local transaction", Length::Fixed(6), Chars::Numeric),
    spec_of(13, "date, local transaction", Length::Fixed(4), Chars::Numeric),
    spec_of(18, "merchant type", Length::Fixed(4), Chars::Numeric),
    spec_of(25, "point of service condition code", Length::Fixed(2), Chars::Numeric),
    spec_of(32, "acquiring institution id", Length::LlVar(11), Chars::Numeric),
    spec_of(37, "retrieval reference number", Length::Fixed(12), Chars::AlphaNumeric),
    spec_of(38, "authorization id response", Length::Fixed(6), Chars::AlphaNumeric),
    spec_of(39, "response code", Length::Fixed(2), Chars::AlphaNumeric),
    spec_of(41, "card acceptor terminal id", Length::Fixed(8), Chars::Text),
    spec_of(42, "card acceptor id", Length::Fixed(15), Chars::Text),
    spec_of(43, "card acceptor name and location", Length::Fixed(40), Chars::Text),
    spec_of(44, "additional response data", Length::LlVar(25), Chars::Text),
    spec_of(48, "additional data, private", Length::LllVar(999), Chars::Text),
    spec_of(49, "currency code, transaction", Length::Fixed(3), Chars::Numeric),
    spec_of(70, "network management information code", Length::Fixed(3), Chars::Numeric),
    spec_of(90, "original data elements", Length::Fixed(42), Chars::Numeric),
    spec_of(102, "account identification 1", Length::LlVar(28), Chars::Text),
];

/// The field's definition, if facepay uses it.
pub fn spec(number: u8) -> Option<&'static FieldSpec> {
    SPECS.iter().find(|spec| spec.number == number)
}

impl Chars {
    pub(crate) fn allows(self, text: &str) -> bool {
        match self {
            Chars::Numeric => text.bytes().all(|b| b.is_ascii_digit()),
            Chars::AlphaNumeric => text.bytes().all(|b| b.is_ascii_alphanumeric()),
            Chars::Text => text.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            Chars::Bitmap => text.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
        }
    }
}

impl Length {
    /// The most characters the field holds.
    pub fn max(self) -> usize {
        match self {
            Length::Fixed(n) | Length::LlVar(n) | Length::LllVar(n) => n,
        }
    }

    /// Digits of the length prefix.
    pub(crate) fn prefix(self) -> usize {
        match self {
            Length::Fixed(_) => 0,
            Length::LlVar(_) => 2,
            Length::LllVar(_) => 3,
        }
    }
}
