//! One node, wired: the configured store's journal and biometric tables, the key file, the
//! gallery rebuilt from the vault with its follower, the biometric engine behind the API's
//! `Biometrics` port, and the payment core behind its group-commit writer. `facepay serve` runs
//! it on a socket; the demo and `bench pay` start the same node.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use facepay_api::{ApiConfig, Biometrics, CaptureRefused, Captured, Faces, Node, Running, Switch};
use facepay_biometric::{BiometricEngine, CaptureError};
use facepay_face_index::{DecisionRule, FaceIndex};
use facepay_gallery::{Follower, Gallery, KeySource, follow};
use facepay_ledger::AccountId;
use facepay_payments::{
    Command, CoreConfig, Journal, JournaledCore, LimitTable, PinPolicy, Retention, RiskConfig, Role,
};
use facepay_store_postgres::{PostgresBiometricStore, PostgresJournal};
use facepay_store_sqlite::{SqliteBiometricStore, SqliteJournal};
use facepay_vault::{BiometricStore, VaultError};

use crate::config::{Config, Database};
use crate::keys::{self, KeyError};

/// How often a node reads other nodes' enrollments and deletions.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// The engine as the API's port: pixels stay in `biometric`, the API gets a template or a reason.
struct EngineBiometrics(BiometricEngine);

impl Biometrics for EngineBiometrics {
    fn capture(&self, frames: &[&[u8]]) -> Result<Captured, CaptureRefused> {
        self.0
            .capture(frames)
            .map(|capture| Captured { template: capture.template, live_score: capture.live_score })
            .map_err(|err| CaptureRefused {
                code: err.code(),
                message: err.to_string(),
                engine_failed: matches!(err, CaptureError::Runtime(_)),
            })
    }
}

/// A running node; dropping it stops the follower, the writer and the sweeper.
pub struct Started {
    pub switch: Arc<Switch>,
    /// The operator's API key when this start made the first one (a new switch); it is also
    /// written to `operator.key` in the data dir, mode 0600.
    pub new_operator_key: Option<String>,
    _follower: Option<Arc<Follower>>,
    _running: Running,
}

/// The core's policy as `facepay serve` runs it.
pub(crate) fn core_config() -> CoreConfig {
    CoreConfig {
        currency: ApiConfig::default().currency,
        limits: LimitTable::default(),
        pin_policy: PinPolicy { always: false, above_amount_minor: Some(50_000), on_elevated_risk: true },
        outcome_timeout_ms: 60_000,
        hold_timeout_ms: 15 * 60_000,
        funding_source: AccountId(1),
        reserve_account: AccountId(2),
        risk: RiskConfig::default(),
        retention: Retention::DEFAULT,
    }
}

pub fn start(config: &Config, api: ApiConfig) -> Result<Started, String> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
    if let crate::config::KeyLocation::File(path) = &config.keys
        && !path.exists()
    {
        keys::init(config).map_err(|e| format!("{e} [{}]", e.code()))?;
    }
    let keyring = keys::load(&config.keys).map_err(|e| format!("{e} [{}]", e.code()))?;
    let location = config.keys.clone();
    let reload: KeySource = Box::new(move || match keys::load(&location) {
        Err(KeyError::Vault(err)) => Err(err),
        Err(other) => Err(VaultError::KeyFileMalformed(other.to_string())),
        Ok(keys) => Ok(keys),
    });
    let engine = crate::biometrics::engine(None, true)?;
    let index = FaceIndex::new(engine.recognizer().clone(), recognizer_dimension(&engine)?);
    let (journal, reader) = (open_writer(&config.database)?, open_journal(&config.database)?);
    let (faces, follower) = match &config.database {
        Database::Sqlite { path } => {
            gallery(keyring, reload, SqliteBiometricStore::open(path).map_err(store_error)?, index)?
        }
        Database::Postgres { url } => {
            let store = PostgresBiometricStore::connect(url, crate::POSTGRES_SCHEMA).map_err(store_error)?;
            gallery(keyring, reload, store, index)?
        }
    };
    assemble((journal, reader), faces, Some(follower), engine, &config.data_dir, api)
}

