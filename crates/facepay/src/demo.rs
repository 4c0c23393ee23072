//! `facepay demo`: the first thing a newcomer runs. On a fresh embedded switch (a new folder in
//! the data dir) it starts the server, has the operator onboard a merchant, activates a
//! terminal, signs up and enrolls people from a folder of photos through the shopper API, and
//! then pays through the signed terminal API with *other* photos of the same people and with
//! photos of strangers never enrolled, printing each decision and a summary. A stranger approved
//! fails the run.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine as _;
use facepay_api::{ApiConfig, Client, Server, TerminalSigner};
use serde_json::{Value, json};

use crate::bench::percentile;
use crate::config::{Config, Database, KeyLocation, Settlement};

#[derive(Debug)]
pub struct DemoArgs {
    pub photos: Option<PathBuf>,
    /// People enrolled at most (each with two photos or more).
    pub people: usize,
    /// Strangers (people with one photo, never enrolled) who try to pay.
    pub strangers: usize,
    /// The share of genuine payers below which the demo fails.
    pub min_genuine_approved: f64,
}

/// Genuine payers needed before their approval rate is judged: fewer say little.
const GENUINE_JUDGED_FROM: usize = 20;

/// A person in a Name/Name_NNNN.jpg folder: their photos, sorted.
pub(crate) fn people(folder: &Path) -> std::io::Result<Vec<(String, Vec<PathBuf>)>> {
    let mut people = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let mut photos: Vec<PathBuf> = std::fs::read_dir(entry.path())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x.eq_ignore_ascii_case("jpg") || x.eq_ignore_ascii_case("png"))
            })
            .collect();
        photos.sort();
        people.push((entry.file_name().to_string_lossy().replace('_', " "), photos));
    }
    people.sort();
    Ok(people)
}

pub(crate) fn b64(path: &Path) -> std::io::Result<String> {
    Ok(base64::engine::general_purpose::STANDARD.encode(std::fs::read(path)?))
}

/// Fails on a status other than 200, with the error's code.
pub(crate) fn expect_ok(answer: facepay_api::Answer, what: &str) -> Result<Value, String> {
    match answer? {
        (200, body) => Ok(body),
        (status, body) => Err(format!("{what}: HTTP {status} {}", body["error"]["code"])),
    }
}

pub fn run(config: &Config, args: &DemoArgs, out: &mut dyn Write) -> std::io::Result<bool> {
    let datasets_lfw =
        std::env::var_os("FACEPAY_DATASETS_DIR").map(|d| PathBuf::from(d).join("lfw-dev/images"));
    let folder = args
        .photos
        .clone()
        .or_else(|| std::env::var_os("FACEPAY_DEMO_PHOTOS").map(PathBuf::from))
        .or(datasets_lfw.filter(|folder| folder.is_dir()));
    let folder = match folder {
        Some(folder) => folder,
        None => {
            writeln!(
                out,
                "no photo folder given: fetching the face_recognition package's test photos from PyPI ..."
            )?;
            match facepay_model_store::sample_photos() {
                Ok(folder) => folder,
                Err(err) => {
                    writeln!(out, "facepay demo: {err} [{}]", err.code())?;
                    return Ok(false);
                }
            }
        }
    };
    std::fs::create_dir_all(&config.data_dir)?;
    let scratch = tempfile::Builder::new().prefix("demo-").tempdir_in(&config.data_dir)?;
    let demo_config = Config {
        data_dir: scratch.path().to_owned(),
        database: Database::Sqlite { path: scratch.path().join("facepay.sqlite3") },
        keys: KeyLocation::File(scratch.path().join("facepay.keys")),
        settlement: Settlement { cutoff_minutes: 0, dir: scratch.path().join("settlement") },
    };
    writeln!(out, "starting a fresh switch in {} ...", scratch.path().display())?;
    let api = ApiConfig { access_log: false, ..ApiConfig::default() };
    let decision = api.decision;
    let started = match crate::serve::start(&demo_config, api) {
        Ok(started) => started,
        Err(err) => {
            writeln!(out, "facepay demo: {err}")?;
            return Ok(false);
        }
    };
    let server = Server::start("127.0.0.1:0", started.switch.clone())?;
    writeln!(out, "serving on http://{}, deciding as serve does ({})", server.address, decision)?;
    let client = Client::new(&format!("http://{}", server.address));
    let operator = started.new_operator_key.clone().unwrap_or_default();
    let walked = walk(&client, &operator, &folder, args, out);
    server.stop()?;
    match walked {
        Ok(passed) => Ok(passed),
        Err(err) => {
            writeln!(out, "facepay demo: {err}")?;
            Ok(false)
        }
    }
}

