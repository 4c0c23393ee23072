//! `facepay bench pay`: the time from a terminal's payment request to its decision, measured by
//! the server itself (`server-timing`), with a gallery of `--enrolled` faces: real people from a
//! photo folder, enrolled and paying through the HTTP API, plus synthetic templates up to the
//! gallery size (sealed by the vault into an in-memory biometric store: a payment never reads
//! the biometric tables, only the index, so where they live does not change what is timed).
//! The journal is SQLite with its durable commits, as `facepay serve` runs it.
//!
//! The peer in the same run is the floor: the biometric engine's capture of the same photo,
//! called in-process, which every payment pays before anything else. The ratio says what the
//! rest (HTTP, signature, search among everyone, the journaled decision) adds.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use facepay_api::{ApiConfig, Client, Faces, Server};
use facepay_domain::{FaceTemplate, Secret, ShopperId};
use facepay_gallery::Gallery;
use facepay_payments::Journal;
use facepay_store_sqlite::SqliteJournal;
use facepay_vault::{Keyring, MemoryBiometricStore};
use serde_json::json;

use crate::bench::percentile;
use crate::demo::{PAYMENTS_PER_TILL, b64, enroll, onboard_merchant, open_terminal, people, phone_of};
use crate::synthetic_faces::{FaceModel, SplitMix};

#[derive(Debug)]
pub struct PayBenchArgs {
    pub photos: PathBuf,
    /// Faces in the gallery in all (real people plus synthetic ones).
    pub enrolled: usize,
    /// Real people enrolled and paying.
    pub people: usize,
    /// Times each person pays.
    pub rounds: usize,
    pub json: Option<PathBuf>,
}

pub fn pay(args: &PayBenchArgs, out: &mut dyn Write) -> std::io::Result<bool> {
    match run(args, out) {
        Ok(passed) => Ok(passed),
        Err(err) => {
            writeln!(out, "facepay bench pay: {err}")?;
            Ok(false)
        }
    }
}

/// A node as `facepay serve` runs it (SQLite journal, the real engine), its gallery filled with
/// synthetic faces, serving on loopback; shared by the benches that time requests server-side.
pub(crate) struct BenchNode {
    pub node: crate::serve::Started,
    pub server: Server,
    pub client: Client,
    pub operator: String,
    pub gallery: Arc<Mutex<Gallery<MemoryBiometricStore>>>,
    pub recognizer: facepay_domain::RecognizerTag,
    /// Draws more synthetic faces like those that filled the gallery.
    pub model: FaceModel,
    pub rng: SplitMix,
    /// The engine's twin, for the in-process peer rows.
    pub peer: facepay_biometric::BiometricEngine,
    _scratch: tempfile::TempDir,
}

/// Starts a bench node with an empty gallery, `api` as its API configuration.
pub(crate) fn bench_node(api: ApiConfig) -> Result<BenchNode, String> {
    let io = |e: std::io::Error| e.to_string();
    let scratch = tempfile::Builder::new().prefix("bench-node-").tempdir().map_err(io)?;
    let engine = crate::biometrics::engine(None, true)?;
    let peer = crate::biometrics::engine(None, true)?;
    let dimension = crate::serve::recognizer_dimension(&engine)?;
    let index = facepay_face_index::FaceIndex::new(engine.recognizer().clone(), dimension);
    let keys = Keyring::generate("bench").map_err(|e| e.to_string())?.expose_secret().clone();
    let reload_text = keys.clone();
    let reload: facepay_gallery::KeySource = Box::new(move || Keyring::parse(&reload_text));
    let keyring = Keyring::parse(&keys).map_err(|e| e.to_string())?;
    let (gallery, _) =
        Gallery::open(keyring, reload, MemoryBiometricStore::default(), index).map_err(|e| e.to_string())?;
    let gallery = Arc::new(Mutex::new(gallery));
    let recognizer = engine.recognizer().clone();
    let model = FaceModel::isotropic(dimension, 0.7);
    let rng = SplitMix::new(7);
    let file = scratch.path().join("facepay.sqlite3");
    type Open = fn(&std::path::Path) -> Result<SqliteJournal, facepay_payments::JournalError>;
    let connect = |open: Open| -> Result<Box<dyn Journal + Send>, String> {
        Ok(Box::new(open(&file).map_err(|e| e.to_string())?))
    };
    let faces: Arc<dyn Faces> = gallery.clone();
    let node = crate::serve::assemble(
        (connect(SqliteJournal::open_writer)?, connect(SqliteJournal::open)?),
        faces,
        None,
        engine,
        scratch.path(),
        api,
    )?;
    let operator = node.new_operator_key.clone().unwrap_or_default();
    let server = Server::start("127.0.0.1:0", node.switch.clone()).map_err(io)?;
    let client = Client::new(&format!("http://{}", server.address));
    Ok(BenchNode { node, server, client, operator, gallery, recognizer, model, rng, peer, _scratch: scratch })
}

