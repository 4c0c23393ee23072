//! `facepay eval liveness`: the presentation-attack check measured as ISO/IEC 30107-3 does.
//! APCER (attacks taken for live, per attack species) and BPCER (live faces refused) for the
//! liveness model on every sample reachable here: one photo each of LFW dev people as bona fide
//! presentations, the same photos turned into synthetic attacks (`synthetic_attacks`), and
//! Silent-Face's own samples (one live, two attacks). People are split in two halves by a hash
//! of their name: the threshold is chosen on the first (the lowest at which no species' APCER
//! passes 5%, the BPCER20 operating point) and every figure is reported on the second, beside
//! the threshold the engine runs with.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use facepay_biometric::{BiometricEngine, Photo};
use facepay_evaluation::ImageRef;

use crate::eval::{central_face, images_and_engine, name_hash, on_every_core};
use facepay_biometric::synthetic_attacks::Species;

/// The APCER the chosen threshold keeps every species under, on the calibration half.
const APCER_TARGET: f64 = 0.05;

#[derive(Debug)]
pub struct LivenessArgs {
    pub images: PathBuf,
    /// Silent-Face's samples (`image_T*.jpg` live, `image_F*.jpg` attacks).
    pub spoofs: Option<PathBuf>,
    /// People to take one photo of.
    pub people: usize,
    pub json: Option<PathBuf>,
}

/// One presentation's live score; `None` when no face was found in it.
struct Scored {
    calibration: bool,
    species: Option<Species>,
    score: Option<f32>,
}

pub fn liveness(args: &LivenessArgs, out: &mut dyn Write) -> io::Result<bool> {
    let (images, engine) = match images_and_engine(&args.images, None, false) {
        Ok(found) => found,
        Err(e) => {
            writeln!(out, "facepay eval liveness: {e}")?;
            return Ok(false);
        }
    };
    // Each person's first photo, people in the order of their name's hash.
    let mut chosen: Vec<&ImageRef> = Vec::new();
    for image in &images {
        if chosen.last().is_none_or(|last| last.person != image.person) {
            chosen.push(image);
        }
    }
    chosen.sort_by_key(|image| (name_hash(&image.person) >> 1, image.person.clone()));
    chosen.truncate(args.people);
    let kinds: Vec<Option<Species>> = std::iter::once(None).chain(Species::ALL.map(Some)).collect();
    let work: Vec<(&ImageRef, Option<Species>)> =
        chosen.iter().flat_map(|image| kinds.iter().map(move |&kind| (*image, kind))).collect();
    writeln!(
        out,
        "scoring {} LFW dev photos as they are and as {} synthetic attacks each ...",
        chosen.len(),
        Species::ALL.len()
    )?;
    let scores = on_every_core(&work, |(image, species)| {
        live_score(&engine, &args.images.join(image.relative_path()), *species)
    });
    let scored: Vec<Scored> = work
        .iter()
        .zip(scores)
        .map(|((image, species), score)| Scored {
            calibration: name_hash(&image.person).is_multiple_of(2),
            species: *species,
            score: score.flatten(),
        })
        .collect();

    let running = engine.config().liveness_threshold;
    let calibration: Vec<&Scored> = scored.iter().filter(|s| s.calibration).collect();
    let chosen_threshold = choose_threshold(&calibration);
    let report: Vec<&Scored> = scored.iter().filter(|s| !s.calibration).collect();
    let (bona_fide, attacks) = (count(&report, None), report.len() - count(&report, None));
    writeln!(
        out,
        "\nfacepay eval liveness: threshold chosen on {} calibration presentations, reported on {} others ({bona_fide} bona fide, {attacks} attacks)",
        calibration.len(),
        report.len()
    )?;
    let chosen_label = match chosen_threshold {
        Some(t) => format!("chosen {t:.3} (APCER <= 5% on calibration)"),
        None => "none keeps every APCER <= 5% on calibration".into(),
    };
    writeln!(
        out,
        "\n| presentations (report half) | n | no face found | running threshold {running:.2} | {chosen_label} |"
    )?;
    writeln!(out, "|---|---|---|---|---|")?;
    let rate_at = |kind: Option<Species>, threshold: Option<f32>| -> String {
        threshold.map_or("–".into(), |t| format!("{:.2}%", error_rate(&report, kind, t) * 100.0))
    };
    let mut json_rows = Vec::new();
    for &kind in &kinds {
        let (label, measure) = match kind {
            None => ("bona fide (LFW dev)", "BPCER"),
            Some(species) => (species.name(), "APCER"),
        };
        let missing = report.iter().filter(|s| s.species == kind && s.score.is_none()).count();
        writeln!(
            out,
            "| {label} | {} | {missing} | {measure} {} | {measure} {} |",
            count(&report, kind),
            rate_at(kind, Some(running)),
            rate_at(kind, chosen_threshold)
        )?;
        json_rows.push(serde_json::json!({
            "presentations": label, "measure": measure, "n": count(&report, kind), "no_face": missing,
            "at_running_threshold": error_rate(&report, kind, running),
            "at_chosen_threshold": chosen_threshold.map(|t| error_rate(&report, kind, t)),
        }));
    }
    let samples = match &args.spoofs {
        Some(dir) => silent_face_samples(&engine, dir, running, chosen_threshold, out)?,
        None => serde_json::Value::Null,
    };
    writeln!(
        out,
        "APCER: attacks taken for live; BPCER: live faces refused. The synthetic species are artefacts made here, not photographed attacks."
    )?;
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "running_threshold": running, "chosen_threshold": chosen_threshold,
            "calibration_presentations": calibration.len(), "report_presentations": report.len(),
            "rows": json_rows, "silent_face_samples": samples,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)?;
    }
    Ok(true)
}

