//! A segment: an immutable block of enrolled templates, the unit the index is built from.
//! Readers scan segments without any lock; the writer never changes one, it makes new ones
//! (merging small segments into bigger ones) and publishes a new list. The one thing that
//! changes in place is each row's deletion stamp, an atomic the writer sets once.
//!
//! A big segment keeps its rows grouped by coarse cluster (see `ivf`), so the approximate search
//! reads a few contiguous ranges instead of everything.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use facepay_domain::ShopperId;

use crate::collect::Collector;
use crate::index::PhoneHint;
use crate::ivf::Lists;
use crate::kernel::{Kernel, padded};
use crate::quantize::{Quantized, bound};

/// The deletion stamp of a row nobody deleted.
const ALIVE: u64 = u64::MAX;

/// Rows scanned per block: their codes stay in L1 while every batched probe passes over them.
const BLOCK: usize = 256;

/// One probe of a search: its encoding and the top-k collector it feeds.
#[derive(Debug)]
pub struct Probe<'a> {
    pub encoded: &'a Quantized,
    pub collector: Collector,
}

#[derive(Debug)]
pub struct Segment {
    dimension: usize,
    width: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
    radii: Vec<f32>,
    exact: Vec<f32>,
    owners: Vec<ShopperId>,
    hints: Vec<PhoneHint>,
    /// The version that deleted each row, or `ALIVE`. A reader at version v sees a row iff its
    /// stamp is above v, so a search sees one consistent moment even while deletes go on.
    deleted: Vec<AtomicU64>,
    buckets: HashMap<PhoneHint, Vec<u32>>,
    /// Every row, ordered by its owner: a named shopper's rows are found by binary search.
    by_owner: Vec<u32>,
    lists: Option<Lists>,
}

/// Rows for a new segment, in the order they will be stored.
#[derive(Debug)]
pub struct SegmentBuilder {
    dimension: usize,
    owners: Vec<ShopperId>,
    hints: Vec<PhoneHint>,
    exact: Vec<f32>,
}

impl SegmentBuilder {
    pub fn with_capacity(dimension: usize, rows: usize) -> SegmentBuilder {
        SegmentBuilder {
            dimension,
            owners: Vec::with_capacity(rows),
            hints: Vec::with_capacity(rows),
            exact: Vec::with_capacity(rows * dimension),
        }
    }

    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// `unit` must be a unit vector of the builder's dimension.
    pub fn push(&mut self, shopper: ShopperId, hint: PhoneHint, unit: &[f32]) {
        debug_assert_eq!(unit.len(), self.dimension);
        self.exact.extend_from_slice(unit);
        self.owners.push(shopper);
        self.hints.push(hint);
    }

    /// Like `push`, with `fill` appending the unit vector's `dimension` values itself (the
    /// snapshot decodes them straight into place).
    pub fn push_with<E>(
        &mut self,
        shopper: ShopperId,
        hint: PhoneHint,
        fill: impl FnOnce(&mut Vec<f32>) -> Result<(), E>,
    ) -> Result<(), E> {
        fill(&mut self.exact)?;
        debug_assert_eq!(self.exact.len(), (self.owners.len() + 1) * self.dimension);
        self.owners.push(shopper);
        self.hints.push(hint);
        Ok(())
    }

    /// Encodes the rows; with `order`, stores them in that order first (`order[i]` is the builder
    /// row stored at position i, as `Lists::group` returns it; `None` keeps the builder's order).
    pub fn build(self, lists: Option<Lists>, order: Option<Vec<u32>>) -> Segment {
        match order {
            None => self.build_in_order(lists),
            Some(order) => {
                let d = self.dimension;
                let mut reordered = SegmentBuilder::with_capacity(d, order.len());
                for source in order.into_iter().map(|s| s as usize) {
                    reordered.push(
                        self.owners[source],
                        self.hints[source],
                        &self.exact[source * d..(source + 1) * d],
                    );
                }
                reordered.build_in_order(lists)
            }
        }
    }

    /// Encodes the rows as they stand; the vectors move into the segment instead of being copied.
    fn build_in_order(self, lists: Option<Lists>) -> Segment {
        let width = padded(self.dimension);
        let n = self.owners.len();
        let mut codes = Vec::with_capacity(n * width);
        let (mut scales, mut radii) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut buckets: HashMap<PhoneHint, Vec<u32>> = HashMap::new();
        for (row, unit) in self.exact.chunks_exact(self.dimension).enumerate() {
            let encoded = Quantized::encode(unit);
            codes.extend_from_slice(&encoded.codes);
            scales.push(encoded.scale);
            radii.push(encoded.radius);
            buckets.entry(self.hints[row]).or_default().push(row as u32);
        }
        let mut by_owner: Vec<u32> = (0..n as u32).collect();
        by_owner.sort_unstable_by_key(|&row| self.owners[row as usize]);
        Segment {
            dimension: self.dimension,
            width,
            codes,
            scales,
            radii,
            exact: self.exact,
            owners: self.owners,
            hints: self.hints,
            deleted: (0..n).map(|_| AtomicU64::new(ALIVE)).collect(),
            buckets,
            by_owner,
            lists,
        }
    }

    /// The unit vectors pushed so far, row after row (for training the lists).
    pub fn units(&self) -> &[f32] {
        &self.exact
    }
}

impl Segment {
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    pub fn owner(&self, row: u32) -> ShopperId {
        self.owners[row as usize]
    }

    pub fn hint(&self, row: u32) -> PhoneHint {
        self.hints[row as usize]
    }

