//! The node as the routes see it: the payment core behind its group-commit writer, the gallery,
//! the biometric engine, and the per-node guards (rate limits, heartbeats, metrics).
//! Routes change the core only by submitting commands, which are journaled before they answer;
//! they read it under the same lock the writer takes for one batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::http::{HeaderMap, Method, Uri};
use facepay_domain::{Currency, MerchantId, PaymentId, ShopperId, TerminalId, Timestamp};
use facepay_face_index::{DecisionRule, IndexReader};
use facepay_payments::{
    ApiKeyId, CheckpointPolicy, Command, CoreReader, Journal, JournaledCore, PaymentCore, Reply, Role,
    Submitter, group_commit_queue, write_batches,
};

use crate::auth::{self, SignedHeaders};
use crate::error::ApiError;
use crate::gate::CaptureGate;
use crate::metrics::{Metrics, NodeGauges};
use crate::ports::{Biometrics, Faces};
use crate::probes::{HeldFor, HeldProbes};
use crate::rate::{Rate, RateLimiter};
use crate::routes::gates::{Admitted, TICKET_HOLD_MS, TICKETS_HELD, Ticket};
use crate::travel_pass::PassKey;
use crate::wire::PaymentOut;

/// A node's payment core on whichever store it was started with.
pub type Node = JournaledCore<Box<dyn Journal + Send>>;

/// The API's limits and policy; `ApiConfig::default()` is what `facepay serve` starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    pub currency: Currency,
    /// Largest request body, in bytes (a capture is base64 inside JSON).
    pub max_body_bytes: usize,
    /// Most frames in one payment capture, and in one enrollment.
    pub max_payment_frames: usize,
    pub max_enrollment_frames: usize,
    /// Largest single frame, encoded, in bytes. (Pixels are bounded by the biometric engine.)
    pub max_frame_bytes: usize,
    /// How far a terminal's clock may be from ours.
    pub clock_skew_ms: i64,
    pub terminal_rate: Rate,
    pub api_key_rate: Rate,
    /// Activation and shopper sign-up, per client address.
    pub open_rate: Rate,
    pub activation_code_ttl_ms: i64,
    /// How long a shopper's dynamic payment code stays good.
    pub payment_code_ttl_ms: i64,
    /// A terminal silent for longer is reported stale.
    pub heartbeat_stale_ms: i64,
    /// How a search's scores become a match, a request for the phone digits or no match
    /// (`DecisionRule::default()`; an operator who re-measures at their own gallery size sets
    /// `FACEPAY_OPEN_THRESHOLD`).
    pub decision: DecisionRule,
    /// How long a payment's face waits for its phone digits, and how many faces wait at most
    /// (`HeldProbes`).
    pub probe_hold_ms: i64,
    pub probes_held: usize,
    /// An enrollment whose face scores this close to another shopper's is refused as already
    /// enrolled. Lower than the open threshold on purpose: a second account for the same face
    /// should be caught even from another photo. At 0.65, `facepay eval identify` on LFW dev
    /// finds 41 of 6,096 strangers above it (refused enrollments a person would take up with
    /// support) and most mated pairs.
    pub duplicate_threshold: f32,
    /// The live score a template made on a terminal must carry; the engine's own default.
    pub device_liveness_threshold: f32,
    /// Candidates a payment search returns.
    pub search_k: usize,
    /// The consent text version shoppers are shown now; sign-up must quote it.
    pub consent_version: String,
    /// When a settlement day begins, in minutes after UTC midnight.
    pub settlement_cutoff_minutes: u32,
    /// One JSON line per request on stderr.
    pub access_log: bool,
    /// How often the sweeper looks for work that is due (payments whose outcome never came,
    /// holds past their deadline, lapsed payment codes); it journals a sweep only when there is.
    pub sweep_every: Duration,
    /// When the node writes a checkpoint of its core to the store, so a restart replays only
    /// the entries after it.
    pub checkpoints: CheckpointPolicy,
    /// Face captures (payments and enrollments) run at once, and waiting beyond those; more are
    /// refused with 503 `biometric_busy` and `Retry-After`.
    pub captures_running: usize,
    pub captures_queued: usize,
    /// Connections served at once; more wait in the kernel's backlog until one closes.
    pub max_connections: usize,
    /// A connection that has not sent a whole request head in this time is closed.
    pub header_read_timeout: Duration,
    /// A request not answered in this time (its body still trickling in, say) gets 408.
    pub request_timeout: Duration,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            currency: Currency::new("EUR").expect("EUR is a currency code"),
            max_body_bytes: 8 << 20,
            max_payment_frames: 3,
            max_enrollment_frames: 5,
            max_frame_bytes: 2 << 20,
            clock_skew_ms: 300_000,
            terminal_rate: Rate { per_second: 20.0, burst: 40.0 },
            api_key_rate: Rate { per_second: 100.0, burst: 200.0 },
            open_rate: Rate { per_second: 50.0, burst: 100.0 },
            activation_code_ttl_ms: 24 * 3_600_000,
            payment_code_ttl_ms: 60_000,
            heartbeat_stale_ms: 120_000,
            decision: DecisionRule::default(),
            probe_hold_ms: 120_000,
            probes_held: 65_536,
            duplicate_threshold: 0.65,
            device_liveness_threshold: 0.3,
            search_k: 10,
            consent_version: "2026-11".into(),
            settlement_cutoff_minutes: 0,
            access_log: true,
            sweep_every: Duration::from_secs(1),
            checkpoints: CheckpointPolicy { every_entries: 300_000, every_ms: 300_000, prune: false },
            captures_running: std::thread::available_parallelism().map_or(2, usize::from),
            captures_queued: 32,
            max_connections: 4_096,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

