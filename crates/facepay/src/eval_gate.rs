//! `facepay eval identify`'s exit-gate table (issue 25.3): a metro's exit gate chooses only
//! among the riders inside its network, a gallery thousands of times smaller than everyone
//! enrolled, so at the same threshold it falsely matches far less often. Each probe is searched
//! among `inside` riders: for a genuine rider, their own enrolled face and `inside - 1` others;
//! as a stranger, `inside` others. The others are drawn as riders inside would be from the whole
//! gallery: real LFW people in their share of it, the rest synthetic faces from the same fitted
//! model that grew the gallery. The peer row is the search among everyone at the gallery's
//! largest size, from the same probes in the same run.

use std::io::{self, Write};

use facepay_domain::{FaceTemplate, ShopperId, SplitMix64};
use facepay_evaluation::Verification;
use facepay_face_index::DecisionRule;

use crate::eval::on_every_core;
use crate::eval_decision::Probe;
use crate::synthetic_faces::{FaceModel, SplitMix};

/// Synthetic faces drawn once, from which each search's synthetic riders are picked.
const SYNTHETIC_POOL: usize = 50_000;

/// The search among everyone, as `production_table` measured it at its largest gallery.
pub struct Everyone {
    pub enrolled: usize,
    pub scores: Verification,
}