/// The photo at `path`, made into `species` if one is given, through the production decoder to
/// the live score of its central face.
fn live_score(engine: &BiometricEngine, path: &Path, species: Option<Species>) -> Option<f32> {
    let bytes = std::fs::read(path).ok()?;
    let bytes = match species {
        None => bytes,
        Some(species) => species.make(&bytes)?,
    };
    let config = engine.config();
    let photo = Photo::decode(&bytes, &config.decode).ok()?;
    engine
        .with_worker(|worker| {
            let faces = worker.detect(&photo, &config.detector).ok()?;
            worker.liveness(&photo, central_face(&faces, &photo)?).ok()
        })
        .ok()
        .flatten()
}

fn count(scored: &[&Scored], kind: Option<Species>) -> usize {
    scored.iter().filter(|s| s.species == kind).count()
}

/// BPCER for bona fide presentations (refused: below the threshold, or no face found), APCER
/// for an attack species (taken for live: at or above it).
fn error_rate(scored: &[&Scored], kind: Option<Species>, threshold: f32) -> f64 {
    let of_kind: Vec<&&Scored> = scored.iter().filter(|s| s.species == kind).collect();
    let errors = of_kind
        .iter()
        .filter(|s| {
            let live = s.score.is_some_and(|score| score >= threshold);
            if kind.is_none() { !live } else { live }
        })
        .count();
    errors as f64 / of_kind.len().max(1) as f64
}

/// The lowest threshold at which no attack species' APCER passes the target.
fn choose_threshold(calibration: &[&Scored]) -> Option<f32> {
    let mut candidates: Vec<f32> = calibration.iter().filter_map(|s| s.score).collect();
    candidates.push(1.0 + f32::EPSILON);
    candidates.sort_by(f32::total_cmp);
    candidates.into_iter().find(|&t| {
        Species::ALL.iter().all(|&species| error_rate(calibration, Some(species), t) <= APCER_TARGET)
    })
}

/// Silent-Face's own samples, scored and judged at both thresholds.
fn silent_face_samples(
    engine: &BiometricEngine,
    dir: &Path,
    running: f32,
    chosen: Option<f32>,
    out: &mut dyn Write,
) -> io::Result<serde_json::Value> {
    writeln!(
        out,
        "\n| Silent-Face sample | kind | live score | running threshold | chosen threshold |\n|---|---|---|---|---|"
    )?;
    let mut rows = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("image_") && name.ends_with(".jpg"))
        .collect();
    names.sort();
    for name in names {
        let live = name.starts_with("image_T");
        let score = live_score(engine, &dir.join(&name), None);
        let verdict = |threshold: Option<f32>| match (threshold, score) {
            (None, _) => "–",
            (Some(t), Some(s)) if s >= t => "taken for live",
            _ => "refused",
        };
        writeln!(
            out,
            "| {name} | {} | {} | {} | {} |",
            if live { "bona fide" } else { "attack" },
            score.map_or("no face".into(), |s| format!("{s:.3}")),
            verdict(Some(running)),
            verdict(chosen)
        )?;
        rows.push(serde_json::json!({"sample": name, "bona_fide": live, "score": score}));
    }
    Ok(serde_json::Value::Array(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(species: Option<Species>, score: f32) -> Scored {
        Scored { calibration: true, species, score: Some(score) }
    }

    #[test]
    fn the_threshold_is_the_lowest_that_keeps_every_species_under_the_target() {
        let mut all: Vec<Scored> = (0..100).map(|i| scored(None, 0.5 + i as f32 / 200.0)).collect();
        for species in Species::ALL {
            // Each species: 95 low scores and 5 high ones, 0.6 to 0.64; Moire one higher, 0.7.
            all.extend((0..95).map(|_| scored(Some(species), 0.1)));
            all.extend((0..5).map(|i| scored(Some(species), 0.6 + i as f32 / 100.0)));
        }
        all.push(scored(Some(Species::Moire), 0.7));
        let refs: Vec<&Scored> = all.iter().collect();
        // At 0.6 every species has 5 of 100 above (Moire 6 of 101): Moire needs the threshold
        // above its lowest high score.
        let chosen = choose_threshold(&refs).unwrap();
        assert!((chosen - 0.605).abs() < 1e-6, "{chosen}");
        assert!((error_rate(&refs, Some(Species::Moire), chosen) - 5.0 / 101.0).abs() < 1e-9);
        assert!((error_rate(&refs, None, chosen) - 21.0 / 100.0).abs() < 1e-9, "bona fide below it");
        let missing = [Scored { calibration: true, species: None, score: None }];
        assert_eq!(error_rate(&missing.iter().collect::<Vec<_>>(), None, 0.0), 1.0, "no face: refused");
    }
}
