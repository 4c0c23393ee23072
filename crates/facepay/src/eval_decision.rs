//! `facepay eval identify`'s production table: what the decision `serve` runs does to genuine
//! payers and to strangers, with the real gallery alone and grown by synthetic templates fitted
//! to the real ones (`--gallery-extra`), since the chance that some stranger looks like someone
//! enrolled grows with the gallery. Each search is the one a payment makes: everyone, the top
//! `search_k` candidates, `decide`; asked for the digits, that bucket searched and decided, a weak
//! match there asking for the PIN. A genuine payer types their own digits. A stranger is asked
//! twice: typing their own digits (which put them in a bucket of people they do not know), and
//! typing the digits of the enrolled person they look most like, the worst case: an attacker who
//! somehow knows who that is among everyone enrolled, and that person's phone. A stranger who
//! pays without meeting a PIN is a false match of a payment.

use std::collections::HashMap;
use std::io::{self, Write};

use facepay_domain::{FaceTemplate, ShopperId, SplitMix64};
use facepay_evaluation::Verification;
use facepay_face_index::{Candidate, Decision, DecisionRule, FaceIndex, PhoneHint, Scope, View, decide};

use crate::eval_gate::Everyone;
use crate::synthetic_faces::{FaceModel, SplitMix};

/// One search a payment would make.
pub struct Probe<'a> {
    pub template: &'a FaceTemplate,
    /// The enrolled person the probe shows; `None` for a distractor's own image.
    pub mate: Option<ShopperId>,
    /// The probe's own person, left out when it plays a stranger.
    pub own: ShopperId,
}

/// How payments ended at one gallery size.
#[derive(Debug, Default, Clone, Copy)]
struct Outcomes {
    /// Genuine payers: paid as themselves by face alone.
    matched: usize,
    /// Paid as themselves after the digits, without the PIN, or asked for it.
    asked_matched: usize,
    asked_matched_pin: usize,
    /// Named as someone else, without the PIN, or asked for that person's PIN.
    wrong: usize,
    wrong_at_pin: usize,
    declined: usize,
    /// Strangers with their own digits, then with their look-alike's.
    own_digits: Strangers,
    look_alike_digits: Strangers,
}

/// Strangers: paid as someone without a PIN, stopped at someone's PIN, declined.
#[derive(Debug, Default, Clone, Copy)]
struct Strangers {
    paid: usize,
    at_pin: usize,
    declined: usize,
}

impl Strangers {
    fn add(&mut self, decision: Decision) {
        match decision {
            Decision::Match { pin_required: false, .. } => self.paid += 1,
            Decision::Match { .. } => self.at_pin += 1,
            _ => self.declined += 1,
        }
    }

    fn json(&self, attempts: usize) -> serde_json::Value {
        serde_json::json!({"paid": self.paid, "stopped_at_pin": self.at_pin, "declined": self.declined,
                           "false_matches_per_payment": self.paid as f64 / attempts.max(1) as f64})
    }
}

