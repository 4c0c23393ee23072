//! `facepay eval lfw`: runs the real pipeline (decode, YuNet, alignment, recognizer, liveness) over
//! a labelled face folder and reports accuracy as the field does: the pairs protocol with
//! thresholds chosen on the other folds, then every pair of images of different people as
//! impostors (EER, TAR at FAR 1e-3..1e-5 with the number of impostor pairs behind each), the DET
//! picture, and how the quality gates and the liveness threshold treat these real faces.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use facepay_biometric::{BiometricEngine, Detection, Photo, QualityMeasures, align, main_face};
use facepay_domain::FaceTemplate;
use facepay_evaluation::{Curve, ImageRef, PairsFile, ScorePair, Verification, det_plot_png, kfold_accuracy};

use crate::biometrics;

/// The FARs reported.
const FARS: [(f64, &str); 3] = [(1e-3, "1e-3"), (1e-4, "1e-4"), (1e-5, "1e-5")];

#[derive(Debug)]
pub struct LfwArgs {
    pub images: PathBuf,
    pub pairs: PathBuf,
    pub recognizer: Option<String>,
    pub no_flip: bool,
    pub json: Option<PathBuf>,
    pub plot: Option<PathBuf>,
}

/// What the pipeline made of one image.
pub(crate) struct ImageResult {
    pub(crate) template: Option<FaceTemplate>,
    live_score: Option<f32>,
    gate: Option<&'static str>,
}

