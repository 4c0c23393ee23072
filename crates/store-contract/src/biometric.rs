//! The biometric half of the contract: every store behind `vault::BiometricStore` runs these
//! cases unchanged (`biometric_contract_tests!(fresh)`), through the port itself and through
//! `gallery::Gallery` on several nodes: records kept, replaced and shredded; the change feed
//! followed by another node within a second; an index rebuilt at start; deletion that leaves
//! nothing openable; a key rotation while nodes run; the wrong key file refused.

use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use facepay_domain::{FaceTemplate, RecognizerTag, Secret, ShopperId, SplitMix64};
use facepay_face_index::{FaceIndex, PhoneHint};
use facepay_gallery::{Gallery, KeySource, follow};
use facepay_vault::{
    BiometricStore, EnrolledFace, KeyKind, Keyring, MemoryBiometricStore, PersonalField, SealedEnrollment,
    Vault, VaultError, rewrap_all,
};

/// A database made for one test; every `connect` is another node's connection to it.
pub trait BiometricDatabase {
    type Store: BiometricStore + 'static;
    fn connect(&self) -> Self::Store;
}

/// The in-memory fake: each connection shares one `MemoryBiometricStore`.
#[derive(Debug, Default)]
pub struct MemoryBiometricDatabase(MemoryBiometricStore);

impl BiometricDatabase for MemoryBiometricDatabase {
    type Store = MemoryBiometricStore;
    fn connect(&self) -> MemoryBiometricStore {
        self.0.clone()
    }
}

/// One `#[test]` per biometric contract case, each on `$fresh` (a new `BiometricDatabase`).
#[macro_export]
macro_rules! biometric_contract_tests {
    ($fresh:expr) => {
        $crate::biometric_contract_tests!(@cases $fresh;
            the_port_keeps_replaces_and_shreds_records,
            a_change_on_one_node_reaches_another_within_a_second,
            a_starting_node_rebuilds_its_index_from_the_vault,
            a_deleted_shoppers_records_no_longer_open,
            a_personal_key_is_one_per_shopper_rotates_and_shreds,
            keys_rotate_while_nodes_run,
            a_node_with_the_wrong_key_file_does_not_start,
            enrollments_racing_on_two_nodes_are_all_followed,
            one_face_enrolled_on_two_nodes_at_once_is_taken_once,
        );
    };
    (@cases $fresh:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::biometric::$case(&$fresh);
            }
        )*
    };
}

/// The recognizer every case's faces come from.
pub fn recognizer() -> RecognizerTag {
    RecognizerTag { name: "contract".into(), version: "1".into() }
}

const DIMENSION: usize = 64;

/// A face of its own for each seed: random 64-d directions are nearly orthogonal.
pub fn face(seed: u64) -> FaceTemplate {
    face_by(recognizer(), seed)
}