impl BenchNode {
    /// Seals and indexes `count` synthetic faces (ids from the top of the space: never a real
    /// shopper's), holding the gallery meanwhile. Done before a bench's timed part: a large
    /// gallery grown one face at a time merges its biggest segments now and then, which holds
    /// the gallery far longer than a request waits.
    pub(crate) fn fill(&mut self, count: usize, out: &mut dyn Write) -> Result<(), String> {
        let io = |e: std::io::Error| e.to_string();
        writeln!(out, "sealing and indexing {count} synthetic faces ...").map_err(io)?;
        let started = Instant::now();
        let mut gallery = self.gallery.lock().map_err(|_| "the gallery lock is poisoned")?;
        for n in 0..count {
            let face = self.model.stranger(&mut self.rng);
            let template = FaceTemplate::new(self.recognizer.clone(), face).map_err(|e| e.to_string())?;
            let shopper = ShopperId::from_u128(u128::MAX - n as u128);
            gallery
                .enroll(shopper, &phone_of(n), template, &[] as &[Secret<Vec<u8>>], None)
                .map_err(|e| e.to_string())?;
        }
        writeln!(out, "  done in {:.1} s", started.elapsed().as_secs_f64()).map_err(io)
    }
}

/// How many faces the node's index holds, as `/metrics` says.
pub(crate) fn gallery_size(node: &crate::serve::Started) -> String {
    node.switch
        .metrics_text()
        .lines()
        .find_map(|l| l.strip_prefix("facepay_index_faces "))
        .unwrap_or("?")
        .to_owned()
}