pub fn lfw(args: &LfwArgs, out: &mut dyn Write) -> io::Result<bool> {
    let fail = |out: &mut dyn Write, message: String| -> io::Result<bool> {
        writeln!(out, "facepay eval lfw: {message}")?;
        Ok(false)
    };
    let pairs = match std::fs::read_to_string(&args.pairs)
        .map_err(|e| e.to_string())
        .and_then(|t| PairsFile::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(pairs) => pairs,
        Err(e) => return fail(out, format!("{}: {e}", args.pairs.display())),
    };
    let (images, engine) = match images_and_engine(&args.images, args.recognizer.clone(), args.no_flip) {
        Ok(found) => found,
        Err(e) => return fail(out, e),
    };
    let started = Instant::now();
    let results = run_pipeline(&engine, &args.images, &images);
    let seconds = started.elapsed().as_secs_f64();

    let index: BTreeMap<&ImageRef, usize> = images.iter().enumerate().map(|(i, r)| (r, i)).collect();
    let mut missing = Vec::new();
    let scored: Vec<ScorePair> = pairs
        .pairs
        .iter()
        .map(|pair| {
            let template = |r: &ImageRef| index.get(r).and_then(|&i| results[i].template.as_ref());
            let score = match (template(&pair.left), template(&pair.right)) {
                (Some(a), Some(b)) => a.similarity(b).unwrap_or(f32::MIN),
                _ => {
                    missing.extend(
                        [&pair.left, &pair.right].into_iter().filter(|r| !index.contains_key(r)).cloned(),
                    );
                    f32::MIN
                }
            };
            ScorePair { fold: pair.fold, score, same: pair.same }
        })
        .collect();
    if !missing.is_empty() {
        return fail(
            out,
            format!(
                "the pairs file names {} images that are not in the folder, e.g. {}",
                missing.len(),
                missing[0].relative_path()
            ),
        );
    }
    let accuracy = kfold_accuracy(&scored, pairs.folds);
    let verification = all_pairs(&images, &results);

    let no_face = results.iter().filter(|r| r.template.is_none()).count();
    let config = engine.config();
    let live: Vec<f32> = results.iter().filter_map(|r| r.live_score).collect();
    let live_rejected = live.iter().filter(|s| **s < config.liveness_threshold).count();
    let mut gates: BTreeMap<&str, usize> = BTreeMap::new();
    for result in results.iter().filter(|r| r.template.is_some()) {
        *gates.entry(result.gate.unwrap_or("passed")).or_default() += 1;
    }
    let recognizer = engine.recognizer().name.clone();
    let recognizer_label = if config.flip_fusion { format!("{recognizer}+flip") } else { recognizer.clone() };

    writeln!(
        out,
        "facepay eval lfw: {recognizer_label}, {} images of {} people, {seconds:.0} s",
        images.len(),
        count_people(&images)
    )?;
    writeln!(out)?;
    writeln!(out, "| measure | value |")?;
    writeln!(out, "|---|---|")?;
    writeln!(
        out,
        "| pairs protocol accuracy ({} folds, {} pairs) | {:.2}% +- {:.2} |",
        pairs.folds,
        scored.len(),
        accuracy.mean * 100.0,
        accuracy.std * 100.0
    )?;
    writeln!(out, "| images with no face found | {no_face} |")?;
    writeln!(out, "| all-pairs EER | {:.3}% |", verification.eer() * 100.0)?;
    let mut tar_json = serde_json::Map::new();
    for (far, label) in FARS {
        match verification.tar_at_far(far) {
            Some(t) => {
                writeln!(
                    out,
                    "| TAR at FAR {label} ({} impostor pairs, threshold {:.4}) | {:.2}% |",
                    t.impostor_pairs,
                    t.threshold,
                    t.tar * 100.0
                )?;
                tar_json.insert(label.into(), serde_json::json!({"tar": t.tar, "threshold": t.threshold, "impostor_pairs": t.impostor_pairs}));
            }
            None => {
                writeln!(
                    out,
                    "| TAR at FAR {label} | not measurable: {} impostor pairs |",
                    verification.impostor_pairs()
                )?;
                tar_json.insert(label.into(), serde_json::Value::Null);
            }
        }
    }
    writeln!(
        out,
        "| genuine / impostor pairs | {} / {} |",
        verification.genuine_pairs(),
        verification.impostor_pairs()
    )?;
    writeln!(
        out,
        "| live faces rejected by liveness (threshold {}) | {live_rejected} of {} ({:.2}%) |",
        config.liveness_threshold,
        live.len(),
        100.0 * live_rejected as f64 / live.len().max(1) as f64
    )?;
    let sweep: Vec<String> = [0.1f32, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9]
        .iter()
        .map(|t| {
            format!(
                "{t}: {:.2}%",
                100.0 * live.iter().filter(|s| *s < t).count() as f64 / live.len().max(1) as f64
            )
        })
        .collect();
    writeln!(out, "| live faces rejected at other liveness thresholds | {} |", sweep.join(", "))?;
    for (gate, count) in &gates {
        writeln!(out, "| quality gate: {gate} | {count} |")?;
    }

    if let Some(path) = &args.plot {
        let curve = Curve { label: recognizer_label.clone(), points: verification.det_curve(200) };
        std::fs::write(path, det_plot_png("LFW ALL PAIRS", &[curve]))?;
        writeln!(out, "DET curve written to {}", path.display())?;
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "recognizer": recognizer,
            "flip_fusion": config.flip_fusion,
            "accuracy": accuracy.mean,
            "accuracy_std": accuracy.std,
            "folds": pairs.folds,
            "pairs": scored.len(),
            "images": images.len(),
            "no_face": no_face,
            "eer": verification.eer(),
            "tar_at_far": tar_json,
            "genuine_pairs": verification.genuine_pairs(),
            "impostor_pairs": verification.impostor_pairs(),
            "liveness_threshold": config.liveness_threshold,
            "liveness_false_reject_share": live_rejected as f64 / live.len().max(1) as f64,
            "quality_gates": gates,
            "seconds": seconds,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)?;
        writeln!(out, "JSON written to {}", path.display())?;
    }
    Ok(true)
}

/// Every `Name/Name_NNNN.jpg` under `root`, sorted.
/// The labelled images under `root` (at least one) and the engine to run over them.
pub(crate) fn images_and_engine(
    root: &Path,
    recognizer: Option<String>,
    no_flip: bool,
) -> Result<(Vec<ImageRef>, BiometricEngine), String> {
    let images = match list_images(root) {
        Ok(images) if !images.is_empty() => images,
        Ok(_) => return Err(format!("{} holds no Name/Name_NNNN.jpg images", root.display())),
        Err(e) => return Err(format!("{}: {e}", root.display())),
    };
    Ok((images, biometrics::engine(recognizer, !no_flip)?))
}

fn list_images(root: &Path) -> io::Result<Vec<ImageRef>> {
    let mut images = Vec::new();
    for person in std::fs::read_dir(root)? {
        let person = person?;
        if !person.file_type()?.is_dir() {
            continue;
        }
        let name = person.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(person.path())? {
            let file_name = file?.file_name().to_string_lossy().into_owned();
            let number = file_name
                .strip_prefix(&format!("{name}_"))
                .and_then(|rest| rest.strip_suffix(".jpg"))
                .and_then(|digits| digits.parse::<u32>().ok());
            if let Some(number) = number {
                images.push(ImageRef { person: name.clone(), number });
            }
        }
    }
    images.sort();
    Ok(images)
}

