//! `facepay bench index`: the face index at gallery scale (a million templates by default), next
//! to FAISS (IndexFlatIP, IndexHNSWFlat) and hnswlib run by `bench/index_peer.py` in the same run
//! on the same vectors: exact, batched, phone-hint and approximate query latency on one thread,
//! recall of the approximate search against the exact one, insert and delete rates, snapshot
//! size and load time, bytes per template, and the machine's memory read bandwidth.
//!
//! The vectors are synthetic templates from `synthetic_faces::FaceModel`. With `--like DIR` the
//! model is fitted to the real templates of a labelled face folder (LFW dev) run through the real
//! pipeline first, so a million synthetic people are spread the way real faces are; without it,
//! people are spread evenly over the sphere and two captures of one person meet at a cosine of 0.6,
//! the hardest case for an approximate search. The gallery holds one capture per person, a
//! genuine probe is another capture of an enrolled person, and a stranger is a capture of someone
//! new.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use facepay_domain::{FaceTemplate, RecognizerTag, ShopperId};
use facepay_face_index::{Candidate, Decision, DecisionRule, FaceIndex, PhoneHint, Scope, View, decide};

use crate::bench::percentile;
use crate::eval::{images_and_engine, run_pipeline};
use crate::synthetic_faces::{FaceModel, SplitMix};

#[derive(Debug)]
pub struct IndexBenchArgs {
    pub n: usize,
    pub dim: usize,
    pub queries: usize,
    pub python: String,
    pub peer_script: PathBuf,
    /// Leave the peers out (for a quick look; the report then has no ratios).
    pub no_peer: bool,
    pub json: Option<PathBuf>,
    /// A labelled face folder whose real templates shape the synthetic ones.
    pub like: Option<PathBuf>,
}

const K: usize = 10;

/// Recall@1 on the half of the genuine probes that picks a setting, and on the half that scores it.
#[derive(Debug, Clone, Copy)]
struct Recall {
    calibration: f64,
    scored: f64,
}
const STRANGERS: usize = 1000;
const NPROBES: [usize; 6] = [256, 512, 768, 1024, 1280, 1536];
const SINGLE_INSERTS: usize = 10_000;