fn face_by(recognizer: RecognizerTag, seed: u64) -> FaceTemplate {
    let mut rng = SplitMix64::new(seed);
    let embedding =
        (0..DIMENSION).map(|_| (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 - 0.5).collect();
    FaceTemplate::new(recognizer, embedding).expect("a random vector is a valid embedding")
}

pub fn shopper(n: u128) -> ShopperId {
    ShopperId::from_u128(n)
}

/// A key file's text, shared by the nodes of a case the way a mounted file is; nodes re-read it
/// through their `KeySource`.
#[derive(Debug, Clone)]
pub struct KeyFile(Arc<Mutex<String>>);

impl KeyFile {
    pub fn generate() -> KeyFile {
        KeyFile(Arc::new(Mutex::new(Keyring::generate("k1").expect("a valid id").expose_secret().clone())))
    }

    pub fn keyring(&self) -> Keyring {
        Keyring::parse(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).expect("the key file parses")
    }

    fn replace(&self, text: &Secret<String>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = text.expose_secret().clone();
    }

    fn source(&self) -> KeySource {
        let file = self.clone();
        Box::new(move || Ok(file.keyring()))
    }
}

/// A node started on a new connection with the key file as it is now.
pub fn gallery<D: BiometricDatabase>(database: &D, keys: &KeyFile) -> Gallery<D::Store> {
    let index = FaceIndex::new(recognizer(), DIMENSION);
    Gallery::open(keys.keyring(), keys.source(), database.connect(), index).expect("the gallery opens").0
}

fn best<S: BiometricStore>(gallery: &Gallery<S>, probe: &FaceTemplate) -> Option<ShopperId> {
    let found = gallery.reader().view().search(probe, 1).expect("the probe fits the index");
    found.first().filter(|c| c.score > 0.99).map(|c| c.shopper)
}

fn sealed(vault: &Vault, who: ShopperId, seed: u64, images: usize) -> SealedEnrollment {
    let (key, wrapped_key) = vault.new_subject_key(who);
    let face = EnrolledFace { shopper: who, phone_last4: "1234".into(), template: face(seed) };
    SealedEnrollment {
        pseudonym: vault.pseudonym(who),
        wrapped_key,
        template: key.seal_template(&face),
        images: (0..images).map(|i| key.seal_image(&Secret::new(vec![i as u8; 100]))).collect(),
    }
}

/// The port by itself: put, replace, read back byte for byte, page, follow, compare-and-set,
/// shred.
pub fn the_port_keeps_replaces_and_shreds_records<D: BiometricDatabase>(database: &D) {
    let vault = Vault::new(KeyFile::generate().keyring());
    let mut store = database.connect();
    assert_eq!(store.last_change().unwrap(), 0);
    let enrollments: Vec<SealedEnrollment> =
        (1..=5).map(|n| sealed(&vault, shopper(n), n as u64, 2)).collect();
    for enrollment in &enrollments {
        assert!(store.put(enrollment, None).unwrap());
    }
    let alice = &enrollments[0];
    let read = store.template(&alice.pseudonym).unwrap().expect("stored");
    assert_eq!((&read.wrapped_key, &read.template), (&alice.wrapped_key, &alice.template));
    assert_eq!(store.images(&alice.pseudonym).unwrap(), alice.images);

    // Pages come in pseudonym order and together hold everyone once.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.templates_after(after.as_ref(), 2).unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.pseudonym);
        seen.extend(page.into_iter().map(|t| t.pseudonym));
    }
    let mut expected: Vec<_> = enrollments.iter().map(|e| e.pseudonym).collect();
    expected.sort();
    assert_eq!(seen, expected);

    // Enrolling again replaces the key, the template and every image, and is one more change.
    let before = store.last_change().unwrap();
    let again = sealed(&vault, shopper(1), 99, 1);
    // A write by whoever looked before the last change is refused, and changes nothing.
    assert!(!store.put(&again, Some(before - 1)).unwrap());
    assert_eq!(store.last_change().unwrap(), before);
    assert_eq!(store.template(&alice.pseudonym).unwrap().unwrap().template, alice.template);
    assert!(store.put(&again, Some(before)).unwrap());
    assert_eq!(store.template(&alice.pseudonym).unwrap().unwrap().template, again.template);
    assert_eq!(store.images(&alice.pseudonym).unwrap(), again.images);
    let changes = store.changes_after(before, 10).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].1, alice.pseudonym);
    assert!(changes[0].0 > before && changes[0].0 == store.last_change().unwrap());
    let everything = store.changes_after(0, 100).unwrap();
    assert_eq!(everything.len(), 5, "each pseudonym once, at its newest change");
    assert!(everything.windows(2).all(|w| w[0].0 < w[1].0), "oldest change first");

    // A key replaced only while it is still the one read.
    let bob = &enrollments[1];
    let rotated = Vault::new(Keyring::parse(vault.keyring().rotated("k2").unwrap().expose_secret()).unwrap());
    let rewrapped = rotated.rewrap(KeyKind::Face, bob.pseudonym, &bob.wrapped_key).unwrap().unwrap();
    assert_eq!(store.keys_not_under(KeyKind::Face, "k2", None, 10).unwrap().len(), 5);
    assert!(store.replace_key(KeyKind::Face, &bob.pseudonym, &bob.wrapped_key, &rewrapped).unwrap());
    assert!(
        !store.replace_key(KeyKind::Face, &bob.pseudonym, &bob.wrapped_key, &rewrapped).unwrap(),
        "stale"
    );
    assert!(
        !store.replace_key(KeyKind::Face, &alice.pseudonym, &alice.wrapped_key, &rewrapped).unwrap(),
        "re-enrolled"
    );
    let left = store.keys_not_under(KeyKind::Face, "k2", None, 10).unwrap();
    assert_eq!(left.len(), 4);
    assert!(left.windows(2).all(|w| w[0].0 < w[1].0), "in pseudonym order");
    assert_eq!(store.keys_not_under(KeyKind::Face, "k2", None, 3).unwrap().len(), 3, "the limit holds");
    let rest = store.keys_not_under(KeyKind::Face, "k2", Some(&left[1].0), 10).unwrap();
    assert_eq!(rest, left[2..], "after a pseudonym, only those that follow it");

    // Shredding takes the key, the template and the images, and is a change.
    let before = store.last_change().unwrap();
    assert!(store.shred(&bob.pseudonym).unwrap());
    assert!(store.template(&bob.pseudonym).unwrap().is_none());
    assert!(store.images(&bob.pseudonym).unwrap().is_empty());
    assert_eq!(
        store.changes_after(before, 10).unwrap().iter().map(|c| c.1).collect::<Vec<_>>(),
        [bob.pseudonym]
    );
    assert!(!store.shred(&bob.pseudonym).unwrap(), "nothing left to shred");
    assert_eq!(store.last_change().unwrap(), before + 1, "a shred of nothing is no change");

    // Another connection sees the same.
    let mut other = database.connect();
    assert_eq!(other.templates_after(None, 100).unwrap().len(), 4);
    assert_eq!(other.last_change().unwrap(), store.last_change().unwrap());
}