/// The connection a node's group commit writes through (`SqliteJournal::open_writer`).
fn open_writer(database: &Database) -> Result<Box<dyn Journal + Send>, String> {
    match database {
        Database::Sqlite { path } => Ok(Box::new(SqliteJournal::open_writer(path).map_err(store_error)?)),
        Database::Postgres { .. } => open_journal(database),
    }
}

/// A new connection to the configured store's journal (`serve` opens one beside its writer,
/// `audit verify` and `journal export` one).
pub(crate) fn open_journal(database: &Database) -> Result<Box<dyn Journal + Send>, String> {
    Ok(match database {
        Database::Sqlite { path } => Box::new(SqliteJournal::open(path).map_err(store_error)?),
        Database::Postgres { url } => {
            Box::new(PostgresJournal::connect(url, crate::POSTGRES_SCHEMA).map_err(store_error)?)
        }
    })
}

/// The length of the engine's templates, found by embedding one blank face.
pub fn recognizer_dimension(engine: &BiometricEngine) -> Result<usize, String> {
    engine
        .with_worker(|worker| worker.embed(&vec![128u8; 112 * 112 * 3]).map(|t| t.dimension()))
        .and_then(|d| d)
        .map_err(|e| format!("the recognizer does not run: {e} [{}]", e.code()))
}

/// The node from its parts: the core replayed from the first of `stores`, its readers on the
/// second (another connection to the same store), an operator key if it has none, and the writer
/// and sweeper started.
pub fn assemble(
    stores: (Box<dyn Journal + Send>, Box<dyn Journal + Send>),
    faces: Arc<dyn Faces>,
    follower: Option<Follower>,
    engine: BiometricEngine,
    data_dir: &Path,
    api: ApiConfig,
) -> Result<Started, String> {
    let (journal, reader) = stores;
    let mut node: Node =
        JournaledCore::open(core_config(), journal).map_err(|e| format!("{e} [{}]", e.code()))?;
    let (from, skipped) = node.started_from();
    for unusable in skipped {
        eprintln!("facepay: skipped a checkpoint: {unusable} [{}]", unusable.code());
    }
    match from {
        Some(seq) => eprintln!("facepay: started from the checkpoint at entry {seq}, now at {}", node.head()),
        None => eprintln!("facepay: replayed the journal from its start, now at entry {}", node.head()),
    }
    // A log that no longer chains is a security incident, not something to serve over.
    let (length, head) = node.verify_audit().map_err(|e| format!("{e} [{}]", e.code()))?;
    eprintln!("facepay: audit log verified: {length} entries, head {}", facepay_api::hex(&head));
    let new_operator_key = bootstrap_operator(&mut node, data_dir)?;
    let follower = follower.map(Arc::new);
    // Not ready while the follower's last sync failed: this node would miss other nodes' faces.
    let watched = follower.clone();
    let readiness = Box::new(move || match watched.as_ref().and_then(|f| f.last_error()) {
        Some(code) => Err(format!("the gallery cannot follow the biometric store [{code}]")),
        None => Ok(()),
    });
    let (switch, running) =
        Switch::start(api, node, reader, faces, Arc::new(EngineBiometrics(engine)), readiness);
    Ok(Started { switch, new_operator_key, _follower: follower, _running: running })
}

pub(crate) fn store_error(err: facepay_payments::JournalError) -> String {
    format!("{err} [{}]", err.code())
}

