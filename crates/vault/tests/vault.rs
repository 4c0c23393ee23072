//! The vault's promises, checked from outside: records open only for their shopper and kind,
//! every flipped byte is caught, a rotated key file still reads everything, and once a shopper's
//! wrapped data key is gone nothing the operator still holds opens their records.

use facepay_domain::{FaceTemplate, RecognizerTag, Secret, ShopperId};
use facepay_vault::{
    BiometricStore, EnrolledFace, KeyKind, Keyring, MemoryBiometricStore, SealedEnrollment, Vault,
    VaultError, WrappedKey, rewrap_all,
};

fn vault() -> Vault {
    let text = Keyring::generate("k1").unwrap();
    Vault::new(Keyring::parse(text.expose_secret()).unwrap())
}

fn template(seed: f32) -> FaceTemplate {
    let tag = RecognizerTag { name: "mobilefacenet_128".into(), version: "1".into() };
    FaceTemplate::new(tag, (0..128).map(|i| ((i as f32 + seed) * 0.37).sin()).collect()).unwrap()
}

fn face(shopper: ShopperId, seed: f32) -> EnrolledFace {
    EnrolledFace { shopper, phone_last4: "0042".into(), template: template(seed) }
}

/// Whose, the phone digits and the face, all as sealed.
fn assert_same(opened: &EnrolledFace, sealed: &EnrolledFace) {
    assert_eq!(opened.shopper, sealed.shopper);
    assert_eq!(opened.phone_last4, sealed.phone_last4);
    assert_eq!(opened.template.recognizer(), sealed.template.recognizer());
    assert_eq!(opened.template.expose_embedding(), sealed.template.expose_embedding());
}

fn f32_bytes(template: &FaceTemplate) -> Vec<u8> {
    template.expose_embedding().iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_template_and_an_image_round_trip_and_the_sealed_bytes_hold_no_plaintext() {
    let vault = vault();
    let alice = ShopperId::from_u128(1);
    let (key, wrapped) = vault.new_subject_key(alice);
    let face = face(alice, 1.0);
    let sealed = key.seal_template(&face);
    // Not the whole vector, nor any 16-byte run of it.
    let plain = f32_bytes(&face.template);
    assert!(plain.chunks(16).all(|run| !contains(&sealed, run)), "plaintext leaked into the record");

    let reopened = vault.open_subject_key(vault.pseudonym(alice), &wrapped).unwrap();
    for opened in [
        reopened.open_template(&sealed).unwrap(),
        vault.open_enrolled_face(vault.pseudonym(alice), &wrapped, &sealed).unwrap(),
    ] {
        assert_same(&opened, &face);
    }

    let photo = Secret::new(b"\xff\xd8\xff\xe0 a jpeg of alice".to_vec());
    let sealed_photo = key.seal_image(&photo);
    assert!(!contains(&sealed_photo, b"a jpeg of alice"));
    assert_eq!(reopened.open_image(&sealed_photo).unwrap().expose_secret(), photo.expose_secret());
    // Two seals of one template differ (fresh nonces), so equal faces are not visible as equal rows.
    assert_ne!(key.seal_template(&face), sealed);
}

#[test]
fn a_record_opens_only_for_its_own_shopper_and_kind() {
    let vault = vault();
    let (alice, alice_wrapped) = vault.new_subject_key(ShopperId::from_u128(1));
    let (bob, _) = vault.new_subject_key(ShopperId::from_u128(2));
    let sealed = alice.seal_template(&face(ShopperId::from_u128(1), 1.0));
    assert_eq!(bob.open_template(&sealed).unwrap_err(), VaultError::DoesNotOpen);
    assert_eq!(alice.open_image(&sealed).unwrap_err(), VaultError::DoesNotOpen, "a template is not an image");
    // Alice's wrapped key stored under Bob's id does not unwrap.
    let err = vault.open_subject_key(vault.pseudonym(ShopperId::from_u128(2)), &alice_wrapped).unwrap_err();
    assert_eq!(err.code(), "vault_record_does_not_open");
}

#[test]
fn every_flipped_byte_and_every_cut_is_caught() {
    let vault = vault();
    let shopper = ShopperId::from_u128(7);
    let (key, wrapped) = vault.new_subject_key(shopper);
    let sealed = key.seal_template(&face(shopper, 2.0));
    for at in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[at] ^= 0x01;
        assert!(key.open_template(&bad).is_err(), "flipped byte {at} went unnoticed");
    }
    for len in 0..sealed.len() {
        assert!(key.open_template(&sealed[..len]).is_err(), "cut at {len} went unnoticed");
    }
    for at in 0..wrapped.as_bytes().len() {
        let mut bad = wrapped.as_bytes().to_vec();
        bad[at] ^= 0x01;
        let opened =
            WrappedKey::from_bytes(bad).and_then(|w| vault.open_subject_key(vault.pseudonym(shopper), &w));
        assert!(opened.is_err(), "flipped byte {at} of the wrapped key went unnoticed");
    }
}

