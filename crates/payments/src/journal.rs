//! The storage port: a journal of commands in one total order, and `JournaledCore`, the payment
//! core kept durable through it.
//!
//! Every node holds the whole core in memory and the journal is the truth. To change anything a
//! node takes the journal's write lock, replays what other nodes appended since it last looked,
//! runs its own commands on the now current state, and appends them with their outbound
//! messages in the same transaction; only then does it answer. So two nodes racing for one
//! payment or one daily limit are decided one after the other, exactly as one node would, and a
//! restart is a replay. A batch of commands shares one commit (group commit).
//!
//! The write contract is total: every command a node runs is journaled, refused or not, with the
//! code of its refusal. No list decides which refusals matter, so a refusal that moved anything
//! (a transfer id taken, a try counted) replays exactly; and replay checks that each entry gets
//! the same verdict it got when written, so a node whose code decides differently stops instead
//! of drifting. The only command a node holds back is a `Sweep` with nothing due
//! (`PaymentCore::next_due`), so an idle node writes nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use facepay_domain::{PaymentId, TerminalId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditAction, AuditBroken, AuditEntry, AuditEvent, AuditFilter, AuditVerifier};
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointPolicy};
use crate::command::{Command, Reply};
use crate::engine::{CoreConfig, CoreError, PaymentCore};
use crate::issuer::{IssuerId, IssuerMessage};
use crate::read_model::{Movement, PaymentRow, PaymentTally, ReadModel};
use crate::risk::RiskEvent;
use crate::settlement::{SettlementError, SettlementReport, SettlementTally, settlement_window};

/// One journaled command, numbered from 1 without gaps, with the code of the core's refusal
/// when it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub at: Timestamp,
    pub command: Command,
    pub refused: Option<String>,
}

/// Something an accepted command leaves for the world outside: kept in the same transaction as
/// the command and delivered after the commit, at least once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outbound {
    Issuer(IssuerMessage),
    Risk(RiskEvent),
}

/// Whose queue an outbound message waits in: each bank pulls its own, the operator the risk
/// events, so a flood for one never hides another's (a bank's authorization behind hundreds of
/// risk events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    Issuer(IssuerId),
    Operator,
}

impl Recipient {
    /// The recipient as the store's outbox column keeps it.
    pub fn to_stored(self) -> String {
        match self {
            Recipient::Issuer(issuer) => format!("issuer:{}", issuer.0),
            Recipient::Operator => "operator".to_owned(),
        }
    }
}

impl Outbound {
    pub fn recipient(&self) -> Recipient {
        match self {
            Outbound::Issuer(message) => Recipient::Issuer(message.issuer()),
            Outbound::Risk(_) => Recipient::Operator,
        }
    }
}

/// A command to append, with its refusal's code (if refused), what it leaves for the outside,
/// the audit entries it appended, which live in the store (the core keeps only the head), and
/// its rows for the read model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Append {
    pub at: Timestamp,
    pub command: Command,
    pub refused: Option<String>,
    pub outbound: Vec<Outbound>,
    pub audit: Vec<AuditEntry>,
    pub read_model: ReadModel,
}

/// An outbound message not yet confirmed delivered; `id` orders them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: u64,
    pub outbound: Outbound,
}

/// The text form stores keep entries and outbound messages in (JSON), in one place so every
/// store reads what every other wrote.
impl Entry {
    pub fn from_stored(
        seq: u64,
        at_ms: i64,
        command: &str,
        refused: Option<String>,
    ) -> Result<Entry, JournalError> {
        let command = serde_json::from_str(command)
            .map_err(|err| JournalError::Corrupt { seq, reason: err.to_string() })?;
        Ok(Entry { seq, at: Timestamp::from_unix_ms(at_ms), command, refused })
    }
}

/// An audit entry as a store's row hands it back, every column as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAudit {
    pub seq: i64,
    pub at_ms: i64,
    pub action: String,
    pub actor: String,
    pub request: String,
    pub status: i64,
    pub previous: Vec<u8>,
    pub hash: Vec<u8>,
}

impl StoredAudit {
    /// The entry; a row that does not read back as one is corrupt.
    pub fn into_entry(self) -> Result<AuditEntry, JournalError> {
        let seq = self.seq as u64;
        let corrupt =
            |what: &str| JournalError::Corrupt { seq, reason: format!("audit entry {seq}: {what}") };
        let action = AuditAction::from_code(&self.action).ok_or_else(|| corrupt("unknown action"))?;
        let status = u16::try_from(self.status).map_err(|_| corrupt("a status out of range"))?;
        let hash =
            |bytes: Vec<u8>| <[u8; 32]>::try_from(bytes).map_err(|_| corrupt("a hash is not 32 bytes"));
        Ok(AuditEntry {
            seq,
            at: Timestamp::from_unix_ms(self.at_ms),
            event: AuditEvent { action, actor: self.actor, request: self.request, status },
            previous: hash(self.previous)?,
            hash: hash(self.hash)?,
        })
    }
}

impl Checkpoint {
    /// A checkpoint from the columns every store keeps it in. A format, partition or checksum
    /// out of range cannot match its checksum, so the restore reports it rather than this read.
    pub fn from_stored(
        seq: u64,
        format: i64,
        partition: i64,
        checksum: Vec<u8>,
        body: Vec<u8>,
    ) -> Checkpoint {
        Checkpoint {
            seq,
            format: u32::try_from(format).unwrap_or(u32::MAX),
            partition: u32::try_from(partition).unwrap_or(u32::MAX),
            checksum: checksum.try_into().unwrap_or([0; 32]),
            body,
        }
    }
}