#[derive(Default)]
struct Tally {
    outcomes: BTreeMap<String, usize>,
    latencies_ms: Vec<f64>,
}

impl Tally {
    fn add(&mut self, outcome: &str) {
        *self.outcomes.entry(outcome.to_owned()).or_default() += 1;
    }
}

/// The operator onboards a merchant; its API key.
pub(crate) fn onboard_merchant(client: &Client, operator: &str) -> Result<String, String> {
    let merchant = expect_ok(
        client.call(
            "POST",
            "/v1/operator/merchants",
            Some(operator),
            Some(&json!({"risk": "low", "acquirer": 1})),
        ),
        "onboard a merchant",
    )?;
    Ok(merchant["api_key"].as_str().unwrap_or_default().to_owned())
}

/// The merchant registers a terminal, which activates with a key pair of its own; its signer.
pub(crate) fn open_terminal(client: &Client, merchant_key: &str) -> Result<TerminalSigner, String> {
    let code = expect_ok(
        client.call("POST", "/v1/merchant/terminals", Some(merchant_key), None),
        "register a terminal",
    )?;
    let terminal_id = code["terminal_id"].as_str().unwrap_or_default();
    let id = u128::from_str_radix(terminal_id.trim_start_matches("trm_"), 16).map_err(|e| e.to_string())?;
    let signer = TerminalSigner::generate(facepay_domain::TerminalId::from_u128(id));
    let activation = json!({"terminal_id": terminal_id, "activation_code": code["activation_code"], "public_key": signer.public_key_base64()});
    expect_ok(
        client.call("POST", "/v1/terminal/activation", None, Some(&activation)),
        "activate the terminal",
    )?;
    Ok(signer)
}

/// Signs `name` up, enrolls the face in `photo` and tops their wallet up; their API key, or the
/// error code when the photo was refused.
pub(crate) fn enroll(
    client: &Client,
    operator: &str,
    n: usize,
    name: &str,
    phone: &str,
    photo: &Path,
) -> Result<Result<String, String>, String> {
    let sign_up = json!({"consent_text_version": ApiConfig::default().consent_version, "phone_last4": phone, "name": name});
    let shopper = expect_ok(client.call("POST", "/v1/shoppers", None, Some(&sign_up)), "sign up")?;
    let key = shopper["api_key"].as_str().unwrap_or_default().to_owned();
    expect_ok(
        client.call("PUT", "/v1/shopper/pin", Some(&key), Some(&json!({"pin": DEMO_PIN}))),
        "set a PIN",
    )?;
    let enroll = json!({"captures": [b64(photo).map_err(|e| e.to_string())?]});
    match client.call("PUT", "/v1/shopper/face", Some(&key), Some(&enroll))? {
        (200, _) => {
            let top_up = json!({"account": shopper["wallet"], "amount_minor": 100_000, "top_up_id": format!("top-up-{n}")});
            expect_ok(client.call("POST", "/v1/operator/top-ups", Some(operator), Some(&top_up)), "top up")?;
            Ok(Ok(key))
        }
        (_, body) => Ok(Err(body["error"]["code"].as_str().unwrap_or("?").to_owned())),
    }
}

/// Payments each demo till takes: under the risk rules' thresholds for one terminal.
pub(crate) const PAYMENTS_PER_TILL: usize = 4;

/// Every demo shopper's PIN; a terminal asks for it when policy or risk wants a confirmation.
pub(crate) const DEMO_PIN: &str = "271828";

/// A phone's last 4 digits for the n-th person, spread so that few share them.
pub(crate) fn phone_of(n: usize) -> String {
    format!("{:04}", (n * 7_919) % 10_000)
}