#[test]
fn rotation_rewraps_under_the_new_master_and_the_old_one_can_then_go() {
    let old = vault();
    let shopper = ShopperId::from_u128(3);
    let (key, wrapped) = old.new_subject_key(shopper);
    let sealed = key.seal_template(&face(shopper, 3.0));

    let rotated_text = old.keyring().rotated("k2").unwrap();
    let rotated = Vault::new(Keyring::parse(rotated_text.expose_secret()).unwrap());
    assert_eq!(rotated.keyring().current_id(), "k2");
    assert_eq!(rotated.pseudonym(shopper), old.pseudonym(shopper), "pseudonyms survive rotation");
    // During the rotation both wrappings open.
    assert!(rotated.open_subject_key(rotated.pseudonym(shopper), &wrapped).is_ok());
    let rewrapped =
        rotated.rewrap(KeyKind::Face, rotated.pseudonym(shopper), &wrapped).unwrap().expect("was under k1");
    assert_eq!(rewrapped.master_id(), "k2");
    assert_eq!(
        rotated.rewrap(KeyKind::Face, rotated.pseudonym(shopper), &rewrapped).unwrap(),
        None,
        "already current"
    );

    // After it, a key file without k1 reads the re-wrapped key, and the records, unchanged.
    let k1_line =
        rotated_text.expose_secret().lines().find(|l| l.starts_with("master k1")).unwrap().to_string();
    let without_k1 = rotated_text.expose_secret().replace(&k1_line, "");
    let after = Vault::new(Keyring::parse(&without_k1).unwrap());
    let opened = after.open_enrolled_face(after.pseudonym(shopper), &rewrapped, &sealed).unwrap();
    assert_same(&opened, &face(shopper, 3.0));
    let err = after.open_subject_key(after.pseudonym(shopper), &wrapped).unwrap_err();
    assert_eq!(err, VaultError::UnknownMasterKey("k1".into()));
}

#[test]
fn once_the_wrapped_key_is_destroyed_nothing_left_opens_the_records() {
    let vault = vault();
    let doomed = ShopperId::from_u128(9);
    let (key, wrapped) = vault.new_subject_key(doomed);
    let sealed = key.seal_template(&face(doomed, 4.0));
    drop(key);
    drop(wrapped); // crypto-shredding: the store deletes this row

    // Everyone else's data keys, a fresh key for the same shopper, and the master keys
    // themselves (used directly as a data key) all fail on the orphaned record.
    for other in 0..20u128 {
        let (key, _) = vault.new_subject_key(ShopperId::from_u128(other));
        assert_eq!(key.open_template(&sealed).unwrap_err(), VaultError::DoesNotOpen);
    }
    let (again, _) = vault.new_subject_key(doomed);
    assert_eq!(again.open_template(&sealed).unwrap_err(), VaultError::DoesNotOpen);
}

#[test]
fn pseudonyms_are_stable_keyed_and_do_not_show_the_id() {
    let (a, b) = (vault(), vault());
    let shopper = ShopperId::from_u128(0x1234_5678);
    assert_eq!(a.pseudonym(shopper), a.pseudonym(shopper));
    assert_ne!(a.pseudonym(shopper), a.pseudonym(ShopperId::from_u128(0x1234_5679)));
    assert_ne!(a.pseudonym(shopper), b.pseudonym(shopper), "another key file, other pseudonyms");
    assert!(!contains(a.pseudonym(shopper).as_bytes(), &shopper.as_u128().to_be_bytes()[12..]));
}

