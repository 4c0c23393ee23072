//! The approximate search on a gallery big enough that its 4-bit codes, not the exact scan,
//! choose the shortlist: reading every list it finds what the exact search finds for nearly
//! every probe, every score it returns is the exact one, reading one list misses some, and it
//! never returns a deleted face. (Its recall and speed at a million are `facepay bench
//! index`'s job.)

use facepay_domain::{FaceTemplate, RecognizerTag, ShopperId};
use facepay_face_index::{FaceIndex, PhoneHint};

const DIMENSION: usize = 64;
const GALLERY: usize = 12_000;
const PROBES: usize = 300;

fn tag() -> RecognizerTag {
    RecognizerTag { name: "test".into(), version: "1".into() }
}

/// SplitMix64, for deterministic vectors without a dependency.
struct Numbers(u64);

impl Numbers {
    fn uniform(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Roughly normal: the sum of four uniforms, centred.
    fn normal(&mut self) -> f32 {
        (0..4).map(|_| self.uniform()).sum::<f32>() - 2.0
    }

    fn vector(&mut self, around: &[f32], spread: f32) -> Vec<f32> {
        around.iter().map(|c| c + spread * self.normal()).collect()
    }
}

fn template(raw: Vec<f32>) -> FaceTemplate {
    FaceTemplate::new(tag(), raw).expect("non-zero")
}

/// People in 40 loose groups (so the lists have structure to find), and for the first
/// `PROBES` people a second capture.
fn gallery() -> (Vec<FaceTemplate>, Vec<FaceTemplate>) {
    let mut numbers = Numbers(7);
    let zero = vec![0.0; DIMENSION];
    let groups: Vec<Vec<f32>> = (0..40).map(|_| numbers.vector(&zero, 1.0)).collect();
    let people: Vec<Vec<f32>> =
        (0..GALLERY).map(|i| numbers.vector(&groups[i % groups.len()], 1.0)).collect();
    let enrolled = people.iter().map(|p| template(numbers.vector(p, 0.5))).collect();
    let probes = people[..PROBES].iter().map(|p| template(numbers.vector(p, 0.5))).collect();
    (enrolled, probes)
}

fn index_of(enrolled: &[FaceTemplate]) -> FaceIndex {
    // One bulk load makes one segment with lists (256 rows each, so about 47 of them).
    let mut index = FaceIndex::with_list_min_rows(tag(), DIMENSION, 1_000);
    let hint = PhoneHint::parse("0000").unwrap();
    index
        .upsert_many(enrolled.iter().enumerate().map(|(i, t)| (ShopperId::from_u128(i as u128), t, hint)))
        .unwrap();
    index
}

#[test]
fn reading_every_list_finds_what_the_exact_search_finds_with_exact_scores() {
    let (enrolled, probes) = gallery();
    let view = index_of(&enrolled).view();
    let mut same_top = 0;
    for probe in &probes {
        let exact = view.search(probe, 5).unwrap();
        let approximate = view.search_approximate(probe, 5, usize::MAX).unwrap();
        assert_eq!(approximate.len(), 5);
        same_top += usize::from(approximate[0].shopper == exact[0].shopper);
        for found in &approximate {
            let enrolled = &enrolled[found.shopper.as_u128() as usize];
            let score: f32 =
                enrolled.expose_embedding().iter().zip(probe.expose_embedding()).map(|(a, b)| a * b).sum();
            assert!((found.score - score).abs() < 1e-5, "scores are exact, not estimates");
        }
        assert!(approximate.windows(2).all(|w| w[0].score >= w[1].score), "best first");
    }
    // The shortlist of 64 out of 12,000 is chosen by 4-bit estimates, so a miss is possible;
    // on these groups it is rare.
    assert!(same_top >= PROBES * 99 / 100, "top-1 found for {same_top} of {PROBES}");
}

#[test]
fn one_list_misses_mates_that_every_list_finds_and_a_deleted_face_is_never_returned() {
    let (enrolled, probes) = gallery();
    let mut index = index_of(&enrolled);
    let found_with = |index: &FaceIndex, nprobe: usize| -> usize {
        let view = index.view();
        probes
            .iter()
            .enumerate()
            .filter(|(i, p)| {
                view.search_approximate(p, 1, nprobe).unwrap()[0].shopper.as_u128() == *i as u128
            })
            .count()
    };
    let (one, all) = (found_with(&index, 1), found_with(&index, usize::MAX));
    assert!(all >= PROBES * 99 / 100 && one < all, "one list of about 47 finds {one}, every list {all}");

    for i in 0..PROBES {
        assert!(index.remove(ShopperId::from_u128(i as u128)));
    }
    let view = index.view();
    for probe in &probes {
        for found in view.search_approximate(probe, 10, usize::MAX).unwrap() {
            assert!(found.shopper.as_u128() >= PROBES as u128, "a deleted face came back");
        }
    }
}