fn count_people(images: &[ImageRef]) -> usize {
    images.iter().map(|r| &r.person).collect::<std::collections::BTreeSet<_>>().len()
}

/// Runs every image through the pipeline on every core, with a progress bar on stderr.
pub(crate) fn run_pipeline(engine: &BiometricEngine, root: &Path, images: &[ImageRef]) -> Vec<ImageResult> {
    on_every_core(images, |image| analyse(engine, &root.join(image.relative_path())))
        .into_iter()
        .map(|r| r.unwrap_or(ImageResult { template: None, live_score: None, gate: Some("worker_failed") }))
        .collect()
}

/// `work` on every item, spread over every core, in the items' order, with a progress bar on
/// stderr; `None` where a worker panicked.
pub(crate) fn on_every_core<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<Option<R>> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut results: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    let chunks: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, work(item)));
                        let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                        progress(finished, items.len());
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_default()).collect()
    });
    eprintln!();
    for (i, result) in chunks.into_iter().flatten() {
        results[i] = Some(result);
    }
    results
}

fn progress(done: usize, total: usize) {
    let step = (total / 100).max(1);
    if done.is_multiple_of(step) || done == total {
        let filled = done * 40 / total;
        eprint!("\r[{}{}] {done}/{total} images", "#".repeat(filled), ".".repeat(40 - filled));
    }
}

/// One image: the face nearest the centre (LFW centres the labelled person), its template, live
/// score and the first quality gate it would fail at enrollment.
fn analyse(engine: &BiometricEngine, path: &Path) -> ImageResult {
    let nothing = ImageResult { template: None, live_score: None, gate: None };
    let Ok(bytes) = std::fs::read(path) else { return nothing };
    let config = engine.config();
    let Ok(photo) = Photo::decode(&bytes, &config.decode) else { return nothing };
    engine
        .with_worker(|worker| {
            let faces = worker.detect(&photo, &config.detector).ok()?;
            let face = *central_face(&faces, &photo)?;
            let aligned = align(&photo, &face.landmarks)?;
            let template = worker.embed(&aligned).ok()?;
            let live_score = worker.liveness(&photo, &face).ok();
            let gate = match main_face(&faces, &config.quality) {
                Err(issue) => Some(issue.code()),
                Ok(_) => QualityMeasures::measure(&face, photo.width(), photo.height(), &aligned)
                    .first_issue(&config.quality)
                    .map(|issue| issue.code()),
            };
            Some(ImageResult { template: Some(template), live_score, gate })
        })
        .ok()
        .flatten()
        .unwrap_or(nothing)
}

/// A stable hash of a person's name (FNV-1a), to spread people over buckets or halves.
pub(crate) fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The face nearest the photo's centre, where LFW puts the labelled person.
pub(crate) fn central_face<'f>(faces: &'f [Detection], photo: &Photo) -> Option<&'f Detection> {
    let centre = (photo.width() as f32 / 2.0, photo.height() as f32 / 2.0);
    let distance =
        |f: &Detection| (f.left + f.width / 2.0 - centre.0).hypot(f.top + f.height / 2.0 - centre.1);
    faces.iter().min_by(|a, b| distance(a).total_cmp(&distance(b)))
}

/// Scores every pair of images with a face: same person genuine, different people impostor.
fn all_pairs(images: &[ImageRef], results: &[ImageResult]) -> Verification {
    let found: Vec<(&str, &[f32])> = images
        .iter()
        .zip(results)
        .filter_map(|(r, result)| result.template.as_ref().map(|t| (r.person.as_str(), t.expose_embedding())))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts: Vec<(Vec<f32>, Vec<f32>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let found = &found;
                scope.spawn(move || {
                    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
                    for i in (t..found.len()).step_by(threads) {
                        let (person, a) = found[i];
                        for &(other, b) in &found[i + 1..] {
                            let score: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                            if person == other { genuine.push(score) } else { impostor.push(score) }
                        }
                    }
                    (genuine, impostor)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (g, i) in parts {
        genuine.extend(g);
        impostor.extend(i);
    }
    Verification::new(genuine, impostor)
}