fn walk(
    client: &Client,
    operator: &str,
    folder: &Path,
    args: &DemoArgs,
    out: &mut dyn Write,
) -> Result<bool, String> {
    let io = |e: std::io::Error| e.to_string();
    let merchant_key = onboard_merchant(client, operator)?;
    writeln!(out, "a merchant onboarded").map_err(io)?;

    let everyone = people(folder).map_err(io)?;
    // People with two photos or more enroll with one and pay with another; when they run out,
    // people with one photo fill the gallery (enrolled, never paying). Strangers are the rest.
    let (several, single): (Vec<_>, Vec<_>) =
        everyone.iter().filter(|(_, p)| !p.is_empty()).partition(|(_, p)| p.len() >= 2);
    // Strangers come from the end of the single-photo people, enrollment from the front, so the
    // two never meet however many photos enrollment turns away.
    let strangers: Vec<_> = single.iter().rev().take(args.strangers).collect();
    let candidates = several.iter().chain(single.iter().take(single.len().saturating_sub(strangers.len())));
    writeln!(out, "enrolling up to {} people from {} ...", args.people, folder.display()).map_err(io)?;
    let mut enrolled = Vec::new();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for (n, (name, photos)) in candidates.enumerate() {
        if enrolled.len() == args.people {
            break;
        }
        let phone = phone_of(n);
        match enroll(client, operator, n, name, &phone, &photos[0])? {
            Ok(_) => enrolled.push((name.clone(), phone, photos.get(1).cloned())),
            Err(code) => *refused.entry(code).or_default() += 1,
        }
    }
    let paying = enrolled.iter().filter(|(_, _, probe)| probe.is_some()).count();
    writeln!(
        out,
        "enrolled {} ({paying} with another photo to pay with); enrollment photos refused: {refused:?}",
        enrolled.len()
    )
    .map_err(io)?;

    let mut genuine = Tally::default();
    let mut stranger_tally = Tally::default();
    // Shoppers pay at many tills, a few each, as in a shop: one terminal taking a thousand
    // payments a minute, or failing to recognise many strangers in a row, is what the risk
    // rules are there to stop.
    let mut till: Option<TerminalSigner> = None;
    let mut attempts = 0usize;
    let mut next_till = |till: &mut Option<TerminalSigner>| -> Result<(), String> {
        if attempts.is_multiple_of(PAYMENTS_PER_TILL) {
            *till = Some(open_terminal(client, &merchant_key)?);
        }
        attempts += 1;
        Ok(())
    };
    let pay = |signer: &TerminalSigner,
               photo: &Path,
               key: String,
               phone: Option<&str>,
               tally: &mut Tally|
     -> Result<String, String> {
        let body = json!({"amount_minor": 1_250, "currency": ApiConfig::default().currency.code(), "order_id": key,
                          "idempotency_key": key, "captures": [b64(photo).map_err(io)?]});
        let started = Instant::now();
        let (status, answer) = client.signed(signer, "POST", "/v1/terminal/payments", &body)?;
        tally.latencies_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if status != 200 {
            return Ok(refusal(status, &answer));
        }
        // The shopper answers what the terminal asks: the phone digits, then the PIN.
        let id = answer["payment_id"].as_str().unwrap_or("").to_owned();
        let mut steps = Vec::new();
        let mut now = answer;
        loop {
            let state = now["decline_reason"].as_str().or(now["state"].as_str()).unwrap_or("?").to_owned();
            let (route, input) = match state.as_str() {
                "needs_phone_digits" => ("phone-digits", json!({"digits": phone.unwrap_or("0000")})),
                "needs_pin" => ("pin", json!({"pin": DEMO_PIN})),
                _ => {
                    steps.push(state);
                    return Ok(steps.join("->"));
                }
            };
            steps.push(route.replace("phone-", ""));
            let path = format!("/v1/terminal/payments/{id}/{route}");
            let (status, after) = client.signed(signer, "POST", &path, &input)?;
            if status != 200 {
                steps.push(refusal(status, &after));
                return Ok(steps.join("->"));
            }
            now = after;
        }
    };
    for (n, (name, phone, probe)) in enrolled.iter().enumerate() {
        let Some(probe) = probe else { continue };
        next_till(&mut till)?;
        let outcome =
            pay(till.as_ref().expect("a till is open"), probe, format!("g-{n}"), Some(phone), &mut genuine)?;
        writeln!(out, "  genuine  {name:<28} {outcome}").map_err(io)?;
        genuine.add(&outcome);
    }
    for (n, (name, photos)) in strangers.iter().enumerate() {
        next_till(&mut till)?;
        let outcome = pay(
            till.as_ref().expect("a till is open"),
            &photos[0],
            format!("s-{n}"),
            None,
            &mut stranger_tally,
        )?;
        writeln!(out, "  stranger {name:<28} {outcome}").map_err(io)?;
        stranger_tally.add(&outcome);
    }
    writeln!(out).map_err(io)?;
    for (label, tally) in [("genuine", &genuine), ("stranger", &stranger_tally)] {
        let latencies = &tally.latencies_ms;
        writeln!(out, "{label:>8}: {:?}", tally.outcomes).map_err(io)?;
        writeln!(
            out,
            "{label:>8}: pay request p50 {:.1} ms, p95 {:.1} ms (client side, {} requests)",
            percentile(latencies, 0.5),
            percentile(latencies, 0.95),
            latencies.len()
        )
        .map_err(io)?;
    }
    let failures = failures(&genuine, &stranger_tally, args.min_genuine_approved);
    for failure in &failures {
        writeln!(out, "FAIL: {failure}").map_err(io)?;
    }
    if failures.is_empty() {
        writeln!(out, "no stranger was approved; every request was answered as a working switch would.")
            .map_err(io)?;
    }
    Ok(failures.is_empty())
}