impl Command {
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("commands serialize")
    }
}

impl Outbound {
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("outbound messages serialize")
    }
}

impl Delivery {
    pub fn from_stored(id: u64, message: &str) -> Result<Delivery, JournalError> {
        let outbound = serde_json::from_str(message).map_err(|err| JournalError::Corrupt {
            seq: id,
            reason: format!("outbound message {id}: {err}"),
        })?;
        Ok(Delivery { id, outbound })
    }
}

/// The journal could not be read or written; the command's outcome is unknown to the caller
/// and it may retry (idempotency keys make that safe).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("journal entry {seq} is unreadable: {reason}")]
    Corrupt { seq: u64, reason: String },
    #[error("journal entry {seq} does not replay: {reason}")]
    Diverged { seq: u64, reason: String },
    #[error(
        "the store's schema is version {found}, newer than this build knows ({known}); run a newer facepay"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("the payment core stopped on a broken invariant: {0}")]
    CoreHalted(String),
}

impl JournalError {
    pub fn code(&self) -> &'static str {
        match self {
            JournalError::Unavailable(_) => "store_unavailable",
            JournalError::Corrupt { .. } => "store_journal_corrupt",
            JournalError::Diverged { .. } => "store_journal_diverged",
            JournalError::SchemaTooNew { .. } => "store_schema_too_new",
            JournalError::CoreHalted(_) => "core_halted",
        }
    }
}

/// The stored audit log is not the chain the journal built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditCheckError {
    #[error(transparent)]
    Store(#[from] JournalError),
    #[error(transparent)]
    Broken(#[from] AuditBroken),
    #[error(
        "the stored audit log ends at entry {stored}, the journal's at entry {journaled} with another head: \
         entries were removed or replaced"
    )]
    Head { stored: u64, journaled: u64 },
}

impl AuditCheckError {
    pub fn code(&self) -> &'static str {
        match self {
            AuditCheckError::Store(err) => err.code(),
            AuditCheckError::Broken(_) | AuditCheckError::Head { .. } => "audit_chain_broken",
        }
    }
}

/// Audit entries a verifier reads at a time.
const AUDIT_VERIFY_PAGE: usize = 10_000;

/// The port each store implements (`store-sqlite`, `store-postgres`, `MemoryJournal`).
pub trait Journal {
    /// Every entry after `after`, in order.
    fn read_after(&mut self, after: u64) -> Result<Vec<Entry>, JournalError>;

    /// Takes the journal's write lock, calls `write` once with the entries appended after
    /// `after`, appends what it returns (numbered on from the last entry) and commits durably
    /// before returning the number of the last entry. `write` runs at most once and only with
    /// the lock held; when the commit fails after it ran, the error says so and the caller
    /// must treat its in-memory state as unknown.
    fn append_with(
        &mut self,
        after: u64,
        write: &mut dyn FnMut(Vec<Entry>) -> Vec<Append>,
    ) -> Result<u64, JournalError>;

    /// Up to `limit` outbound messages for `recipient` (everyone's with `None`) not yet marked
    /// delivered, oldest first. A store may also hand back messages written before it kept
    /// recipients; callers keep only theirs.
    fn undelivered(
        &mut self,
        recipient: Option<Recipient>,
        limit: usize,
    ) -> Result<Vec<Delivery>, JournalError>;

    fn mark_delivered(&mut self, ids: &[u64]) -> Result<(), JournalError>;

