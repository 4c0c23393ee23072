//! Sealing and opening: pseudonyms for shopper ids, each shopper's two keys (the face data key,
//! and the personal key of `personal`) wrapped under the current master key, and templates and
//! images sealed under the face data key.
//!
//! Stored layouts (all AES-256-GCM, random 96-bit nonces; a data key seals only one shopper's
//! few records, far below the nonce-collision bound):
//! - wrapped data key: `1 | id length | master key id | nonce (12) | key ciphertext and tag (48)`;
//! - sealed record: `1 | nonce (12) | ciphertext and tag`.
//!
//! The associated data names the kind of record and the shopper's pseudonym, so a template
//! copied under another shopper, or an image offered as a template, does not open.
//!
//! A template record holds, inside its ciphertext, whose template it is and the last four digits
//! of their phone (the face index's bucket for the phone-digit search), so a node rebuilds its
//! index from the vault alone, and shredding the data key takes both with the face.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use facepay_domain::{FaceTemplate, RecognizerTag, Secret, ShopperId};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::VaultError;
use crate::keyring::{KeyBytes, Keyring, hex, random_key};
use crate::personal::PersonalKey;
use crate::store::KeyKind;

pub(crate) const FORMAT: u8 = 1;
pub(crate) const NONCE: usize = 12;

/// A shopper as the biometric tables know them: HMAC-SHA256 of the shopper id under the
/// pseudonym key. Without the key file, the tables cannot be joined to a shopper.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pseudonym([u8; 32]);

impl Pseudonym {
    /// A pseudonym as a store read it back.
    pub fn from_stored(bytes: &[u8]) -> Result<Pseudonym, VaultError> {
        let bytes = bytes
            .try_into()
            .map_err(|_| VaultError::StoreCorrupt(format!("a pseudonym of {} bytes, not 32", bytes.len())))?;
        Ok(Pseudonym(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pseudonym({self})")
    }
}

/// A shopper's data key as stored: sealed under a master key, useless without the key file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WrappedKey(Vec<u8>);

impl WrappedKey {
    /// A wrapped key as a store read it back.
    pub fn from_stored(bytes: Vec<u8>) -> Result<WrappedKey, VaultError> {
        WrappedKey::from_bytes(bytes).map_err(|err| VaultError::StoreCorrupt(err.to_string()))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<WrappedKey, VaultError> {
        let wrapped = WrappedKey(bytes);
        wrapped.parts()?;
        Ok(wrapped)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The master key it is wrapped under.
    pub fn master_id(&self) -> &str {
        self.parts().map(|(id, _, _)| id).unwrap_or_default()
    }

    fn parts(&self) -> Result<(&str, &[u8], &[u8]), VaultError> {
        let malformed = VaultError::Malformed("not a wrapped data key");
        let [FORMAT, id_len, rest @ ..] = self.0.as_slice() else { return Err(malformed) };
        let id_len = usize::from(*id_len);
        if rest.len() != id_len + NONCE + 32 + 16 {
            return Err(malformed);
        }
        let id = std::str::from_utf8(&rest[..id_len]).map_err(|_| malformed.clone())?;
        Ok((id, &rest[id_len..id_len + NONCE], &rest[id_len + NONCE..]))
    }
}

/// One shopper's data key, unwrapped: seals and opens their template and enrollment images.
pub struct SubjectKey {
    pseudonym: Pseudonym,
    key: KeyBytes,
}

impl fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectKey").field("pseudonym", &self.pseudonym).field("key", &self.key).finish()
    }
}

#[derive(Debug)]
pub struct Vault {
    keyring: Keyring,
}

impl Vault {
    pub fn new(keyring: Keyring) -> Vault {
        Vault { keyring }
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub fn pseudonym(&self, shopper: ShopperId) -> Pseudonym {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.keyring.pseudonym.expose_secret())
            .expect("any key length");
        mac.update(b"facepay/pseudonym/v1/");
        mac.update(&shopper.as_u128().to_be_bytes());
        Pseudonym(mac.finalize().into_bytes().into())
    }

    /// A key of the switch's own for `purpose` (signing travel passes, say), derived from the
    /// key file: every node with the file has the same key, and the database alone gives none.
    pub fn derived_key(&self, purpose: &str) -> Secret<[u8; 32]> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.keyring.pseudonym.expose_secret())
            .expect("any key length");
        mac.update(b"facepay/derived/v1/");
        mac.update(purpose.as_bytes());
        Secret::new(mac.finalize().into_bytes().into())
    }

