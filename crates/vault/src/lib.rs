//! Face templates, images and personal fields at rest: envelope encryption (a face data key and
//! a personal key per shopper, under the operator's master key), keyed pseudonyms, and
//! crypto-shredding (destroying a shopper's wrapped keys makes every record and journaled field
//! sealed under them unreadable, wherever copies of it lie).
//!
//! Owns: every cipher and key facepay uses for biometric data. AES-256-GCM everywhere: a data
//! key wraps under a master key, a record seals under its shopper's data key, and each ciphertext
//! is bound (as associated data) to what it is and whose it is, so a record moved to another
//! shopper or passed off as another kind of record fails to open instead of opening as theirs.
//!
//! Also defines the port its records are stored through (`BiometricStore`, implemented by the
//! `store-*` crates) and key rotation over it.
//!
//! Must never: log or return plaintext templates or images except to the caller that opened them,
//! hand a store anything but sealed bytes, or know about HTTP, SQL or payments.

mod keyring;
mod memory;
mod personal;
mod rotation;
mod sealed;
mod store;

pub use keyring::{KeyId, Keyring, MasterKey};
pub use memory::MemoryBiometricStore;
pub use personal::{PersonalField, PersonalKey};
pub use rotation::{Rewrapped, rewrap_all};
pub use sealed::{EnrolledFace, Pseudonym, SubjectKey, Vault, WrappedKey};
pub use store::{BiometricStore, KeyKind, SealedEnrollment, StoredTemplate};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("the key file is malformed: {0}")]
    KeyFileMalformed(String),
    #[error("the data key was wrapped under master key {0}, which the key file does not hold")]
    UnknownMasterKey(KeyId),
    /// Wrong key, a changed byte, or a record presented as someone else's: AES-GCM cannot tell
    /// which, and says nothing more on purpose.
    #[error("the sealed record does not open under this key")]
    DoesNotOpen,
    #[error("the sealed record is malformed: {0}")]
    Malformed(&'static str),
    /// The biometric store could not be read or written; nothing changed.
    #[error("the biometric store is unavailable: {0}")]
    StoreUnavailable(String),
    #[error("the biometric store holds a damaged row: {0}")]
    StoreCorrupt(String),
}

impl VaultError {
    pub fn code(&self) -> &'static str {
        match self {
            VaultError::KeyFileMalformed(_) => "vault_key_file_malformed",
            VaultError::UnknownMasterKey(_) => "vault_unknown_master_key",
            VaultError::DoesNotOpen => "vault_record_does_not_open",
            VaultError::Malformed(_) => "vault_record_malformed",
            VaultError::StoreUnavailable(_) => "store_unavailable",
            VaultError::StoreCorrupt(_) => "store_biometric_corrupt",
        }
    }
}