    /// Stores `checkpoint` beside the journal in one transaction (a second write at the same
    /// entry changes nothing) and drops all but the two newest, so a corrupt newest one still
    /// has the one before it.
    fn write_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), JournalError>;

    /// The entry numbers of the stored checkpoints, newest first.
    fn checkpoint_seqs(&mut self) -> Result<Vec<u64>, JournalError>;

    fn read_checkpoint(&mut self, seq: u64) -> Result<Option<Checkpoint>, JournalError>;

    /// Stored audit entries matching `filter`, in order.
    fn audit_entries(&mut self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, JournalError>;

    /// Deletes the entries up to `seq` and their delivered outbound messages, but no entry from
    /// the first with an undelivered message on; returns how many entries went.
    fn prune_through(&mut self, seq: u64) -> Result<u64, JournalError>;

    /// Stores the audit entries it does not hold yet (a log journaled before the store kept
    /// audit entries, filled in by a replay); the ones it holds are left as they are.
    fn store_missing_audit(&mut self, entries: &[AuditEntry]) -> Result<(), JournalError>;

    /// The payment as the read model holds it, written with the entry that last changed it.
    fn payment_row(&mut self, id: PaymentId) -> Result<Option<PaymentRow>, JournalError>;

    /// Up to `limit` ledger movements applied in `[from, to)` and numbered after `after`, in
    /// order of their numbers.
    fn movements(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Movement>, JournalError>;

    /// The last journal entry whose read-model rows the store holds (`append_with` moves it
    /// with every commit; a store that kept no read model before holds 0).
    fn read_model_through(&mut self) -> Result<u64, JournalError>;

    /// Stores the rows a replay rebuilt for the entries up to `through` that were written
    /// before the store kept a read model: a payment's row replaces the one held, a movement
    /// already held is left as it is.
    fn store_read_model(&mut self, through: u64, rows: &ReadModel) -> Result<(), JournalError>;

    /// How many payment rows the read model holds, and the number of its newest ledger movement
    /// (numbers skip the ledger's entries that move no money, such as an account opened). Both
    /// are read without a scan.
    fn read_model_size(&mut self) -> Result<(u64, u64), JournalError>;

    /// The payments started from `since` on, counted by minute (from `since`), state and
    /// decline reason: the operator's dashboard, summed by the store.
    fn payment_tallies(&mut self, since: Timestamp) -> Result<Vec<PaymentTally>, JournalError>;

    /// The `limit` payments started last, newest first (those started in one millisecond in
    /// an order of the store's choosing).
    fn latest_payments(&mut self, limit: usize) -> Result<Vec<PaymentRow>, JournalError>;

    /// Spends a signed terminal request's nonce until `expires`: `true` if nobody had spent it
    /// (or its earlier spending expired before `now`), `false` if it is a replay. Durable and
    /// shared by every node on the store, so a replay is refused by another node and after a
    /// restart. Spent nonces that expired before `now` may be dropped on the way.
    fn claim_nonce(
        &mut self,
        terminal: TerminalId,
        nonce: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<bool, JournalError>;

    /// Whether the operator lets `terminal` send templates it made itself (off until granted).
    fn device_templates_allowed(&mut self, terminal: TerminalId) -> Result<bool, JournalError>;

    /// The operator's grant (or withdrawal) of device templates to `terminal`.
    fn allow_device_templates(&mut self, terminal: TerminalId, allowed: bool) -> Result<(), JournalError>;

    /// Keeps a challenge handed to `terminal` until `expires`, to be signed into one payment.
    fn issue_challenge(
        &mut self,
        terminal: TerminalId,
        challenge: &str,
        expires: Timestamp,
    ) -> Result<(), JournalError>;

    /// Uses up `terminal`'s `challenge`: true if it was issued and has not expired by `now` nor
    /// been used; it is gone either way.
    fn take_challenge(
        &mut self,
        terminal: TerminalId,
        challenge: &str,
        now: Timestamp,
    ) -> Result<bool, JournalError>;
}

/// A minute, in the dashboard's tallies.
pub const MINUTE_MS: i64 = 60_000;

/// Movements a settlement report reads from the store at a time.
const SETTLEMENT_PAGE: usize = 10_000;

/// Clearing and settlement for the movements posted in `[from, to)`, read from the read model
/// page by page. The outer error is the store's, the inner one the report's.
pub fn settlement_report<J: Journal + ?Sized>(
    journal: &mut J,
    currency: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<Result<SettlementReport, SettlementError>, JournalError> {
    if let Err(empty) = settlement_window(from, to) {
        return Ok(Err(empty));
    }
    let (mut tally, mut after) = (SettlementTally::default(), 0);
    loop {
        let page = journal.movements(from, to, after, SETTLEMENT_PAGE)?;
        for movement in &page {
            if let Err(unreportable) = tally.add(movement) {
                return Ok(Err(unreportable));
            }
        }
        match page.last() {
            Some(last) if page.len() == SETTLEMENT_PAGE => after = last.number,
            _ => return Ok(tally.finish(currency, from, to)),
        }
    }
}

/// A node that picks its store at start-up holds it as `Box<dyn Journal + Send>`.
impl<J: Journal + ?Sized> Journal for Box<J> {
    fn read_after(&mut self, after: u64) -> Result<Vec<Entry>, JournalError> {
        (**self).read_after(after)
    }

    fn append_with(
        &mut self,
        after: u64,
        write: &mut dyn FnMut(Vec<Entry>) -> Vec<Append>,
    ) -> Result<u64, JournalError> {
        (**self).append_with(after, write)
    }

    fn undelivered(
        &mut self,
        recipient: Option<Recipient>,
        limit: usize,
    ) -> Result<Vec<Delivery>, JournalError> {
        (**self).undelivered(recipient, limit)
    }

    fn mark_delivered(&mut self, ids: &[u64]) -> Result<(), JournalError> {
        (**self).mark_delivered(ids)
    }

    fn write_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), JournalError> {
        (**self).write_checkpoint(checkpoint)
    }

    fn checkpoint_seqs(&mut self) -> Result<Vec<u64>, JournalError> {
        (**self).checkpoint_seqs()
    }

    fn read_checkpoint(&mut self, seq: u64) -> Result<Option<Checkpoint>, JournalError> {
        (**self).read_checkpoint(seq)
    }

    fn audit_entries(&mut self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, JournalError> {
        (**self).audit_entries(filter)
    }

    fn prune_through(&mut self, seq: u64) -> Result<u64, JournalError> {
        (**self).prune_through(seq)
    }

    fn store_missing_audit(&mut self, entries: &[AuditEntry]) -> Result<(), JournalError> {
        (**self).store_missing_audit(entries)
    }

    fn payment_row(&mut self, id: PaymentId) -> Result<Option<PaymentRow>, JournalError> {
        (**self).payment_row(id)
    }

    fn movements(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Movement>, JournalError> {
        (**self).movements(from, to, after, limit)
    }

    fn read_model_through(&mut self) -> Result<u64, JournalError> {
        (**self).read_model_through()
    }

    fn store_read_model(&mut self, through: u64, rows: &ReadModel) -> Result<(), JournalError> {
        (**self).store_read_model(through, rows)
    }

    fn read_model_size(&mut self) -> Result<(u64, u64), JournalError> {
        (**self).read_model_size()
    }

    fn payment_tallies(&mut self, since: Timestamp) -> Result<Vec<PaymentTally>, JournalError> {
        (**self).payment_tallies(since)
    }

    fn latest_payments(&mut self, limit: usize) -> Result<Vec<PaymentRow>, JournalError> {
        (**self).latest_payments(limit)
    }

    fn claim_nonce(
        &mut self,
        terminal: TerminalId,
        nonce: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<bool, JournalError> {
        (**self).claim_nonce(terminal, nonce, expires, now)
    }

    fn device_templates_allowed(&mut self, terminal: TerminalId) -> Result<bool, JournalError> {
        (**self).device_templates_allowed(terminal)
    }

    fn allow_device_templates(&mut self, terminal: TerminalId, allowed: bool) -> Result<(), JournalError> {
        (**self).allow_device_templates(terminal, allowed)
    }

    fn issue_challenge(
        &mut self,
        terminal: TerminalId,
        challenge: &str,
        expires: Timestamp,
    ) -> Result<(), JournalError> {
        (**self).issue_challenge(terminal, challenge, expires)
    }

    fn take_challenge(
        &mut self,
        terminal: TerminalId,
        challenge: &str,
        now: Timestamp,
    ) -> Result<bool, JournalError> {
        (**self).take_challenge(terminal, challenge, now)
    }
}

/// A node's head and checkpoint status, published by its `JournaledCore` after every change, for
/// metrics that must not wait on the node's lock.
#[derive(Debug, Default)]
pub struct NodeStatus {
    head: AtomicU64,
    checkpoint_entry: AtomicU64,
    checkpoint_failures: AtomicU64,
}

impl NodeStatus {
    /// The last journal entry the node's core reflects.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Relaxed)
    }

    /// The newest checkpoint's entry, and how many checkpoints failed to be written.
    pub fn checkpoints(&self) -> (u64, u64) {
        (self.checkpoint_entry.load(Ordering::Relaxed), self.checkpoint_failures.load(Ordering::Relaxed))
    }
}

/// The payment core made durable by a journal; one per node.
#[derive(Debug)]
pub struct JournaledCore<J> {
    config: CoreConfig,
    /// Behind its own lock, taken for writing only while commands run, never through a commit:
    /// readers (`CoreReader`) never wait for an fsync.
    core: Arc<RwLock<PaymentCore>>,
    journal: J,
    /// The last entry the in-memory core reflects.
    head: u64,
    /// A commit failed after the core ran ahead of it: rebuild before anything else.
    stale: bool,
    checkpoints: CheckpointPolicy,
    /// The entry of the checkpoint this node last wrote or started from, and the command time
    /// at which this node first saw it (the clock of the time trigger).
    last_checkpoint: (u64, Option<Timestamp>),
    /// The size of the checkpoint this node last wrote or started from, in bytes.
    last_checkpoint_bytes: usize,
    /// Checkpoints this node failed to write (each is tried again after the next batch).
    checkpoint_failures: u64,
    /// The checkpoint the node last rebuilt from, and the checkpoints it skipped as unusable.
    started_from: Option<u64>,
    skipped: Vec<CheckpointError>,
    /// What an operator watches, published after every change (`status`).
    status: Arc<NodeStatus>,
    /// The latest command time among the entries the core reflects. A command is journaled at
    /// no earlier time, so the core's clock never runs back when a node's wall clock does, or
    /// when nodes' clocks disagree.
    latest_at: Timestamp,
}

impl<J: Journal> JournaledCore<J> {
    /// Rebuilds the core from the newest usable checkpoint and the entries after it (or from
    /// the whole journal when there is none). Writes no checkpoints until given a policy.
    pub fn open(config: CoreConfig, journal: J) -> Result<JournaledCore<J>, JournalError> {
        let core = PaymentCore::new(config.clone());
        let mut node = JournaledCore {
            config,
            core: Arc::new(RwLock::new(core)),
            journal,
            head: 0,
            stale: true,
            checkpoints: CheckpointPolicy::NEVER,
            last_checkpoint: (0, None),
            last_checkpoint_bytes: 0,
            checkpoint_failures: 0,
            started_from: None,
            skipped: Vec::new(),
            latest_at: Timestamp::from_unix_ms(0),
            status: Arc::default(),
        };
        node.catch_up()?;
        Ok(node)
    }

    /// The size of the checkpoint this node last wrote or started from (0: none), in bytes.
    pub fn last_checkpoint_bytes(&self) -> usize {
        self.last_checkpoint_bytes
    }

    /// The node's head and checkpoint status as last published: readable without this node's
    /// lock, which its writer holds through every commit.
    pub fn status(&self) -> Arc<NodeStatus> {
        self.status.clone()
    }

    fn publish_status(&self) {
        self.status.head.store(self.head, Ordering::Relaxed);
        self.status.checkpoint_entry.store(self.last_checkpoint.0, Ordering::Relaxed);
        self.status.checkpoint_failures.store(self.checkpoint_failures, Ordering::Relaxed);
    }

    pub fn set_checkpoint_policy(&mut self, policy: CheckpointPolicy) {
        self.checkpoints = policy;
    }

    /// The checkpoint the node last rebuilt from (none: it replayed the whole journal), and the
    /// newer ones it found unusable, with why.
    pub fn started_from(&self) -> (Option<u64>, &[CheckpointError]) {
        (self.started_from, &self.skipped)
    }

    /// The core as of the last entry this node has seen; `catch_up` first for the latest.
    pub fn core(&self) -> RwLockReadGuard<'_, PaymentCore> {
        self.core.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// A handle readers keep to read the core without the node's lock: they wait only while
    /// commands run in memory, never for a commit. What they read may include a batch whose
    /// commit is still under way (or fails, and is then rebuilt away): answers a caller acts on
    /// come from the command's own reply or from the store.
    pub fn reader(&self) -> CoreReader {
        CoreReader(self.core.clone())
    }

    pub fn head(&self) -> u64 {
        self.head
    }

    fn core_mut(&self) -> RwLockWriteGuard<'_, PaymentCore> {
        self.core.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn journal(&mut self) -> &mut J {
        &mut self.journal
    }

    /// Replays what other nodes appended since this one last looked.
    pub fn catch_up(&mut self) -> Result<(), JournalError> {
        self.rebuild_if_stale()?;
        let entries = self.journal.read_after(self.head)?;
        if entries.first().is_some_and(|first| first.seq > self.head + 1) {
            // What this node lacks was pruned behind a checkpoint: start again from the newest
            // (the rebuild replays everything after it).
            self.stale = true;
            return self.rebuild_if_stale();
        }
        let replayed = {
            let mut core = self.core.write().unwrap_or_else(PoisonError::into_inner);
            replay(&mut core, (&mut self.head, &mut self.latest_at), entries, u64::MAX).map(drop)
        };
        self.publish_status();
        replayed
    }

    /// Drops the journal entries every start can do without: those up to the older of the two
    /// stored checkpoints (a start needs the newest usable one and the entries after it), less
    /// any whose outbound messages are not delivered yet. Returns how many went.
    pub fn prune(&mut self) -> Result<u64, JournalError> {
        match self.journal.checkpoint_seqs()?.get(1) {
            Some(&older) => self.journal.prune_through(older),
            None => Ok(0),
        }
    }

    /// Runs one command and makes it durable before answering. The outer error means the
    /// store failed and the outcome is unknown; the inner one that the core refused.
    pub fn execute(
        &mut self,
        command: Command,
        at: Timestamp,
    ) -> Result<Result<Reply, CoreError>, JournalError> {
        let mut replies = self.execute_all(vec![(command, at)])?;
        Ok(replies.pop().expect("one reply per command"))
    }

    /// Runs commands in order under one commit; a reply for each, in order.
    pub fn execute_all(
        &mut self,
        commands: Vec<(Command, Timestamp)>,
    ) -> Result<Vec<Result<Reply, CoreError>>, JournalError> {
        self.rebuild_if_stale()?;
        let latest = commands.iter().map(|&(_, at)| at).max();
        let JournaledCore { core: shared, journal, head, latest_at, .. } = self;
        let mut replies = Vec::with_capacity(commands.len());
        let mut ran = false;
        let mut caught_up = Ok(());
        let committed = journal.append_with(*head, &mut |others| {
            ran = true;
            // Written only while the commands run: released before the store commits.
            let mut core = shared.write().unwrap_or_else(PoisonError::into_inner);
            let core = &mut *core;
            caught_up = replay(core, (head, latest_at), others, u64::MAX).map(drop);
            if caught_up.is_err() {
                return Vec::new();
            }
            let mut appends = Vec::with_capacity(commands.len());
            for &(ref command, at) in &commands {
                let at = at.max(*latest_at);
                *latest_at = at;
                let reply = core.execute(command, at);
                let outbound = drain_outbound(core);
                let refused = reply.as_ref().err().map(|err| err.code().to_owned());
                let audit = core.take_audit_entries();
                let read_model = core.take_read_model();
                appends.push(Append { at, command: command.clone(), refused, outbound, audit, read_model });
                replies.push(reply);
            }
            appends
        });
        match (committed, caught_up) {
            (Ok(last), Ok(())) => {
                self.head = last;
                // A checkpoint is a shortcut for the next start, never needed for correctness:
                // one that fails to write is tried again after the next batch.
                if let Some(latest) = latest
                    && self.checkpoint_if_due(latest).is_err()
                {
                    self.checkpoint_failures += 1;
                }
                self.publish_status();
                Ok(replies)
            }
            (Ok(_), Err(diverged)) | (Err(diverged), _) => {
                // The core may hold commands the journal does not: rebuild it before the next use.
                self.stale = ran;
                Err(diverged)
            }
        }
    }

    /// Recomputes the stored audit log's hash chain, page by page, and checks it ends where the
    /// journal's does: the entries and head an auditor can keep elsewhere.
    pub fn verify_audit(&mut self) -> Result<(u64, [u8; 32]), AuditCheckError> {
        let mut verifier = AuditVerifier::default();
        loop {
            let after = verifier.verified().0;
            let page = self.journal.audit_entries(&AuditFilter::all_after(after, AUDIT_VERIFY_PAGE))?;
            for entry in &page {
                verifier.check(entry)?;
            }
            if page.len() < AUDIT_VERIFY_PAGE {
                break;
            }
        }
        let (stored, journaled) = (verifier.verified(), self.core().audit_head());
        if stored != journaled {
            return Err(AuditCheckError::Head { stored: stored.0, journaled: journaled.0 });
        }
        Ok(stored)
    }

    /// Writes a checkpoint of the core as it stands if the policy says one is due at `now`;
    /// returns its entry. A failed write changes nothing and is tried again at the next call.
    pub fn checkpoint_if_due(&mut self, now: Timestamp) -> Result<Option<u64>, JournalError> {
        let last = self.last_checkpoint.0;
        let since = *self.last_checkpoint.1.get_or_insert(now);
        let policy = self.checkpoints;
        let by_count = policy.every_entries > 0 && self.head - last >= policy.every_entries;
        let by_time = policy.every_ms > 0 && now.ms_since(since) >= policy.every_ms;
        if self.stale || self.head == last || !(by_count || by_time) {
            return Ok(None);
        }
        self.checkpoint_now()
    }

    /// Writes a checkpoint of the core as it stands (a graceful stop writes one); `None` when
    /// the newest checkpoint already holds this state.
    pub fn checkpoint_now(&mut self) -> Result<Option<u64>, JournalError> {
        if self.stale || self.head == self.last_checkpoint.0 {
            return Ok(None);
        }
        let checkpoint = Checkpoint::of(&self.core(), self.head, self.last_checkpoint_bytes);
        self.journal.write_checkpoint(&checkpoint)?;
        self.last_checkpoint = (self.head, None);
        self.last_checkpoint_bytes = checkpoint.body.len();
        self.publish_status();
        if self.checkpoints.prune {
            self.prune()?;
        }
        Ok(Some(self.head))
    }

    fn rebuild_if_stale(&mut self) -> Result<(), JournalError> {
        if !self.stale {
            return Ok(());
        }
        self.skipped.clear();
        let (mut core, mut head, mut started_from) = (PaymentCore::new(self.config.clone()), 0, None);
        let mut checkpoint_bytes = 0;
        for seq in self.journal.checkpoint_seqs()? {
            let Some(checkpoint) = self.journal.read_checkpoint(seq)? else { continue };
            match checkpoint.restore(&self.config) {
                Ok(restored) => {
                    (core, head, started_from) = (restored, seq, Some(seq));
                    checkpoint_bytes = checkpoint.body.len();
                    break;
                }
                Err(unusable) => self.skipped.push(unusable),
            }
        }
        let entries = self.journal.read_after(head)?;
        let rows_through = self.journal.read_model_through()?;
        let mut latest_at = Timestamp::from_unix_ms(0);
        let (audit, rows) = replay(&mut core, (&mut head, &mut latest_at), entries, rows_through)?;
        // A journal written before the store kept audit entries or a read model: the replay
        // fills them in.
        if let Some(last) = audit.last()
            && self.journal.audit_entries(&AuditFilter::all_after(last.seq - 1, 1))?.is_empty()
        {
            self.journal.store_missing_audit(&audit)?;
        }
        if head > rows_through {
            self.journal.store_read_model(head, &rows)?;
        }
        *self.core_mut() = core;
        (self.head, self.started_from, self.latest_at) = (head, started_from, latest_at);
        self.last_checkpoint = (started_from.unwrap_or(0), None);
        self.last_checkpoint_bytes = checkpoint_bytes;
        self.stale = false;
        self.publish_status();
        Ok(())
    }
}

/// A reader's handle on a node's core (`JournaledCore::reader`).
#[derive(Debug, Clone)]
pub struct CoreReader(Arc<RwLock<PaymentCore>>);

impl CoreReader {
    pub fn read<T>(&self, read: impl FnOnce(&PaymentCore) -> T) -> T {
        read(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Applies journaled entries to `core`, which reflects everything up to `head`; returns the
/// audit entries they appended (stored when the entries were first written) and the read-model
/// rows of the entries after `rows_after` (those the store may lack).
/// Applies `entries` after `head`, moving it and the latest command time (`at`) along.
fn replay(
    core: &mut PaymentCore,
    (head, at): (&mut u64, &mut Timestamp),
    entries: Vec<Entry>,
    rows_after: u64,
) -> Result<(Vec<AuditEntry>, ReadModel), JournalError> {
    let mut audit = Vec::new();
    let mut rows = ReadModel::default();
    for entry in entries {
        if entry.seq != *head + 1 {
            let reason = format!("expected entry {} next", *head + 1);
            return Err(JournalError::Corrupt { seq: entry.seq, reason });
        }
        let verdict = core.execute(&entry.command, entry.at).err().map(|err| err.code().to_owned());
        if verdict != entry.refused {
            let said = |verdict: &Option<String>| verdict.clone().unwrap_or_else(|| "accepted".into());
            let reason = format!("written as {}, replayed as {}", said(&entry.refused), said(&verdict));
            return Err(JournalError::Diverged { seq: entry.seq, reason });
        }
        // Delivered (or queued), and stored, when the entry was first written.
        drain_outbound(core);
        audit.extend(core.take_audit_entries());
        let read_model = core.take_read_model();
        if entry.seq > rows_after {
            rows.extend(read_model);
        }
        *head = entry.seq;
        *at = (*at).max(entry.at);
    }
    Ok((audit, rows))
}

fn drain_outbound(core: &mut PaymentCore) -> Vec<Outbound> {
    let issuer = core.take_issuer_messages().into_iter().map(Outbound::Issuer);
    let risk = core.take_risk_events().into_iter().map(Outbound::Risk);
    issuer.chain(risk).collect()
}

/// A journal in memory: the fake the contract suite also runs against, shared between
/// `JournaledCore`s as if they were nodes on one database (clone it for another node).
#[derive(Debug, Clone, Default)]
pub struct MemoryJournal {
    shared: Arc<Mutex<MemoryState>>,
}

#[derive(Debug, Default)]
struct MemoryState {
    /// In order; the oldest may have been pruned.
    entries: Vec<Entry>,
    last_seq: u64,
    /// Each message with the entry that left it and whether it was delivered.
    outbox: Vec<(u64, Delivery, bool)>,
    next_delivery: u64,
    /// Oldest first.
    checkpoints: Vec<Checkpoint>,
    audit: Vec<AuditEntry>,
    payments: std::collections::BTreeMap<PaymentId, PaymentRow>,
    movements: std::collections::BTreeMap<u64, Movement>,
    rows_through: u64,
    fail_next_commit: bool,
    /// Spent terminal nonces and when each may be spent again.
    nonces: HashMap<(TerminalId, String), Timestamp>,
    /// Terminals the operator lets send device templates.
    device_templates: std::collections::HashSet<TerminalId>,
    /// Challenges handed out and not used, with when each expires.
    challenges: HashMap<(TerminalId, String), Timestamp>,
}

impl MemoryState {
    fn keep_rows(&mut self, rows: &ReadModel) {
        for row in &rows.payments {
            self.payments.insert(row.id, row.clone());
        }
        for movement in &rows.movements {
            self.movements.entry(movement.number).or_insert(*movement);
        }
    }
}

impl MemoryJournal {
    /// The next `append_with` runs its `write` and then fails to commit, as a lost connection
    /// would.
    pub fn fail_next_commit(&self) {
        self.state().fail_next_commit = true;
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        // A panicking test thread cannot leave the entries half written: each push is whole.
        self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Journal for MemoryJournal {
    fn read_after(&mut self, after: u64) -> Result<Vec<Entry>, JournalError> {
        let state = self.state();
        Ok(state.entries.iter().filter(|entry| entry.seq > after).cloned().collect())
    }

    fn append_with(
        &mut self,
        after: u64,
        write: &mut dyn FnMut(Vec<Entry>) -> Vec<Append>,
    ) -> Result<u64, JournalError> {
        let mut state = self.state();
        let others = state.entries.iter().filter(|entry| entry.seq > after).cloned().collect();
        let appends = write(others);
        if std::mem::take(&mut state.fail_next_commit) {
            return Err(JournalError::Unavailable("the commit was lost".into()));
        }
        for append in appends {
            state.last_seq += 1;
            let seq = state.last_seq;
            for outbound in append.outbound {
                state.next_delivery += 1;
                let id = state.next_delivery;
                state.outbox.push((seq, Delivery { id, outbound }, false));
            }
            state.audit.extend(append.audit);
            state.keep_rows(&append.read_model);
            state.rows_through = seq;
            state.entries.push(Entry {
                seq,
                at: append.at,
                command: append.command,
                refused: append.refused,
            });
        }
        Ok(state.last_seq)
    }

    fn undelivered(
        &mut self,
        recipient: Option<Recipient>,
        limit: usize,
    ) -> Result<Vec<Delivery>, JournalError> {
        let state = self.state();
        let pending = state.outbox.iter().filter(|(_, delivery, delivered)| {
            !delivered && recipient.is_none_or(|to| delivery.outbound.recipient() == to)
        });
        Ok(pending.take(limit).map(|(_, delivery, _)| delivery.clone()).collect())
    }

    fn mark_delivered(&mut self, ids: &[u64]) -> Result<(), JournalError> {
        let mut state = self.state();
        for (_, delivery, delivered) in &mut state.outbox {
            if ids.contains(&delivery.id) {
                *delivered = true;
            }
        }
        Ok(())
    }

    fn payment_row(&mut self, id: PaymentId) -> Result<Option<PaymentRow>, JournalError> {
        Ok(self.state().payments.get(&id).cloned())
    }

    fn movements(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Movement>, JournalError> {
        let state = self.state();
        let within = |movement: &&Movement| movement.at >= from && movement.at < to;
        Ok(state.movements.range(after + 1..).map(|(_, m)| m).filter(within).take(limit).copied().collect())
    }

    fn read_model_through(&mut self) -> Result<u64, JournalError> {
        Ok(self.state().rows_through)
    }

    fn store_read_model(&mut self, through: u64, rows: &ReadModel) -> Result<(), JournalError> {
        let mut state = self.state();
        state.keep_rows(rows);
        state.rows_through = state.rows_through.max(through);
        Ok(())
    }

    fn read_model_size(&mut self) -> Result<(u64, u64), JournalError> {
        let state = self.state();
        Ok((state.payments.len() as u64, state.movements.keys().next_back().copied().unwrap_or(0)))
    }

    fn payment_tallies(&mut self, since: Timestamp) -> Result<Vec<PaymentTally>, JournalError> {
        let mut counts = std::collections::BTreeMap::new();
        for row in self.state().payments.values().filter(|row| row.started_at >= since) {
            let (state, reason) = row.state_columns();
            let minute = row.started_at.ms_since(since) / MINUTE_MS;
            *counts.entry((minute, state, reason)).or_insert(0) += 1;
        }
        Ok(counts
            .into_iter()
            .map(|((minute, state, reason), count)| PaymentTally {
                minute,
                state: state.to_owned(),
                decline_reason: reason.map(str::to_owned),
                count,
            })
            .collect())
    }

    fn latest_payments(&mut self, limit: usize) -> Result<Vec<PaymentRow>, JournalError> {
        let mut rows: Vec<PaymentRow> = self.state().payments.values().cloned().collect();
        rows.sort_by_key(|row| std::cmp::Reverse((row.started_at, row.id)));
        rows.truncate(limit);
        Ok(rows)
    }

    fn claim_nonce(
        &mut self,
        terminal: TerminalId,
        nonce: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<bool, JournalError> {
        let mut state = self.state();
        state.nonces.retain(|_, until| *until >= now);
        match state.nonces.entry((terminal, nonce.to_owned())) {
            std::collections::hash_map::Entry::Occupied(_) => Ok(false),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(expires);
                Ok(true)
            }
        }
    }

    fn device_templates_allowed(&mut self, terminal: TerminalId) -> Result<bool, JournalError> {
        Ok(self.state().device_templates.contains(&terminal))
    }

    fn allow_device_templates(&mut self, terminal: TerminalId, allowed: bool) -> Result<(), JournalError> {
        let mut state = self.state();
        if allowed {
            state.device_templates.insert(terminal);
        } else {
            state.device_templates.remove(&terminal);
        }
        Ok(())
    }

    fn issue_challenge(
        &mut self,
        terminal: TerminalId,
        challenge: &str,
        expires: Timestamp,
    ) -> Result<(), JournalError> {
        self.state().challenges.insert((terminal, challenge.to_owned()), expires);
        Ok(())
    }

    fn take_challenge(
        &mut self,
        terminal: TerminalId,
        challenge: &str,
        now: Timestamp,
    ) -> Result<bool, JournalError> {
        let mut state = self.state();
        state.challenges.retain(|_, until| *until >= now);
        Ok(state.challenges.remove(&(terminal, challenge.to_owned())).is_some())
    }

    fn store_missing_audit(&mut self, entries: &[AuditEntry]) -> Result<(), JournalError> {
        let mut state = self.state();
        for entry in entries {
            if state.audit.iter().all(|held| held.seq != entry.seq) {
                state.audit.push(entry.clone());
            }
        }
        state.audit.sort_by_key(|entry| entry.seq);
        Ok(())
    }

    fn prune_through(&mut self, seq: u64) -> Result<u64, JournalError> {
        let mut state = self.state();
        state.outbox.retain(|&(from, _, delivered)| from > seq || !delivered);
        let held = state.outbox.iter().filter(|&&(from, _, _)| from <= seq).map(|&(from, _, _)| from).min();
        let through = held.map_or(seq, |from| from - 1);
        let before = state.entries.len();
        state.entries.retain(|entry| entry.seq > through);
        Ok((before - state.entries.len()) as u64)
    }

    fn write_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), JournalError> {
        let mut state = self.state();
        if state.checkpoints.iter().all(|kept| kept.seq != checkpoint.seq) {
            state.checkpoints.push(checkpoint.clone());
            state.checkpoints.sort_by_key(|kept| kept.seq);
        }
        let excess = state.checkpoints.len().saturating_sub(2);
        state.checkpoints.drain(..excess);
        Ok(())
    }

    fn checkpoint_seqs(&mut self) -> Result<Vec<u64>, JournalError> {
        Ok(self.state().checkpoints.iter().rev().map(|checkpoint| checkpoint.seq).collect())
    }

    fn read_checkpoint(&mut self, seq: u64) -> Result<Option<Checkpoint>, JournalError> {
        Ok(self.state().checkpoints.iter().find(|checkpoint| checkpoint.seq == seq).cloned())
    }

    fn audit_entries(&mut self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, JournalError> {
        Ok((self.state().audit.iter())
            .filter(|entry| entry.seq > filter.after_seq)
            .filter(|entry| filter.action.is_none_or(|action| entry.event.action == action))
            .filter(|entry| filter.actor.as_ref().is_none_or(|actor| &entry.event.actor == actor))
            .take(filter.limit)
            .cloned()
            .collect())
    }
}

impl MemoryJournal {
    /// Every payment row the read model holds, as a test or the simulator reads history.
    pub fn payment_rows(&self) -> std::collections::BTreeMap<PaymentId, PaymentRow> {
        self.state().payments.clone()
    }

    /// Every ledger movement the read model holds, in order.
    pub fn stored_movements(&self) -> Vec<Movement> {
        self.state().movements.values().copied().collect()
    }

    /// Forgets the whole read model, as a store from before it was kept holds none.
    pub fn drop_read_model(&self) {
        let mut state = self.state();
        (state.payments, state.movements, state.rows_through) = Default::default();
    }

    /// Forgets every stored audit entry, as a store from before they were kept holds none.
    pub fn drop_stored_audit(&self) {
        self.state().audit.clear();
    }

    /// Changes the actor of the stored audit entry `seq`, as someone covering their tracks would.
    pub fn tamper_audit(&self, seq: u64) {
        let mut state = self.state();
        if let Some(entry) = state.audit.iter_mut().find(|entry| entry.seq == seq) {
            entry.event.actor = "key_someone_else".into();
        }
    }

    /// Flips one byte of the stored checkpoint at `seq`, as a bad disk would.
    pub fn corrupt_checkpoint(&self, seq: u64) {
        let mut state = self.state();
        if let Some(checkpoint) = state.checkpoints.iter_mut().find(|checkpoint| checkpoint.seq == seq) {
            let middle = checkpoint.body.len() / 2;
            checkpoint.body[middle] ^= 0xff;
        }
    }
}