    /// A fresh face data key for `shopper`, and the same wrapped under the current master key
    /// to store.
    pub fn new_subject_key(&self, shopper: ShopperId) -> (SubjectKey, WrappedKey) {
        let subject = SubjectKey { pseudonym: self.pseudonym(shopper), key: Secret::new(random_key()) };
        let wrapped = self.wrap(KeyKind::Face, subject.pseudonym, &subject.key);
        (subject, wrapped)
    }

    /// Unwraps a stored face data key. It opens only under the pseudonym it was made for.
    pub fn open_subject_key(
        &self,
        pseudonym: Pseudonym,
        wrapped: &WrappedKey,
    ) -> Result<SubjectKey, VaultError> {
        Ok(SubjectKey { pseudonym, key: self.unwrap(KeyKind::Face, pseudonym, wrapped)? })
    }

    /// A fresh personal key for `shopper` (made at sign-up), and the same wrapped to store.
    pub fn new_personal_key(&self, shopper: ShopperId) -> (PersonalKey, WrappedKey) {
        let pseudonym = self.pseudonym(shopper);
        let key = Secret::new(random_key());
        let wrapped = self.wrap(KeyKind::Personal, pseudonym, &key);
        (PersonalKey::new(pseudonym, key), wrapped)
    }

    /// Unwraps a stored personal key; it opens only under the pseudonym it was made for, and a
    /// face key offered as a personal key does not open.
    pub fn open_personal_key(
        &self,
        pseudonym: Pseudonym,
        wrapped: &WrappedKey,
    ) -> Result<PersonalKey, VaultError> {
        Ok(PersonalKey::new(pseudonym, self.unwrap(KeyKind::Personal, pseudonym, wrapped)?))
    }

    /// The key wrapped under the current master key, or `None` when it already is.
    pub fn rewrap(
        &self,
        kind: KeyKind,
        pseudonym: Pseudonym,
        wrapped: &WrappedKey,
    ) -> Result<Option<WrappedKey>, VaultError> {
        if wrapped.master_id() == self.keyring.current.id {
            return Ok(None);
        }
        Ok(Some(self.wrap(kind, pseudonym, &self.unwrap(kind, pseudonym, wrapped)?)))
    }

    fn unwrap(
        &self,
        kind: KeyKind,
        pseudonym: Pseudonym,
        wrapped: &WrappedKey,
    ) -> Result<KeyBytes, VaultError> {
        let (id, nonce, ciphertext) = wrapped.parts()?;
        let master = self.keyring.master(id).ok_or_else(|| VaultError::UnknownMasterKey(id.to_string()))?;
        let plain = Zeroizing::new(decrypt(&master.key, nonce, ciphertext, &wrap_aad(kind, &pseudonym))?);
        let key: [u8; 32] =
            plain.as_slice().try_into().map_err(|_| VaultError::Malformed("data key length"))?;
        Ok(Secret::new(key))
    }

    /// Opens a stored template record and checks that it names the shopper its pseudonym
    /// belongs to.
    pub fn open_enrolled_face(
        &self,
        pseudonym: Pseudonym,
        wrapped: &WrappedKey,
        sealed_template: &[u8],
    ) -> Result<EnrolledFace, VaultError> {
        let face = self.open_subject_key(pseudonym, wrapped)?.open_template(sealed_template)?;
        if self.pseudonym(face.shopper) != pseudonym {
            return Err(VaultError::Malformed("a template record naming another shopper"));
        }
        Ok(face)
    }

    fn wrap(&self, kind: KeyKind, pseudonym: Pseudonym, key: &KeyBytes) -> WrappedKey {
        let master = &self.keyring.current;
        let (nonce, ciphertext) = encrypt(&master.key, key.expose_secret(), &wrap_aad(kind, &pseudonym));
        let id = master.id.as_bytes();
        let mut bytes = vec![FORMAT, id.len() as u8];
        bytes.extend_from_slice(id);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        WrappedKey(bytes)
    }
}

/// A template as the vault keeps it: whose, their phone-digit bucket, and the face.
#[derive(Debug)]
pub struct EnrolledFace {
    pub shopper: ShopperId,
    /// The last four digits of the shopper's phone, as the face index buckets them.
    pub phone_last4: String,
    pub template: FaceTemplate,
}

#[derive(Clone, Copy)]
enum Kind {
    Template,
    Image,
}

impl SubjectKey {
    pub fn pseudonym(&self) -> Pseudonym {
        self.pseudonym
    }

    pub fn seal_template(&self, face: &EnrolledFace) -> Vec<u8> {
        self.seal(Kind::Template, &encode_template(face))
    }

    pub fn open_template(&self, sealed: &[u8]) -> Result<EnrolledFace, VaultError> {
        decode_template(&self.open(Kind::Template, sealed)?)
    }

