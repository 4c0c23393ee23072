//! A message: its type and its fields by number, each checked against `spec` when set and when
//! decoded. Encoding writes the type, the primary bitmap (and the secondary one when a field above
//! 64 is present), then the fields in order; decoding reads exactly that and refuses anything
//! else (an unknown field, a wrong length or character, bytes left over) with a stable code.

use std::collections::BTreeMap;
use std::fmt;

use crate::spec::{Chars, Length, field, spec};

/// A message type indicator: version 0 (1987), class, function, origin, as 4 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mti(u16);

impl Mti {
    pub const AUTHORIZATION: Mti = Mti(100);
    pub const AUTHORIZATION_RESPONSE: Mti = Mti(110);
    pub const FINANCIAL: Mti = Mti(200);
    pub const FINANCIAL_RESPONSE: Mti = Mti(210);
    pub const COMPLETION_ADVICE: Mti = Mti(220);
    pub const COMPLETION_ADVICE_RESPONSE: Mti = Mti(230);
    pub const REVERSAL: Mti = Mti(400);
    pub const REVERSAL_RESPONSE: Mti = Mti(410);
    pub const REVERSAL_ADVICE: Mti = Mti(420);
    pub const REVERSAL_ADVICE_RESPONSE: Mti = Mti(430);
    pub const NETWORK: Mti = Mti(800);
    pub const NETWORK_RESPONSE: Mti = Mti(810);

    /// A type from its 4 digits, version 0 only.
    pub fn parse(text: &str) -> Result<Mti, CodecError> {
        let valid = text.len() == 4 && text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit());
        valid.then(|| Mti(text.parse().expect("4 digits"))).ok_or(CodecError::MtiMalformed)
    }

    /// The response type to this request (0100 to 0110, 0420 to 0430, ...).
    pub fn response(self) -> Mti {
        Mti(self.0 - self.0 % 20 + 10)
    }

    pub fn is_response(self) -> bool {
        (self.0 / 10) % 2 == 1
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    mti: Mti,
    fields: BTreeMap<u8, String>,
}

/// Why bytes are not a message facepay reads, or a value does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("the message type is not 4 digits of version 0")]
    MtiMalformed,
    #[error("a bitmap is not 16 hex characters")]
    BitmapMalformed,
    #[error("field {0} is not one facepay reads")]
    FieldUnsupported(u8),
    #[error("field {field} holds {found} characters; it takes {allowed}")]
    FieldLength { field: u8, found: usize, allowed: String },
    #[error("field {0} holds characters its kind does not allow")]
    FieldChars(u8),
    #[error("field {0}'s length prefix is not digits")]
    LengthPrefixMalformed(u8),
    #[error("the message ends inside field {0}")]
    Truncated(u8),
    #[error("{0} bytes follow the last field")]
    TrailingBytes(usize),
    #[error("a message of {0} bytes is longer than a 2-byte length can announce")]
    FrameTooLong(usize),
}

impl CodecError {
    pub fn code(&self) -> &'static str {
        match self {
            CodecError::MtiMalformed => "mti_malformed",
            CodecError::BitmapMalformed => "bitmap_malformed",
            CodecError::FieldUnsupported(_) => "field_unsupported",
            CodecError::FieldLength { .. } => "field_length",
            CodecError::FieldChars(_) => "field_chars",
            CodecError::LengthPrefixMalformed(_) => "length_prefix_malformed",
            CodecError::Truncated(_) => "message_truncated",
            CodecError::TrailingBytes(_) => "trailing_bytes",
            CodecError::FrameTooLong(_) => "frame_too_long",
        }
    }
}

impl Message {
    pub fn new(mti: Mti) -> Message {
        Message { mti, fields: BTreeMap::new() }
    }

    pub fn mti(&self) -> Mti {
        self.mti
    }

    /// Sets a field, checked against its definition; the secondary bitmap is the codec's own.
    pub fn set(&mut self, number: u8, value: impl Into<String>) -> Result<&mut Message, CodecError> {
        let value = value.into();
        if number == field::SECONDARY_BITMAP {
            return Err(CodecError::FieldUnsupported(number));
        }
        check(number, &value)?;
        self.fields.insert(number, value);
        Ok(self)
    }

    /// `set` for a number written with leading zeros to the field's fixed length.
    pub fn set_number(&mut self, number: u8, value: u64) -> Result<&mut Message, CodecError> {
        let width = spec(number).ok_or(CodecError::FieldUnsupported(number))?.length.max();
        self.set(number, format!("{value:0width$}"))
    }

