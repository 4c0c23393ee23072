//! The approximate index for big segments: an inverted file (IVF). Rows are clustered around
//! about one centroid per thousand rows and stored grouped by cluster; a query scores the
//! centroids and reads only the `nprobe` clusters nearest to the probe, in their 4-bit codes
//! (`pq`, `fastscan`: 32 bytes a row instead of 128), and scores a shortlist exactly. It can miss
//! a match whose cluster it did not visit or whose code ranked it out of the shortlist, so recall
//! is measured against the exact scan (`facepay bench index`), never assumed.
//!
//! Training is spherical k-means on an evenly spaced sample, in two levels (a few coarse
//! clusters, each split into fine ones), so assigning a million rows costs tens of dot products
//! per row instead of a thousand. Everything is deterministic: no randomness, same input, same
//! lists.

use std::ops::Range;

use crate::fastscan::Blocks;
use crate::kernel::dot_ranking;
use crate::pq::ProductQuantizer;

/// Segments at least this big get lists; smaller ones are scanned exactly.
pub const MIN_ROWS: usize = 32_768;

/// About this many rows per list.
const ROWS_PER_LIST: usize = 256;
/// Training reads at most this many rows.
const SAMPLE: usize = 131_072;
const ITERATIONS: usize = 8;
/// A row goes to the best list among this many nearest coarse clusters.
const COARSE_CHOICES: usize = 3;

/// How many inverted lists a segment of `rows` rows is grouped into (what a peer index is built
/// with, to compare like with like).
pub fn list_count(rows: usize) -> usize {
    (rows / ROWS_PER_LIST).clamp(1, 4096)
}

#[derive(Debug, Clone)]
pub struct Lists {
    dimension: usize,
    /// One unit vector per list, list after list.
    centroids: Vec<f32>,
    /// List i holds rows `starts[i]..starts[i + 1]` of its segment.
    starts: Vec<u32>,
    /// Encodes each row's residual from its list's centroid.
    quantizer: ProductQuantizer,
    /// The rows' codes, list by list.
    blocks: Blocks,
}

impl Lists {
    /// Clusters `units` (`n` unit vectors of `dimension`) and returns the lists with the order to
    /// store the rows in: `order[position]` is the row of `units` stored at `position`.
    pub fn group(units: &[f32], dimension: usize) -> (Lists, Vec<u32>) {
        let n = units.len() / dimension;
        let lists = list_count(n);
        let coarse_count = (lists as f64).sqrt().round().max(1.0) as usize;
        let fine_count = lists.div_ceil(coarse_count);

        let step = n.div_ceil(SAMPLE).max(1);
        let sample: Vec<usize> = (0..n).step_by(step).collect();
        let row = |i: usize| &units[i * dimension..(i + 1) * dimension];

        let coarse = kmeans(&sample, &row, coarse_count, dimension);
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); coarse_count];
        for &i in &sample {
            members[nearest(&coarse, row(i), dimension)].push(i);
        }
        // fine[c] holds the centroids of coarse cluster c; list ids number them all in a row.
        let fine: Vec<Vec<f32>> = members
            .iter()
            .enumerate()
            .map(|(c, rows)| match rows.len() {
                0 => coarse[c * dimension..(c + 1) * dimension].to_vec(),
                _ => kmeans(rows, &row, fine_count.min(rows.len()), dimension),
            })
            .collect();
        let first_list: Vec<usize> = fine
            .iter()
            .scan(0, |next, f| {
                let first = *next;
                *next += f.len() / dimension;
                Some(first)
            })
            .collect();
        let list_count =
            first_list.last().copied().unwrap_or(0) + fine.last().map_or(0, |f| f.len() / dimension);

        // A row near the edge of its coarse cluster may be nearer to a list of the next one, and
        // a probe ranks all lists alike: so look in the few nearest coarse clusters.
        let assignment: Vec<usize> = (0..n)
            .map(|i| {
                let mut coarse_scores: Vec<(usize, f32)> = scores(&coarse, row(i), dimension).collect();
                keep_best(&mut coarse_scores, COARSE_CHOICES);
                let candidates = coarse_scores.iter().map(|&(c, _)| {
                    let (j, score) = best(scores(&fine[c], row(i), dimension));
                    (first_list[c] + j, score)
                });
                best(candidates).0
            })
            .collect();
        // A counting sort by list keeps the rows of each list in their original order.
        let mut starts = vec![0u32; list_count + 1];
        for &list in &assignment {
            starts[list + 1] += 1;
        }
        for i in 0..list_count {
            starts[i + 1] += starts[i];
        }
        let mut next = starts.clone();
        let mut order = vec![0u32; n];
        for (i, &list) in assignment.iter().enumerate() {
            order[next[list] as usize] = i as u32;
            next[list] += 1;
        }
        let centroids = fine.concat();
        let residual = |i: usize| -> Vec<f32> {
            let centroid = &centroids[assignment[i] * dimension..(assignment[i] + 1) * dimension];
            row(i).iter().zip(centroid).map(|(x, c)| x - c).collect()
        };
        let quantizer =
            ProductQuantizer::train(&sample.iter().flat_map(|&i| residual(i)).collect::<Vec<_>>(), dimension);
        let codes: Vec<u8> = order.iter().flat_map(|&i| quantizer.encode(&residual(i as usize))).collect();
        let blocks = Blocks::pack(quantizer.row_bytes(), &codes, &starts);
        (Lists { dimension, centroids, starts, quantizer, blocks }, order)
    }

    pub fn count(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    /// The list each stored row belongs to.
    pub fn list_of_rows(&self) -> impl Iterator<Item = u32> + '_ {
        self.starts.windows(2).enumerate().flat_map(|(list, w)| (w[0]..w[1]).map(move |_| list as u32))
    }

    pub fn quantizer(&self) -> &ProductQuantizer {
        &self.quantizer
    }

    /// Lists read back from a snapshot: the centroids, how many rows each list holds, the
    /// quantizer, and every row's code bytes in stored order.
    pub fn from_parts(
        dimension: usize,
        centroids: Vec<f32>,
        sizes: &[u32],
        quantizer: ProductQuantizer,
        codes: &[u8],
    ) -> Lists {
        let mut starts = vec![0u32];
        for size in sizes {
            starts.push(starts.last().copied().unwrap_or(0) + size);
        }
        let blocks = Blocks::pack(quantizer.row_bytes(), codes, &starts);
        Lists { dimension, centroids, starts, quantizer, blocks }
    }

    /// The code bytes of stored row `row`, which belongs to `list`.
    pub fn codes_of(&self, list: usize, row: u32) -> impl Iterator<Item = u8> + '_ {
        self.blocks.row(list, (row - self.starts[list]) as usize)
    }

    /// Bytes the lists take beyond the rows themselves.
    pub fn memory(&self) -> usize {
        4 * (self.centroids.capacity() + self.starts.capacity() + self.quantizer.points().len())
            + self.blocks.memory()
    }

    /// The `nprobe` lists whose centroids score highest against `probe`, with those scores, in
    /// storage order (neighbouring lists then read as one stream).
    pub fn nearest(&self, probe: &[f32], nprobe: usize) -> Vec<(usize, f32)> {
        let mut scored: Vec<(usize, f32)> = scores(&self.centroids, probe, self.dimension).collect();
        keep_best(&mut scored, nprobe);
        scored.sort_unstable_by_key(|&(list, _)| list);
        scored
    }

    /// The rows of `list`.
    pub fn range(&self, list: usize) -> Range<usize> {
        self.starts[list] as usize..self.starts[list + 1] as usize
    }

    /// The blocks of `list`'s codes (`fastscan`).
    pub fn blocks(&self, list: usize) -> &[u8] {
        self.blocks.list(list)
    }
}

