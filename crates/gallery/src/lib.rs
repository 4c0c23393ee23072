//! The enrolled faces on one node: the vault's sealed records (the truth, in the database) and
//! the in-memory face index (what searches read) kept equal. A node rebuilds its index from the
//! vault when it starts, then follows the vault's change feed (`follow`), so an enrollment or a
//! deletion on any node reaches every node's index. It also hands out each shopper's personal
//! key (made at sign-up, shredded with the face), which seals what the payment core journals
//! about them.
//!
//! Owns: the order of a change (the vault's records first, then the index, so a crash between the
//! two leaves the record, which the next start or sync indexes) and the mapping from a pseudonym
//! back to the shopper, held only in memory.
//!
//! Must never: hand the store anything unsealed, log a template, or decide a payment.

mod follow;

use std::collections::HashMap;

use facepay_domain::{FaceTemplate, Secret, ShopperId};
use facepay_face_index::{FaceIndex, IndexError, IndexReader, PhoneHint};
use facepay_vault::{
    BiometricStore, EnrolledFace, Keyring, PersonalKey, Pseudonym, SealedEnrollment, StoredTemplate, Vault,
    VaultError,
};

pub use follow::{Follower, follow};

/// How many times an enrollment looks again after another node's change got in first.
const ENROLL_TRIES: usize = 8;

/// Records read per page when rebuilding and per read of the change feed.
const PAGE: usize = 1024;

/// Reads the key file again, after another node's rotation wrapped keys under a master this
/// node has not seen yet.
pub type KeySource = Box<dyn FnMut() -> Result<Keyring, VaultError> + Send>;

#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A stored record that does not open: a damaged row or, when many do, the wrong key file.
    #[error("the enrolled face under pseudonym {pseudonym} does not open: {source}")]
    Record { pseudonym: Pseudonym, source: VaultError },
    /// The face is as close as `duplicate_threshold` to another shopper's.
    #[error("this face is already enrolled for another shopper")]
    FaceTaken,
    /// Other enrollments kept landing between this one's look and its write.
    #[error("enrollments on other nodes kept changing the gallery; retry")]
    Contended,
}

impl GalleryError {
    pub fn code(&self) -> &'static str {
        match self {
            GalleryError::Vault(err) | GalleryError::Record { source: err, .. } => err.code(),
            GalleryError::Index(err) => err.code(),
            GalleryError::FaceTaken => "face_already_enrolled",
            GalleryError::Contended => "enrollment_contended",
        }
    }
}

/// What a rebuild or a sync did to the index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Faces added or replaced.
    pub indexed: usize,
    /// Faces taken out (shredded, or re-enrolled with another recognizer).
    pub removed: usize,
    /// Records made by another recognizer than this node's, left out of the index; they wait
    /// for re-enrollment from the kept images.
    pub other_recognizer: usize,
    /// Records that did not open, skipped by a sync so the feed keeps moving; each is a damaged
    /// row, or a key this node's key file lacks.
    pub unreadable: Vec<(Pseudonym, &'static str)>,
}

pub struct Gallery<S> {
    vault: Vault,
    reload_keys: KeySource,
    store: S,
    index: FaceIndex,
    /// Whose face each indexed pseudonym is, to take out a face shredded on another node.
    shoppers: HashMap<Pseudonym, ShopperId>,
    /// The last change of the store's feed this index reflects.
    cursor: u64,
}

impl<S> std::fmt::Debug for Gallery<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gallery").field("faces", &self.index.len()).field("cursor", &self.cursor).finish()
    }
}

