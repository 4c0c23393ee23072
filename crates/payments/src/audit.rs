//! The tamper-evident audit log: every sensitive request (enrollment, identification, deletion,
//! credentials issued or used, any operator access) as one entry, chained by SHA-256 so that an
//! entry's hash covers every entry before it.
//!
//! The API records the events (`Command::RecordAudit`, journaled like every change, so every node
//! replays the same chain). Tamper evidence works as for any hash chain: whoever keeps a copy of
//! the head hash at some length (an auditor, an external system, a printed report) can later
//! check that the log still leads to it; editing, dropping or reordering any earlier entry, in the
//! journal or anywhere else, gives every later entry another hash.

use facepay_domain::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest actor and request text an event may carry, in bytes.
pub const AUDIT_ACTOR_MAX: usize = 64;
pub const AUDIT_REQUEST_MAX: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditAction {
    /// A face enrolled (or refused).
    Enrollment,
    /// A face searched among everyone: a payment, or the phone digits that narrow it.
    Identification,
    /// A shopper deleted everything.
    Deletion,
    /// A key, activation code or PIN issued, replaced, used to activate, or revoked.
    Credentials,
    /// Anything an operator key was presented for, reads included.
    OperatorAccess,
}

impl AuditAction {
    pub const ALL: [AuditAction; 5] = [
        AuditAction::Enrollment,
        AuditAction::Identification,
        AuditAction::Deletion,
        AuditAction::Credentials,
        AuditAction::OperatorAccess,
    ];

    /// The action whose `code` is `code`.
    pub fn from_code(code: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|action| action.code() == code)
    }

    pub fn code(&self) -> &'static str {
        match self {
            AuditAction::Enrollment => "enrollment",
            AuditAction::Identification => "identification",
            AuditAction::Deletion => "deletion",
            AuditAction::Credentials => "credentials",
            AuditAction::OperatorAccess => "operator_access",
        }
    }
}

/// One sensitive request as the API saw it. It holds no secret and no biometric data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub action: AuditAction,
    /// Who asked: the API key's id or the terminal's id as presented (the status says whether
    /// the check passed), or `anonymous`.
    pub actor: String,
    /// Method and path, ids included (they are pseudonymous); never a query or a body.
    pub request: String,
    /// The HTTP status it was answered with.
    pub status: u16,
}

impl AuditEvent {
    pub fn is_valid(&self) -> bool {
        let printable = |text: &str| text.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        !self.actor.is_empty()
            && self.actor.len() <= AUDIT_ACTOR_MAX
            && !self.request.is_empty()
            && self.request.len() <= AUDIT_REQUEST_MAX
            && printable(&self.actor)
            && printable(&self.request)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// From 1, without gaps.
    pub seq: u64,
    pub at: Timestamp,
    pub event: AuditEvent,
    /// The hash of the entry before (32 zero bytes for the first), so each stored entry can be
    /// checked on its own.
    pub previous: [u8; 32],
    /// `link(previous, self)`.
    pub hash: [u8; 32],
}

/// The hash of an entry after `previous`: SHA-256 over the previous hash, the sequence number
/// and time (8 bytes little-endian each), each text as its length (8 bytes little-endian) and
/// bytes (the action's code, the actor, the request), and the status (2 bytes little-endian).
pub fn link(previous: &[u8; 32], seq: u64, at: Timestamp, event: &AuditEvent) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(previous);
    hash.update(seq.to_le_bytes());
    hash.update(at.unix_ms.to_le_bytes());
    for text in [event.action.code(), &event.actor, &event.request] {
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
    }
    hash.update(event.status.to_le_bytes());
    hash.finalize().into()
}

/// The chain as the core keeps it: only its length and head. The entries themselves go to the
/// store with the journal entry that made them (`take_new`), so memory stays flat however long
/// the log grows.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct AuditChain {
    length: u64,
    head: [u8; 32],
    /// Appended by the command running now, for the store.
    new: Vec<AuditEntry>,
}

impl AuditChain {
    pub(crate) fn append(&mut self, event: AuditEvent, at: Timestamp) {
        let seq = self.length + 1;
        let (previous, hash) = (self.head, link(&self.head, seq, at, &event));
        (self.length, self.head) = (seq, hash);
        self.new.push(AuditEntry { seq, at, event, previous, hash });
    }

    pub(crate) fn head(&self) -> [u8; 32] {
        self.head
    }

    pub(crate) fn length(&self) -> u64 {
        self.length
    }

    pub(crate) fn take_new(&mut self) -> Vec<AuditEntry> {
        std::mem::take(&mut self.new)
    }
}