/// Prints FMR and FNMR of the exit search and of the search among everyone at the decision's
/// thresholds and at the threshold each needs for an FMR of 1e-3; returns them as JSON.
pub fn exit_gate_table(
    probes: &[Probe<'_>],
    enrolled: &[(ShopperId, &FaceTemplate)],
    model: &FaceModel,
    everyone: &Everyone,
    inside: usize,
    out: &mut dyn Write,
) -> io::Result<serde_json::Value> {
    let mut rng = SplitMix::new(25);
    let pool: Vec<Vec<f32>> = (0..SYNTHETIC_POOL).map(|_| model.stranger(&mut rng)).collect();
    // Of everyone enrolled, the real people's share: who else is inside is drawn in it.
    let real_share = enrolled.len() as f64 / everyone.enrolled.max(enrolled.len()) as f64;
    let trials: Vec<(usize, &Probe<'_>)> = probes.iter().enumerate().collect();
    let scored = on_every_core(&trials, |&(n, probe)| {
        let mut draw = SplitMix64::new(0x6761_7465 ^ n as u64);
        let mut others = |count: usize| -> f32 {
            let mut best = f32::NEG_INFINITY;
            for _ in 0..count {
                let pick = draw.next_u64();
                let score = if ((pick >> 11) as f64 / (1u64 << 53) as f64) < real_share {
                    let (shopper, face) = enrolled[(pick % enrolled.len() as u64) as usize];
                    if shopper == probe.own {
                        continue;
                    }
                    dot(probe.template.expose_embedding(), face.expose_embedding())
                } else {
                    dot(probe.template.expose_embedding(), &pool[(pick % pool.len() as u64) as usize])
                };
                best = best.max(score);
            }
            best
        };
        let genuine = probe.mate.map(|mate| {
            let own = enrolled.iter().find(|(shopper, _)| *shopper == mate).expect("the mate is enrolled").1;
            let score = dot(probe.template.expose_embedding(), own.expose_embedding());
            // Found only as the best of those inside, as the search among everyone counts it.
            if others(inside - 1) < score { score } else { -2.0 }
        });
        (genuine, others(inside))
    });
    let (mut genuine, mut strangers) = (Vec::new(), Vec::new());
    for (mated, stranger) in scored.into_iter().flatten() {
        genuine.extend(mated);
        strangers.push(stranger);
    }
    let exit = Verification::new(genuine, strangers);
    let rule = DecisionRule::default();
    let thresholds = [rule.bucket_threshold, rule.pin_free_threshold, 0.55, rule.open_threshold];
    writeln!(
        out,
        "\nThe exit gate's search among {inside} riders inside, against the search among everyone ({} enrolled), \
         same probes ({} genuine riders, {} strangers); FMR = strangers matched to someone, FNMR = genuine riders \
         not found as themselves:",
        everyone.enrolled,
        exit.genuine_pairs(),
        exit.impostor_pairs()
    )?;
    let heads: Vec<String> = thresholds.iter().map(|t| format!("FMR / FNMR at {t:.2}")).collect();
    writeln!(out, "| search | candidates | {} | threshold for FMR 1e-3 | FNMR there |", heads.join(" | "))?;
    writeln!(out, "|---|---|{}---|---|", "---|".repeat(thresholds.len()))?;
    let mut json = serde_json::Map::new();
    for (name, candidates, scores) in
        [("exit gate", inside, &exit), ("everyone", everyone.enrolled, &everyone.scores)]
    {
        let cells: Vec<String> = thresholds
            .iter()
            .map(|&t| format!("{:.2e} / {:.4}", scores.false_accept_rate(t), scores.false_reject_rate(t)))
            .collect();
        let at = scores.tar_at_far(1e-3);
        let (threshold, fnmr) = at.map_or(("too few strangers".into(), "-".into()), |t| {
            (format!("{:.3}", t.threshold), format!("{:.4}", 1.0 - t.tar))
        });
        writeln!(out, "| {name} | {candidates} | {} | {threshold} | {fnmr} |", cells.join(" | "))?;
        json.insert(
            name.into(),
            serde_json::json!({
                "candidates": candidates,
                "at": thresholds.iter().map(|&t| serde_json::json!({
                    "threshold": t, "fmr": scores.false_accept_rate(t), "fnmr": scores.false_reject_rate(t)
                })).collect::<Vec<_>>(),
                "fnmr_at_fmr_1e-3": at.map(|t| 1.0 - t.tar),
                "threshold_at_fmr_1e-3": at.map(|t| t.threshold),
            }),
        );
    }
    Ok(serde_json::Value::Object(json))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use facepay_domain::RecognizerTag;

    use super::*;

    #[test]
    fn riders_are_found_among_those_inside_and_strangers_match_less_often_there() {
        let model = FaceModel::isotropic(64, 0.6);
        let mut rng = SplitMix::new(11);
        let tag = RecognizerTag { name: "test".into(), version: "1".into() };
        let face = |embedding: Vec<f32>| FaceTemplate::new(tag.clone(), embedding).unwrap();
        let people: Vec<Vec<f32>> = (0..400).map(|_| model.person(&mut rng)).collect();
        let enrolled_faces: Vec<FaceTemplate> =
            people.iter().map(|p| face(model.capture(p, &mut rng))).collect();
        let probe_faces: Vec<FaceTemplate> =
            people.iter().map(|p| face(model.capture(p, &mut rng))).collect();
        let enrolled: Vec<(ShopperId, &FaceTemplate)> =
            enrolled_faces.iter().enumerate().map(|(n, f)| (ShopperId::from_u128(n as u128), f)).collect();
        let probes: Vec<Probe<'_>> = probe_faces
            .iter()
            .enumerate()
            .map(|(n, template)| Probe {
                template,
                mate: Some(ShopperId::from_u128(n as u128)),
                own: ShopperId::from_u128(n as u128),
            })
            .collect();
        // Everyone: all 400 searched, as the production table scores a search.
        let (mut genuine, mut strangers) = (Vec::new(), Vec::new());
        for probe in &probes {
            let mut scored: Vec<(f32, ShopperId)> = enrolled
                .iter()
                .map(|(id, f)| (dot(probe.template.expose_embedding(), f.expose_embedding()), *id))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            genuine.push(if Some(scored[0].1) == probe.mate { scored[0].0 } else { -2.0 });
            strangers.push(scored.iter().find(|(_, id)| *id != probe.own).unwrap().0);
        }
        let everyone = Everyone { enrolled: 400, scores: Verification::new(genuine, strangers) };
        let mut printed = Vec::new();
        let json = exit_gate_table(&probes, &enrolled, &model, &everyone, 20, &mut printed).unwrap();
        let at = |search: &str, threshold: usize, what: &str| {
            json[search]["at"][threshold][what].as_f64().unwrap()
        };
        // At the bucket threshold (0.34) strangers find a look-alike among everyone far more
        // often than among twenty; riders are missed less often among twenty than among 400.
        assert!(at("exit gate", 0, "fmr") < at("everyone", 0, "fmr") / 2.0, "{json}");
        assert!(at("exit gate", 0, "fnmr") <= at("everyone", 0, "fnmr"), "{json}");
        assert!(at("everyone", 0, "fmr") > 0.1, "the test's faces must be confusable: {json}");
        let text = String::from_utf8(printed).unwrap();
        assert!(text.contains("| exit gate | 20 |") && text.contains("| everyone | 400 |"), "{text}");
    }
}