fn gallery<S: BiometricStore + Send + 'static>(
    keyring: facepay_vault::Keyring,
    reload: KeySource,
    store: S,
    index: FaceIndex,
) -> Result<(Arc<dyn Faces>, Follower), String> {
    let (gallery, applied) =
        Gallery::open(keyring, reload, store, index).map_err(|e| format!("{e} [{}]", e.code()))?;
    if applied.other_recognizer > 0 {
        eprintln!(
            "facepay: {} enrolled faces are from another recognizer and wait for re-enrollment",
            applied.other_recognizer
        );
    }
    let gallery = Arc::new(Mutex::new(gallery));
    let follower = follow(gallery.clone(), FOLLOW_EVERY, |_| {});
    Ok((gallery, follower))
}

/// A new switch has no operator key: make one, journal its hash, and write the key to
/// `operator.key` (0600) for the operator to collect.
fn bootstrap_operator(node: &mut Node, data_dir: &Path) -> Result<Option<String>, String> {
    if node.core().has_operator_key() {
        return Ok(None);
    }
    let (key, text, secret_hash) = facepay_api::new_api_key();
    let path = data_dir.join("operator.key");
    write_private(&path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let at = facepay_domain::Timestamp::from_unix_ms(facepay_api::now_ms());
    node.execute(Command::IssueApiKey { key, secret_hash, role: Role::Operator }, at)
        .map_err(store_error)?
        .map_err(|e| format!("{e} [{}]", e.code()))?;
    Ok(Some(text))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// `facepay serve`: the node on `FACEPAY_LISTEN` (default 127.0.0.1:8080) until interrupted.
pub fn serve(config: &Config, out: &mut dyn Write) -> std::io::Result<bool> {
    let mut api =
        ApiConfig { settlement_cutoff_minutes: config.settlement.cutoff_minutes, ..ApiConfig::default() };
    let mut checkpoint_seconds = (api.checkpoints.every_ms / 1_000) as u64;
    if let Ok(text) = std::env::var("FACEPAY_OPEN_THRESHOLD") {
        let rule = text.parse::<f32>().ok().filter(|t| *t <= 1.01).map(|open_threshold| {
            let rule = DecisionRule { open_threshold, ..api.decision };
            rule.check().map(|()| rule)
        });
        match rule {
            Some(Ok(rule)) => api.decision = rule,
            _ => {
                writeln!(
                    out,
                    "facepay serve: FACEPAY_OPEN_THRESHOLD is a similarity from the PIN-free level ({}) to 1.01 \
                     [config_open_threshold_invalid]",
                    api.decision.pin_free_threshold
                )?;
                return Ok(false);
            }
        }
    }
    let checkpoints = [
        ("FACEPAY_CHECKPOINT_ENTRIES", &mut api.checkpoints.every_entries),
        ("FACEPAY_CHECKPOINT_SECONDS", &mut checkpoint_seconds),
    ];
    let captures = [
        ("FACEPAY_CAPTURES_RUNNING", &mut api.captures_running),
        ("FACEPAY_CAPTURES_QUEUED", &mut api.captures_queued),
    ];
    let read = whole_numbers(checkpoints, "a whole number, 0 for never [config_checkpoint_invalid]")
        .and_then(|()| whole_numbers(captures, "a whole number [config_captures_invalid]"));
    if let Err(problem) = read {
        writeln!(out, "facepay serve: {problem}")?;
        return Ok(false);
    }
    api.checkpoints.every_ms = i64::try_from(checkpoint_seconds.saturating_mul(1_000)).unwrap_or(i64::MAX);
    let stop_grace = match std::env::var("FACEPAY_STOP_GRACE_MS").map(|text| text.parse::<u64>()) {
        Err(_) => Duration::from_secs(1),
        Ok(Ok(ms)) => Duration::from_millis(ms),
        Ok(Err(_)) => {
            writeln!(
                out,
                "facepay serve: FACEPAY_STOP_GRACE_MS is a whole number of ms [config_stop_grace_invalid]"
            )?;
            return Ok(false);
        }
    };
    match std::env::var("FACEPAY_JOURNAL_RETENTION").as_deref() {
        Err(_) | Ok("keep") => {}
        Ok("prune") => api.checkpoints.prune = true,
        Ok(_) => {
            writeln!(
                out,
                "facepay serve: FACEPAY_JOURNAL_RETENTION is keep or prune [config_retention_invalid]"
            )?;
            return Ok(false);
        }
    }
    let links = match bank_links_from_environment() {
        Ok(links) => links,
        Err(problem) => {
            writeln!(out, "facepay serve: {problem}")?;
            return Ok(false);
        }
    };
    let started = match start(config, api) {
        Ok(started) => started,
        Err(err) => {
            writeln!(out, "facepay serve: {err}")?;
            return Ok(false);
        }
    };
    // Stopped (each link's thread joined) when `serve` returns, as is the settlement schedule.
    let _links = match crate::bank_links::start(links, &started.switch) {
        Ok(links) => links,
        Err(err) => {
            writeln!(out, "facepay serve: {err}")?;
            return Ok(false);
        }
    };
    let _settlement = match crate::settle::Schedule::start(&started.switch, &config.settlement) {
        Ok(schedule) => schedule,
        Err(err) => {
            writeln!(out, "facepay serve: {err}")?;
            return Ok(false);
        }
    };
    if started.new_operator_key.is_some() {
        writeln!(
            out,
            "a new switch: the operator's API key is in {}",
            config.data_dir.join("operator.key").display()
        )?;
    }
    let address = std::env::var("FACEPAY_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let served = facepay_api::serve_until_stopped(
        &address,
        started.switch.clone(),
        stop_grace,
        |bound| {
            let database = config.database.describe();
            let _ = writeln!(std::io::stderr(), "facepay: serving {database} on http://{bound}");
        },
        |why| {
            let _ = writeln!(std::io::stderr(), "facepay: {why}: stopping, finishing the requests under way");
        },
    );
    if let Err(err) = served {
        writeln!(out, "facepay serve: {address}: {err}")?;
        return Ok(false);
    }
    let (length, head) = started.switch.read(|core| core.audit_head());
    eprintln!("facepay: audit log at {length} entries, head {}", facepay_api::hex(&head));
    // Every request was answered; the next start replays nothing.
    match started.switch.checkpoint_now() {
        Ok(Some(seq)) => eprintln!("facepay: stopped; checkpoint written at entry {seq}"),
        Ok(None) => eprintln!("facepay: stopped; the newest checkpoint is current"),
        Err(err) => eprintln!("facepay: stopped without a checkpoint: {err} [{}]", err.code()),
    }
    Ok(true)
}

/// The bank links `FACEPAY_ISSUER_LINKS` names (see `bank_links`), none when it is unset.
fn bank_links_from_environment() -> Result<Vec<facepay_issuer_link::LinkConfig>, String> {
    let Ok(links) = std::env::var("FACEPAY_ISSUER_LINKS") else { return Ok(Vec::new()) };
    let acquirer = std::env::var("FACEPAY_ACQUIRER_ID").unwrap_or_else(|_| "1".into());
    let mut timeout_ms = 10_000u64;
    whole_numbers(
        [("FACEPAY_ISSUER_TIMEOUT_MS", &mut timeout_ms)],
        "a whole number of ms [config_issuer_timeout_invalid]",
    )?;
    crate::bank_links::parse(&links, &acquirer, Duration::from_millis(timeout_ms))
}

/// Sets each slot from its environment variable, where set; the first that does not parse is
/// named with `what` it should be.
fn whole_numbers<T: std::str::FromStr, const N: usize>(
    slots: [(&str, &mut T); N],
    what: &str,
) -> Result<(), String> {
    for (name, slot) in slots {
        if let Ok(text) = std::env::var(name) {
            *slot = text.parse().map_err(|_| format!("{name} is {what}"))?;
        }
    }
    Ok(())
}