    pub fn get(&self, number: u8) -> Option<&str> {
        self.fields.get(&number).map(String::as_str)
    }

    /// The fields present, in order.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &str)> {
        self.fields.iter().map(|(number, value)| (*number, value.as_str()))
    }

    pub fn encode(&self) -> Vec<u8> {
        let secondary = self.fields.keys().any(|&number| number > 64);
        let mut bitmap = [0u8; 16];
        if secondary {
            bitmap[0] |= 0x80;
        }
        for &number in self.fields.keys() {
            let bit = usize::from(number - 1);
            bitmap[bit / 8] |= 0x80 >> (bit % 8);
        }
        let mut out = self.mti.to_string().into_bytes();
        let bitmaps = if secondary { &bitmap[..] } else { &bitmap[..8] };
        for byte in bitmaps {
            out.extend_from_slice(format!("{byte:02X}").as_bytes());
        }
        for (&number, value) in &self.fields {
            let length = spec(number).expect("checked when set").length;
            match length.prefix() {
                0 => {}
                digits => out.extend_from_slice(format!("{:0digits$}", value.len()).as_bytes()),
            }
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Message, CodecError> {
        let mut reader = Reader { bytes, at: 0 };
        let mti = reader.take(4).ok_or(CodecError::MtiMalformed)?;
        let mti = Mti::parse(std::str::from_utf8(mti).map_err(|_| CodecError::MtiMalformed)?)?;
        let mut bitmap = reader.bitmap()?.to_vec();
        if bitmap[0] & 0x80 != 0 {
            bitmap.extend_from_slice(&reader.bitmap()?);
        }
        let mut message = Message::new(mti);
        for number in 2..=u8::try_from(bitmap.len() * 8).expect("at most 128 fields") {
            let bit = usize::from(number - 1);
            if bitmap[bit / 8] & (0x80 >> (bit % 8)) == 0 {
                continue;
            }
            let spec = spec(number).ok_or(CodecError::FieldUnsupported(number))?;
            let length = match spec.length {
                Length::Fixed(n) => n,
                variable => {
                    let prefix = reader.take(variable.prefix()).ok_or(CodecError::Truncated(number))?;
                    let text =
                        std::str::from_utf8(prefix).map_err(|_| CodecError::LengthPrefixMalformed(number))?;
                    if !text.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(CodecError::LengthPrefixMalformed(number));
                    }
                    text.parse().map_err(|_| CodecError::LengthPrefixMalformed(number))?
                }
            };
            let value = reader.take(length).ok_or(CodecError::Truncated(number))?;
            let value = std::str::from_utf8(value).map_err(|_| CodecError::FieldChars(number))?;
            check(number, value)?;
            message.fields.insert(number, value.to_owned());
        }
        match bytes.len() - reader.at {
            0 => Ok(message),
            left => Err(CodecError::TrailingBytes(left)),
        }
    }
}

/// Whether `value` fits field `number`.
fn check(number: u8, value: &str) -> Result<(), CodecError> {
    let spec = spec(number).ok_or(CodecError::FieldUnsupported(number))?;
    let fits = match spec.length {
        Length::Fixed(n) => value.len() == n,
        variable => value.len() <= variable.max(),
    };
    if !fits {
        let allowed = match spec.length {
            Length::Fixed(n) => format!("exactly {n}"),
            variable => format!("at most {}", variable.max()),
        };
        return Err(CodecError::FieldLength { field: number, found: value.len(), allowed });
    }
    if !spec.chars.allows(value) {
        return Err(CodecError::FieldChars(number));
    }
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let taken = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(taken)
    }

    /// 16 hex characters as 8 bytes.
    fn bitmap(&mut self) -> Result<[u8; 8], CodecError> {
        let hex = self.take(16).ok_or(CodecError::BitmapMalformed)?;
        let hex = std::str::from_utf8(hex).map_err(|_| CodecError::BitmapMalformed)?;
        if !Chars::Bitmap.allows(hex) {
            return Err(CodecError::BitmapMalformed);
        }
        let mut bitmap = [0u8; 8];
        for (byte, pair) in bitmap.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| CodecError::BitmapMalformed)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| CodecError::BitmapMalformed)?;
        }
        Ok(bitmap)
    }
}
