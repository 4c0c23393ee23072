//! `facepay eval identify`: 1:N identification on a labelled face folder (LFW dev), the way
//! payments use it. Every person's first image is enrolled in the face index; mated searches are
//! their other images; everyone with a single image is a distractor in the gallery. Non-mated
//! searches are the same probes with their own person left out of the result, plus every
//! distractor image with itself left out: a stranger searching the gallery.
//!
//! Reports rank-1, FNIR at FPIR 1e-2 and 1e-3 (the threshold where that share of non-mated
//! searches would match someone), the same when the phone-digit hint narrows the search, what the
//! identification decision (threshold and margin) does with both kinds of searches, and what the
//! int8 encoding would cost on the LFW pairs if the index did not rescore in f32, and what the
//! decision `serve` runs does to payers and strangers at the real gallery's size and at the sizes
//! `--gallery-extra` grows it to (`eval_decision`).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::PathBuf;

use facepay_domain::{FaceTemplate, ShopperId};
use facepay_evaluation::{Curve, PairsFile, ScorePair, Verification, det_plot_png, kfold_accuracy};
use facepay_face_index::{
    Candidate, Decision, DecisionRule, FaceIndex, PhoneHint, Scope, decide, encoded_similarity,
};

use crate::eval::{images_and_engine, name_hash, run_pipeline};
use crate::eval_decision::{Probe, production_table};
use crate::eval_gate::exit_gate_table;
use crate::synthetic_faces::FaceModel;

const FPIRS: [(f64, &str); 2] = [(1e-2, "1e-2"), (1e-3, "1e-3")];
/// The open thresholds tried at the default margin, then the margins tried at the default open
/// threshold (above 1, nobody is matched without the digits).
const OPEN_THRESHOLDS: [f32; 7] = [0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 1.01];
const MARGINS: [f32; 4] = [0.0, 0.04, 0.12, 0.16];
/// Above this cosine two LFW images are the same photo (the top pairs checked by eye).
const DUPLICATE_SCORE: f32 = 0.9;
/// How many of the highest-scoring non-mated searches to list by name.
const TOP_NONMATED: usize = 8;

#[derive(Debug)]
pub struct IdentifyArgs {
    pub images: PathBuf,
    /// The LFW pairs file, for the int8 encoding's cost; default: `pairs.txt` beside the images.
    pub pairs: Option<PathBuf>,
    pub recognizer: Option<String>,
    pub no_flip: bool,
    pub json: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    /// Synthetic templates to grow the gallery by, one production table row each.
    pub gallery_extra: Vec<usize>,
    /// Riders inside a network, among whom the exit gate's table searches; 0: no table.
    pub gate_inside: usize,
}

/// One search and who should have been found.
struct Search {
    /// The enrolled person the probe shows, or `None` for a distractor (enrolled with this very
    /// image, so it is left out of its own results).
    mate: Option<ShopperId>,
    own: ShopperId,
    found: Vec<Candidate>,
    found_in_bucket: Vec<Candidate>,
}

/// What the decision did with one search, after asking for the phone digits where it asked.
#[derive(Debug, Default, Clone, Copy)]
struct Outcomes {
    right: usize,
    wrong: usize,
    asked_right: usize,
    asked_wrong: usize,
    declined: usize,
}