impl<S: BiometricStore> Gallery<S> {
    /// Builds this node's index from every record in `store` that `index`'s recognizer made.
    /// Fails if any record does not open: a node must not serve with part of the gallery missing.
    pub fn open(
        keys: Keyring,
        reload_keys: KeySource,
        mut store: S,
        index: FaceIndex,
    ) -> Result<(Gallery<S>, Applied), GalleryError> {
        // Read before the scan: changes committed during it are applied again by the next sync.
        let cursor = store.last_change()?;
        let mut gallery =
            Gallery { vault: Vault::new(keys), reload_keys, store, index, shoppers: HashMap::new(), cursor };
        let mut applied = Applied::default();
        let reader = gallery.index.reader();
        let mut after = None;
        loop {
            let page = gallery.store.templates_after(after.as_ref(), PAGE)?;
            let Some(last) = page.last() else { break };
            after = Some(last.pseudonym);
            let mut faces = Vec::with_capacity(page.len());
            for stored in &page {
                let face = gallery
                    .open_face(stored)
                    .map_err(|source| GalleryError::Record { pseudonym: stored.pseudonym, source })?;
                if reader.check(&face.template).is_err() {
                    applied.other_recognizer += 1;
                    continue;
                }
                let hint = phone_hint(stored.pseudonym, &face.phone_last4)?;
                faces.push((stored.pseudonym, face, hint));
            }
            gallery
                .index
                .upsert_many(faces.iter().map(|(_, face, hint)| (face.shopper, &face.template, *hint)))?;
            applied.indexed += faces.len();
            gallery.shoppers.extend(faces.iter().map(|(pseudonym, face, _)| (*pseudonym, face.shopper)));
        }
        Ok((gallery, applied))
    }

