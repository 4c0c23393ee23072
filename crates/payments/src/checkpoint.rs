//! Checkpoints: the payment core's whole state as of one journal entry, as checksummed bytes
//! kept in the store beside the journal. A node starts from the newest checkpoint that checks
//! out and replays only the entries after it; a corrupt one is skipped for the one before.
//!
//! Format 1: the core encoded with postcard, and a SHA-256 over the format, the partition, the
//! entry number and the body. The partition is 0 today; when the core is split into
//! single-writer partitions by payer, each partition checkpoints its own state at entries of
//! its own journal, and nothing here assumes one core.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::{CoreConfig, PaymentCore};

/// The checkpoint format this build writes and reads.
pub const CHECKPOINT_FORMAT: u32 = 8;

/// The core as of entry `seq` of its partition's journal.
#[derive(Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub format: u32,
    pub partition: u32,
    pub checksum: [u8; 32],
    pub body: Vec<u8>,
}

/// The body is the whole core, personal data included: never print it.
impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("seq", &self.seq)
            .field("format", &self.format)
            .field("partition", &self.partition)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// Why a stored checkpoint cannot be used; the node falls back to the one before it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {seq} is in format {found}; this build reads format {CHECKPOINT_FORMAT}")]
    Format { seq: u64, found: u32 },
    #[error("checkpoint {seq} does not match its checksum")]
    Checksum { seq: u64 },
    #[error("checkpoint {seq} does not decode: {reason}")]
    Undecodable { seq: u64, reason: String },
}

impl CheckpointError {
    pub fn code(&self) -> &'static str {
        match self {
            CheckpointError::Format { .. } => "checkpoint_format_unknown",
            CheckpointError::Checksum { .. } => "checkpoint_checksum_mismatch",
            CheckpointError::Undecodable { .. } => "checkpoint_undecodable",
        }
    }
}

/// When a node writes a checkpoint: after `every_entries` new entries, or once `every_ms` has
/// passed (by the commands' own time) with anything new. Zero turns a trigger off. With `prune`,
/// each checkpoint is followed by dropping the journal entries no start needs any more
/// (`JournaledCore::prune`); without it the journal is kept whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointPolicy {
    pub every_entries: u64,
    pub every_ms: i64,
    pub prune: bool,
}

impl CheckpointPolicy {
    pub const NEVER: CheckpointPolicy = CheckpointPolicy { every_entries: 0, every_ms: 0, prune: false };
}

impl Checkpoint {
    /// `core` as of entry `seq`. The core's outbound queues are empty between commands.
    /// `size_hint` is about how many bytes the body will take (the previous checkpoint's
    /// size): a body grown by doubling would briefly hold up to three times its size.
    pub fn of(core: &PaymentCore, seq: u64, size_hint: usize) -> Checkpoint {
        let room = Vec::with_capacity(size_hint.saturating_add(size_hint / 8));
        let body = postcard::to_extend(core, room).expect("the core encodes");
        let partition = 0;
        let checksum = checksum(CHECKPOINT_FORMAT, partition, seq, &body);
        Checkpoint { seq, format: CHECKPOINT_FORMAT, partition, checksum, body }
    }

    /// The core this checkpoint holds, running under `config` (the node's own: a changed
    /// timeout or limit applies from the start, as it would after a replay).
    pub fn restore(&self, config: &CoreConfig) -> Result<PaymentCore, CheckpointError> {
        let seq = self.seq;
        if self.format != CHECKPOINT_FORMAT {
            return Err(CheckpointError::Format { seq, found: self.format });
        }
        if checksum(self.format, self.partition, seq, &self.body) != self.checksum {
            return Err(CheckpointError::Checksum { seq });
        }
        let mut core: PaymentCore = postcard::from_bytes(&self.body)
            .map_err(|err| CheckpointError::Undecodable { seq, reason: err.to_string() })?;
        core.reconfigure(config.clone());
        Ok(core)
    }
}

fn checksum(format: u32, partition: u32, seq: u64, body: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(format.to_le_bytes());
    hash.update(partition.to_le_bytes());
    hash.update(seq.to_le_bytes());
    hash.update(body);
    hash.finalize().into()
}
