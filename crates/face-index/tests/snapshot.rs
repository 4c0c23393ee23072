//! The snapshot detects damage: any flipped byte, a cut-off file or another recognizer's
//! snapshot is refused with a stable code, and nothing is loaded.

use facepay_domain::{FaceTemplate, RecognizerTag, ShopperId};
use facepay_face_index::{FaceIndex, PhoneHint};

fn tag(name: &str) -> RecognizerTag {
    RecognizerTag { name: name.into(), version: "1".into() }
}

fn snapshot() -> Vec<u8> {
    // Lists from 16 rows on, so the snapshot carries centroids and list sizes too.
    let mut index = FaceIndex::with_list_min_rows(tag("test"), 8, 16);
    let faces: Vec<FaceTemplate> = (0..40)
        .map(|i| {
            FaceTemplate::new(tag("test"), (0..8).map(|d| ((i * 7 + d * 3) % 11) as f32 - 5.0).collect())
                .unwrap()
        })
        .collect();
    let hint = PhoneHint::parse("0042").unwrap();
    index
        .upsert_many(faces.iter().enumerate().map(|(i, f)| (ShopperId::from_u128(i as u128), f, hint)))
        .unwrap();
    index.remove(ShopperId::from_u128(3));
    let loaded = FaceIndex::from_snapshot(tag("test"), 8, index.view().snapshot().expose_secret()).unwrap();
    assert_eq!(loaded.len(), 39, "the deleted face is left out");
    assert_eq!(loaded.view().search(&faces[5], 1).unwrap()[0].shopper, ShopperId::from_u128(5));
    index.view().snapshot().expose_secret().clone()
}

#[test]
fn every_flipped_byte_and_every_cut_is_detected() {
    let bytes = snapshot();
    for at in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        let err = FaceIndex::from_snapshot(tag("test"), 8, &damaged).unwrap_err();
        assert_eq!(err.code(), "index_snapshot_corrupt", "byte {at}");
    }
    for len in [0, 3, 4, bytes.len() / 2, bytes.len() - 1] {
        let err = FaceIndex::from_snapshot(tag("test"), 8, &bytes[..len]).unwrap_err();
        assert_eq!(err.code(), "index_snapshot_corrupt", "cut at {len}");
    }
}

#[test]
fn a_snapshot_of_another_recognizer_is_refused() {
    let bytes = snapshot();
    for (name, dimension) in [("other", 8), ("test", 16)] {
        let err = FaceIndex::from_snapshot(tag(name), dimension, &bytes).unwrap_err();
        assert_eq!(err.code(), "index_recognizer_mismatch");
    }
}
