//! The storage port for biometric records, defined here and implemented by the `store-*` crates:
//! what a store must keep (each shopper's wrapped face data key, sealed template and sealed
//! images, and their wrapped personal key, found by pseudonym), what it must destroy, and the
//! change feed other nodes follow.
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

/// Which of a shopper's two keys: the face data key seals their template and images (a new one
/// at each enrollment); the personal key seals the personal fields the payment core journals
/// (made at sign-up, kept until the shopper deletes everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Face,
    Personal,
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
    /// records the change. With `unchanged_since`, only if the store's last change is still that
    /// one (what the caller saw when it searched for the face among everyone); otherwise it
    /// writes nothing and returns false, and the caller looks again. So two nodes enrolling one
    /// face at once cannot both pass the duplicate check. Durable when it returns true.
    fn put(
        &mut self,
        enrollment: &SealedEnrollment,
        unchanged_since: Option<u64>,
    ) -> Result<bool, VaultError>;

    /// Destroys the pseudonym's wrapped keys (face and personal), template and images,
    /// overwriting the freed bytes where the database allows, and records the change; false when
    /// there was nothing.
    fn shred(&mut self, pseudonym: &Pseudonym) -> Result<bool, VaultError>;

    /// Keeps `wrapped` as the pseudonym's personal key unless it has one already, and returns
    /// the one kept: two nodes signing up the same shopper at once agree on one key. Durable
    /// when it returns.
    fn keep_personal_key(
        &mut self,
        pseudonym: &Pseudonym,
        wrapped: &WrappedKey,
    ) -> Result<WrappedKey, VaultError>;

    /// The pseudonym's wrapped personal key; none before sign-up or after a shred.
    fn personal_key(&mut self, pseudonym: &Pseudonym) -> Result<Option<WrappedKey>, VaultError>;

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

    /// Up to `limit` wrapped keys of `kind` under any master key but `master_id`, in pseudonym
    /// order, starting after `after`: a rotation walks the vault once instead of from the start
    /// on every page.
    fn keys_not_under(
        &mut self,
        kind: KeyKind,
        master_id: &str,
        after: Option<&Pseudonym>,
        limit: usize,
    ) -> Result<Vec<(Pseudonym, WrappedKey)>, VaultError>;

    /// Replaces the pseudonym's wrapped key of `kind`, `old`, by `new` (the same key under
    /// another master key) unless it changed meanwhile; says whether it replaced it.
    fn replace_key(
        &mut self,
        kind: KeyKind,
        pseudonym: &Pseudonym,
        old: &WrappedKey,
        new: &WrappedKey,
    ) -> Result<bool, VaultError>;
}