pub fn identify(args: &IdentifyArgs, out: &mut dyn Write) -> io::Result<bool> {
    let fail = |out: &mut dyn Write, message: String| -> io::Result<bool> {
        writeln!(out, "facepay eval identify: {message}")?;
        Ok(false)
    };
    let (images, engine) = match images_and_engine(&args.images, args.recognizer.clone(), args.no_flip) {
        Ok(found) => found,
        Err(e) => return fail(out, e),
    };
    let results = run_pipeline(&engine, &args.images, &images);

    // People in name order, each with the templates of their images in number order.
    let mut people: BTreeMap<&str, Vec<&FaceTemplate>> = BTreeMap::new();
    for (image, result) in images.iter().zip(&results) {
        if let Some(template) = &result.template {
            people.entry(image.person.as_str()).or_default().push(template);
        }
    }
    let Some(first) = people.values().next().map(|t| t[0]) else {
        return fail(out, "no image gave a template".into());
    };
    let mut index = FaceIndex::new(first.recognizer().clone(), first.dimension());
    let ids: Vec<(ShopperId, PhoneHint, &Vec<&FaceTemplate>)> = people
        .iter()
        .enumerate()
        .map(|(i, (name, templates))| (ShopperId::from_u128(i as u128), synthetic_hint(name), templates))
        .collect();
    if let Err(e) = index.upsert_many(ids.iter().map(|(id, hint, templates)| (*id, templates[0], *hint))) {
        return fail(out, format!("enrolling: {e}"));
    }
    let view = index.view();

    let mut searches = Vec::new();
    for &(id, hint, templates) in &ids {
        let probes: Vec<(&FaceTemplate, Option<ShopperId>)> = match templates.len() {
            1 => vec![(templates[0], None)],
            _ => templates[1..].iter().map(|t| (*t, Some(id))).collect(),
        };
        for (probe, mate) in probes {
            let (Ok(found), Ok(found_in_bucket)) = (view.search(probe, 3), view.search_hint(probe, hint, 3))
            else {
                return fail(out, "a probe from another recognizer".into());
            };
            searches.push(Search { mate, own: id, found, found_in_bucket });
        }
    }
    let mated = searches.iter().filter(|s| s.mate.is_some()).count();
    let full = verification(&searches, |s| &s.found);
    let narrowed = verification(&searches, |s| &s.found_in_bucket);
    let rank1 = |pick: fn(&Search) -> &Vec<Candidate>| {
        searches.iter().filter(|s| s.mate.is_some() && pick(s).first().map(|c| c.shopper) == s.mate).count()
            as f64
            / mated.max(1) as f64
    };
    let (rank1_full, rank1_hint) = (rank1(|s| &s.found), rank1(|s| &s.found_in_bucket));

    writeln!(
        out,
        "facepay eval identify: {} people enrolled ({} with more images), {} mated searches, {} non-mated",
        ids.len(),
        ids.iter().filter(|i| i.2.len() > 1).count(),
        mated,
        full.impostor_pairs()
    )?;
    writeln!(out, "\n| search | rank-1 | FNIR at FPIR 1e-2 (threshold) | FNIR at FPIR 1e-3 (threshold) |")?;
    writeln!(out, "|---|---|---|---|")?;
    let mut json_rows = serde_json::Map::new();
    for (label, key, verification, rank1) in
        [("everyone", "everyone", &full, rank1_full), ("phone-digit bucket", "hint", &narrowed, rank1_hint)]
    {
        let mut cells = Vec::new();
        let mut json_fpir = serde_json::Map::new();
        for (fpir, name) in FPIRS {
            match verification.tar_at_far(fpir) {
                Some(t) => {
                    cells.push(format!("{:.4} ({:.3})", 1.0 - t.tar, t.threshold));
                    json_fpir.insert(
                        name.into(),
                        serde_json::json!({"fnir": 1.0 - t.tar, "threshold": t.threshold}),
                    );
                }
                None => cells.push("too few non-mated searches".into()),
            }
        }
        writeln!(out, "| {label} | {rank1:.4} | {} | {} |", cells[0], cells[1])?;
        json_rows.insert(key.into(), serde_json::json!({"rank1": rank1, "fnir_at_fpir": json_fpir}));
    }

    writeln!(
        out,
        "\nThe {TOP_NONMATED} strangers who came closest to someone enrolled (label errors and look-alikes):"
    )?;
    writeln!(out, "| score | probe's person | found |\n|---|---|---|")?;
    // Shopper ids are positions in name order.
    let names: Vec<&str> = people.keys().copied().collect();
    let mut closest: Vec<(f32, &str, &str)> = searches
        .iter()
        .filter_map(|s| {
            let best = s.found.iter().find(|c| c.shopper != s.own)?;
            Some((best.score, names[s.own.as_u128() as usize], names[best.shopper.as_u128() as usize]))
        })
        .collect();
    closest.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (score, probe, found) in closest.iter().take(TOP_NONMATED) {
        writeln!(out, "| {score:.3} | {probe} | {found} |")?;
    }
    let duplicates = closest.iter().filter(|c| c.0 >= DUPLICATE_SCORE).count();
    writeln!(
        out,
        "{duplicates} non-mated searches score {DUPLICATE_SCORE} or more: at that level LFW holds the same photo under two names, \
         so the counts of strangers matched below include them."
    )?;

    let default = DecisionRule::default();
    writeln!(
        out,
        "\nThe decision (bucket threshold {:.2}; asked = the phone digits were asked for, then the bucket decided):",
        default.bucket_threshold
    )?;
    writeln!(
        out,
        "| open threshold | margin | mated: right | wrong | asked, right | asked, wrong | declined | non-mated: matched someone | asked, matched someone |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|")?;
    let rules = OPEN_THRESHOLDS
        .iter()
        .map(|&open_threshold| DecisionRule { open_threshold, ..default })
        .chain(MARGINS.iter().map(|&margin| DecisionRule { margin, ..default }));
    let mut json_decisions = Vec::new();
    for rule in rules {
        let (m, n) = decisions(&searches, &rule);
        let marker = if rule == default { " (default)" } else { "" };
        writeln!(
            out,
            "| {:.2}{marker} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
            rule.open_threshold,
            rule.margin,
            m.right,
            m.wrong,
            m.asked_right,
            m.asked_wrong,
            m.declined,
            n.wrong,
            n.asked_wrong
        )?;
        json_decisions.push(serde_json::json!({
            "open_threshold": rule.open_threshold, "margin": rule.margin,
            "mated_right": m.right, "mated_wrong": m.wrong, "mated_asked_right": m.asked_right,
            "mated_asked_wrong": m.asked_wrong, "mated_declined": m.declined,
            "nonmated_matched": n.wrong, "nonmated_asked_matched": n.asked_wrong,
        }));
    }

    let real: Vec<Vec<&[f32]>> =
        people.values().map(|templates| templates.iter().map(|t| t.expose_embedding()).collect()).collect();
    let model = match FaceModel::fit(&real) {
        Ok(model) => model,
        Err(e) => return fail(out, format!("fitting the synthetic faces: {e}")),
    };
    let probes: Vec<Probe<'_>> = ids
        .iter()
        .flat_map(|&(own, _, templates)| match templates.len() {
            1 => vec![Probe { template: templates[0], mate: None, own }],
            _ => templates[1..].iter().map(|t| Probe { template: t, mate: Some(own), own }).collect(),
        })
        .collect();
    let mut hints: HashMap<ShopperId, PhoneHint> = ids.iter().map(|(id, hint, _)| (*id, *hint)).collect();
    drop(view);
    let (production, everyone) =
        production_table(&mut index, &mut hints, &probes, &model, &args.gallery_extra, out)?;
    let exit_gate = match everyone {
        Some(everyone) if args.gate_inside > 1 => {
            let enrolled: Vec<(ShopperId, &FaceTemplate)> =
                ids.iter().map(|&(id, _, templates)| (id, templates[0])).collect();
            Some(exit_gate_table(&probes, &enrolled, &model, &everyone, args.gate_inside, out)?)
        }
        _ => None,
    };

    let encoding = match encoding_cost(args, &images, &results) {
        Ok(cost) => cost,
        Err(e) => return fail(out, e),
    };
    writeln!(
        out,
        "\nint8 encoding alone on the LFW pairs ({} pairs, threshold chosen on the other folds): accuracy f32 {:.4}, int8 {:.4}, cost {:.3} pp; largest score change {:.4}",
        encoding.pairs,
        encoding.f32_accuracy,
        encoding.int8_accuracy,
        (encoding.f32_accuracy - encoding.int8_accuracy) * 100.0,
        encoding.largest_change
    )?;
    writeln!(
        out,
        "(the index itself rescores every candidate it returns in f32, so its scores carry no encoding error)"
    )?;

    if let Some(path) = &args.plot {
        let curves = [
            Curve { label: "everyone".into(), points: full.det_curve(60) },
            Curve { label: "phone-digit bucket".into(), points: narrowed.det_curve(60) },
        ];
        std::fs::write(
            path,
            det_plot_png("1:N identification: FNIR (y) against FPIR (x), LFW dev", &curves),
        )?;
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "nonmated_duplicates": duplicates,
            "people": ids.len(), "mated_searches": mated, "nonmated_searches": full.impostor_pairs(),
            "rank1": rank1_full, "searches": json_rows, "decisions": json_decisions, "production": production, "exit_gate": exit_gate,
            "default_rule": {"open_threshold": default.open_threshold, "bucket_threshold": default.bucket_threshold, "margin": default.margin},
            "int8": {"pairs": encoding.pairs, "f32_accuracy": encoding.f32_accuracy, "int8_accuracy": encoding.int8_accuracy,
                     "cost_pp": (encoding.f32_accuracy - encoding.int8_accuracy) * 100.0, "largest_score_change": encoding.largest_change},
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)?;
    }
    Ok(true)
}