/// Waits up to `limit` for `done`; returns how long it took, or `None` if it never happened.
fn within(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        thread::sleep(Duration::from_millis(5));
    }
    done().then(|| start.elapsed())
}

/// Node A enrolls and deletes; node B, following the feed every 200 ms, searches the change
/// within a second.
pub fn a_change_on_one_node_reaches_another_within_a_second<D: BiometricDatabase>(database: &D) {
    let keys = KeyFile::generate();
    let mut a = gallery(database, &keys);
    let b = Arc::new(Mutex::new(gallery(database, &keys)));
    let reader = b.lock().unwrap().reader();
    let _follower = follow(b.clone(), Duration::from_millis(200), |_| {});
    let seen_by_b = |probe: &FaceTemplate| {
        reader
            .view()
            .search(probe, 1)
            .unwrap()
            .first()
            .is_some_and(|c| c.shopper == shopper(7) && c.score > 0.99)
    };

    a.enroll(shopper(7), "0007", face(7), &[], None).unwrap();
    let took = within(Duration::from_secs(1), || seen_by_b(&face(7)));
    assert!(took.is_some(), "an enrollment on A was not searchable on B within a second");

    a.delete(shopper(7)).unwrap();
    let took = within(Duration::from_secs(1), || !seen_by_b(&face(7)));
    assert!(took.is_some(), "a deletion on A still matched on B after a second");
    assert!(reader.view().is_empty());
}

