//! A shopper's personal fields as the payment core and its journal hold them: sealed bytes it
//! cannot read and keyed digests it can only compare. Both are made, and sealed bytes opened,
//! under the shopper's own personal key in the vault; once that key is shredded, every copy
//! (journal entries, checkpoints, backups) tells nothing, while replaying them still rebuilds
//! the same state, because the core never needed the plaintext.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A field sealed (encrypted and authenticated) under its shopper's personal key. In a text
/// format (the journal's JSON) it is a hex string; in a binary one (checkpoints) its bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Sealed(Vec<u8>);

impl Sealed {
    /// The most bytes one sealed field may take (the longest plaintext, a dispute note, plus
    /// the cipher's nonce, tag and header).
    pub const MAX_BYTES: usize = 2100;

    pub fn from_bytes(bytes: Vec<u8>) -> Sealed {
        Sealed(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether it fits [`Sealed::MAX_BYTES`]; the core refuses one that does not.
    pub fn is_bounded(&self) -> bool {
        !self.0.is_empty() && self.0.len() <= Sealed::MAX_BYTES
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// A keyed digest of a field under its shopper's personal key: the same value under the same
/// key gives the same digest, so the core can match typed phone digits or find a bound bank
/// account, but without the key the digest cannot be tried against guesses. Written as `Sealed`
/// is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyedDigest(pub [u8; 16]);

impl fmt::Debug for KeyedDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyedDigest(")?;
        for byte in &self.0[..4] {
            write!(f, "{byte:02x}")?;
        }
        f.write_str("..)")
    }
}

impl Serialize for Sealed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_bytes(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Sealed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Sealed, D::Error> {
        deserialize_bytes(deserializer).map(Sealed)
    }
}

impl Serialize for KeyedDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_bytes(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for KeyedDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KeyedDigest, D::Error> {
        let bytes = deserialize_bytes(deserializer)?;
        let digest = bytes.try_into().map_err(|_| de::Error::custom("a keyed digest is 16 bytes"))?;
        Ok(KeyedDigest(digest))
    }
}

fn serialize_bytes<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        serializer.serialize_str(&hex)
    } else {
        serializer.serialize_bytes(bytes)
    }
}

fn deserialize_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    if deserializer.is_human_readable() {
        deserializer.deserialize_str(HexOrBytes)
    } else {
        deserializer.deserialize_bytes(HexOrBytes)
    }
}

/// Reads a hex string (text formats) or bytes (binary ones).
struct HexOrBytes;

impl<'de> Visitor<'de> for HexOrBytes {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes, or a hex string of them")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
        let digits = text.as_bytes();
        if !digits.len().is_multiple_of(2) {
            return Err(E::custom("an odd number of hex digits"));
        }
        let nibble = |d: u8| char::from(d).to_digit(16).ok_or_else(|| E::custom("not a hex digit"));
        digits.chunks_exact(2).map(|pair| Ok((nibble(pair[0])? << 4 | nibble(pair[1])?) as u8)).collect()
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
        Ok(bytes.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_field_is_bounded_and_never_printed() {
        let sealed = Sealed::from_bytes(b"0123".to_vec());
        assert_eq!(format!("{sealed:?}"), "Sealed(4 bytes)");
        assert!(sealed.is_bounded());
        assert!(!Sealed::from_bytes(Vec::new()).is_bounded());
        assert!(!Sealed::from_bytes(vec![1; Sealed::MAX_BYTES + 1]).is_bounded());
        assert!(Sealed::from_bytes(vec![1; Sealed::MAX_BYTES]).is_bounded());
    }

    #[test]
    fn json_writes_hex_and_reads_it_back_and_refuses_what_is_not_hex() {
        let sealed = Sealed::from_bytes(vec![0x00, 0xab, 0x7f]);
        assert_eq!(serde_json::to_string(&sealed).unwrap(), "\"00ab7f\"");
        assert_eq!(serde_json::from_str::<Sealed>("\"00ab7f\"").unwrap(), sealed);
        assert_eq!(serde_json::from_str::<Sealed>("\"00AB7F\"").unwrap(), sealed, "either case");
        for bad in ["\"0ab\"", "\"zz\"", "[0,171,127]"] {
            assert!(serde_json::from_str::<Sealed>(bad).is_err(), "{bad}");
        }
        let digest = KeyedDigest([7; 16]);
        let text = serde_json::to_string(&digest).unwrap();
        assert_eq!(text, format!("\"{}\"", "07".repeat(16)));
        assert_eq!(serde_json::from_str::<KeyedDigest>(&text).unwrap(), digest);
        assert!(serde_json::from_str::<KeyedDigest>("\"0707\"").is_err(), "16 bytes, no fewer");
    }
}