/// Which stored entries a reader wants: after an entry number, of one action, by one actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    pub after_seq: u64,
    pub action: Option<AuditAction>,
    pub actor: Option<String>,
    pub limit: usize,
}

impl AuditFilter {
    /// The next `limit` entries after `after_seq`, whatever they are (a verifier's page).
    pub fn all_after(after_seq: u64, limit: usize) -> AuditFilter {
        AuditFilter { after_seq, action: None, actor: None, limit }
    }
}

/// Recomputes a stored chain, page by page in order: each entry must follow the one before
/// (its number and its hash over the previous hash and its own fields).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditVerifier {
    length: u64,
    head: [u8; 32],
}

/// Where a stored chain stops being the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditBroken {
    #[error("audit entry {found} follows entry {after}: an entry is missing or out of order")]
    Gap { after: u64, found: u64 },
    #[error("audit entry {seq} does not hash to its stored hash: it or an entry before it changed")]
    Hash { seq: u64 },
}

impl AuditVerifier {
    pub fn check(&mut self, entry: &AuditEntry) -> Result<(), AuditBroken> {
        if entry.seq != self.length + 1 {
            return Err(AuditBroken::Gap { after: self.length, found: entry.seq });
        }
        if entry.previous != self.head || link(&self.head, entry.seq, entry.at, &entry.event) != entry.hash {
            return Err(AuditBroken::Hash { seq: entry.seq });
        }
        (self.length, self.head) = (entry.seq, entry.hash);
        Ok(())
    }

    /// How many entries checked out, and the head they lead to.
    pub fn verified(&self) -> (u64, [u8; 32]) {
        (self.length, self.head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(actor: &str) -> AuditEvent {
        AuditEvent {
            action: AuditAction::OperatorAccess,
            actor: actor.into(),
            request: "GET /v1/operator/limits".into(),
            status: 200,
        }
    }

    fn chain(actors: &[&str]) -> AuditChain {
        let mut chain = AuditChain::default();
        for (i, actor) in actors.iter().enumerate() {
            chain.append(event(actor), Timestamp::from_unix_ms(i as i64));
        }
        chain
    }

    #[test]
    fn a_kept_head_exposes_any_edit_drop_or_reorder_of_earlier_entries() {
        let honest = chain(&["key_a", "key_b", "key_c"]);
        let kept_head = honest.head();

        assert_ne!(chain(&["key_a", "key_x", "key_c"]).head(), kept_head, "an edit");
        assert_ne!(chain(&["key_a", "key_c"]).head(), kept_head, "a drop");
        assert_ne!(chain(&["key_b", "key_a", "key_c"]).head(), kept_head, "a reorder");

        // Each entry's hash follows from the one before and the entry itself, as documented;
        // the verifier walks the entries the store would hold to the same head.
        let mut honest = honest;
        let entries = honest.take_new();
        let mut previous = [0; 32];
        let mut verifier = AuditVerifier::default();
        for entry in &entries {
            assert_eq!(entry.hash, link(&previous, entry.seq, entry.at, &entry.event));
            verifier.check(entry).unwrap();
            previous = entry.hash;
        }
        assert_eq!(previous, kept_head);
        assert_eq!(verifier.verified(), (3, kept_head));
        assert!(honest.take_new().is_empty(), "taken once");
    }

    #[test]
    fn the_verifier_finds_an_edited_a_dropped_and_a_reordered_entry() {
        let entries = chain(&["key_a", "key_b", "key_c"]).take_new();
        let walk = |entries: &[AuditEntry]| {
            let mut verifier = AuditVerifier::default();
            entries.iter().try_for_each(|entry| verifier.check(entry))
        };
        assert_eq!(walk(&entries), Ok(()));
        let mut edited = entries.clone();
        edited[1].event.actor = "key_x".into();
        assert_eq!(walk(&edited), Err(AuditBroken::Hash { seq: 2 }));
        let dropped = [entries[0].clone(), entries[2].clone()];
        assert_eq!(walk(&dropped), Err(AuditBroken::Gap { after: 1, found: 3 }));
        let reordered = [entries[1].clone(), entries[0].clone()];
        assert_eq!(walk(&reordered), Err(AuditBroken::Gap { after: 0, found: 2 }));
    }

    #[test]
    fn events_are_bounded_printable_text() {
        assert!(event("key_a").is_valid());
        assert!(!event("").is_valid());
        assert!(!event(&"k".repeat(AUDIT_ACTOR_MAX + 1)).is_valid());
        assert!(!event("key\n_a").is_valid());
    }
}