pub fn index(args: &IndexBenchArgs, out: &mut dyn Write) -> io::Result<bool> {
    let tag = RecognizerTag { name: "synthetic".into(), version: "1".into() };
    let (model, shape) = match &args.like {
        None => (FaceModel::isotropic(args.dim, 0.6), None),
        Some(dir) => match fitted_model(dir, out)? {
            Ok(fitted) => fitted,
            Err(e) => {
                writeln!(out, "facepay bench index: {e}")?;
                return Ok(false);
            }
        },
    };
    if model.dim() != args.dim {
        writeln!(
            out,
            "facepay bench index: the templates under --like have {} dimensions, not --dim {}",
            model.dim(),
            args.dim
        )?;
        return Ok(false);
    }
    let mut rng = SplitMix::new(0x5eed);
    writeln!(out, "generating {} gallery templates of {} dimensions ...", args.n, args.dim)?;
    let hint_of = |row: usize| PhoneHint::parse(&format!("{:04}", (row * 7919) % 10_000)).expect("4 digits");
    let mates: Vec<usize> = (0..args.queries).map(|i| i * args.n / args.queries).collect();
    let mut gallery: Vec<f32> = Vec::with_capacity(args.n * args.dim);
    let mut genuine: Vec<f32> = Vec::with_capacity(args.queries * args.dim);
    let mut next_mate = mates.iter().peekable();
    for row in 0..args.n {
        if next_mate.next_if_eq(&&row).is_some() {
            let person = model.person(&mut rng);
            gallery.extend(model.capture(&person, &mut rng));
            genuine.extend(model.capture(&person, &mut rng));
        } else {
            gallery.extend(model.stranger(&mut rng));
        }
    }
    let strangers: Vec<f32> = (0..STRANGERS).flat_map(|_| model.stranger(&mut rng)).collect();
    let templates = |flat: &[f32]| -> Vec<FaceTemplate> {
        flat.chunks_exact(args.dim)
            .map(|v| FaceTemplate::new(tag.clone(), v.to_vec()).expect("unit vectors"))
            .collect()
    };
    let (genuine_t, strangers_t) = (templates(&genuine), templates(&strangers));
    let model_shape = Shape::of_model(&model, &mut SplitMix::new(0x5a4e));

    // Bulk load, then single inserts and deletes on top of the full gallery.
    let mut index = FaceIndex::new(tag.clone(), args.dim);
    let t0 = Instant::now();
    {
        let faces = templates(&gallery);
        index
            .upsert_many(
                faces.iter().enumerate().map(|(i, f)| (ShopperId::from_u128(i as u128), f, hint_of(i))),
            )
            .expect("one recognizer");
    }
    let bulk_s = t0.elapsed().as_secs_f64();
    let extra = templates(&(0..SINGLE_INSERTS).flat_map(|_| model.stranger(&mut rng)).collect::<Vec<_>>());
    let t0 = Instant::now();
    for (i, face) in extra.iter().enumerate() {
        index.upsert(ShopperId::from_u128((args.n + i) as u128), face, hint_of(i)).expect("one recognizer");
    }
    let insert_per_s = SINGLE_INSERTS as f64 / t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    for i in 0..SINGLE_INSERTS {
        index.remove(ShopperId::from_u128((args.n + i) as u128));
    }
    let delete_per_s = SINGLE_INSERTS as f64 / t0.elapsed().as_secs_f64();
    let (scanned_bytes, held_bytes) = index.memory();
    let view = index.view();

    writeln!(out, "measuring facepay ...")?;
    let exact = time_each(&genuine_t, |p| view.search(p, K).expect("same recognizer"));
    let truth: Vec<ShopperId> = exact.1.iter().map(|found| found[0].shopper).collect();
    let stranger_found: Vec<Vec<Candidate>> =
        strangers_t.iter().map(|p| view.search(p, K).expect("same recognizer")).collect();
    let stranger_truth: Vec<ShopperId> = stranger_found.iter().map(|found| found[0].shopper).collect();
    let rule = DecisionRule::default();
    let mated_ids: Vec<Option<ShopperId>> =
        mates.iter().map(|&m| Some(ShopperId::from_u128(m as u128))).collect();
    let genuine_decisions = Decisions::tally(&exact.1, &mated_ids, &rule);
    let stranger_decisions = Decisions::tally(&stranger_found, &vec![None; STRANGERS], &rule);
    let mut batch_ms = Vec::new();
    for group in genuine_t.chunks(8) {
        let probes: Vec<&FaceTemplate> = group.iter().collect();
        let t0 = Instant::now();
        view.search_batch(&probes, K).expect("same recognizer");
        batch_ms.push(t0.elapsed().as_secs_f64() * 1e3 / group.len() as f64);
    }
    let hinted: Vec<(&FaceTemplate, PhoneHint)> =
        genuine_t.iter().zip(&mates).map(|(p, &m)| (p, hint_of(m))).collect();
    let hint = time_each(&hinted, |(p, h)| view.search_hint(p, *h, K).expect("same recognizer"));
    let hint_found =
        hint.1.iter().zip(&truth).filter(|(found, t)| found.first().map(|c| c.shopper) == Some(**t)).count();
    let mut ann = Vec::new();
    for nprobe in NPROBES {
        let (ms, found) =
            time_each(&genuine_t, |p| view.search_approximate(p, K, nprobe).expect("same recognizer"));
        let half = truth.len() / 2;
        let hits = |range: std::ops::Range<usize>| {
            let n = range.len();
            share(
                found[range.clone()].iter().zip(&truth[range]).filter(|(f, t)| f[0].shopper == **t).count(),
                n,
            )
        };
        let recall = Recall { calibration: hits(0..half), scored: hits(half..truth.len()) };
        let stranger_recall = share(
            strangers_t
                .iter()
                .zip(&stranger_truth)
                .filter(|(p, t)| {
                    view.search_approximate(p, K, nprobe).expect("same recognizer")[0].shopper == **t
                })
                .count(),
            STRANGERS,
        );
        ann.push((nprobe, recall, stranger_recall, ms));
    }
    let (snapshot_bytes, snapshot_write_s, snapshot_load_s) = snapshot_times(&view, &tag, args.dim);
    let bandwidth = read_bandwidth_gbps();

    let peer = if args.no_peer { None } else { Some(run_peer(args, &gallery, &genuine)) };
    drop(gallery);

    // The setting is picked on the first half of the probes and scored on the second.
    let chosen = ann.iter().find(|a| a.1.calibration >= 0.995).unwrap_or(&ann[ann.len() - 1]);
    let exact_median = median(&exact.0);
    let peer_report = peer.as_ref().and_then(|p| p.as_ref().ok());
    let peer_at = |key: &str, field: &str| peer_report.and_then(|p| p[key][field].as_f64());
    let (peer_flat, peer_flat_p99) = (peer_at("faiss_flat", "median_ms"), peer_at("faiss_flat", "p99_ms"));

    writeln!(
        out,
        "\nfacepay bench index: {} templates x {} dimensions, one thread, top-{K}, {} genuine probes, {STRANGERS} strangers",
        args.n, args.dim, args.queries
    )?;
    writeln!(
        out,
        "\n| templates | genuine cosine median | stranger cosine median | stranger cosine p99.9 |\n|---|---|---|---|"
    )?;
    if let Some(real) = &shape {
        writeln!(out, "| real, under --like | {real} |")?;
    }
    writeln!(
        out,
        "| synthetic ({}) | {model_shape} |\n",
        if shape.is_some() { "fitted to them" } else { "isotropic" }
    )?;
    writeln!(
        out,
        "| query | facepay median ms | p99 ms | peer | peer median ms | peer p99 ms | ratio (peer / facepay) |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    let ratio =
        |peer: Option<f64>, ours: f64| peer.map_or("–".to_string(), |p| format!("{:.2}x", p / ours));
    let opt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    writeln!(
        out,
        "| exact | {:.3} | {:.3} | FAISS IndexFlatIP | {} | {} | {} |",
        exact_median,
        percentile(&exact.0, 0.99),
        opt(peer_flat),
        opt(peer_flat_p99),
        ratio(peer_flat, exact_median)
    )?;
    let (peer_sq8, peer_sq8_recall) =
        (peer_at("faiss_sq8_refine", "median_ms"), peer_at("faiss_sq8_refine", "recall_at_1"));
    writeln!(
        out,
        "| exact | {:.3} | {:.3} | FAISS IndexScalarQuantizer 8-bit + IndexRefineFlat (k_factor {:.1}, recall@1 {}) | {} | {} | {} |",
        exact_median,
        percentile(&exact.0, 0.99),
        facepay_face_index::SHORTLIST as f64 / K as f64,
        opt(peer_sq8_recall),
        opt(peer_sq8),
        opt(peer_at("faiss_sq8_refine", "p99_ms")),
        ratio(peer_sq8, exact_median)
    )?;
    let peer_batch = peer_at("faiss_flat_batch8", "median_ms");
    writeln!(
        out,
        "| exact, 8 probes per pass (per probe) | {:.3} | {:.3} | FAISS IndexFlatIP, 8 probes per call | {} | {} | {} |",
        median(&batch_ms),
        percentile(&batch_ms, 0.99),
        opt(peer_batch),
        opt(peer_at("faiss_flat_batch8", "p99_ms")),
        ratio(peer_batch, median(&batch_ms))
    )?;
    writeln!(
        out,
        "| phone-hint bucket ({} of {} top-1 found) | {:.4} | {:.4} | | | | |",
        hint_found,
        truth.len(),
        median(&hint.0),
        percentile(&hint.0, 0.99)
    )?;
    writeln!(
        out,
        "\n| approximate (each setting's recall@1 on the first half of the probes picks it; the second half scores it) \
         | recall@1 genuine, picking half | scored half | recall@1 strangers | median ms | p99 ms |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    for (nprobe, recall, stranger_recall, ms) in &ann {
        let picked = if *nprobe == chosen.0 { " (picked)" } else { "" };
        writeln!(
            out,
            "| facepay IVF nprobe={nprobe}{picked} | {:.4} | {:.4} | {:.3} | {:.3} | {:.3} |",
            recall.calibration,
            recall.scored,
            stranger_recall,
            median(ms),
            percentile(ms, 0.99)
        )?;
    }
    match &peer {
        Some(Ok(report)) => {
            for (name, key, setting) in [
                (
                    "FAISS IndexIVFPQFastScan 4-bit + IndexRefineFlat, same lists and shortlist",
                    "faiss_ivfpq_fastscan",
                    "nprobe",
                ),
                ("FAISS IndexHNSWFlat", "faiss_hnsw", "ef"),
                ("hnswlib", "hnswlib", "ef"),
            ] {
                let runs: Vec<&serde_json::Value> =
                    report[key]["runs"].as_array().into_iter().flatten().collect();
                let number = |run: &serde_json::Value, field: &str| run[field].as_f64().unwrap_or(f64::NAN);
                let picked = runs
                    .iter()
                    .find(|run| number(run, "recall_at_1_calibration") >= 0.995)
                    .or(runs.last())
                    .map(|run| run[setting].clone());
                for run in &runs {
                    let mark = if Some(&run[setting]) == picked.as_ref() { " (picked)" } else { "" };
                    writeln!(
                        out,
                        "| {name} {setting}={}{mark} (built in {:.0} s on every core) | {:.4} | {:.4} | | {:.3} | {:.3} |",
                        run[setting],
                        report[key]["build_s"].as_f64().unwrap_or(f64::NAN),
                        number(run, "recall_at_1_calibration"),
                        number(run, "recall_at_1_scored"),
                        number(run, "median_ms"),
                        number(run, "p99_ms")
                    )?;
                }
            }
        }
        Some(Err(e)) => writeln!(out, "peer failed: {e}")?,
        None => writeln!(out, "peers not run (--no-peer)")?,
    }
    writeln!(
        out,
        "\n| the decision `serve` runs, among everyone ({rule}) | genuine probes | strangers |\n|---|---|---|"
    )?;
    let (g, s) = (&genuine_decisions, &stranger_decisions);
    writeln!(out, "| matched the right person | {} | – |", g.right)?;
    writeln!(out, "| matched someone else | {} | {} |", g.wrong, s.wrong)?;
    writeln!(out, "| asked for the phone digits | {} | {} |", g.asked, s.asked)?;
    writeln!(out, "| no match | {} | {} |", g.none, s.none)?;
    let scan_gbps = args.n as f64 * scanned_bytes as f64 / view.len() as f64 / (exact_median / 1e3) / 1e9;
    writeln!(out, "\n| measure | value |\n|---|---|")?;
    writeln!(out, "| bulk load (one segment, lists included) | {:.0} templates/s |", args.n as f64 / bulk_s)?;
    writeln!(out, "| single inserts into the full index | {insert_per_s:.0}/s |")?;
    writeln!(out, "| deletes | {delete_per_s:.0}/s |")?;
    writeln!(
        out,
        "| snapshot | {:.1} MB, written in {snapshot_write_s:.2} s, loaded in {snapshot_load_s:.2} s |",
        snapshot_bytes as f64 / 1e6
    )?;
    writeln!(
        out,
        "| bytes per template | {} read by the exact scan, {} held in all |",
        scanned_bytes / view.len(),
        held_bytes / view.len()
    )?;
    writeln!(
        out,
        "| memory read bandwidth, one thread | {bandwidth:.1} GB/s (exact scan reads at {scan_gbps:.1} GB/s) |"
    )?;

    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "n": args.n, "dim": args.dim,
            "templates": if shape.is_some() { "fitted" } else { "isotropic" },
            "real_shape": shape.as_ref().map(Shape::json), "synthetic_shape": model_shape.json(), "k": K, "genuine_probes": args.queries, "strangers": STRANGERS,
            "exact_ms_median": exact_median, "exact_ms_p99": percentile(&exact.0, 0.99),
            "batch8_ms_per_query_median": median(&batch_ms),
            "peer_faiss_flat_ms_median": peer_flat, "peer_faiss_flat_ms_p99": peer_flat_p99,
            "hint_ms_median": median(&hint.0), "hint_ms_p99": percentile(&hint.0, 0.99),
            "ann_nprobe": chosen.0, "ann_recall_at_1": chosen.1.scored, "ann_recall_at_1_calibration": chosen.1.calibration, "ann_stranger_recall_at_1": chosen.2,
            "ann_ms_median": median(&chosen.3), "ann_ms_p99": percentile(&chosen.3, 0.99),
            "ann_runs": ann.iter().map(|a| serde_json::json!({"nprobe": a.0, "recall_at_1_calibration": a.1.calibration, "recall_at_1_scored": a.1.scored, "stranger_recall_at_1": a.2, "median_ms": median(&a.3), "p99_ms": percentile(&a.3, 0.99)})).collect::<Vec<_>>(),
            "bytes_per_template": held_bytes / view.len(), "scanned_bytes_per_template": scanned_bytes / view.len(),
            "bulk_load_per_s": args.n as f64 / bulk_s, "insert_per_s": insert_per_s, "delete_per_s": delete_per_s,
            "snapshot_bytes": snapshot_bytes, "snapshot_write_s": snapshot_write_s, "snapshot_load_s": snapshot_load_s,
            "memory_bandwidth_gbps": bandwidth, "exact_scan_gbps": scan_gbps,
            "decisions": {"genuine": genuine_decisions.json(), "strangers": stranger_decisions.json()},
            "peer": peer_report,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)?;
    }
    Ok(peer.is_none_or(|p| p.is_ok()))
}