    /// Searches go through this handle; it never waits for enrollments or syncs.
    pub fn reader(&self) -> IndexReader {
        self.index.reader()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Enrolls `shopper` (or replaces their face) unless the face scores `duplicate_threshold`
    /// or more against another shopper's (`None`: no check, for loading faces in bulk): a fresh data key, the template and `images` sealed
    /// under it and stored durably, then the face indexed. The old data key, if any, is
    /// overwritten, which shreds the old records.
    ///
    /// The check and the write are one decision across nodes: the store takes the write only if
    /// nothing changed since this node caught up and searched; otherwise it catches up (seeing
    /// the other node's face) and decides again.
    pub fn enroll(
        &mut self,
        shopper: ShopperId,
        phone_last4: &str,
        template: FaceTemplate,
        images: &[Secret<Vec<u8>>],
        duplicate_threshold: Option<f32>,
    ) -> Result<(), GalleryError> {
        let hint = PhoneHint::parse(phone_last4)?;
        self.index.reader().check(&template)?;
        let (key, wrapped_key) = self.vault.new_subject_key(shopper);
        let face = EnrolledFace { shopper, phone_last4: phone_last4.to_owned(), template };
        let pseudonym = key.pseudonym();
        let sealed = SealedEnrollment {
            pseudonym,
            wrapped_key,
            template: key.seal_template(&face),
            images: images.iter().map(|image| key.seal_image(image)).collect(),
        };
        for _ in 0..ENROLL_TRIES {
            let seen = match duplicate_threshold {
                None => None,
                Some(threshold) => {
                    let seen = self.store.last_change()?;
                    self.sync()?;
                    let near = self.index.reader().view().search(&face.template, 2)?;
                    if near.iter().any(|c| c.shopper != shopper && c.score >= threshold) {
                        return Err(GalleryError::FaceTaken);
                    }
                    Some(seen)
                }
            };
            if self.store.put(&sealed, seen)? {
                self.index.upsert(shopper, &face.template, hint)?;
                self.shoppers.insert(pseudonym, shopper);
                return Ok(());
            }
        }
        Err(GalleryError::Contended)
    }

    /// Deletes `shopper`'s face and personal fields everywhere: their face data key and personal
    /// key are destroyed (so every copy of what they sealed, journal entries and backups
    /// included, stays unreadable) and their face leaves the index. True when there was
    /// something to delete.
    pub fn delete(&mut self, shopper: ShopperId) -> Result<bool, GalleryError> {
        let pseudonym = self.vault.pseudonym(shopper);
        let shredded = self.store.shred(&pseudonym)?;
        self.shoppers.remove(&pseudonym);
        let removed = self.index.remove(shopper);
        Ok(shredded || removed)
    }

    /// `shopper`'s personal key (the one their journaled personal fields are sealed under),
    /// made and kept at the first call; another node making one at the same moment gets the
    /// same key back.
    pub fn personal_key_or_new(&mut self, shopper: ShopperId) -> Result<PersonalKey, GalleryError> {
        if let Some(key) = self.personal_key(shopper)? {
            return Ok(key);
        }
        let (_, wrapped) = self.vault.new_personal_key(shopper);
        let pseudonym = self.vault.pseudonym(shopper);
        let kept = self.store.keep_personal_key(&pseudonym, &wrapped)?;
        Ok(self.with_keys(|vault| vault.open_personal_key(pseudonym, &kept))?)
    }

    /// The seed of the key this switch signs travel passes with, the same on every node.
    pub fn transit_pass_seed(&self) -> Secret<[u8; 32]> {
        self.vault.derived_key("transit-pass")
    }

    /// `shopper`'s personal key; none before sign-up or once they deleted everything.
    pub fn personal_key(&mut self, shopper: ShopperId) -> Result<Option<PersonalKey>, GalleryError> {
        let pseudonym = self.vault.pseudonym(shopper);
        let Some(wrapped) = self.store.personal_key(&pseudonym)? else { return Ok(None) };
        Ok(Some(self.with_keys(|vault| vault.open_personal_key(pseudonym, &wrapped))?))
    }

    /// The enrollment images kept with `shopper`'s consent, opened (for re-enrolling them when
    /// the recognizer changes); empty when none were kept.
    pub fn enrollment_images(&mut self, shopper: ShopperId) -> Result<Vec<Secret<Vec<u8>>>, GalleryError> {
        let pseudonym = self.vault.pseudonym(shopper);
        let Some(stored) = self.store.template(&pseudonym)? else { return Ok(Vec::new()) };
        let key = self.with_keys(|vault| vault.open_subject_key(pseudonym, &stored.wrapped_key))?;
        let sealed = self.store.images(&pseudonym)?;
        Ok(sealed.iter().map(|image| key.open_image(image)).collect::<Result<_, _>>()?)
    }

    /// Applies every change other nodes (or this one) committed since the last sync.
    pub fn sync(&mut self) -> Result<Applied, GalleryError> {
        let mut applied = Applied::default();
        loop {
            let changes = self.store.changes_after(self.cursor, PAGE)?;
            if changes.is_empty() {
                return Ok(applied);
            }
            for (change, pseudonym) in changes {
                self.apply(pseudonym, &mut applied)?;
                self.cursor = change;
            }
        }
    }

    /// Makes the index agree with the pseudonym's records as they are now.
    fn apply(&mut self, pseudonym: Pseudonym, applied: &mut Applied) -> Result<(), GalleryError> {
        let face = match self.store.template(&pseudonym)? {
            None => None,
            Some(stored) => match self.open_face(&stored) {
                Ok(face) => Some(face),
                Err(err) => {
                    applied.unreadable.push((pseudonym, err.code()));
                    return Ok(());
                }
            },
        };
        let indexable = face.filter(|face| {
            let fits = self.index.reader().check(&face.template).is_ok();
            applied.other_recognizer += usize::from(!fits);
            fits
        });
        match indexable {
            Some(face) => {
                let hint = phone_hint(pseudonym, &face.phone_last4)?;
                if let Some(previous) = self.shoppers.insert(pseudonym, face.shopper)
                    && previous != face.shopper
                {
                    self.index.remove(previous);
                }
                self.index.upsert(face.shopper, &face.template, hint)?;
                applied.indexed += 1;
            }
            None => {
                if let Some(shopper) = self.shoppers.remove(&pseudonym) {
                    self.index.remove(shopper);
                    applied.removed += 1;
                }
            }
        }
        Ok(())
    }

    fn open_face(&mut self, stored: &StoredTemplate) -> Result<EnrolledFace, VaultError> {
        self.with_keys(|vault| {
            vault.open_enrolled_face(stored.pseudonym, &stored.wrapped_key, &stored.template)
        })
    }

    /// Runs `open`; when it meets a master key this node has not loaded, reads the key file
    /// again (another node rotated) and tries once more.
    fn with_keys<T>(&mut self, open: impl Fn(&Vault) -> Result<T, VaultError>) -> Result<T, VaultError> {
        match open(&self.vault) {
            Err(VaultError::UnknownMasterKey(_)) => {
                self.vault = Vault::new((self.reload_keys)()?);
                open(&self.vault)
            }
            other => other,
        }
    }
}

/// A stored face's phone digits as the index buckets them.
fn phone_hint(pseudonym: Pseudonym, digits: &str) -> Result<PhoneHint, GalleryError> {
    PhoneHint::parse(digits)
        .map_err(|_| GalleryError::Record { pseudonym, source: VaultError::Malformed("the phone digits") })
}
