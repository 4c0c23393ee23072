//! `facepay bench gate`: a metro's gate decisions timed by the server itself (`server-timing`),
//! with `--enrolled` faces in the gallery and `--open-journeys` riders inside the network. Real
//! people from a photo folder enroll and ride through the HTTP API (an entry decision by face,
//! searched among everyone; again with the phone digits when the face alone is not certain
//! enough there; by payment code when still not let in; the
//! passage reported; later an exit decision by face, searched only among the riders inside; its
//! passage reported); synthetic riders fill the gallery and the
//! network (their entries recorded through the core, as a batch from an entry gate would be).
//!
//! The peers in the same run, in-process on the same photos: the engine's capture alone (the
//! floor every decision pays) and, from each capture's template, the search among everyone next
//! to the search among the riders inside.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use facepay_api::{ApiConfig, Client, Rate, TerminalSigner};
use facepay_domain::{FaceTemplate, Secret, ShopperId, Timestamp};
use facepay_payments::{Command, GatePassage};
use facepay_transit::{Direction, Medium, NetworkId};
use serde_json::{Value, json};

use crate::bench::percentile;
use crate::bench_pay::{BenchNode, bench_node, gallery_size};
use crate::demo::{b64, enroll, expect_ok, open_terminal, people, phone_of};

#[derive(Debug)]
pub struct GateBenchArgs {
    pub photos: PathBuf,
    pub enrolled: usize,
    pub open_journeys: usize,
    /// Real people who ride.
    pub people: usize,
    pub json: Option<PathBuf>,
}

/// The bench's network: two zones, every journey 2.00 or 3.00, at most two hours.
const FARE_FILES: [(&str, &str); 6] = [
    ("networks.txt", "network_id,network_name\nmetro,Metro\n"),
    ("areas.txt", "area_id,area_name\nz1,Zone 1\nz2,Zone 2\n"),
    ("stop_areas.txt", "area_id,stop_id\nz1,central\nz2,harbour\n"),
    ("fare_products.txt", "fare_product_id,amount,currency\ninner,2.00,EUR\nacross,3.00,EUR\n"),
    (
        "fare_leg_rules.txt",
        "leg_group_id,network_id,from_area_id,to_area_id,fare_product_id\n\
         inner,metro,z1,z1,inner\ninner,metro,z2,z2,inner\nacross,metro,z1,z2,across\nacross,metro,z2,z1,across\n",
    ),
    ("facepay_networks.txt", "network_id,maximum_fare,max_journey_minutes,currency\nmetro,6.00,120,EUR\n"),
];

/// A rider passes at 45 a minute at a busy gate: one decision every 1.33 s.
const RIDERS_PER_GATE_SECOND: f64 = 0.75;

pub fn gate(args: &GateBenchArgs, out: &mut dyn Write) -> std::io::Result<bool> {
    match run(args, out) {
        Ok(passed) => Ok(passed),
        Err(err) => {
            writeln!(out, "facepay bench gate: {err}")?;
            Ok(false)
        }
    }
}

/// Server-side milliseconds of each kind of request, and what the decisions said.
#[derive(Default)]
struct Timings {
    entry: Vec<f64>,
    entry_with_digits: Vec<f64>,
    entry_by_code: Vec<f64>,
    exit: Vec<f64>,
    passage: Vec<f64>,
    outcomes: std::collections::BTreeMap<String, usize>,
}

