//! A shopper's personal key: made at sign-up, kept (wrapped under the master key) until they
//! delete everything, and used for the personal fields the payment core journals: phone digits,
//! masked name, consent, PIN hash, bank references and dispute notes. Each field is sealed
//! (AES-256-GCM, bound to its kind and the shopper's pseudonym) or, where the core must compare
//! it, digested (HMAC-SHA256 under a key derived from the personal key). Shredding the wrapped
//! key leaves every journal entry, checkpoint and backup that holds these unreadable.
//!
//! Sealed layout: `1 | nonce (12) | ciphertext and tag`, as `sealed` seals records.

use std::fmt;

use facepay_domain::{KeyedDigest, Sealed, Secret};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::keyring::KeyBytes;
use crate::sealed::{FORMAT, NONCE, decrypt, encrypt};
use crate::{Pseudonym, VaultError};

/// Which personal field: part of what a sealed field or a digest is bound to, so one offered as
/// another does not open or match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalField {
    PhoneDigits,
    MaskedName,
    Consent,
    PinHash,
    BankReference,
    DisputeNote,
}

impl PersonalField {
    fn label(self) -> &'static [u8] {
        match self {
            PersonalField::PhoneDigits => b"phone-digits",
            PersonalField::MaskedName => b"masked-name",
            PersonalField::Consent => b"consent",
            PersonalField::PinHash => b"pin-hash",
            PersonalField::BankReference => b"bank-reference",
            PersonalField::DisputeNote => b"dispute-note",
        }
    }
}

/// One shopper's personal key, unwrapped.
pub struct PersonalKey {
    pseudonym: Pseudonym,
    key: KeyBytes,
    digest_key: KeyBytes,
}

impl fmt::Debug for PersonalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersonalKey").field("pseudonym", &self.pseudonym).finish_non_exhaustive()
    }
}

impl PersonalKey {
    pub(crate) fn new(pseudonym: Pseudonym, key: KeyBytes) -> PersonalKey {
        // The digests get a key of their own, so the cipher's key is used by one primitive only.
        let digest_key = Secret::new(hmac(key.expose_secret(), &[b"facepay/personal-digest-key/v1"]));
        PersonalKey { pseudonym, key, digest_key }
    }

    pub fn pseudonym(&self) -> Pseudonym {
        self.pseudonym
    }

    pub fn seal(&self, field: PersonalField, plain: &[u8]) -> Sealed {
        let (nonce, ciphertext) = encrypt(&self.key, plain, &self.aad(field));
        let mut bytes = Vec::with_capacity(1 + NONCE + ciphertext.len());
        bytes.push(FORMAT);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Sealed::from_bytes(bytes)
    }

    pub fn open(&self, field: PersonalField, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let [FORMAT, rest @ ..] = sealed.as_bytes() else {
            return Err(VaultError::Malformed("not a sealed field"));
        };
        if rest.len() < NONCE + 16 {
            return Err(VaultError::Malformed("a sealed field too short"));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE);
        decrypt(&self.key, nonce, ciphertext, &self.aad(field)).map(Zeroizing::new)
    }

    /// Opens a field sealed from text.
    pub fn open_text(&self, field: PersonalField, sealed: &Sealed) -> Result<String, VaultError> {
        let plain = self.open(field, sealed)?;
        String::from_utf8(plain.to_vec()).map_err(|_| VaultError::Malformed("a sealed text field"))
    }

    /// The same value under the same key and field always gives the same digest.
    pub fn digest(&self, field: PersonalField, value: &[u8]) -> KeyedDigest {
        let full = hmac(self.digest_key.expose_secret(), &[field.label(), b"/", value]);
        let mut digest = [0; 16];
        digest.copy_from_slice(&full[..16]);
        KeyedDigest(digest)
    }

    fn aad(&self, field: PersonalField) -> Vec<u8> {
        [b"facepay/personal/v1/", field.label(), b"/", self.pseudonym.as_bytes()].concat()
    }
}

fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use facepay_domain::ShopperId;

    use super::*;
    use crate::{Keyring, Vault};

    fn vault() -> Vault {
        Vault::new(Keyring::parse(Keyring::generate("m1").unwrap().expose_secret()).unwrap())
    }

    #[test]
    fn a_sealed_field_opens_only_as_itself_for_its_shopper() {
        let vault = vault();
        let (alice, wrapped) = vault.new_personal_key(ShopperId::from_u128(1));
        let sealed = alice.seal(PersonalField::MaskedName, b"A**** S****");
        assert!(!sealed.as_bytes().windows(4).any(|w| w == b"A***"), "sealed, not copied");
        assert_eq!(alice.open_text(PersonalField::MaskedName, &sealed).unwrap(), "A**** S****");
        assert_eq!(alice.open(PersonalField::Consent, &sealed).unwrap_err(), VaultError::DoesNotOpen);

        let reopened = vault.open_personal_key(alice.pseudonym(), &wrapped).unwrap();
        assert_eq!(reopened.open_text(PersonalField::MaskedName, &sealed).unwrap(), "A**** S****");
        let (bob, _) = vault.new_personal_key(ShopperId::from_u128(2));
        assert_eq!(bob.open(PersonalField::MaskedName, &sealed).unwrap_err(), VaultError::DoesNotOpen);
        // Alice's wrapped key does not open as Bob's, nor as a face key.
        assert!(vault.open_personal_key(bob.pseudonym(), &wrapped).is_err());
        assert!(vault.open_subject_key(alice.pseudonym(), &wrapped).is_err());
    }

    #[test]
    fn digests_match_the_same_value_under_the_same_key_only() {
        let vault = vault();
        let (alice, _) = vault.new_personal_key(ShopperId::from_u128(1));
        let (bob, _) = vault.new_personal_key(ShopperId::from_u128(2));
        let digits = PersonalField::PhoneDigits;
        assert_eq!(alice.digest(digits, b"1234"), alice.digest(digits, b"1234"));
        assert_ne!(alice.digest(digits, b"1234"), alice.digest(digits, b"1235"));
        assert_ne!(alice.digest(digits, b"1234"), bob.digest(digits, b"1234"));
        assert_ne!(alice.digest(digits, b"1234"), alice.digest(PersonalField::BankReference, b"1234"));
    }
}
