//! The gallery: every enrolled template, int8-encoded in one contiguous block for the scan, with
//! the f32 original kept aside for the final scores, and buckets by the last four phone digits.
//!
//! Search is exact: the int8 scan gives each template an approximate score with a proven error
//! bound (`quantize::bound`); only templates whose best possible score could still reach the top
//! k are scored again in f32. The result is the same as scoring everything in f32.
//!
//! Deleting leaves a tombstone (the slot is skipped and reused by the next insert), so a deleted
//! face is never returned and slots never move under a running scan.

use std::collections::HashMap;

use facepay_domain::{FaceTemplate, RecognizerTag, ShopperId};

use crate::quantize::{Quantized, bound, dot_codes, dot_exact};

/// The last four digits of the shopper's phone number, which narrow a search to one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PhoneHint([u8; 4]);

impl PhoneHint {
    pub fn parse(digits: &str) -> Result<PhoneHint, IndexError> {
        match digits.as_bytes() {
            &[a, b, c, d] if digits.bytes().all(|x| x.is_ascii_digit()) => Ok(PhoneHint([a, b, c, d])),
            _ => Err(IndexError::HintMalformed),
        }
    }
}

/// One search result: who, and the exact f32 cosine similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub shopper: ShopperId,
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("the template comes from recognizer {got}, the index holds {expected}")]
    RecognizerMismatch { expected: String, got: String },
    #[error("phone digits are the last 4 digits of the shopper's phone number")]
    HintMalformed,
}

impl IndexError {
    pub fn code(&self) -> &'static str {
        match self {
            IndexError::RecognizerMismatch { .. } => "index_recognizer_mismatch",
            IndexError::HintMalformed => "index_hint_malformed",
        }
    }
}

/// Where one enrolled shopper lives.
#[derive(Debug, Clone, Copy)]
struct Entry {
    slot: usize,
    hint: PhoneHint,
}

#[derive(Debug, Clone)]
pub struct FaceIndex {
    recognizer: RecognizerTag,
    dimension: usize,
    /// `dimension` codes per slot, slot after slot.
    codes: Vec<i8>,
    scales: Vec<f32>,
    radii: Vec<f32>,
    /// The unit vectors, `dimension` per slot, read only for candidates that survive the scan.
    exact: Vec<f32>,
    /// Who holds each slot; `None` is a deleted face's tombstone.
    owners: Vec<Option<ShopperId>>,
    free: Vec<usize>,
    entries: HashMap<ShopperId, Entry>,
    buckets: HashMap<PhoneHint, Vec<usize>>,
}

impl FaceIndex {
    pub fn new(recognizer: RecognizerTag, dimension: usize) -> FaceIndex {
        FaceIndex {
            recognizer,
            dimension,
            codes: Vec::new(),
            scales: Vec::new(),
            radii: Vec::new(),
            exact: Vec::new(),
            owners: Vec::new(),
            free: Vec::new(),
            entries: HashMap::new(),
            buckets: HashMap::new(),
        }
    }

    /// How many shoppers are enrolled.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Enrolls `shopper`, or replaces their template and hint if they are enrolled already.
    pub fn upsert(
        &mut self,
        shopper: ShopperId,
        template: &FaceTemplate,
        hint: PhoneHint,
    ) -> Result<(), IndexError> {
        self.check(template)?;
        self.remove(shopper);
        let unit = template.expose_embedding();
        let encoded = Quantized::encode(unit);
        let slot = match self.free.pop() {
            Some(slot) => {
                let range = slot * self.dimension..(slot + 1) * self.dimension;
                self.codes[range.clone()].copy_from_slice(&encoded.codes);
                self.exact[range].copy_from_slice(unit);
                self.scales[slot] = encoded.scale;
                self.radii[slot] = encoded.error_radius();
                self.owners[slot] = Some(shopper);
                slot
            }
            None => {
                self.codes.extend_from_slice(&encoded.codes);
                self.exact.extend_from_slice(unit);
                self.scales.push(encoded.scale);
                self.radii.push(encoded.error_radius());
                self.owners.push(Some(shopper));
                self.owners.len() - 1
            }
        };
        self.entries.insert(shopper, Entry { slot, hint });
        self.buckets.entry(hint).or_default().push(slot);
        Ok(())
    }