/// Decides every probe at the real gallery's size, then at each size grown by `extras`
/// synthetic templates (ascending), and prints one row per size; returns the rows as JSON and
/// the search among everyone at the largest size.
pub fn production_table(
    index: &mut FaceIndex,
    hints: &mut HashMap<ShopperId, PhoneHint>,
    probes: &[Probe<'_>],
    model: &FaceModel,
    extras: &[usize],
    out: &mut dyn Write,
) -> io::Result<(Vec<serde_json::Value>, Option<Everyone>)> {
    let rule = DecisionRule::default();
    let k = facepay_api::ApiConfig::default().search_k;
    let strangers = probes.len();
    writeln!(
        out,
        "\nThe decision `serve` runs ({rule}; top {k} candidates), on {} genuine payers (their own digits) and {strangers} strangers (their own digits; the digits of whom they look most like):",
        probes.iter().filter(|p| p.mate.is_some()).count(),
    )?;
    writeln!(
        out,
        "| enrolled | rank-1 | FNIR at FPIR 1e-2 | FNIR at FPIR 1e-3 | genuine: paid by face | after digits | after digits + PIN | wrong person | wrong person's PIN asked | declined | strangers, own digits: paid / at a PIN / declined | false matches per payment | strangers, look-alike's digits: paid / at a PIN / declined | false matches per payment |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")?;
    let Some(recognizer) = probes.first().map(|p| p.template.recognizer().clone()) else {
        return Ok((Vec::new(), None));
    };
    let mut sizes: Vec<usize> = extras.to_vec();
    sizes.sort_unstable();
    sizes.dedup();
    sizes.insert(0, 0);
    let (mut added, mut rng, mut digits) = (0usize, SplitMix::new(2026), SplitMix64::new(2026));
    let (mut rows, mut everyone) = (Vec::new(), None);
    for extra in sizes {
        // The gallery grows by synthetic people, each with four random phone digits.
        while added < extra {
            let chunk = (extra - added).min(100_000);
            let faces: Vec<(ShopperId, FaceTemplate, PhoneHint)> = (added..added + chunk)
                .map(|i| {
                    let template = FaceTemplate::new(recognizer.clone(), model.stranger(&mut rng))
                        .expect("the model's templates are unit vectors");
                    let hint =
                        PhoneHint::parse(&format!("{:04}", digits.next_u64() % 10_000)).expect("4 digits");
                    (ShopperId::from_u128((1u128 << 64) + i as u128), template, hint)
                })
                .collect();
            hints.extend(faces.iter().map(|(id, _, hint)| (*id, *hint)));
            index
                .upsert_many(faces.iter().map(|(id, template, hint)| (*id, template, *hint)))
                .map_err(|e| io::Error::other(e.to_string()))?;
            added += chunk;
        }
        let view = index.view();
        let (outcomes, verification, rank1) = decide_all(&view, hints, probes, &rule, k);
        let fnir = |fpir: f64| {
            verification
                .tar_at_far(fpir)
                .map_or("too few strangers".into(), |t| format!("{:.4} ({:.3})", 1.0 - t.tar, t.threshold))
        };
        let o = outcomes;
        let per_payment = |s: Strangers| s.paid as f64 / strangers.max(1) as f64;
        let (own, look_alike) = (o.own_digits, o.look_alike_digits);
        writeln!(
            out,
            "| {} | {rank1:.4} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {:.2e} | {} / {} / {} | {:.2e} |",
            view.len(),
            fnir(1e-2),
            fnir(1e-3),
            o.matched,
            o.asked_matched,
            o.asked_matched_pin,
            o.wrong,
            o.wrong_at_pin,
            o.declined,
            own.paid,
            own.at_pin,
            own.declined,
            per_payment(own),
            look_alike.paid,
            look_alike.at_pin,
            look_alike.declined,
            per_payment(look_alike),
        )?;
        rows.push(serde_json::json!({
            "enrolled": view.len(), "synthetic": added, "rank1": rank1,
            "fnir_at_fpir_1e-2": verification.tar_at_far(1e-2).map(|t| 1.0 - t.tar),
            "fnir_at_fpir_1e-3": verification.tar_at_far(1e-3).map(|t| 1.0 - t.tar),
            "genuine": {"paid_by_face": o.matched, "after_digits": o.asked_matched, "after_digits_and_pin": o.asked_matched_pin,
                        "wrong_person": o.wrong, "wrong_person_pin_asked": o.wrong_at_pin, "declined": o.declined},
            "strangers": {"attempts": strangers, "own_digits": own.json(strangers), "look_alike_digits": look_alike.json(strangers)},
        }));
        everyone = Some(Everyone { enrolled: view.len(), scores: verification });
    }
    writeln!(
        out,
        "A stranger is every probe with its own person left out of the results, distractors' images included."
    )?;
    Ok((rows, everyone))
}

/// Every probe decided as a payment would be, with the global search's rank-1 and score
/// distributions.
fn decide_all(
    view: &View,
    hints: &HashMap<ShopperId, PhoneHint>,
    probes: &[Probe<'_>],
    rule: &DecisionRule,
    k: usize,
) -> (Outcomes, Verification, f64) {
    let mut o = Outcomes::default();
    let (mut mated_scores, mut stranger_scores, mut first) = (Vec::new(), Vec::new(), 0usize);
    let search = |probe: &FaceTemplate, hint: Option<PhoneHint>, own: Option<ShopperId>| -> Vec<Candidate> {
        let found = match hint {
            None => view.search(probe, k + 1),
            Some(hint) => view.search_hint(probe, hint, k + 1),
        };
        let found = found.expect("one recognizer");
        found.into_iter().filter(|c| Some(c.shopper) != own).take(k).collect()
    };
    for probe in probes {
        if let Some(mate) = probe.mate {
            let found = search(probe.template, None, None);
            first += usize::from(found.first().is_some_and(|c| c.shopper == mate));
            mated_scores.push(found.first().filter(|c| c.shopper == mate).map_or(-2.0, |c| c.score));
            match decide(&found, rule, Scope::Everyone) {
                Decision::Match { shopper, .. } if shopper == mate => o.matched += 1,
                Decision::Match { pin_required, .. } => {
                    *(if pin_required { &mut o.wrong_at_pin } else { &mut o.wrong }) += 1
                }
                Decision::NoMatch => o.declined += 1,
                Decision::AskHint => {
                    let bucket = search(probe.template, Some(hints[&mate]), None);
                    match decide(&bucket, rule, Scope::PhoneBucket) {
                        Decision::Match { shopper, pin_required: false, .. } if shopper == mate => {
                            o.asked_matched += 1
                        }
                        Decision::Match { shopper, .. } if shopper == mate => o.asked_matched_pin += 1,
                        Decision::Match { pin_required: false, .. } => o.wrong += 1,
                        Decision::Match { .. } => o.wrong_at_pin += 1,
                        _ => o.declined += 1,
                    }
                }
            }
        }
        // The same face as a stranger's: its own person is not enrolled.
        let found = search(probe.template, None, Some(probe.own));
        if let Some(best) = found.first() {
            stranger_scores.push(best.score);
        }
        match decide(&found, rule, Scope::Everyone) {
            Decision::AskHint => {
                for (digits, tally) in
                    [(probe.own, &mut o.own_digits), (found[0].shopper, &mut o.look_alike_digits)]
                {
                    let bucket = search(probe.template, Some(hints[&digits]), Some(probe.own));
                    tally.add(decide(&bucket, rule, Scope::PhoneBucket));
                }
            }
            decided => {
                o.own_digits.add(decided.clone());
                o.look_alike_digits.add(decided);
            }
        }
    }
    let mated = mated_scores.len().max(1);
    (o, Verification::new(mated_scores, stranger_scores), first as f64 / mated as f64)
}

#[cfg(test)]
mod tests {
    use facepay_domain::RecognizerTag;

    use super::*;

    fn template(parts: &[(usize, f32)]) -> FaceTemplate {
        let mut embedding = vec![0f32; 8];
        for &(axis, value) in parts {
            embedding[axis] = value;
        }
        FaceTemplate::new(RecognizerTag { name: "test".into(), version: "1".into() }, embedding).unwrap()
    }

    #[test]
    fn payers_and_strangers_end_as_the_payment_path_would_end_them() {
        let id = ShopperId::from_u128;
        let enrolled =
            [(id(1), template(&[(1, 1.0)])), (id(2), template(&[(2, 1.0)])), (id(3), template(&[(3, 1.0)]))];
        let mut hints: HashMap<ShopperId, PhoneHint> = HashMap::new();
        let mut index = FaceIndex::new(enrolled[0].1.recognizer().clone(), 8);
        for (n, (shopper, face)) in enrolled.iter().enumerate() {
            let hint = PhoneHint::parse(&format!("000{n}")).unwrap();
            hints.insert(*shopper, hint);
            index.upsert(*shopper, face, hint).unwrap();
        }
        // The stranger's own digits, which nobody enrolled shares.
        hints.insert(id(9), PhoneHint::parse("0009").unwrap());
        let (clear, unsure, look_alike) =
            (template(&[(1, 1.0)]), template(&[(2, 0.6), (4, 0.8)]), template(&[(3, 0.4), (5, 0.917)]));
        let probes = [
            // Person 1 clearly; person 2 at 0.6, which asks for the digits and passes without a
            // PIN; a stranger (9) at 0.4 from person 3, which the digits find and the PIN stops.
            Probe { template: &clear, mate: Some(id(1)), own: id(1) },
            Probe { template: &unsure, mate: Some(id(2)), own: id(2) },
            Probe { template: &look_alike, mate: None, own: id(9) },
        ];
        let (o, _, rank1) = decide_all(&index.view(), &hints, &probes, &DecisionRule::default(), 10);
        assert_eq!((o.matched, o.asked_matched, o.asked_matched_pin, o.wrong, o.declined), (1, 1, 0, 0, 0));
        // As strangers, 1 and 2 are like nobody left enrolled; 9 with its own digits (0009)
        // finds nobody in its bucket, with person 3's it meets their PIN.
        let ends = |s: Strangers| (s.paid, s.at_pin, s.declined);
        assert_eq!((ends(o.own_digits), ends(o.look_alike_digits)), ((0, 0, 3), (0, 1, 2)));
        assert_eq!(rank1, 1.0);
    }
}