/// Spherical k-means over the rows `members`: starts from evenly spaced members, then
/// alternates assigning each to its best centroid and renormalising the means.
fn kmeans<'a>(members: &[usize], row: &impl Fn(usize) -> &'a [f32], k: usize, dimension: usize) -> Vec<f32> {
    let mut centroids: Vec<f32> =
        (0..k).flat_map(|j| row(members[j * members.len() / k]).iter().copied()).collect();
    for _ in 0..ITERATIONS {
        let mut sums = vec![0f32; k * dimension];
        for &i in members {
            let best = nearest(&centroids, row(i), dimension);
            for (s, x) in sums[best * dimension..(best + 1) * dimension].iter_mut().zip(row(i)) {
                *s += x;
            }
        }
        for (centroid, sum) in centroids.chunks_exact_mut(dimension).zip(sums.chunks_exact(dimension)) {
            let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
            // An empty cluster keeps its centroid.
            if norm > 0.0 {
                centroid.iter_mut().zip(sum).for_each(|(c, s)| *c = s / norm);
            }
        }
    }
    centroids
}

/// The index of the centroid with the highest dot product (the first on ties).
fn nearest(centroids: &[f32], unit: &[f32], dimension: usize) -> usize {
    best(scores(centroids, unit, dimension)).0
}

/// Every centroid's score against `unit`, with its index.
fn scores<'a>(
    centroids: &'a [f32],
    unit: &'a [f32],
    dimension: usize,
) -> impl Iterator<Item = (usize, f32)> + 'a {
    centroids.chunks_exact(dimension).map(|centroid| dot_ranking(unit, centroid)).enumerate()
}

/// The highest score (the first on ties).
fn best(scores: impl IntoIterator<Item = (usize, f32)>) -> (usize, f32) {
    scores.into_iter().fold((0, f32::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a })
}

/// Keeps the `count` highest scores (at least one, at most all), in no particular order.
fn keep_best(scores: &mut Vec<(usize, f32)>, count: usize) {
    let count = count.clamp(1, scores.len());
    scores.select_nth_unstable_by(count - 1, |a, b| b.1.total_cmp(&a.1));
    scores.truncate(count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_grouped_by_list_and_a_row_is_found_in_its_own_list() {
        // Two tight groups of 3,000 rows each around opposite poles of the first axis.
        let dimension = 4;
        let mut units = Vec::new();
        for i in 0..6000 {
            let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
            let wobble = (i as f32 * 0.001).sin() * 0.1;
            let v = [sign, wobble, 0.05, 0.0];
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            units.extend(v.iter().map(|x| x / norm));
        }
        let (lists, order) = Lists::group(&units, dimension);
        assert_eq!(lists.count(), 25, "23 lists wanted (6,000 rows at 256 each): 5 coarse clusters of 5");
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, (0..6000).collect::<Vec<u32>>(), "every row is stored once");
        // The list nearest to a row from the first group holds only rows of that group.
        let probe = &units[0..dimension];
        for (list, _) in lists.nearest(probe, 1) {
            assert!(!lists.range(list).is_empty());
            assert!(order[lists.range(list)].iter().all(|&row| row % 2 == 0));
        }
    }
}