/// What the default rule decides on exact search results.
#[derive(Debug, Default)]
struct Decisions {
    right: usize,
    wrong: usize,
    asked: usize,
    none: usize,
}

impl Decisions {
    fn tally(results: &[Vec<Candidate>], wanted: &[Option<ShopperId>], rule: &DecisionRule) -> Decisions {
        let mut tally = Decisions::default();
        for (found, wanted) in results.iter().zip(wanted) {
            match decide(found, rule, Scope::Everyone) {
                Decision::Match { shopper, .. } if Some(shopper) == *wanted => tally.right += 1,
                Decision::Match { .. } => tally.wrong += 1,
                Decision::AskHint => tally.asked += 1,
                Decision::NoMatch => tally.none += 1,
            }
        }
        tally
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({"right": self.right, "wrong": self.wrong, "asked": self.asked, "no_match": self.none})
    }
}

/// Runs the pipeline over a labelled face folder and fits the synthetic model to its templates.
fn fitted_model(
    dir: &std::path::Path,
    out: &mut dyn Write,
) -> io::Result<Result<(FaceModel, Option<Shape>), String>> {
    let (images, engine) = match images_and_engine(dir, None, false) {
        Ok(found) => found,
        Err(e) => return Ok(Err(e)),
    };
    writeln!(out, "fitting the template model to {} images under {} ...", images.len(), dir.display())?;
    let results = run_pipeline(&engine, dir, &images);
    let mut people: BTreeMap<&str, Vec<&[f32]>> = BTreeMap::new();
    for (image, result) in images.iter().zip(&results) {
        if let Some(template) = &result.template {
            people.entry(image.person.as_str()).or_default().push(template.expose_embedding());
        }
    }
    let people: Vec<Vec<&[f32]>> = people.into_values().collect();
    Ok(FaceModel::fit(&people).map(|model| (model, Some(Shape::of_people(&people)))))
}

