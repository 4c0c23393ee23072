//! What a shopper's personal fields must look like before they are sealed. The core never sees
//! these fields in clear (it holds `Sealed` bytes and `KeyedDigest`s made under the shopper's
//! personal key in the vault), so the caller that seals them checks them here first, and a
//! refusal keeps the code the core used to give.

use facepay_domain::Sealed;

use crate::engine::{CONSENT_VERSION_MAX, CoreError, MASKED_NAME_MAX};
use crate::issuer::{BANK_REFERENCE_MAX, IssuerId};

/// The last four digits of a phone number.
pub fn phone_digits_valid(text: &str) -> Result<(), CoreError> {
    let four_digits = text.len() == 4 && text.bytes().all(|b| b.is_ascii_digit());
    four_digits.then_some(()).ok_or(CoreError::PhoneDigitsMalformed)
}

/// A name as a terminal shows it: 1 to `MASKED_NAME_MAX` characters, no control characters.
pub fn masked_name_valid(text: &str) -> Result<(), CoreError> {
    let length = text.chars().count();
    let valid = (1..=MASKED_NAME_MAX).contains(&length) && !text.chars().any(char::is_control);
    valid.then_some(()).ok_or(CoreError::MaskedNameMalformed)
}

/// A consent text version: 1 to `CONSENT_VERSION_MAX` printable ASCII characters.
pub fn consent_version_valid(text: &str) -> Result<(), CoreError> {
    printable(text, CONSENT_VERSION_MAX).then_some(()).ok_or(CoreError::ConsentVersionMalformed)
}

/// A bank's reference for an account: 1 to `BANK_REFERENCE_MAX` printable ASCII characters.
pub fn bank_reference_valid(text: &str) -> Result<(), CoreError> {
    printable(text, BANK_REFERENCE_MAX).then_some(()).ok_or(CoreError::BankReferenceMalformed)
}

/// What a bank account's keyed digest is made of: the bank and its reference, so the same
/// reference at two banks is two accounts.
pub fn bank_account_digest_input(issuer: IssuerId, reference: &str) -> Vec<u8> {
    format!("{}/{reference}", issuer.0).into_bytes()
}

/// The core's own check of a sealed field: present and within [`Sealed::MAX_BYTES`].
pub(crate) fn bounded(sealed: &Sealed) -> Result<(), CoreError> {
    sealed.is_bounded().then_some(()).ok_or(CoreError::SealedFieldMalformed)
}

fn printable(text: &str, max: usize) -> bool {
    !text.is_empty() && text.len() <= max && text.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_is_checked_at_its_limits() {
        assert!(phone_digits_valid("0123").is_ok());
        for bad in ["123", "12345", "12a4", "", "١٢٣٤"] {
            assert_eq!(phone_digits_valid(bad).unwrap_err().code(), "phone_digits_malformed", "{bad}");
        }
        assert!(masked_name_valid(&"A".repeat(MASKED_NAME_MAX)).is_ok());
        assert!(masked_name_valid(&"A".repeat(MASKED_NAME_MAX + 1)).is_err());
        assert!(masked_name_valid("A\u{7}").is_err() && masked_name_valid("").is_err());
        assert!(consent_version_valid(&"v".repeat(CONSENT_VERSION_MAX)).is_ok());
        assert!(consent_version_valid(&"v".repeat(CONSENT_VERSION_MAX + 1)).is_err());
        assert!(consent_version_valid("v 1").is_err());
        assert!(bank_reference_valid(&"r".repeat(BANK_REFERENCE_MAX)).is_ok());
        assert_eq!(
            bank_reference_valid(&"r".repeat(BANK_REFERENCE_MAX + 1)).unwrap_err().code(),
            "bank_reference_malformed"
        );
        assert_ne!(
            bank_account_digest_input(IssuerId(1), "12/3"),
            bank_account_digest_input(IssuerId(11), "2/3")
        );
    }
}