pub struct Switch {
    pub(crate) config: ApiConfig,
    node: Arc<Mutex<Node>>,
    /// The node's head and checkpoints, for metrics, without its lock.
    node_status: Arc<facepay_payments::NodeStatus>,
    /// The node's core for readers: they wait for commands running in memory, never for a
    /// commit (the writer holds `node` through its fsync).
    core: CoreReader,
    /// A connection of its own to the node's store, for what readers take from the store (the
    /// audit log, the outbox): they never wait behind the writer's commit for the node's lock.
    store_reader: Mutex<Box<dyn Journal + Send>>,
    submitter: Submitter,
    pub(crate) faces: Arc<dyn Faces>,
    pub(crate) reader: IndexReader,
    pub(crate) biometrics: Arc<dyn Biometrics>,
    pub(crate) captures: CaptureGate,
    pub(crate) held_probes: HeldProbes,
    /// Gates' open decisions waiting for their passages.
    pub(crate) held_tickets: HeldFor<Ticket, Admitted>,
    /// Signs riders' travel passes and checks them when gates show or upload them.
    pub(crate) pass_key: PassKey,
    pub(crate) metrics: Metrics,
    terminal_rate: RateLimiter,
    api_key_rate: RateLimiter,
    pub(crate) open_rate: RateLimiter,
    heartbeats: Mutex<HashMap<TerminalId, i64>>,
    /// Whether the node is ready to serve (the gallery's follower keeps up), else why not.
    readiness: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
    /// Why the writer stopped on a panic, once it has: the node is then never ready again.
    halted: Arc<Mutex<Option<String>>>,
    /// Set when a stop begins: new requests are refused while those under way finish.
    stopping: AtomicBool,
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch").field("faces", &self.reader.view().len()).finish_non_exhaustive()
    }
}

/// Whose a payment is, and whether the core still holds it (`payment_owner`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PaymentOwner {
    pub terminal: TerminalId,
    pub merchant: MerchantId,
    /// Known once identification succeeded.
    pub shopper: Option<ShopperId>,
    pub held: bool,
}

impl PaymentOwner {
    /// Refuses a command on a payment the core forgot: it is past its refund and dispute window.
    pub(crate) fn commandable(self, id: PaymentId) -> Result<(), ApiError> {
        if self.held { Ok(()) } else { Err(facepay_payments::CoreError::PaymentWindowClosed(id).into()) }
    }
}

/// What keeps a started switch running: the writer and the sweeper stop when it is dropped
/// (after the last `Arc<Switch>` is gone).
#[derive(Debug)]
pub struct Running {
    writer: Option<JoinHandle<()>>,
    sweeper_stop: Option<std::sync::mpsc::Sender<()>>,
    sweeper: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.sweeper_stop.take());
        if let Some(sweeper) = self.sweeper.take() {
            let _ = sweeper.join();
        }
        // The writer ends once every Submitter (the Switch's) is dropped; not joined here, as
        // a Switch may still be alive in a request being answered.
        drop(self.writer.take());
    }
}