/// A request the switch refused, as the tallies keep it. A 5xx, or a 401 to the demo's own
/// good credentials, is `unexpected`: a switch that works never answers either.
pub(crate) fn refusal(status: u16, answer: &Value) -> String {
    let code = answer["error"]["code"].as_str().unwrap_or("?");
    if status >= 500 || status == 401 {
        format!("unexpected:{status}:{code}")
    } else {
        format!("refused:{code}")
    }
}

/// What fails the demo: any stranger approved, any unexpected answer, or fewer genuine payers
/// approved than `floor` (judged from `GENUINE_JUDGED_FROM` payers on).
fn failures(genuine: &Tally, strangers: &Tally, floor: f64) -> Vec<String> {
    let count = |tally: &Tally, wanted: &dyn Fn(&str) -> bool| -> usize {
        tally.outcomes.iter().filter(|(outcome, _)| wanted(outcome)).map(|(_, n)| n).sum()
    };
    let approved = |outcome: &str| outcome.ends_with("authorized");
    let unexpected = |outcome: &str| outcome.contains("unexpected:");
    let mut failures = Vec::new();
    let strangers_approved = count(strangers, &approved);
    if strangers_approved > 0 {
        failures.push(format!("{strangers_approved} strangers were approved"));
    }
    let odd = count(genuine, &unexpected) + count(strangers, &unexpected);
    if odd > 0 {
        failures.push(format!("{odd} requests were answered 5xx or 401"));
    }
    let paying = count(genuine, &|_| true);
    let share = count(genuine, &approved) as f64 / paying.max(1) as f64;
    if paying >= GENUINE_JUDGED_FROM && share < floor {
        failures.push(format!(
            "{:.1}% of {paying} genuine payers were approved, below {:.1}%",
            share * 100.0,
            floor * 100.0
        ));
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(outcomes: &[(&str, usize)]) -> Tally {
        Tally {
            outcomes: outcomes.iter().map(|&(o, n)| (o.to_owned(), n)).collect(),
            latencies_ms: Vec::new(),
        }
    }

    #[test]
    fn a_broken_matcher_fails_the_demo_not_only_an_approved_stranger() {
        let working = tally(&[("digits->authorized", 80), ("still_ambiguous", 20)]);
        let refused = tally(&[("no_match", 50)]);
        assert!(failures(&working, &refused, 0.7).is_empty());
        // A matcher that recognises nobody approves no stranger, and still fails.
        let blind = tally(&[("no_match", 100)]);
        assert_eq!(
            failures(&blind, &refused, 0.7),
            ["0.0% of 100 genuine payers were approved, below 70.0%"]
        );
        let stranger_paid = tally(&[("no_match", 49), ("authorized", 1)]);
        assert_eq!(failures(&working, &stranger_paid, 0.7), ["1 strangers were approved"]);
        let locked_out = tally(&[("digits->authorized", 80), ("unexpected:401:signature_invalid", 20)]);
        assert_eq!(failures(&locked_out, &refused, 0.7), ["20 requests were answered 5xx or 401"]);
        // Too few payers to judge a rate: only strangers and unexpected answers count.
        assert!(failures(&tally(&[("no_match", 5)]), &refused, 0.7).is_empty());
    }
}
