//! What the API needs from the rest of a node, as ports the binary wires: `Biometrics` turns a
//! capture's frames into a live template (the engine in production, a fake in tests; this crate
//! never sees ONNX Runtime), and `Faces` is the node's gallery (vault plus face index), which
//! also hands out each shopper's personal key.

use std::sync::{Mutex, PoisonError};

use facepay_domain::{FaceTemplate, Secret, ShopperId};
use facepay_face_index::IndexReader;
use facepay_gallery::{Gallery, GalleryError};
use facepay_vault::{BiometricStore, PersonalKey};

/// A live template from one capture.
#[derive(Debug)]
pub struct Captured {
    pub template: FaceTemplate,
    pub live_score: f32,
}

/// Why a capture gave no live template, as the biometric engine said it (`face_not_found`,
/// `face_not_live`, `image_too_large`, ...): the person at the terminal can act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRefused {
    pub code: &'static str,
    pub message: String,
    /// The engine failed (not the photo): the request may be retried.
    pub engine_failed: bool,
}

pub trait Biometrics: Send + Sync {
    /// The frames of one attempt (encoded images) to one live template. Blocking: CPU-bound.
    fn capture(&self, frames: &[&[u8]]) -> Result<Captured, CaptureRefused>;
}

/// The node's enrolled faces. Blocking: enrollment and deletion write to the store.
pub trait Faces: Send + Sync {
    /// Searches go through this handle; it never waits.
    fn reader(&self) -> IndexReader;

    /// Enrolls the face unless it is as close as `duplicate_threshold` to another shopper's
    /// (`GalleryError::FaceTaken`), deciding once across every node; `None` checks nothing.
    fn enroll(
        &self,
        shopper: ShopperId,
        phone_last4: &str,
        template: FaceTemplate,
        images: &[Secret<Vec<u8>>],
        duplicate_threshold: Option<f32>,
    ) -> Result<(), GalleryError>;

    /// Shreds the shopper's face and personal key; true when there was something to delete.
    fn delete(&self, shopper: ShopperId) -> Result<bool, GalleryError>;

    /// The shopper's personal key, made and kept now if they have none.
    fn personal_key_or_new(&self, shopper: ShopperId) -> Result<PersonalKey, GalleryError>;

    /// The shopper's personal key; none once they deleted everything.
    fn personal_key(&self, shopper: ShopperId) -> Result<Option<PersonalKey>, GalleryError>;

    /// The seed of the key travel passes are signed with: from the key file, so every node
    /// signs and checks the same passes.
    fn transit_pass_seed(&self) -> Secret<[u8; 32]>;
}

impl<S: BiometricStore + Send> Faces for Mutex<Gallery<S>> {
    fn reader(&self) -> IndexReader {
        self.lock().unwrap_or_else(PoisonError::into_inner).reader()
    }

    fn enroll(
        &self,
        shopper: ShopperId,
        phone_last4: &str,
        template: FaceTemplate,
        images: &[Secret<Vec<u8>>],
        duplicate_threshold: Option<f32>,
    ) -> Result<(), GalleryError> {
        let mut gallery = self.lock().unwrap_or_else(PoisonError::into_inner);
        gallery.enroll(shopper, phone_last4, template, images, duplicate_threshold)
    }

    fn delete(&self, shopper: ShopperId) -> Result<bool, GalleryError> {
        self.lock().unwrap_or_else(PoisonError::into_inner).delete(shopper)
    }

    fn personal_key_or_new(&self, shopper: ShopperId) -> Result<PersonalKey, GalleryError> {
        self.lock().unwrap_or_else(PoisonError::into_inner).personal_key_or_new(shopper)
    }

    fn personal_key(&self, shopper: ShopperId) -> Result<Option<PersonalKey>, GalleryError> {
        self.lock().unwrap_or_else(PoisonError::into_inner).personal_key(shopper)
    }

    fn transit_pass_seed(&self) -> Secret<[u8; 32]> {
        self.lock().unwrap_or_else(PoisonError::into_inner).transit_pass_seed()
    }
}