impl Switch {
    /// Starts the node's writer (group commit) and sweeper around `node`; `store_reader` is
    /// another connection to the same store.
    pub fn start(
        config: ApiConfig,
        mut node: Node,
        store_reader: Box<dyn Journal + Send>,
        faces: Arc<dyn Faces>,
        biometrics: Arc<dyn Biometrics>,
        readiness: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
    ) -> (Arc<Switch>, Running) {
        node.set_checkpoint_policy(config.checkpoints);
        let core = node.reader();
        let node_status = node.status();
        let node = Arc::new(Mutex::new(node));
        let (submitter, submissions) = group_commit_queue(1024);
        let writer_node = node.clone();
        let halted = Arc::new(Mutex::new(None));
        let writer_halted = halted.clone();
        let writer = std::thread::spawn(move || {
            if let Err(reason) = write_batches(&writer_node, submissions, 256) {
                crate::router::log_problem(&format!("the payment core halted: {reason}"), "core_halted");
                writer_halted.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(reason);
            }
        });
        let (sweeper_stop, stopped) = std::sync::mpsc::channel::<()>();
        let sweep_submitter = submitter.clone();
        let sweep_node = node.clone();
        let every = config.sweep_every;
        let sweeper = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                // A sweep is journaled, so it is sent only when something is due (what other
                // nodes journaled included): an idle node writes nothing. A failed sweep is
                // retried at the next tick; nothing is lost.
                let now = now();
                if sweep_due(&sweep_node, now) {
                    let _ = sweep_submitter.submit(Command::Sweep, now);
                }
            }
        });
        let reader = faces.reader();
        let switch = Switch {
            terminal_rate: RateLimiter::new(config.terminal_rate, 100_000),
            api_key_rate: RateLimiter::new(config.api_key_rate, 100_000),
            open_rate: RateLimiter::new(config.open_rate, 100_000),
            captures: CaptureGate::new(config.captures_running, config.captures_queued),
            held_probes: HeldProbes::new(config.probe_hold_ms, config.probes_held),
            held_tickets: HeldFor::new(TICKET_HOLD_MS, TICKETS_HELD),
            pass_key: PassKey::from_seed(&faces.transit_pass_seed()),
            config,
            node,
            node_status,
            core,
            store_reader: Mutex::new(store_reader),
            submitter,
            faces,
            reader,
            biometrics,
            metrics: Metrics::default(),
            heartbeats: Mutex::new(HashMap::new()),
            readiness,
            halted,
            stopping: AtomicBool::new(false),
        };
        let running =
            Running { writer: Some(writer), sweeper_stop: Some(sweeper_stop), sweeper: Some(sweeper) };
        (Arc::new(switch), running)
    }

    /// Runs `command` through the writer; answers once it is durable.
    pub async fn execute(self: &Arc<Self>, command: Command) -> Result<Reply, ApiError> {
        let submitter = self.submitter.clone();
        let at = now();
        let answer = tokio::task::spawn_blocking(move || submitter.submit(command, at))
            .await
            .map_err(|_| ApiError::internal("the writer's task failed"))?;
        if let Err(facepay_payments::JournalError::CoreHalted(reason)) = &answer {
            // Marked here as well as by the writer, so the caller that heard `core_halted` finds
            // the node not ready from then on.
            self.halt(reason.clone());
        }
        Ok(answer??)
    }

    fn halt(&self, reason: String) {
        self.halted.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(reason);
    }

    /// Runs several commands as one batch, in order; all must be accepted (set-up steps that
    /// belong together, like a merchant and its first API key). On a refusal the ones before
    /// it stand; callers order them so that what stands is harmless.
    pub async fn execute_each(self: &Arc<Self>, commands: Vec<Command>) -> Result<(), ApiError> {
        for command in commands {
            self.execute(command).await?;
        }
        Ok(())
    }

    /// Reads the core as this node knows it, without waiting for a commit under way (see
    /// `CoreReader` for what that may show).
    pub fn read<T>(&self, read: impl FnOnce(&PaymentCore) -> T) -> T {
        self.core.read(read)
    }

    /// Reads the core after replaying what other nodes journaled, for a lookup that missed
    /// (a key issued, a terminal activated or a payment made through another node). The store
    /// is called off the async workers: a blocking client (PostgreSQL's) must not run on them.
    pub async fn read_fresh<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&PaymentCore) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let switch = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut node = switch.node.lock().unwrap_or_else(PoisonError::into_inner);
            node.catch_up()?;
            Ok(read(&node.core()))
        })
        .await
        .map_err(|_| ApiError::internal("the store task failed"))?
    }

    /// The caller's key and role; rate-limited per key. Handlers take a `caller` extractor.
    pub(crate) async fn api_caller(
        self: &Arc<Self>,
        headers: &HeaderMap,
    ) -> Result<(ApiKeyId, Role), ApiError> {
        let (id, secret) = auth::bearer_key(headers)?;
        let role = match self.read(|core| auth::key_role(core, id, &secret)) {
            Some(role) => role,
            None => {
                let fresh = self.read_fresh(move |core| auth::key_role(core, id, &secret)).await?;
                fresh.unwrap_or_else(|| Err(auth::invalid_key()))
            }
        }?;
        // The key's id names the bucket; the secret stays out of the limiter's map.
        self.api_key_rate.take(&id.to_string(), now_ms())?;
        Ok((id, role))
    }

    /// The signing terminal, after its signature, clock and nonce held.
    /// Handlers take the `SignedTerminal` extractor.
    pub(crate) async fn terminal_caller(
        self: &Arc<Self>,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<TerminalId, ApiError> {
        let signed = SignedHeaders::parse(headers)?;
        let terminal = signed.terminal;
        let lookup = move |core: &PaymentCore| {
            let key = core.terminal_credentials(terminal).and_then(|c| c.public_key);
            key.zip(core.terminal_merchant(terminal))
        };
        let found = match self.read(lookup) {
            Some(found) => Some(found),
            None => self.read_fresh(lookup).await?,
        };
        let (public_key, _) = found.ok_or_else(|| {
            ApiError::unauthorized(
                "terminal_not_active",
                "this terminal is unknown, not activated or revoked",
            )
        })?;
        let expires = signed.verify(&public_key, method, uri, body, now_ms(), self.config.clock_skew_ms)?;
        // Spent in the store, so every node sharing it, and this one after a restart, refuses a
        // replay.
        let nonce = signed.nonce().to_owned();
        let claimed =
            self.with_journal(move |store| store.claim_nonce(terminal, &nonce, expires, now())).await?;
        if !claimed {
            return Err(ApiError::unauthorized("signature_replayed", "this nonce was already used"));
        }
        // Counted only once the signature held: terminal ids are not secret, and unsigned noise
        // naming a terminal must not use up that terminal's rate.
        self.terminal_rate.take(&terminal.to_string(), now_ms())?;
        self.heartbeats.lock().unwrap_or_else(PoisonError::into_inner).insert(terminal, now_ms());
        Ok(terminal)
    }

    /// Outbound messages not yet acknowledged, oldest first (banks and the operator pull theirs).
    pub async fn outbox(
        self: &Arc<Self>,
        recipient: facepay_payments::Recipient,
        limit: usize,
    ) -> Result<Vec<facepay_payments::Delivery>, ApiError> {
        self.with_journal(move |journal| journal.undelivered(Some(recipient), limit)).await
    }

    pub async fn mark_delivered(self: &Arc<Self>, ids: Vec<u64>) -> Result<(), ApiError> {
        self.with_journal(move |journal| journal.mark_delivered(&ids)).await
    }

    /// Refuses a terminal command that would move money when the terminal, or its merchant, is
    /// not in good standing. Such a terminal may still read a payment's status and send
    /// heartbeats; a payment it starts is declined (and journaled) by the core; its open
    /// authorizations are reversed at their outcome timeout; the merchant refunds with its key.
    pub(crate) fn refuse_unless_in_standing(&self, terminal: TerminalId) -> Result<(), ApiError> {
        match self.read(|core| core.terminal_barred(terminal)) {
            None => Ok(()),
            Some(reason) => {
                Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, reason.code(), reason.message()))
            }
        }
    }

    /// Whose a payment is (its terminal and merchant), and whether the core still holds it:
    /// one past its windows is known only to the read model, where commands cannot reach it.
    pub(crate) async fn payment_owner(
        self: &Arc<Self>,
        id: PaymentId,
    ) -> Result<Option<PaymentOwner>, ApiError> {
        let held = move |core: &PaymentCore| {
            let p = core.payment_record(id)?;
            Some(PaymentOwner { terminal: p.terminal, merchant: p.merchant, shopper: p.shopper, held: true })
        };
        if let Some(owner) = self.read(held) {
            return Ok(Some(owner));
        }
        if let Some(owner) = self.read_fresh(held).await? {
            return Ok(Some(owner));
        }
        let row = self.with_journal(move |store| store.payment_row(id)).await?;
        Ok(row.map(|row| PaymentOwner {
            terminal: row.terminal,
            merchant: row.merchant,
            shopper: row.shopper,
            held: false,
        }))
    }

    /// A payment as callers see it, from the read model: committed, whatever the writer is
    /// running now, and there after the core forgot it.
    pub(crate) async fn payment_out(self: &Arc<Self>, id: PaymentId) -> Result<Option<PaymentOut>, ApiError> {
        let row = self.with_journal(move |store| store.payment_row(id)).await?;
        match row {
            Some(row) => Ok(Some(self.named(self.read(|core| PaymentOut::from_row(&row, core))).await?)),
            None => Ok(None),
        }
    }

    /// Runs `work` on the readers' store connection, off the async workers.
    pub(crate) async fn with_journal<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Box<dyn Journal + Send>) -> Result<T, facepay_payments::JournalError>
        + Send
        + 'static,
    ) -> Result<T, ApiError> {
        let switch = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = switch.store_reader.lock().unwrap_or_else(PoisonError::into_inner);
            Ok(work(&mut store)?)
        })
        .await
        .map_err(|_| ApiError::internal("the store task failed"))?
    }

    /// When the terminal was last heard from on this node, in unix ms.
    pub fn last_heard(&self, terminal: TerminalId) -> Option<i64> {
        self.heartbeats.lock().unwrap_or_else(PoisonError::into_inner).get(&terminal).copied()
    }

    /// Blocking: the store is asked; call it off the async workers.
    pub fn ready(&self) -> Result<(), String> {
        if self.halted().is_some() {
            return Err("core_halted".into());
        }
        if self.is_stopping() {
            return Err("node_stopping".into());
        }
        (self.readiness)()?;
        let mut node = self.node.lock().unwrap_or_else(PoisonError::into_inner);
        node.catch_up().map_err(|err| err.code().to_owned())
    }

    pub fn metrics_text(&self) -> String {
        // The audit head is kept elsewhere by whoever scrapes it: any later edit of the log shows.
        let (audit_entries, head) = self.read(|core| core.audit_head());
        // Published by the node after every change: a scrape never waits for a commit.
        let (checkpoint_entry, checkpoint_failures) = self.node_status.checkpoints();
        let journal_head = self.node_status.head();
        self.metrics.render(&NodeGauges {
            index_faces: self.reader.view().len(),
            core_halted: self.halted().is_some(),
            audit_entries,
            audit_head_prefix: head[..6].iter().fold(0, |prefix, &byte| prefix << 8 | u64::from(byte)),
            journal_head,
            checkpoint_entry,
            checkpoint_failures,
        })
    }

    /// From now on new requests are refused (`node_stopping`) and the node reports not ready,
    /// while the requests under way finish.
    pub fn begin_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Why the payment core's writer stopped on a panic, if it did: the node then refuses every
    /// write, reports itself not ready, and `serve` exits non-zero so a supervisor restarts it.
    pub fn halted(&self) -> Option<String> {
        self.halted.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Writes a checkpoint of the core as it stands (a graceful stop's last write), unless the
    /// core halted; the entry it holds, or `None` when the newest checkpoint already does.
    pub fn checkpoint_now(&self) -> Result<Option<u64>, facepay_payments::JournalError> {
        if let Some(reason) = self.halted() {
            return Err(facepay_payments::JournalError::CoreHalted(reason));
        }
        self.node.lock().unwrap_or_else(PoisonError::into_inner).checkpoint_now()
    }
}

/// Whether the node, caught up with the journal, has anything due at `now`. A store that
/// cannot be read sends the sweep anyway, whose commit then reports it.
fn sweep_due(node: &Mutex<Node>, now: Timestamp) -> bool {
    let mut node = node.lock().unwrap_or_else(PoisonError::into_inner);
    node.catch_up().is_err() || node.core().next_due().is_some_and(|due| due <= now)
}

/// The wall clock, in unix ms.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

pub fn now() -> Timestamp {
    Timestamp::from_unix_ms(now_ms())
}
