//! The index's search is exact: after any mix of inserts, updates and deletes, it returns what
//! scoring every enrolled template in f32 returns, ties (broken by shopper id) included, and never
//! a deleted face. Checked by proptest against a brute-force model.

use std::collections::HashMap;

use facepay_domain::{FaceTemplate, RecognizerTag, ShopperId};
use facepay_face_index::{Candidate, Decision, DecisionRule, FaceIndex, PhoneHint, decide};
use proptest::prelude::*;

const DIMENSION: usize = 32;

fn tag() -> RecognizerTag {
    RecognizerTag { name: "test".into(), version: "1".into() }
}

fn template(raw: &[f32]) -> FaceTemplate {
    FaceTemplate::new(tag(), raw.to_vec()).expect("the generator makes non-zero vectors")
}

fn hint(n: u8) -> PhoneHint {
    PhoneHint::parse(&format!("{:04}", n)).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Upsert { shopper: u8, vector: usize, hint: u8 },
    Remove { shopper: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..40, 0usize..12, 0u8..3).prop_map(|(shopper, vector, hint)| Op::Upsert { shopper, vector, hint }),
        1 => (0u8..40).prop_map(|shopper| Op::Remove { shopper }),
    ]
}

/// Scores every model entry the way the index's final pass does, best first, ties by id.
fn brute_force(
    model: &HashMap<u8, (usize, u8)>,
    pool: &[FaceTemplate],
    probe: &FaceTemplate,
    only: Option<u8>,
    k: usize,
) -> Vec<Candidate> {
    let mut all: Vec<Candidate> = model
        .iter()
        .filter(|(_, (_, h))| only.is_none_or(|wanted| wanted == *h))
        .map(|(&shopper, &(vector, _))| Candidate {
            shopper: ShopperId::from_u128(u128::from(shopper)),
            score: pool[vector]
                .expose_embedding()
                .iter()
                .zip(probe.expose_embedding())
                .map(|(x, y)| x * y)
                .sum(),
        })
        .collect();
    all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.shopper.cmp(&b.shopper)));
    all.truncate(k);
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn search_equals_brute_force_after_any_inserts_updates_and_deletes(
        // A small pool of vectors, so several shoppers share one face and scores tie exactly.
        pool in proptest::collection::vec(proptest::collection::vec(0.05f32..1.0, DIMENSION), 12),
        signs in proptest::collection::vec(proptest::collection::vec(any::<bool>(), DIMENSION), 12),
        ops in proptest::collection::vec(op(), 1..80),
        probes in proptest::collection::vec(0usize..12, 1..4),
        k in 1usize..6,
    ) {
        let pool: Vec<FaceTemplate> = pool
            .iter()
            .zip(&signs)
            .map(|(v, s)| template(&v.iter().zip(s).map(|(x, neg)| if *neg { -x } else { *x }).collect::<Vec<_>>()))
            .collect();
        let mut index = FaceIndex::new(tag(), DIMENSION);
        let mut model: HashMap<u8, (usize, u8)> = HashMap::new();
        for op in &ops {
            match *op {
                Op::Upsert { shopper, vector, hint: h } => {
                    index.upsert(ShopperId::from_u128(u128::from(shopper)), &pool[vector], hint(h)).unwrap();
                    model.insert(shopper, (vector, h));
                }
                Op::Remove { shopper } => {
                    let was = index.remove(ShopperId::from_u128(u128::from(shopper)));
                    prop_assert_eq!(was, model.remove(&shopper).is_some());
                }
            }
            prop_assert_eq!(index.len(), model.len());
        }
        for &p in &probes {
            let probe = &pool[p];
            prop_assert_eq!(index.search(probe, k).unwrap(), brute_force(&model, &pool, probe, None, k));
            for h in 0..3 {
                prop_assert_eq!(index.search_hint(probe, hint(h), k).unwrap(), brute_force(&model, &pool, probe, Some(h), k));
            }
        }
    }
}

#[test]
fn a_template_of_another_recognizer_or_a_bad_hint_is_refused() {
    let mut index = FaceIndex::new(tag(), DIMENSION);
    let other =
        FaceTemplate::new(RecognizerTag { name: "other".into(), version: "1".into() }, vec![1.0; DIMENSION])
            .unwrap();
    let short = FaceTemplate::new(tag(), vec![1.0; DIMENSION - 1]).unwrap();
    for wrong in [&other, &short] {
        let err = index.upsert(ShopperId::from_u128(1), wrong, hint(1)).unwrap_err();
        assert_eq!(err.code(), "index_recognizer_mismatch");
        assert_eq!(index.search(wrong, 1).unwrap_err().code(), "index_recognizer_mismatch");
    }
    assert!(index.is_empty(), "a refused insert changes nothing");
    for bad in ["123", "12345", "12a4", ""] {
        assert_eq!(PhoneHint::parse(bad).unwrap_err().code(), "index_hint_malformed");
    }
    let probe = template(&[1.0; DIMENSION]);
    assert_eq!(index.search(&probe, 3).unwrap(), []);
    assert_eq!(index.search(&probe, 0).unwrap(), []);
}

#[test]
fn a_deleted_face_is_never_found_and_its_slot_is_reused() {
    let mut index = FaceIndex::new(tag(), DIMENSION);
    let face = template(&[0.5; DIMENSION]);
    // Orthogonal to `face`: half the dimensions point the other way.
    let other: Vec<f32> = (0..DIMENSION).map(|i| if i < DIMENSION / 2 { 0.5 } else { -0.5 }).collect();
    let other = template(&other);
    index.upsert(ShopperId::from_u128(1), &face, hint(1)).unwrap();
    index.upsert(ShopperId::from_u128(2), &other, hint(1)).unwrap();
    assert!(index.remove(ShopperId::from_u128(1)));
    assert!(!index.remove(ShopperId::from_u128(1)));
    let found = index.search(&face, 5).unwrap();
    assert_eq!(found.iter().map(|c| c.shopper).collect::<Vec<_>>(), [ShopperId::from_u128(2)]);
    assert_eq!(index.search_hint(&face, hint(1), 5).unwrap().len(), 1);
    index.upsert(ShopperId::from_u128(3), &face, hint(2)).unwrap();
    assert_eq!(index.search(&face, 1).unwrap()[0].shopper, ShopperId::from_u128(3));
    assert!((index.search(&face, 1).unwrap()[0].score - 1.0).abs() < 1e-6);
    assert_eq!(
        index.search_hint(&face, hint(1), 5).unwrap().len(),
        1,
        "the hint bucket moved with the shopper"
    );
    let decision = decide(&index.search(&face, 2).unwrap(), &DecisionRule::default());
    assert_eq!(
        decision,
        Decision::Match { shopper: ShopperId::from_u128(3), score: index.search(&face, 1).unwrap()[0].score }
    );
}
