//! The operator's keys, read from a key file or an environment variable and never from the
//! database: the master keys that wrap every shopper's data key (the first is current, the others
//! are kept only until `facepay keys rotate` has re-wrapped everything under the current one),
//! and the key that turns shopper ids into pseudonyms.
//!
//! The text format, one key per line, `#` comments:
//!
//! ```text
//! pseudonym 64-hex-digits
//! master <id> 64-hex-digits      (current)
//! master <id> 64-hex-digits      (retired, still readable)
//! ```

use std::fmt::Write as _;

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use facepay_domain::Secret;

use crate::VaultError;

/// A master key's name, stored beside every data key it wraps so the right one unwraps it.
pub type KeyId = String;

/// 32 secret bytes: an AES-256 key or the pseudonym key.
pub(crate) type KeyBytes = Secret<[u8; 32]>;

#[derive(Debug)]
pub struct MasterKey {
    pub(crate) id: KeyId,
    pub(crate) key: KeyBytes,
}

#[derive(Debug)]
pub struct Keyring {
    pub(crate) current: MasterKey,
    pub(crate) retired: Vec<MasterKey>,
    pub(crate) pseudonym: KeyBytes,
}

impl Keyring {
    pub fn parse(text: &str) -> Result<Keyring, VaultError> {
        let malformed = |line: usize, why: &str| VaultError::KeyFileMalformed(format!("line {line}: {why}"));
        let mut masters: Vec<MasterKey> = Vec::new();
        let mut pseudonym = None;
        for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["pseudonym", hex] if pseudonym.is_none() => {
                    pseudonym =
                        Some(parse_key(hex).ok_or_else(|| malformed(number, "a key is 64 hex digits"))?);
                }
                ["pseudonym", _] => return Err(malformed(number, "a second pseudonym key")),
                ["master", id, hex] => {
                    if !valid_id(id) {
                        return Err(malformed(number, "a key id is 1 to 64 letters, digits, '-' or '_'"));
                    }
                    if masters.iter().any(|m| m.id == *id) {
                        return Err(malformed(number, "two master keys with one id"));
                    }
                    let key = parse_key(hex).ok_or_else(|| malformed(number, "a key is 64 hex digits"))?;
                    masters.push(MasterKey { id: (*id).to_string(), key });
                }
                _ => return Err(malformed(number, "expected `pseudonym HEX` or `master ID HEX`")),
            }
        }
        let pseudonym = pseudonym.ok_or_else(|| VaultError::KeyFileMalformed("no pseudonym key".into()))?;
        let mut masters = masters.into_iter();
        let current = masters.next().ok_or_else(|| VaultError::KeyFileMalformed("no master key".into()))?;
        Ok(Keyring { current, retired: masters.collect(), pseudonym })
    }

    /// A new key file's text with fresh random keys and one master key named `master_id`.
    pub fn generate(master_id: &str) -> Result<Secret<String>, VaultError> {
        if !valid_id(master_id) {
            return Err(VaultError::KeyFileMalformed(
                "a key id is 1 to 64 letters, digits, '-' or '_'".into(),
            ));
        }
        Ok(key_file(&random_key(), &[(master_id, &random_key())]))
    }

    /// The same keys with a fresh current master named `master_id`; the old current one retires.
    pub fn rotated(&self, master_id: &str) -> Result<Secret<String>, VaultError> {
        if !valid_id(master_id) || self.master(master_id).is_some() {
            return Err(VaultError::KeyFileMalformed(format!("{master_id} is not a new key id")));
        }
        let fresh = random_key();
        let masters: Vec<(&str, &[u8; 32])> = std::iter::once((master_id, &fresh))
            .chain(
                std::iter::once(&self.current)
                    .chain(&self.retired)
                    .map(|m| (m.id.as_str(), m.key.expose_secret())),
            )
            .collect();
        Ok(key_file(self.pseudonym.expose_secret(), &masters))
    }

    /// The same keys without the retired masters, once nothing is wrapped under them.
    pub fn retired_dropped(&self) -> Secret<String> {
        key_file(
            self.pseudonym.expose_secret(),
            &[(self.current.id.as_str(), self.current.key.expose_secret())],
        )
    }

    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    pub fn retired_ids(&self) -> impl Iterator<Item = &str> {
        self.retired.iter().map(|m| m.id.as_str())
    }

    pub(crate) fn master(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current).chain(&self.retired).find(|m| m.id == id)
    }
}

/// A key file's text: the pseudonym key, then the master keys, current first.
fn key_file(pseudonym: &[u8; 32], masters: &[(&str, &[u8; 32])]) -> Secret<String> {
    let mut text = String::from("# facepay keys: keep out of the database and out of version control\n");
    let _ = writeln!(text, "pseudonym {}", hex(pseudonym));
    for (id, key) in masters {
        let _ = writeln!(text, "master {id} {}", hex(*key));
    }
    Secret::new(text)
}

pub(crate) fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    OsRng.fill_bytes(&mut key);
    key
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn parse_key(text: &str) -> Option<KeyBytes> {
    if text.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(Secret::new(key))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