    /// Seals an enrollment image kept with consent (the encoded file, as captured).
    pub fn seal_image(&self, image: &Secret<Vec<u8>>) -> Vec<u8> {
        self.seal(Kind::Image, image.expose_secret())
    }

    pub fn open_image(&self, sealed: &[u8]) -> Result<Secret<Vec<u8>>, VaultError> {
        let plain = self.open(Kind::Image, sealed)?;
        Ok(Secret::new(plain.to_vec()))
    }

    fn seal(&self, kind: Kind, plain: &[u8]) -> Vec<u8> {
        let (nonce, ciphertext) = encrypt(&self.key, plain, &self.record_aad(kind));
        let mut bytes = Vec::with_capacity(1 + NONCE + ciphertext.len());
        bytes.push(FORMAT);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        bytes
    }

    fn open(&self, kind: Kind, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let [FORMAT, rest @ ..] = sealed else { return Err(VaultError::Malformed("not a sealed record")) };
        if rest.len() < NONCE + 16 {
            return Err(VaultError::Malformed("a sealed record too short"));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE);
        decrypt(&self.key, nonce, ciphertext, &self.record_aad(kind)).map(Zeroizing::new)
    }

    fn record_aad(&self, kind: Kind) -> Vec<u8> {
        let label: &[u8] = match kind {
            Kind::Template => b"facepay/template/v1/",
            Kind::Image => b"facepay/image/v1/",
        };
        [label, self.pseudonym.as_bytes()].concat()
    }
}

fn wrap_aad(kind: KeyKind, pseudonym: &Pseudonym) -> Vec<u8> {
    let label: &[u8] = match kind {
        KeyKind::Face => b"facepay/data-key/v1/",
        KeyKind::Personal => b"facepay/personal-key/v1/",
    };
    [label, pseudonym.as_bytes()].concat()
}

pub(crate) fn encrypt(key: &KeyBytes, plain: &[u8], aad: &[u8]) -> ([u8; NONCE], Vec<u8>) {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.expose_secret()));
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ciphertext =
        cipher.encrypt(&nonce, Payload { msg: plain, aad }).expect("AES-GCM seals any length we use");
    (nonce.into(), ciphertext)
}

pub(crate) fn decrypt(
    key: &KeyBytes,
    nonce: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.expose_secret()));
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
        .map_err(|_| VaultError::DoesNotOpen)
}

/// `shopper (u128 big-endian) | then three texts, each as length | bytes: phone digits,
/// recognizer name, recognizer version | dimension (u16) | f32 little-endian each`.
fn encode_template(face: &EnrolledFace) -> Zeroizing<Vec<u8>> {
    let tag = face.template.recognizer();
    let embedding = face.template.expose_embedding();
    let mut bytes = Zeroizing::new(Vec::with_capacity(
        24 + face.phone_last4.len() + tag.name.len() + tag.version.len() + 4 * embedding.len(),
    ));
    bytes.extend_from_slice(&face.shopper.as_u128().to_be_bytes());
    for text in [&face.phone_last4, &tag.name, &tag.version] {
        bytes.push(text.len().min(255) as u8);
        bytes.extend_from_slice(&text.as_bytes()[..text.len().min(255)]);
    }
    bytes.extend_from_slice(&(embedding.len() as u16).to_le_bytes());
    for value in embedding {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes
}

fn decode_template(bytes: &[u8]) -> Result<EnrolledFace, VaultError> {
    let malformed = VaultError::Malformed("a template record");
    let (shopper, mut rest) = bytes.split_first_chunk::<16>().ok_or(malformed.clone())?;
    let shopper = ShopperId::from_u128(u128::from_be_bytes(*shopper));
    let mut text = || -> Result<String, VaultError> {
        let (&len, tail) = rest.split_first().ok_or(malformed.clone())?;
        let (s, tail) = tail.split_at_checked(usize::from(len)).ok_or(malformed.clone())?;
        rest = tail;
        String::from_utf8(s.to_vec()).map_err(|_| malformed.clone())
    };
    let (phone_last4, name, version) = (text()?, text()?, text()?);
    let (dim, values) = rest.split_at_checked(2).ok_or(malformed.clone())?;
    let dim = usize::from(u16::from_le_bytes([dim[0], dim[1]]));
    if values.len() != 4 * dim {
        return Err(malformed);
    }
    let embedding: Vec<f32> =
        values.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let template = FaceTemplate::new(RecognizerTag { name, version }, embedding).map_err(|_| malformed)?;
    Ok(EnrolledFace { shopper, phone_last4, template })
}