/// Mated searches score their mate at rank 1 (a miss scores below everything); non-mated ones
/// score their best candidate other than themselves.
fn verification(searches: &[Search], pick: impl Fn(&Search) -> &Vec<Candidate>) -> Verification {
    let (mut mated, mut nonmated) = (Vec::new(), Vec::new());
    for s in searches {
        let found = pick(s);
        if let Some(mate) = s.mate {
            mated.push(found.first().filter(|c| c.shopper == mate).map_or(-2.0, |c| c.score));
        }
        if let Some(best) = found.iter().find(|c| c.shopper != s.own) {
            nonmated.push(best.score);
        }
    }
    Verification::new(mated, nonmated)
}

/// The decision on every search, mated and (with the person left out) non-mated.
fn decisions(searches: &[Search], rule: &DecisionRule) -> (Outcomes, Outcomes) {
    let (mut mated, mut nonmated) = (Outcomes::default(), Outcomes::default());
    for s in searches {
        let without_own = |found: &[Candidate]| -> Vec<Candidate> {
            found.iter().filter(|c| c.shopper != s.own).copied().collect()
        };
        let judge = |candidates: &[Candidate],
                     bucket: &[Candidate],
                     wanted: Option<ShopperId>,
                     tally: &mut Outcomes| {
            let is_right = |shopper: ShopperId| Some(shopper) == wanted;
            match decide(candidates, rule, Scope::Everyone) {
                Decision::Match { shopper, .. } if is_right(shopper) => tally.right += 1,
                Decision::Match { .. } => tally.wrong += 1,
                Decision::NoMatch => tally.declined += 1,
                Decision::AskHint => match decide(bucket, rule, Scope::PhoneBucket) {
                    Decision::Match { shopper, .. } if is_right(shopper) => tally.asked_right += 1,
                    Decision::Match { .. } => tally.asked_wrong += 1,
                    _ => tally.declined += 1,
                },
            }
        };
        if s.mate.is_some() {
            judge(&s.found, &s.found_in_bucket, s.mate, &mut mated);
        }
        // The same face as a stranger: its person is not enrolled.
        judge(&without_own(&s.found), &without_own(&s.found_in_bucket), None, &mut nonmated);
    }
    (mated, nonmated)
}