/// A node starting on a vault that others filled indexes every face that is there now (with
/// its phone digits), and leaves out faces of another recognizer.
pub fn a_starting_node_rebuilds_its_index_from_the_vault<D: BiometricDatabase>(database: &D) {
    let keys = KeyFile::generate();
    let mut a = gallery(database, &keys);
    for n in 1..=30u128 {
        a.enroll(shopper(n), &format!("{:04}", n % 3), face(n as u64), &[], None).unwrap();
    }
    a.enroll(shopper(2), "0002", face(1002), &[], None).unwrap();
    a.delete(shopper(3)).unwrap();
    // A node of a newer model enrolls someone; this model cannot search that face.
    let newer = RecognizerTag { name: "contract".into(), version: "2".into() };
    let mut upgraded = Gallery::open(
        keys.keyring(),
        keys.source(),
        database.connect(),
        FaceIndex::new(newer.clone(), DIMENSION),
    )
    .unwrap()
    .0;
    upgraded.enroll(shopper(4), "0004", face_by(newer, 4), &[], None).unwrap();

    let index = FaceIndex::new(recognizer(), DIMENSION);
    let (b, applied) = Gallery::open(keys.keyring(), keys.source(), database.connect(), index).unwrap();
    assert_eq!((applied.indexed, applied.other_recognizer), (28, 1));
    assert_eq!(b.len(), 28);
    assert_eq!(best(&b, &face(1)), Some(shopper(1)));
    assert_eq!(best(&b, &face(1002)), Some(shopper(2)), "the newest enrollment");
    assert_eq!(best(&b, &face(2)), None, "the replaced face");
    assert_eq!(best(&b, &face(3)), None, "the deleted face");
    assert_eq!(best(&b, &face(4)), None, "re-enrolled under another model");
    let bucket = b.reader().view().search_hint(&face(10), PhoneHint::parse("0001").unwrap(), 1).unwrap();
    assert_eq!(bucket[0].shopper, shopper(10), "the phone digits came back with the face");
    let other_bucket =
        b.reader().view().search_hint(&face(10), PhoneHint::parse("0002").unwrap(), 1).unwrap();
    assert_ne!(other_bucket[0].shopper, shopper(10));
}

/// After a deletion the store holds no key for the shopper, and a copy of their records taken
/// before it (a backup) opens under nothing the operator still has: not the key file, not any
/// other shopper's data key, not a fresh enrollment of the same shopper.
pub fn a_deleted_shoppers_records_no_longer_open<D: BiometricDatabase>(database: &D) {
    let keys = KeyFile::generate();
    let vault = Vault::new(keys.keyring());
    let mut a = gallery(database, &keys);
    let doomed = shopper(66);
    for n in 1..=10 {
        a.enroll(shopper(n), "1111", face(n as u64), &[], None).unwrap();
    }
    let photo = Secret::new(b"enrollment photo of shopper 66".to_vec());
    a.enroll(doomed, "6666", face(66), std::slice::from_ref(&photo), None).unwrap();
    assert_eq!(a.enrollment_images(doomed).unwrap()[0].expose_secret(), photo.expose_secret());

    let mut store = database.connect();
    let pseudonym = vault.pseudonym(doomed);
    let backup = store.template(&pseudonym).unwrap().expect("enrolled");
    let backup_images = store.images(&pseudonym).unwrap();
    assert!(vault.open_enrolled_face(pseudonym, &backup.wrapped_key, &backup.template).is_ok());

    assert!(a.delete(doomed).unwrap());
    assert!(!a.delete(doomed).unwrap(), "a second deletion finds nothing");
    assert_eq!(best(&a, &face(66)), None);
    assert!(store.template(&pseudonym).unwrap().is_none(), "the wrapped data key is gone");
    assert!(store.images(&pseudonym).unwrap().is_empty());
    assert!(a.enrollment_images(doomed).unwrap().is_empty());

    // Every data key the store still holds, unwrapped with the full key file, fails on them.
    let remaining = store.templates_after(None, 1000).unwrap();
    assert_eq!(remaining.len(), 10);
    for other in &remaining {
        let key = vault.open_subject_key(other.pseudonym, &other.wrapped_key).unwrap();
        assert_eq!(key.open_template(&backup.template).unwrap_err(), VaultError::DoesNotOpen);
        assert_eq!(key.open_image(&backup_images[0]).unwrap_err(), VaultError::DoesNotOpen);
        // Nor does another shopper's wrapped key pass as the shredded one.
        assert!(vault.open_enrolled_face(pseudonym, &other.wrapped_key, &backup.template).is_err());
    }
    a.enroll(doomed, "6666", face(67), &[], None).unwrap();
    let fresh = store.template(&pseudonym).unwrap().unwrap();
    let key = vault.open_subject_key(pseudonym, &fresh.wrapped_key).unwrap();
    assert_eq!(key.open_template(&backup.template).unwrap_err(), VaultError::DoesNotOpen);
}