fn run(args: &GateBenchArgs, out: &mut dyn Write) -> Result<bool, String> {
    let io = |e: std::io::Error| e.to_string();
    let folder_people = people(&args.photos).map_err(io)?;
    let real: Vec<_> =
        folder_people.iter().filter(|(_, photos)| photos.len() >= 2).take(args.people).collect();
    let inside_synthetic = args.open_journeys.saturating_sub(real.len());
    // Sign-ups and gates here come faster than a street's would.
    let fast = Rate { per_second: 1e6, burst: 1e6 };
    let api = ApiConfig { access_log: false, open_rate: fast, terminal_rate: fast, ..ApiConfig::default() };
    let filler = args.enrolled.saturating_sub(real.len() + inside_synthetic);
    let mut bench = bench_node(api)?;
    let (entry_gate, exit_gate) = open_network(&bench)?;

    // Riders sign up and enroll while the gallery is small; the filler comes after (see `fill`).
    writeln!(out, "{inside_synthetic} synthetic riders sign up ...").map_err(io)?;
    let inside = synthetic_riders(&mut bench, inside_synthetic)?;

    // Each real rider's API key (for a payment code), phone digits and the photo they ride with.
    let mut riders = Vec::new();
    for (n, (name, photos)) in real.iter().enumerate() {
        let phone = phone_of(inside_synthetic + n);
        if let Ok(key) = enroll(&bench.client, &bench.operator, n, name, &phone, &photos[0])? {
            riders.push((key, phone, photos[1].clone()));
        }
    }
    if riders.is_empty() {
        return Err(format!("nobody in {} enrolled with a second photo to ride with", args.photos.display()));
    }
    bench.fill(filler, out)?;
    writeln!(out, "the synthetic riders enter ...").map_err(io)?;
    enter_synthetic(&bench, entry_gate.terminal, &inside)?;
    let gallery = gallery_size(&bench.node);
    writeln!(out, "gallery: {gallery} faces; {} real riders", riders.len()).map_err(io)?;
    let photos: Vec<String> = riders.iter().map(|(_, _, p)| b64(p)).collect::<Result<_, _>>().map_err(io)?;

    let mut timings = Timings::default();
    let mut seq = 0u64;
    // One untimed decision warms the sessions and the connection.
    decide(&bench.client, &entry_gate, "entry", &photos[0], None)?;
    for ((key, phone, _), photo) in riders.iter().zip(&photos) {
        let (mut answer, ms) = decide(&bench.client, &entry_gate, "entry", photo, None)?;
        timings.entry.extend(ms);
        let code = answer["code"].as_str().unwrap_or("?");
        *timings.outcomes.entry(format!("entry {code}")).or_default() += 1;
        // A face not certain among everyone is searched again with the phone digits typed...
        if answer["code"] == "phone_digits_needed" {
            let (with_digits, ms) = decide(&bench.client, &entry_gate, "entry", photo, Some(phone))?;
            timings.entry_with_digits.extend(ms);
            let code = with_digits["code"].as_str().unwrap_or("?");
            *timings.outcomes.entry(format!("entry with digits {code}")).or_default() += 1;
            answer = with_digits;
        }
        // ...and a rider still not let in shows the payment code.
        if answer["open"] != true {
            let (by_code, ms) = decide_by_code(&bench.client, &entry_gate, key)?;
            timings.entry_by_code.extend(ms);
            answer = by_code;
        }
        if answer["open"] == true {
            seq += 1;
            timings.passage.extend(pass(&bench.client, &entry_gate, &answer, seq)?);
        }
    }
    let inside_at_exit = bench.node.switch.read(|core| {
        core.travel_log()
            .riding(&NetworkId::from("metro"), 2 * 3_600_000, Timestamp::from_unix_ms(facepay_api::now_ms()))
            .len()
    });
    writeln!(out, "riders inside when the exits begin: {inside_at_exit}").map_err(io)?;
    let cpu_before = cpu_seconds();
    let exits_started = Instant::now();
    for photo in &photos {
        let (answer, ms) = decide(&bench.client, &exit_gate, "exit", photo, None)?;
        timings.exit.extend(ms);
        *timings.outcomes.entry(format!("exit {}", answer["code"].as_str().unwrap_or("?"))).or_default() += 1;
        if answer["open"] == true {
            seq += 1;
            timings.passage.extend(pass(&bench.client, &exit_gate, &answer, seq)?);
        }
    }
    let exit_wall = exits_started.elapsed().as_secs_f64();
    let exit_cpu = cpu_seconds().zip(cpu_before).map(|(after, before)| after - before);
    let inside_ids = bench.node.switch.read(|core| {
        core.travel_log().riding(
            &NetworkId::from("metro"),
            2 * 3_600_000,
            Timestamp::from_unix_ms(facepay_api::now_ms()),
        )
    });
    let view = bench.gallery.lock().map_err(|_| "the gallery lock is poisoned")?.reader().view();
    let BenchNode { server, node, peer, .. } = bench;
    server.stop().map_err(io)?;
    drop(node);

    // The peers, in-process, on the same photos.
    let (mut capture_ms, mut everyone_ms, mut among_ms) = (Vec::new(), Vec::new(), Vec::new());
    let bytes: Vec<Vec<u8>> =
        riders.iter().map(|(_, _, p)| std::fs::read(p)).collect::<Result<_, _>>().map_err(io)?;
    let _ = peer.capture(&[&bytes[0]]);
    for photo in &bytes {
        let started = Instant::now();
        let Ok(captured) = peer.capture(&[photo]) else { continue };
        capture_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        view.search(&captured.template, 8).map_err(|e| e.to_string())?;
        everyone_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        view.search_among(&captured.template, &inside_ids, 8).map_err(|e| e.to_string())?;
        among_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }

    writeln!(out).map_err(io)?;
    writeln!(out, "| gate, {gallery} enrolled, {inside_at_exit} inside | n | median ms | p95 ms | p99 ms |")
        .map_err(io)?;
    writeln!(out, "|---|---|---|---|---|").map_err(io)?;
    for (label, samples) in [
        ("exit decision by face: server-side, capture + search among riders inside", &timings.exit),
        ("entry decision by face: server-side, capture + search among everyone", &timings.entry),
        (
            "entry decision by face + phone digits: server-side, capture + search in the bucket",
            &timings.entry_with_digits,
        ),
        ("entry decision by payment code: server-side, the code spent (journaled)", &timings.entry_by_code),
        ("passage report: server-side, journaled (a day's hold at a first entry)", &timings.passage),
        ("peer: engine capture alone, in-process (the floor)", &capture_ms),
        ("peer: search among everyone, in-process", &everyone_ms),
        ("peer: search among the riders inside, in-process", &among_ms),
    ] {
        writeln!(
            out,
            "| {label} | {} | {:.2} | {:.2} | {:.2} |",
            samples.len(),
            percentile(samples, 0.5),
            percentile(samples, 0.95),
            percentile(samples, 0.99)
        )
        .map_err(io)?;
    }
    let p95 = percentile(&timings.exit, 0.95);
    writeln!(
        out,
        "\nratio exit decision / capture alone: {:.2}x at the median; search among everyone / among inside: {:.0}x",
        percentile(&timings.exit, 0.5) / percentile(&capture_ms, 0.5),
        percentile(&everyone_ms, 0.5) / percentile(&among_ms, 0.5)
    )
    .map_err(io)?;
    // Decisions run one at a time, each on one core (the engine's sessions take one thread).
    let per_core = match exit_cpu {
        Some(cpu) if cpu > 0.0 => timings.exit.len() as f64 / cpu,
        _ => timings.exit.len() as f64 / exit_wall,
    };
    writeln!(
        out,
        "exit decisions per core-second: {per_core:.1} (process CPU time, client included); at 45 riders a \
         minute that is {:.0} gates per core",
        per_core / RIDERS_PER_GATE_SECOND
    )
    .map_err(io)?;
    writeln!(out, "decisions: {:?}", timings.outcomes).map_err(io)?;
    let met = p95 < 150.0;
    writeln!(out, "bar: exit decision server-side p95 under 150 ms: {}", if met { "met" } else { "NOT met" })
        .map_err(io)?;
    if let Some(path) = &args.json {
        let report = json!({"enrolled": gallery, "inside": inside_at_exit, "exit_ms": timings.exit,
            "entry_ms": timings.entry, "passage_ms": timings.passage, "capture_ms": capture_ms,
            "search_everyone_ms": everyone_ms, "search_inside_ms": among_ms, "outcomes": timings.outcomes,
            "exit_decisions_per_core_second": per_core});
        std::fs::write(path, report.to_string()).map_err(io)?;
    }
    Ok(met)
}