/// How captures of one person and of two people relate: what an index's partitions feel.
struct Shape {
    genuine_median: f64,
    stranger_median: f64,
    stranger_p999: f64,
}

impl Shape {
    /// Every person's first template against their others; the first templates of the first
    /// 1,000 people against each other.
    fn of_people(people: &[Vec<&[f32]>]) -> Shape {
        let genuine: Vec<f64> = people.iter().flat_map(|p| p[1..].iter().map(|t| cosine(p[0], t))).collect();
        let firsts: Vec<&[f32]> = people.iter().take(1000).map(|p| p[0]).collect();
        let strangers: Vec<f64> = firsts
            .iter()
            .enumerate()
            .flat_map(|(i, a)| firsts[i + 1..].iter().map(|b| cosine(a, b)))
            .collect();
        Shape::from_scores(&genuine, &strangers)
    }

    /// The same from 1,000 synthetic people captured twice.
    fn of_model(model: &FaceModel, rng: &mut SplitMix) -> Shape {
        let pairs: Vec<(Vec<f32>, Vec<f32>)> = (0..1000)
            .map(|_| {
                let person = model.person(rng);
                (model.capture(&person, rng), model.capture(&person, rng))
            })
            .collect();
        let genuine: Vec<f64> = pairs.iter().map(|(a, b)| cosine(a, b)).collect();
        let strangers: Vec<f64> = pairs
            .iter()
            .enumerate()
            .flat_map(|(i, a)| pairs[i + 1..].iter().map(|b| cosine(&a.0, &b.0)))
            .collect();
        Shape::from_scores(&genuine, &strangers)
    }

