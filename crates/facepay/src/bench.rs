//! `facepay bench biometric`: per-stage latency of the capture pipeline (decode, detect, align,
//! liveness, embed; median and p95 on one thread), next to the Python onnxruntime + OpenCV
//! reference pipeline (`bench/biometric_peer.py`) measured in the same run on the same photos and
//! the same graphs, and once more on the original model files to show what the PRelu rewrite buys.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use facepay_biometric::{Photo, align, main_face};

use crate::biometrics::engine;

#[derive(Debug)]
pub struct BenchArgs {
    pub images: PathBuf,
    pub count: usize,
    pub repeat: usize,
    pub recognizer: Option<String>,
    pub no_flip: bool,
    pub python: String,
    pub peer_script: PathBuf,
    pub json: Option<PathBuf>,
}

const STAGES: [&str; 6] = ["decode", "detect", "align", "liveness", "embed", "capture"];

pub fn biometric(args: &BenchArgs, out: &mut dyn Write) -> io::Result<bool> {
    let engine = match engine(args.recognizer.clone(), !args.no_flip) {
        Ok(engine) => engine,
        Err(e) => {
            writeln!(out, "facepay bench biometric: {e}")?;
            return Ok(false);
        }
    };
    let photos = match usable_photos(&engine, &args.images, args.count) {
        Ok(photos) if !photos.is_empty() => photos,
        Ok(_) => {
            writeln!(
                out,
                "facepay bench biometric: no photo with a usable face under {}",
                args.images.display()
            )?;
            return Ok(false);
        }
        Err(e) => {
            writeln!(out, "facepay bench biometric: {}: {e}", args.images.display())?;
            return Ok(false);
        }
    };

    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); STAGES.len()];
    let config = engine.config();
    engine
        .with_worker(|worker| {
            // One untimed pass, so first-run allocations are not measured.
            for round in 0..=args.repeat {
                for (_, bytes) in &photos {
                    let t0 = Instant::now();
                    let Ok(photo) = Photo::decode(bytes, &config.decode) else { continue };
                    let t1 = Instant::now();
                    let Ok(faces) = worker.detect(&photo, &config.detector) else { continue };
                    let t2 = Instant::now();
                    let Ok(face) = main_face(&faces, &config.quality).or_else(|_| faces.first().ok_or(()))
                    else {
                        continue;
                    };
                    let Some(aligned) = align(&photo, &face.landmarks) else { continue };
                    let t3 = Instant::now();
                    let _ = worker.liveness(&photo, face);
                    let t4 = Instant::now();
                    let _ = worker.embed(&aligned);
                    let t5 = Instant::now();
                    if round > 0 {
                        for (i, (a, b)) in [(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t1, t5)]
                            .into_iter()
                            .enumerate()
                        {
                            samples[i].push((b - a).as_secs_f64() * 1000.0);
                        }
                    }
                }
            }
        })
        .map_err(io::Error::other)?;

    let work = tempfile::tempdir()?;
    let same_graphs = work.path().join("prepared");
    std::fs::create_dir(&same_graphs)?;
    for (file, bytes) in engine.prepared_models() {
        std::fs::write(same_graphs.join(file), bytes)?;
    }
    let list = work.path().join("images.txt");
    let names: Vec<String> = photos.iter().map(|(path, _)| path.display().to_string()).collect();
    std::fs::write(&list, names.join("\n"))?;
    let recognizer = engine.recognizer().name.clone();
    let original = facepay_model_store::ModelStore::from_env().origin().folder().to_path_buf();
    let run_peer = |models: &Path, name: &str| -> Result<serde_json::Value, String> {
        let json = work.path().join(format!("{name}.json"));
        let mut command = Command::new(&args.python);
        command
            .arg(&args.peer_script)
            .arg("bench")
            .args(["--models".as_ref(), models.as_os_str()])
            .args(["--recognizer", &recognizer, "--repeat", &args.repeat.to_string()])
            .args(["--images".as_ref(), list.as_os_str(), "--json".as_ref(), json.as_os_str()])
            .env("OMP_NUM_THREADS", "1");
        if !args.no_flip {
            command.arg("--flip");
        }
        let status = command.status().map_err(|e| format!("cannot run {}: {e}", args.python))?;
        if !status.success() {
            return Err(format!(
                "the peer failed ({status}); install it with `pip install -r bench/requirements.txt`"
            ));
        }
        let text = std::fs::read_to_string(&json).map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    };
    let peer = run_peer(&same_graphs, "same_graphs");
    let peer_original = run_peer(&original, "original_files");

    let label = if config.flip_fusion { format!("{recognizer}+flip") } else { recognizer.clone() };
    writeln!(
        out,
        "facepay bench biometric: {label}, {} photos x {} rounds, one thread",
        photos.len(),
        args.repeat
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "| stage | facepay median ms | p95 | peer median ms | p95 | ratio (facepay / peer) | peer, original model files: median ms |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    let mut json_stages = serde_json::Map::new();
    for (i, stage) in STAGES.iter().enumerate() {
        let (median, p95) = (percentile(&samples[i], 0.5), percentile(&samples[i], 0.95));
        let peer_of = |report: &Result<serde_json::Value, String>, key: &str| {
            report.as_ref().ok().and_then(|r| r[*stage][key].as_f64())
        };
        let (peer_median, peer_p95) = (peer_of(&peer, "median_ms"), peer_of(&peer, "p95_ms"));
        let original_median = peer_of(&peer_original, "median_ms");
        let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        writeln!(
            out,
            "| {stage} | {median:.2} | {p95:.2} | {} | {} | {} | {} |",
            show(peer_median),
            show(peer_p95),
            peer_median.map_or("-".to_owned(), |p| format!("{:.2}", median / p)),
            show(original_median)
        )?;
        json_stages.insert(
            (*stage).into(),
            serde_json::json!({"median_ms": median, "p95_ms": p95, "peer_median_ms": peer_median, "peer_p95_ms": peer_p95, "peer_original_median_ms": original_median}),
        );
    }
    writeln!(out, "(capture = detect + align + liveness + embed, decode excluded)")?;
    for (name, report) in [("peer on the same graphs", &peer), ("peer on the original files", &peer_original)]
    {
        match report {
            Ok(r) => writeln!(out, "{name}: onnxruntime {}, opencv {}", r["onnxruntime"], r["opencv"])?,
            Err(e) => writeln!(out, "{name}: not measured: {e}")?,
        }
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({"recognizer": recognizer, "flip_fusion": config.flip_fusion, "photos": photos.len(), "rounds": args.repeat, "stages": json_stages});
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)?;
    }
    Ok(peer.is_ok())
}

/// Up to `count` photos under `root` (sorted, recursive) in which a face is found.
fn usable_photos(
    engine: &facepay_biometric::BiometricEngine,
    root: &Path,
    count: usize,
) -> io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| {
                ["jpg", "jpeg", "png", "webp"].contains(&e.to_string_lossy().to_lowercase().as_str())
            }) {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut photos = Vec::new();
    for path in files {
        if photos.len() == count {
            break;
        }
        let bytes = std::fs::read(&path)?;
        let Ok(photo) = Photo::decode(&bytes, &engine.config().decode) else { continue };
        let found =
            engine.with_worker(|w| w.detect(&photo, &engine.config().detector).is_ok_and(|f| !f.is_empty()));
        if found.unwrap_or(false) {
            photos.push((path, bytes));
        }
    }
    Ok(photos)
}

pub fn percentile(values: &[f64], share: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .get(((share * sorted.len() as f64) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN)
}