/// The transit operator, its scheme and two gates: an entry at `central`, an exit at `harbour`.
fn open_network(bench: &BenchNode) -> Result<(TerminalSigner, TerminalSigner), String> {
    let (client, operator) = (&bench.client, bench.operator.as_str());
    let body = json!({"risk": "low", "acquirer": 1});
    let merchant = expect_ok(
        client.call("POST", "/v1/operator/merchants", Some(operator), Some(&body)),
        "onboard the metro",
    )?;
    let files: serde_json::Map<String, Value> =
        FARE_FILES.iter().map(|(name, text)| ((*name).to_owned(), json!(text))).collect();
    let scheme = json!({"merchant_id": merchant["merchant_id"], "fare_files": files, "day_hold_minor": 700,
        "day_starts_minute": 270});
    expect_ok(
        client.call("PUT", "/v1/operator/transit/scheme", Some(operator), Some(&scheme)),
        "set the fares",
    )?;
    let key = merchant["api_key"].as_str().unwrap_or_default();
    let mut gates = Vec::new();
    for station in ["central", "harbour"] {
        let gate = open_terminal(client, key)?;
        let path = format!("/v1/operator/transit/gates/{}", gate.terminal);
        let place = json!({"network": "metro", "station": station});
        expect_ok(client.call("PUT", &path, Some(operator), Some(&place)), "place a gate")?;
        gates.push(gate);
    }
    let exit = gates.pop().ok_or("no exit gate")?;
    Ok((gates.pop().ok_or("no entry gate")?, exit))
}