    fn from_scores(genuine: &[f64], strangers: &[f64]) -> Shape {
        Shape {
            genuine_median: median(genuine),
            stranger_median: median(strangers),
            stranger_p999: percentile(strangers, 0.999),
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({"genuine_cosine_median": self.genuine_median, "stranger_cosine_median": self.stranger_median, "stranger_cosine_p999": self.stranger_p999})
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3} | {:.3} | {:.3}", self.genuine_median, self.stranger_median, self.stranger_p999)
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum()
}

/// Milliseconds per call (after one untimed call) and the results.
fn time_each<T, R>(inputs: &[T], mut call: impl FnMut(&T) -> R) -> (Vec<f64>, Vec<R>) {
    if let Some(first) = inputs.first() {
        call(first);
    }
    inputs
        .iter()
        .map(|input| {
            let t0 = Instant::now();
            let result = call(input);
            (t0.elapsed().as_secs_f64() * 1e3, result)
        })
        .unzip()
}

/// (bytes, seconds to write, median seconds to load of three).
fn snapshot_times(view: &View, tag: &RecognizerTag, dim: usize) -> (usize, f64, f64) {
    let t0 = Instant::now();
    let bytes = view.snapshot();
    let write_s = t0.elapsed().as_secs_f64();
    let mut loads: Vec<f64> = (0..3)
        .map(|_| {
            let t0 = Instant::now();
            let loaded =
                FaceIndex::from_snapshot(tag.clone(), dim, bytes.expose_secret()).expect("own snapshot");
            let s = t0.elapsed().as_secs_f64();
            assert_eq!(loaded.len(), view.len());
            s
        })
        .collect();
    loads.sort_by(f64::total_cmp);
    (bytes.expose_secret().len(), write_s, loads[1])
}

/// Runs the Python peers on the same vectors and returns their report.
fn run_peer(args: &IndexBenchArgs, gallery: &[f32], queries: &[f32]) -> Result<serde_json::Value, String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let write = |name: &str, values: &[f32]| -> Result<PathBuf, String> {
        let path = work.path().join(name);
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        Ok(path)
    };
    let (g, q, json) =
        (write("gallery.f32", gallery)?, write("queries.f32", queries)?, work.path().join("peer.json"));
    let status = Command::new(&args.python)
        .arg(&args.peer_script)
        .args(["--gallery".as_ref(), g.as_os_str(), "--queries".as_ref(), q.as_os_str()])
        .args(["--dim", &args.dim.to_string()])
        .args(["--nlist", &facepay_face_index::list_count(args.n).to_string()])
        .args(["--shortlist", &facepay_face_index::SHORTLIST.to_string()])
        .args(["--nprobes", &NPROBES.map(|n| n.to_string()).join(","), "--json"])
        .arg(&json)
        .status()
        .map_err(|e| format!("{}: {e}", args.python))?;
    if !status.success() {
        return Err(format!("{} exited with {status}", args.peer_script.display()));
    }
    let text = std::fs::read_to_string(&json).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// Sums a 1 GiB buffer, median of five passes.
fn read_bandwidth_gbps() -> f64 {
    let words: Vec<u64> = (0..(1usize << 27)).map(|i| i as u64).collect();
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let t0 = Instant::now();
            let sum = words.iter().fold(0u64, |a, &b| a.wrapping_add(b));
            std::hint::black_box(sum);
            (words.len() * 8) as f64 / t0.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[2]
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

fn share(count: usize, of: usize) -> f64 {
    count as f64 / of as f64
}