#[test]
fn key_files_are_checked_and_keys_never_print() {
    let text = Keyring::generate("k1").unwrap();
    let keyring = Keyring::parse(text.expose_secret()).unwrap();
    let printed = format!("{keyring:?} {:?}", vault().new_subject_key(ShopperId::from_u128(1)).0);
    let hex_key = text
        .expose_secret()
        .lines()
        .find(|l| l.starts_with("master"))
        .unwrap()
        .split(' ')
        .nth(2)
        .unwrap()
        .to_string();
    assert!(!printed.contains(&hex_key) && printed.contains("REDACTED"), "{printed}");

    let key = "ab".repeat(32);
    for (bad, why) in [
        (String::new(), "empty"),
        (format!("master k1 {key}"), "no pseudonym key"),
        (format!("pseudonym {key}"), "no master key"),
        (format!("pseudonym {key}\nmaster k1 {}", "ab".repeat(31)), "short key"),
        (format!("pseudonym {key}\nmaster k1 {}", "zz".repeat(32)), "not hex"),
        (format!("pseudonym {key}\nmaster k1 {key}\nmaster k1 {key}"), "duplicate id"),
        (format!("pseudonym {key}\nmaster k/1 {key}"), "bad id"),
        (format!("pseudonym {key}\npseudonym {key}\nmaster k1 {key}"), "two pseudonym keys"),
        (format!("pseudonym {key}\nmaster k1 {key} extra"), "extra word"),
    ] {
        let err = Keyring::parse(&bad).unwrap_err();
        assert_eq!(err.code(), "vault_key_file_malformed", "{why}");
    }
    assert!(Keyring::parse(&format!("# comment\n\npseudonym {key}\nmaster k1 {key}\n")).is_ok());
    assert!(keyring.rotated("k1").is_err(), "a rotation needs a new id");
}

#[test]
fn a_template_record_naming_another_shopper_is_refused() {
    let vault = vault();
    let (alice, bob) = (ShopperId::from_u128(1), ShopperId::from_u128(2));
    let (key, wrapped) = vault.new_subject_key(alice);
    // Sealed under Alice's key but claiming to be Bob's: only a holder of the key file could make
    // it, and it still does not pass as Bob's.
    let sealed = key.seal_template(&face(bob, 1.0));
    let err = vault.open_enrolled_face(vault.pseudonym(alice), &wrapped, &sealed).unwrap_err();
    assert_eq!(err.code(), "vault_record_malformed");
}

fn enroll(vault: &Vault, store: &mut MemoryBiometricStore, shopper: ShopperId) -> SealedEnrollment {
    let (key, wrapped_key) = vault.new_subject_key(shopper);
    let enrollment = SealedEnrollment {
        pseudonym: vault.pseudonym(shopper),
        wrapped_key,
        template: key.seal_template(&face(shopper, shopper.as_u128() as f32)),
        images: vec![key.seal_image(&Secret::new(b"jpeg".to_vec()))],
    };
    assert!(store.put(&enrollment, None).unwrap());
    enrollment
}

#[test]
fn rewrap_all_moves_every_key_to_the_current_master_and_skips_keys_that_changed_meanwhile() {
    let old = vault();
    let mut store = MemoryBiometricStore::default();
    let shoppers: Vec<ShopperId> = (1..=1100).map(ShopperId::from_u128).collect();
    for &shopper in &shoppers {
        enroll(&old, &mut store, shopper);
    }
    let rotated = Vault::new(Keyring::parse(old.keyring().rotated("k2").unwrap().expose_secret()).unwrap());
    assert_eq!(rotated.keyring().retired_ids().collect::<Vec<_>>(), ["k1"]);

    let done = rewrap_all(&rotated, &mut store).unwrap();
    assert_eq!(done.rewrapped, 1100, "more than one page");
    assert!(store.keys_not_under(KeyKind::Face, "k2", None, 10).unwrap().is_empty());
    assert_eq!(rewrap_all(&rotated, &mut store).unwrap().rewrapped, 0, "a second pass finds nothing");

    // With k1 dropped from the key file, every record still opens.
    let after = Vault::new(Keyring::parse(rotated.keyring().retired_dropped().expose_secret()).unwrap());
    assert_eq!(after.keyring().retired_ids().count(), 0);
    for &shopper in &shoppers {
        let stored = store.template(&after.pseudonym(shopper)).unwrap().unwrap();
        let face = after.open_enrolled_face(stored.pseudonym, &stored.wrapped_key, &stored.template).unwrap();
        assert_eq!(face.shopper, shopper);
    }

    // A key re-enrolled between the read and the write is left to the next read.
    let mut raced = MemoryBiometricStore::default();
    let first = enroll(&old, &mut raced, shoppers[0]);
    let again = enroll(&old, &mut raced, shoppers[0]);
    let new = rotated.rewrap(KeyKind::Face, first.pseudonym, &first.wrapped_key).unwrap().unwrap();
    assert!(
        !raced.replace_key(KeyKind::Face, &first.pseudonym, &first.wrapped_key, &new).unwrap(),
        "stale key replaced"
    );
    assert_eq!(raced.template(&first.pseudonym).unwrap().unwrap().wrapped_key, again.wrapped_key);
}
