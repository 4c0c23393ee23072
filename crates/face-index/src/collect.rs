//! Keeps the exact top k while the int8 scan runs: every scanned template arrives as an interval
//! (lowest and highest possible exact score, from `quantize::bound`). The k-th best lowest score
//! seen so far is a floor; a template whose highest possible score is under the floor can never
//! reach the top k and is dropped at once. The few that stay are scored again in f32.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Where a template lives in one generation of the index: (segment, row).
pub type RowRef = (u32, u32);

/// An `f32` ordered by `total_cmp`, for the heap.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ordered(f32);

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[derive(Debug)]
pub struct Collector {
    k: usize,
    /// The k highest lowest-possible scores so far; its minimum is the floor once full.
    lows: BinaryHeap<Reverse<Ordered>>,
    floor: f32,
    /// (highest possible score, row) of every template not yet ruled out.
    survivors: Vec<(f32, RowRef)>,
}

impl Collector {
    /// `k` must be at least 1.
    pub fn new(k: usize) -> Collector {
        Collector {
            k,
            lows: BinaryHeap::with_capacity(k + 1),
            floor: f32::NEG_INFINITY,
            survivors: Vec::new(),
        }
    }

    /// The score a template must be able to reach to matter; the scan may skip anything below.
    #[inline(always)]
    pub fn floor(&self) -> f32 {
        self.floor
    }

    /// Offers one template with its interval; call only when `high >= floor()`.
    pub fn offer(&mut self, low: f32, high: f32, row: RowRef) {
        self.survivors.push((high, row));
        if self.lows.len() < self.k {
            self.lows.push(Reverse(Ordered(low)));
        } else if low > self.floor {
            self.lows.pop();
            self.lows.push(Reverse(Ordered(low)));
        }
        if self.lows.len() == self.k {
            self.floor = self.lows.peek().map_or(f32::NEG_INFINITY, |Reverse(Ordered(f))| *f);
        }
        // Survivors offered early may have fallen under the floor since; drop them now and then
        // so the list stays near k long.
        if self.survivors.len() >= 8 * self.k + 256 {
            let floor = self.floor;
            self.survivors.retain(|(high, _)| *high >= floor);
        }
    }

    /// The rows that may still be in the top k.
    pub fn into_survivors(self) -> impl Iterator<Item = RowRef> {
        let floor = self.floor;
        self.survivors.into_iter().filter(move |(high, _)| *high >= floor).map(|(_, row)| row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_that_cannot_reach_the_top_k_is_dropped_and_one_that_can_is_kept() {
        let mut c = Collector::new(2);
        c.offer(0.5, 0.6, (0, 0));
        c.offer(0.4, 0.45, (0, 1));
        assert_eq!(c.floor(), 0.4);
        c.offer(0.7, 0.8, (0, 2));
        assert_eq!(c.floor(), 0.5, "the floor is the second best lowest score");
        c.offer(0.1, 0.5, (0, 3));
        let kept: Vec<RowRef> = c.into_survivors().collect();
        assert_eq!(kept, [(0, 0), (0, 2), (0, 3)], "row 1 tops out at 0.45, under the floor");
    }
}