/// A shopper's personal key: two nodes asking for it get the same key, a rotation re-wraps it
/// (and the old master can then go), and deleting the shopper destroys it, so a field sealed
/// under it (as the journal keeps it) no longer opens with any key the store holds.
pub fn a_personal_key_is_one_per_shopper_rotates_and_shreds<D: BiometricDatabase>(database: &D) {
    let keys = KeyFile::generate();
    let mut a = gallery(database, &keys);
    let mut b = gallery(database, &keys);
    let doomed = shopper(7);
    assert!(a.personal_key(doomed).unwrap().is_none(), "none before sign-up");
    let sealed = a.personal_key_or_new(doomed).unwrap().seal(PersonalField::MaskedName, b"D**** S****");
    let on_b = b.personal_key_or_new(doomed).unwrap();
    assert_eq!(&on_b.open(PersonalField::MaskedName, &sealed).unwrap()[..], b"D**** S****", "one key");
    a.personal_key_or_new(shopper(8)).unwrap();

    keys.replace(&keys.keyring().rotated("k2").unwrap());
    let rotated = Vault::new(keys.keyring());
    assert_eq!(rewrap_all(&rotated, &mut database.connect()).unwrap().rewrapped, 2);
    keys.replace(&keys.keyring().retired_dropped());
    let mut c = gallery(database, &keys);
    let reread = c.personal_key(doomed).unwrap().expect("kept through the rotation");
    assert_eq!(&reread.open(PersonalField::MaskedName, &sealed).unwrap()[..], b"D**** S****");

    assert!(c.delete(doomed).unwrap(), "a personal key alone is something to delete");
    assert!(a.personal_key(doomed).unwrap().is_none());
    assert!(!c.delete(doomed).unwrap());
    let mut store = database.connect();
    assert!(store.keys_not_under(KeyKind::Personal, "none", None, 10).unwrap().len() == 1, "shopper 8's");
    for (pseudonym, wrapped) in store.keys_not_under(KeyKind::Personal, "none", None, 10).unwrap() {
        let other = rotated.open_personal_key(pseudonym, &wrapped).unwrap();
        assert_eq!(other.open(PersonalField::MaskedName, &sealed).unwrap_err(), VaultError::DoesNotOpen);
    }
    // Signing up again makes a new key, which does not open what the old one sealed.
    let fresh = a.personal_key_or_new(doomed).unwrap();
    assert_eq!(fresh.open(PersonalField::MaskedName, &sealed).unwrap_err(), VaultError::DoesNotOpen);
}

/// Rotation while two nodes run: the operator writes the new key file and re-wraps everything;
/// a node still holding the old keys reads the file again when it meets the new master; once
/// the old master is dropped from the file, a node starting with it reads every face.
pub fn keys_rotate_while_nodes_run<D: BiometricDatabase>(database: &D) {
    let keys = KeyFile::generate();
    let mut a = gallery(database, &keys);
    let mut b = gallery(database, &keys);
    for n in 1..=20 {
        a.enroll(shopper(n), "2020", face(n as u64), &[], None).unwrap();
    }
    b.sync().unwrap();
    assert_eq!(b.len(), 20);

    keys.replace(&keys.keyring().rotated("k2").unwrap());
    let rotated = Vault::new(keys.keyring());
    let done = rewrap_all(&rotated, &mut database.connect()).unwrap();
    assert_eq!(done.rewrapped, 20);

    // A node started after the rotation enrolls under k2; B, started before, still follows.
    let mut c = gallery(database, &keys);
    c.enroll(shopper(21), "2121", face(21), &[], None).unwrap();
    let applied = b.sync().unwrap();
    assert!(applied.unreadable.is_empty(), "{:?}", applied.unreadable);
    assert_eq!(best(&b, &face(21)), Some(shopper(21)));
    // A, also started before, enrolls under k1 until it reloads: the next pass catches it.
    a.enroll(shopper(22), "2222", face(22), &[], None).unwrap();
    assert_eq!(rewrap_all(&rotated, &mut database.connect()).unwrap().rewrapped, 1);

    keys.replace(&keys.keyring().retired_dropped());
    assert_eq!(keys.keyring().retired_ids().count(), 0);
    let d = gallery(database, &keys);
    assert_eq!(d.len(), 22);
    for n in 1..=22 {
        assert_eq!(best(&d, &face(n as u64)), Some(shopper(n)));
    }
}