/// `count` riders signed up through the API, each with a synthetic face sealed into the gallery.
fn synthetic_riders(bench: &mut BenchNode, count: usize) -> Result<Vec<ShopperId>, String> {
    let consent = ApiConfig::default().consent_version;
    let mut riders = Vec::with_capacity(count);
    for n in 0..count {
        let phone = phone_of(n);
        let sign_up =
            json!({"consent_text_version": consent, "phone_last4": phone, "name": format!("Rider {n}")});
        let signed_up =
            expect_ok(bench.client.call("POST", "/v1/shoppers", None, Some(&sign_up)), "sign up")?;
        let id = signed_up["shopper_id"].as_str().unwrap_or_default().trim_start_matches("shp_");
        let shopper = ShopperId::from_u128(u128::from_str_radix(id, 16).map_err(|e| e.to_string())?);
        let template = FaceTemplate::new(bench.recognizer.clone(), bench.model.stranger(&mut bench.rng))
            .map_err(|e| e.to_string())?;
        let mut gallery = bench.gallery.lock().map_err(|_| "the gallery lock is poisoned")?;
        gallery
            .enroll(shopper, &phone, template, &[] as &[Secret<Vec<u8>>], None)
            .map_err(|e| e.to_string())?;
        riders.push(shopper);
    }
    Ok(riders)
}

/// The synthetic riders' entries in the last hour, uploaded as an entry gate's batches are.
fn enter_synthetic(
    bench: &BenchNode,
    gate: facepay_domain::TerminalId,
    riders: &[ShopperId],
) -> Result<(), String> {
    let now = facepay_api::now_ms();
    let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    for (batch, chunk) in riders.chunks(facepay_payments::PASSAGES_MAX).enumerate() {
        let passages = chunk
            .iter()
            .enumerate()
            .map(|(n, &rider)| {
                let seq = (batch * facepay_payments::PASSAGES_MAX + n) as u64 + 1_000_000;
                let at = Timestamp::from_unix_ms(now - 3_600_000 + (seq as i64 % 3_000) * 1_000);
                GatePassage {
                    gate,
                    seq,
                    rider,
                    direction: Direction::Entry,
                    medium: Medium::Face,
                    at,
                    shown: None,
                }
            })
            .collect();
        runtime
            .block_on(bench.node.switch.execute(Command::RecordPassages(passages)))
            .map_err(|e| format!("{} [{}]", e.message, e.code))?;
    }
    Ok(())
}

/// A decision by face at `gate`: the answer (a photo the gate must retake answers its code) and
/// the server's milliseconds; only a node's failure is an error.
fn decide(
    client: &Client,
    gate: &TerminalSigner,
    direction: &str,
    photo: &str,
    phone_last4: Option<&str>,
) -> Result<(Value, Option<f64>), String> {
    let body = json!({"direction": direction, "captures": [photo], "phone_last4": phone_last4});
    let (status, answer, ms) = client.signed_timed(gate, "POST", "/v1/gate/decisions", &body)?;
    match status {
        200 => Ok((answer, ms)),
        422 => Ok((json!({"open": false, "code": answer["error"]["code"]}), None)),
        _ => Err(format!("a gate decision was answered {status}: {answer}")),
    }
}

/// A decision on the rider's payment code at `gate`: the answer and the server's milliseconds.
fn decide_by_code(
    client: &Client,
    gate: &TerminalSigner,
    rider_key: &str,
) -> Result<(Value, Option<f64>), String> {
    let code =
        expect_ok(client.call("POST", "/v1/shopper/payment-code", Some(rider_key), None), "a payment code")?;
    let body = json!({"direction": "entry", "payment_code": code["code"]});
    let (status, answer, ms) = client.signed_timed(gate, "POST", "/v1/gate/decisions", &body)?;
    if status != 200 {
        return Err(format!("a gate decision on a code was answered {status}: {answer}"));
    }
    Ok((answer, ms))
}

/// Reports the passage of an open decision; the server's milliseconds.
fn pass(client: &Client, gate: &TerminalSigner, decision: &Value, seq: u64) -> Result<Option<f64>, String> {
    let report =
        json!({"passages": [{"ticket": decision["ticket"], "seq": seq, "at_ms": facepay_api::now_ms()}]});
    let (status, answer, ms) = client.signed_timed(gate, "POST", "/v1/gate/passages", &report)?;
    if status != 200 || answer["passages"][0]["outcome"] != "recorded" {
        return Err(format!("a passage was answered {status}: {answer}"));
    }
    Ok(ms)
}

/// This process's CPU time so far (user and system), from `/proc/self/stat`; none elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // The kernel reports in USER_HZ, 100 on every Linux architecture facepay builds for.
    Some(ticks / 100.0)
}