struct EncodingCost {
    pairs: usize,
    f32_accuracy: f64,
    int8_accuracy: f64,
    largest_change: f32,
}

/// The pairs protocol scored twice, with f32 and with int8-encoded templates.
fn encoding_cost(
    args: &IdentifyArgs,
    images: &[facepay_evaluation::ImageRef],
    results: &[crate::eval::ImageResult],
) -> Result<EncodingCost, String> {
    let path = args.pairs.clone().unwrap_or_else(|| args.images.with_file_name("pairs.txt"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = PairsFile::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let template: BTreeMap<_, _> =
        images.iter().zip(results).filter_map(|(r, res)| res.template.as_ref().map(|t| (r, t))).collect();
    let (mut exact, mut encoded, mut largest) = (Vec::new(), Vec::new(), 0f32);
    for pair in &file.pairs {
        let (a, b) = match (template.get(&pair.left), template.get(&pair.right)) {
            (Some(a), Some(b)) => (a.expose_embedding(), b.expose_embedding()),
            // A pair without a face counts as a mismatch at any threshold, in both.
            _ => (&[1.0f32, 0.0][..], &[0.0f32, 1.0][..]),
        };
        let f: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let q = encoded_similarity(a, b);
        largest = largest.max((f - q).abs());
        exact.push(ScorePair { fold: pair.fold, score: f, same: pair.same });
        encoded.push(ScorePair { fold: pair.fold, score: q, same: pair.same });
    }
    Ok(EncodingCost {
        pairs: file.pairs.len(),
        f32_accuracy: kfold_accuracy(&exact, file.folds).mean,
        int8_accuracy: kfold_accuracy(&encoded, file.folds).mean,
        largest_change: largest,
    })
}

/// Four phone digits per person, spread by a hash of the name, so buckets hold the
/// mix a real population would: mostly one person, sometimes two.
fn synthetic_hint(name: &str) -> PhoneHint {
    PhoneHint::parse(&format!("{:04}", name_hash(name) % 10_000)).expect("four digits")
}