/// Another operator's key file opens none of the records: the node refuses to start rather
/// than serve with faces missing.
pub fn a_node_with_the_wrong_key_file_does_not_start<D: BiometricDatabase>(database: &D) {
    let keys = KeyFile::generate();
    gallery(database, &keys).enroll(shopper(1), "0001", face(1), &[], None).unwrap();
    let wrong = KeyFile::generate();
    let index = FaceIndex::new(recognizer(), DIMENSION);
    let err = Gallery::open(wrong.keyring(), wrong.source(), database.connect(), index).unwrap_err();
    // Both files name their master `k1`: the id matches, the key does not.
    assert_eq!(err.code(), "vault_record_does_not_open", "{err}");
}

/// Two nodes enroll at once; a third, syncing all the while, ends with every face: the feed
/// hands out changes in commit order, so no change committed late is skipped.
pub fn enrollments_racing_on_two_nodes_are_all_followed<D: BiometricDatabase>(database: &D) {
    let keys = KeyFile::generate();
    let mut watcher = gallery(database, &keys);
    let writers: Vec<_> = (0..2u128)
        .map(|node| {
            let mut writer = gallery(database, &keys);
            thread::spawn(move || {
                for n in 0..40 {
                    let who = 1000 * (node + 1) + n;
                    writer.enroll(shopper(who), "4040", face(who as u64), &[], None).unwrap();
                }
            })
        })
        .collect();
    while !writers.iter().all(|w| w.is_finished()) {
        watcher.sync().unwrap();
    }
    for writer in writers {
        writer.join().expect("the writer panicked");
    }
    watcher.sync().unwrap();
    assert_eq!(watcher.len(), 80);
    for who in (1000..1040).chain(2000..2040) {
        assert_eq!(best(&watcher, &face(who as u64)), Some(shopper(who)), "shopper {who}");
    }
}

/// Two nodes enroll the same face for two shoppers at the same moment, round after round: the
/// duplicate check and the write are one decision, so each round exactly one is enrolled and the
/// other is told the face is taken, whichever wrote first.
pub fn one_face_enrolled_on_two_nodes_at_once_is_taken_once<D: BiometricDatabase>(database: &D) {
    let keys = KeyFile::generate();
    let nodes: Vec<_> = (0..2).map(|_| Arc::new(Mutex::new(gallery(database, &keys)))).collect();
    for round in 0..10u128 {
        let together = Arc::new(Barrier::new(2));
        let tries: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                let (node, together) = (node.clone(), together.clone());
                thread::spawn(move || {
                    let mut node = node.lock().unwrap();
                    together.wait();
                    let who = shopper(5_000 + 10 * round + n as u128);
                    node.enroll(who, "5050", face(5_000 + round as u64), &[], Some(0.9)).map_err(|e| e.code())
                })
            })
            .collect();
        let mut outcomes: Vec<_> = tries.into_iter().map(|t| t.join().expect("a node panicked")).collect();
        outcomes.sort();
        assert_eq!(outcomes, [Ok(()), Err("face_already_enrolled")], "round {round}");
    }
}
