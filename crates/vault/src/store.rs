//! The storage port for biometric records, defined here and implemented by the `store-*` crates:
//! what a store must keep (each shopper's wrapped data key, sealed template and sealed images,
//! found by pseudonym), what it must destroy, and the change feed other nodes follow.
//!
//! Only sealed bytes cross this port; a store never sees a key that opens them.

use crate::{Pseudonym, VaultError, WrappedKey};

/// One shopper's enrollment as stored: their data key wrapped under a master key, the template
/// and the enrollment images kept with consent, each sealed under that data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedEnrollment {
    pub pseudonym: Pseudonym,
    pub wrapped_key: WrappedKey,
    pub template: Vec<u8>,
    pub images: Vec<Vec<u8>>,
}

/// A stored template with the wrapped key that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTemplate {
    pub pseudonym: Pseudonym,
    pub wrapped_key: WrappedKey,
    pub template: Vec<u8>,
}

/// Where the biometric records live. Every change to a pseudonym's records gets a change number
/// higher than any before it, visible to `changes_after` only once committed, and in commit
/// order, so a node that has applied changes up to `n` misses none by asking for those after `n`.
pub trait BiometricStore: Send {
    /// Stores `enrollment`, replacing the pseudonym's earlier key, template and images, and
    /// records the change. Durable when it returns.
    fn put(&mut self, enrollment: &SealedEnrollment) -> Result<(), VaultError>;

    /// Destroys the pseudonym's wrapped data key, template and images, overwriting the freed
    /// bytes where the database allows, and records the change; false when there was nothing.
    fn shred(&mut self, pseudonym: &Pseudonym) -> Result<bool, VaultError>;

    fn template(&mut self, pseudonym: &Pseudonym) -> Result<Option<StoredTemplate>, VaultError>;

    /// The sealed enrollment images (oldest first), for re-enrolling when the model changes.
    fn images(&mut self, pseudonym: &Pseudonym) -> Result<Vec<Vec<u8>>, VaultError>;

    /// Up to `limit` templates in pseudonym order, starting after `after`: a node reads the
    /// whole vault page by page when it starts.
    fn templates_after(
        &mut self,
        after: Option<&Pseudonym>,
        limit: usize,
    ) -> Result<Vec<StoredTemplate>, VaultError>;

    /// The newest change number, 0 for none.
    fn last_change(&mut self) -> Result<u64, VaultError>;

    /// Up to `limit` pseudonyms whose records changed after change `after` (enrolled again or
    /// shredded), oldest change first, each with its change number. A pseudonym changed twice
    /// may appear once, at its newest change: a follower re-reads the records as they are now.
    fn changes_after(&mut self, after: u64, limit: usize) -> Result<Vec<(u64, Pseudonym)>, VaultError>;

    /// Up to `limit` wrapped keys under any master key but `master_id`, in pseudonym order,
    /// starting after `after`: a rotation walks the vault once instead of from the start on
    /// every page.
    fn keys_not_under(
        &mut self,
        master_id: &str,
        after: Option<&Pseudonym>,
        limit: usize,
    ) -> Result<Vec<(Pseudonym, WrappedKey)>, VaultError>;

    /// Replaces the pseudonym's wrapped key `old` by `new` (the same data key under another
    /// master key) unless it changed meanwhile; says whether it replaced it.
    fn replace_key(
        &mut self,
        pseudonym: &Pseudonym,
        old: &WrappedKey,
        new: &WrappedKey,
    ) -> Result<bool, VaultError>;
}