    pub fn unit(&self, row: u32) -> &[f32] {
        let row = row as usize;
        &self.exact[row * self.dimension..(row + 1) * self.dimension]
    }

    pub fn lists(&self) -> Option<&Lists> {
        self.lists.as_ref()
    }

    /// Bytes allocated: (read by an exact scan: codes, scales and radii; everything).
    pub fn memory(&self) -> (usize, usize) {
        use std::mem::size_of;
        let scanned = self.codes.capacity() + 4 * (self.scales.capacity() + self.radii.capacity());
        let buckets: usize =
            self.buckets.values().map(|rows| 4 * rows.capacity() + size_of::<Vec<u32>>() + 4).sum();
        let lists = self.lists.as_ref().map_or(0, Lists::memory);
        let rest = 4 * self.exact.capacity()
            + size_of::<ShopperId>() * self.owners.capacity()
            + size_of::<PhoneHint>() * self.hints.capacity()
            + size_of::<AtomicU64>() * self.deleted.capacity()
            + 4 * self.by_owner.capacity()
            + buckets
            + lists;
        (scanned, scanned + rest)
    }

    /// The rows of `shopper` (deleted ones too: ask `visible`).
    pub fn rows_of(&self, shopper: ShopperId) -> &[u32] {
        let first = self.by_owner.partition_point(|&row| self.owners[row as usize] < shopper);
        let end = first + self.by_owner[first..].partition_point(|&row| self.owners[row as usize] == shopper);
        &self.by_owner[first..end]
    }

    /// Whether a reader at `version` sees the row.
    pub fn visible(&self, row: u32, version: u64) -> bool {
        self.deleted[row as usize].load(Ordering::Acquire) > version
    }

    /// Marks the row deleted from `version` on. Only the writer calls this, once per row.
    pub fn delete(&self, row: u32, version: u64) {
        self.deleted[row as usize].store(version, Ordering::Release);
    }

    /// The rows nobody has deleted, for merging into a new segment.
    pub fn live_rows(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len() as u32).filter(|&row| self.deleted[row as usize].load(Ordering::Acquire) == ALIVE)
    }

    /// Scans `rows` for every probe, block by block: the dot products with the kernel's
    /// instruction set, then the bounds check.
    pub fn scan(&self, kernel: &Kernel, id: u32, rows: Range<usize>, version: u64, probes: &mut [Probe<'_>]) {
        let codes: Vec<&[i8]> = probes.iter().map(|p| p.encoded.codes.as_slice()).collect();
        let mut dots = vec![vec![0i32; BLOCK]; probes.len()];
        let mut start = rows.start;
        while start < rows.end {
            let end = (start + BLOCK).min(rows.end);
            let block = &self.codes[start * self.width..end * self.width];
            kernel.dot_rows(&codes, block, self.width, &mut dots);
            for (probe, dots) in probes.iter_mut().zip(&dots) {
                for (offset, &dot) in dots[..end - start].iter().enumerate() {
                    self.offer(id, (start + offset) as u32, dot, version, probe);
                }
            }
            start = end;
        }
    }

    /// Reads the 4-bit codes of the `nprobe` lists nearest to `unit` and offers every visible
    /// row's estimate to `shortlist`. A segment without lists offers nothing.
    pub fn scan_codes(
        &self,
        kernel: &Kernel,
        id: u32,
        unit: &[f32],
        nprobe: usize,
        version: u64,
        shortlist: &mut Collector,
    ) {
        let Some(lists) = &self.lists else { return };
        let table = lists.quantizer().table(unit);
        let mut hits = Vec::new();
        for (list, centroid_score) in lists.nearest(unit, nprobe) {
            let rows = lists.range(list);
            let base = centroid_score + table.bias;
            // The sum a row needs to reach the shortlist as it stands when the list begins.
            let needed = ((shortlist.floor() - base) / table.scale).ceil();
            hits.clear();
            let above = (needed - 1.0).clamp(-1.0, f32::from(i16::MAX)) as i16;
            kernel.fast_scan(&table.entries, lists.blocks(list), above, &mut hits);
            for &(i, sum) in &hits {
                let estimate = base + table.scale * f32::from(sum);
                let row = (rows.start + i as usize) as u32;
                // Rows past the list's end are the last block's padding.
                if (i as usize) < rows.len() && estimate >= shortlist.floor() && self.visible(row, version) {
                    shortlist.offer(estimate, estimate, (id, row));
                }
            }
        }
    }

    /// Scans the rows of one phone-digit bucket for one probe.
    pub fn scan_bucket(&self, id: u32, hint: PhoneHint, version: u64, probe: &mut Probe<'_>) {
        for &row in self.buckets.get(&hint).map_or(&[][..], Vec::as_slice) {
            let start = row as usize * self.width;
            let dot = crate::kernel::dot_codes(&probe.encoded.codes, &self.codes[start..start + self.width]);
            self.offer(id, row, dot, version, probe);
        }
    }

    #[inline(always)]
    fn offer(&self, id: u32, row: u32, dot: i32, version: u64, probe: &mut Probe<'_>) {
        let r = row as usize;
        let approximate = probe.encoded.scale * self.scales[r] * dot as f32;
        let slack = bound(probe.encoded.radius, self.radii[r]);
        // The deletion stamp is read only for the few rows that pass the cheap test.
        if approximate + slack >= probe.collector.floor() && self.visible(row, version) {
            probe.collector.offer(approximate - slack, approximate + slack, (id, row));
        }
    }
}