    /// Removes a shopper's face; true when they were enrolled.
    pub fn remove(&mut self, shopper: ShopperId) -> bool {
        let Some(entry) = self.entries.remove(&shopper) else { return false };
        self.owners[entry.slot] = None;
        self.free.push(entry.slot);
        if let Some(bucket) = self.buckets.get_mut(&entry.hint) {
            bucket.retain(|&slot| slot != entry.slot);
            if bucket.is_empty() {
                self.buckets.remove(&entry.hint);
            }
        }
        true
    }

    /// The `k` best matches among everyone, best first (ties by shopper id).
    pub fn search(&self, probe: &FaceTemplate, k: usize) -> Result<Vec<Candidate>, IndexError> {
        self.check(probe)?;
        Ok(self.search_slots(probe.expose_embedding(), k, 0..self.owners.len()))
    }

    /// The `k` best matches among the shoppers whose phone ends in `hint`.
    pub fn search_hint(
        &self,
        probe: &FaceTemplate,
        hint: PhoneHint,
        k: usize,
    ) -> Result<Vec<Candidate>, IndexError> {
        self.check(probe)?;
        let bucket = self.buckets.get(&hint).map_or(&[][..], Vec::as_slice);
        Ok(self.search_slots(probe.expose_embedding(), k, bucket.iter().copied()))
    }

    fn check(&self, template: &FaceTemplate) -> Result<(), IndexError> {
        if *template.recognizer() != self.recognizer || template.dimension() != self.dimension {
            return Err(IndexError::RecognizerMismatch {
                expected: format!("{} ({}-d)", self.recognizer.name, self.dimension),
                got: format!("{} ({}-d)", template.recognizer().name, template.dimension()),
            });
        }
        Ok(())
    }

    /// The exact top `k` of `slots`: an int8 pass with error bounds, then f32 for the survivors.
    fn search_slots(&self, probe: &[f32], k: usize, slots: impl Iterator<Item = usize>) -> Vec<Candidate> {
        if k == 0 {
            return Vec::new();
        }
        let encoded = Quantized::encode(probe);
        let probe_radius = encoded.error_radius();
        // (lowest possible, highest possible) score of each live slot.
        let mut ranges: Vec<(f32, f32, usize)> = Vec::new();
        for slot in slots {
            if self.owners[slot].is_none() {
                continue;
            }
            let codes = &self.codes[slot * self.dimension..(slot + 1) * self.dimension];
            let approximate = encoded.scale * self.scales[slot] * dot_codes(&encoded.codes, codes) as f32;
            let slack = bound(probe_radius, self.radii[slot]);
            ranges.push((approximate - slack, approximate + slack, slot));
        }
        // A slot can be in the top k only if its highest possible score reaches the k-th best
        // lowest possible score.
        let floor = if ranges.len() > k {
            let mut lows: Vec<f32> = ranges.iter().map(|r| r.0).collect();
            let (_, kth, _) = lows.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
            *kth
        } else {
            f32::NEG_INFINITY
        };
        let mut survivors: Vec<Candidate> = ranges
            .iter()
            .filter(|r| r.1 >= floor)
            .map(|&(_, _, slot)| Candidate {
                shopper: self.owners[slot].expect("live slots have owners"),
                score: dot_exact(probe, &self.exact[slot * self.dimension..(slot + 1) * self.dimension]),
            })
            .collect();
        survivors.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.shopper.cmp(&b.shopper)));
        survivors.truncate(k);
        survivors
    }
}