fn run(args: &PayBenchArgs, out: &mut dyn Write) -> Result<bool, String> {
    let io = |e: std::io::Error| e.to_string();
    let folder_people = people(&args.photos).map_err(io)?;
    let real: Vec<_> =
        folder_people.iter().filter(|(_, photos)| photos.len() >= 2).take(args.people).collect();
    let api = ApiConfig { access_log: false, ..ApiConfig::default() };
    let mut bench = bench_node(api)?;
    bench.fill(args.enrolled.saturating_sub(real.len()), out)?;
    let BenchNode { node, server, client, operator, peer, .. } = bench;
    let merchant = onboard_merchant(&client, &operator)?;
    let mut probes = Vec::new();
    for (n, (name, photos)) in real.iter().enumerate() {
        if enroll(&client, &operator, n, name, &phone_of(n), &photos[0])?.is_ok() {
            probes.push(photos[1].clone());
        }
    }
    let gallery_size = gallery_size(&node);
    writeln!(out, "gallery: {gallery_size} faces ({} real people paying)", probes.len()).map_err(io)?;

    if probes.is_empty() {
        return Err(format!("nobody in {} enrolled with a second photo to pay with", args.photos.display()));
    }
    let photos: Vec<String> = probes.iter().map(|p| b64(p)).collect::<Result<_, _>>().map_err(io)?;
    let mut server_ms = Vec::new();
    let mut client_ms = Vec::new();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    // Shoppers pay at many tills, a few each, as the demo does: one terminal taking them all
    // would trip its velocity rule, and the table would time declines.
    let payments = args.rounds * photos.len() + 1;
    let tills: Vec<_> = (0..payments.div_ceil(PAYMENTS_PER_TILL))
        .map(|_| open_terminal(&client, &merchant))
        .collect::<Result<_, _>>()?;
    let mut tills = tills.iter().flat_map(|till| std::iter::repeat_n(till, PAYMENTS_PER_TILL));
    let mut till = || tills.next().ok_or("out of tills");
    // One untimed payment warms the sessions and the connection.
    let warm = json!({"amount_minor": 100, "currency": "EUR", "order_id": "warm", "idempotency_key": "warm", "captures": [photos[0]]});
    client.signed(till()?, "POST", "/v1/terminal/payments", &warm)?;
    for round in 0..args.rounds {
        for (n, photo) in photos.iter().enumerate() {
            let signer = till()?;
            let key = format!("r{round}-{n}");
            let body = json!({"amount_minor": 100, "currency": "EUR", "order_id": key, "idempotency_key": key, "captures": [photo]});
            let started = Instant::now();
            let (status, answer, server) =
                client.signed_timed(signer, "POST", "/v1/terminal/payments", &body)?;
            client_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            server_ms.extend(server);
            let outcome = if status == 200 {
                answer["decline_reason"].as_str().or(answer["state"].as_str()).unwrap_or("?").to_owned()
            } else {
                crate::demo::refusal(status, &answer)
            };
            *outcomes.entry(outcome).or_default() += 1;
        }
    }
    server.stop().map_err(io)?;
    drop(node);

    let mut capture_ms = Vec::new();
    let bytes: Vec<Vec<u8>> = probes.iter().map(std::fs::read).collect::<Result<_, _>>().map_err(io)?;
    let _ = peer.capture(&[&bytes[0]]);
    for _ in 0..args.rounds {
        for photo in &bytes {
            let started = Instant::now();
            let _ = peer.capture(&[photo]);
            capture_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    writeln!(out).map_err(io)?;
    writeln!(out, "| one-capture payment, {gallery_size} enrolled | n | median ms | p95 ms | p99 ms |")
        .map_err(io)?;
    writeln!(out, "|---|---|---|---|---|").map_err(io)?;
    for (label, samples) in [
        ("facepay pay: server-side, request to journaled decision", &server_ms),
        ("facepay pay: client-side, loopback round trip", &client_ms),
        ("peer: engine capture alone, in-process (the floor)", &capture_ms),
    ] {
        writeln!(
            out,
            "| {label} | {} | {:.1} | {:.1} | {:.1} |",
            samples.len(),
            percentile(samples, 0.5),
            percentile(samples, 0.95),
            percentile(samples, 0.99)
        )
        .map_err(io)?;
    }
    let p95 = percentile(&server_ms, 0.95);
    writeln!(
        out,
        "\nratio pay / capture alone: {:.2}x at the median, {:.2}x at p95; decisions: {outcomes:?}",
        percentile(&server_ms, 0.5) / percentile(&capture_ms, 0.5),
        p95 / percentile(&capture_ms, 0.95)
    )
    .map_err(io)?;
    let met = p95 < 100.0;
    writeln!(out, "bar: server-side p95 under 100 ms: {}", if met { "met" } else { "NOT met" })
        .map_err(io)?;
    let unexpected: usize =
        outcomes.iter().filter(|(o, _)| o.starts_with("unexpected:")).map(|(_, n)| n).sum();
    if unexpected > 0 {
        writeln!(out, "FAIL: {unexpected} payments were answered 5xx or 401").map_err(io)?;
    }
    if let Some(path) = &args.json {
        let report = json!({"enrolled": gallery_size, "server_ms": server_ms, "client_ms": client_ms, "capture_ms": capture_ms,
                            "outcomes": outcomes});
        std::fs::write(path, report.to_string()).map_err(io)?;
    }
    Ok(met && unexpected == 0)
}
