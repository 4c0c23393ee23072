//! The approximate search's compact codes: product quantization with 4-bit codes. A row's
//! residual (the row minus its list's centroid) is cut into pairs of dimensions, and each pair is
//! replaced by the nearest of 16 points learned for that pair, so a 128-d row becomes 64
//! four-bit codes: 32 bytes, a quarter of the int8 encoding. A probe then scores a row by adding
//! 64 entries of small tables (`Table`), which `fastscan` does 32 rows at a time in registers.
//!
//! Residuals make the tables the same for every list: probe · row = probe · centroid +
//! probe · residual, and the first term is the score that ranked the list. The estimate is not
//! bounded like the int8 one, so it only picks a shortlist; the shortlist is scored exactly.
//!
//! Training is k-means per pair of dimensions, deterministic (evenly spaced starts, no
//! randomness).

/// Dimensions per sub-quantizer.
const SUB_DIMENSION: usize = 2;
/// Points per sub-quantizer: one 4-bit code.
pub const POINTS: usize = 16;
/// The largest table entry: two entries add up without leaving a byte (see `fastscan`).
const ENTRY_MAX: f32 = 127.0;
const ITERATIONS: usize = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct ProductQuantizer {
    dimension: usize,
    /// Sub-quantizers, always even (two codes share a byte); those past the dimension are zero.
    subspaces: usize,
    /// `POINTS` points of `SUB_DIMENSION` values per sub-quantizer, one after another.
    points: Vec<f32>,
}

/// What a probe adds per code, quantized to bytes with one scale for all sub-quantizers:
/// estimate = bias + scale × Σ entries.
#[derive(Debug, Clone)]
pub struct Table {
    /// One row of 16 entries per sub-quantizer, written twice (both 128-bit halves of a
    /// register look up the same table).
    pub entries: Vec<[u8; 2 * POINTS]>,
    pub scale: f32,
    pub bias: f32,
}

impl ProductQuantizer {
    /// Learns the points from `residuals` (rows of `dimension`); any number of rows, even none.
    pub fn train(residuals: &[f32], dimension: usize) -> ProductQuantizer {
        let subspaces = subspaces(dimension);
        let rows = residuals.len() / dimension.max(1);
        let mut points = Vec::with_capacity(subspaces * POINTS * SUB_DIMENSION);
        for m in 0..subspaces {
            let sub = |row: usize| -> [f32; SUB_DIMENSION] {
                std::array::from_fn(|j| {
                    let d = m * SUB_DIMENSION + j;
                    if d < dimension { residuals[row * dimension + d] } else { 0.0 }
                })
            };
            points.extend(kmeans(&(0..rows).map(sub).collect::<Vec<_>>()).into_iter().flatten());
        }
        ProductQuantizer { dimension, subspaces, points }
    }

    pub fn points(&self) -> &[f32] {
        &self.points
    }

    /// How many f32s the points of a quantizer for `dimension` take.
    pub fn point_count(dimension: usize) -> usize {
        subspaces(dimension) * POINTS * SUB_DIMENSION
    }

    /// A quantizer read back from a snapshot; `None` when `points` has the wrong length.
    pub fn from_points(dimension: usize, points: Vec<f32>) -> Option<ProductQuantizer> {
        (points.len() == ProductQuantizer::point_count(dimension)).then_some(ProductQuantizer {
            dimension,
            subspaces: subspaces(dimension),
            points,
        })
    }

    /// Bytes per row: two 4-bit codes each.
    pub fn row_bytes(&self) -> usize {
        self.subspaces / 2
    }

    /// The row's codes: per pair of sub-quantizers one byte, the first's code (the index of its
    /// nearest point) in the low half, the second's in the high half.
    pub fn encode(&self, residual: &[f32]) -> Vec<u8> {
        let code = |m: usize| -> u8 {
            let value: [f32; SUB_DIMENSION] =
                std::array::from_fn(|j| residual.get(m * SUB_DIMENSION + j).copied().unwrap_or(0.0));
            nearest(self.subspace_points(m), &value) as u8
        };
        (0..self.row_bytes()).map(|pair| code(2 * pair) | code(2 * pair + 1) << 4).collect()
    }

    /// The probe's table: entry (m, j) is probe · point j of sub-quantizer m, shifted so each
    /// row starts at 0 and scaled so the widest row spans 0..=127.
    pub fn table(&self, probe: &[f32]) -> Table {
        let raw: Vec<[f32; POINTS]> = (0..self.subspaces)
            .map(|m| {
                let points = self.subspace_points(m);
                std::array::from_fn(|j| {
                    (0..SUB_DIMENSION)
                        .map(|i| {
                            let d = m * SUB_DIMENSION + i;
                            let p = if d < self.dimension { probe[d] } else { 0.0 };
                            p * points[j * SUB_DIMENSION + i]
                        })
                        .sum()
                })
            })
            .collect();
        let lows: Vec<f32> =
            raw.iter().map(|row| row.iter().copied().fold(f32::INFINITY, f32::min)).collect();
        let widest = raw
            .iter()
            .zip(&lows)
            .map(|(row, low)| row.iter().fold(0f32, |w, v| w.max(v - low)))
            .fold(0f32, f32::max);
        let scale = if widest > 0.0 { widest / ENTRY_MAX } else { 1.0 };
        let entries = raw
            .iter()
            .zip(&lows)
            .map(|(row, low)| {
                let half: [u8; POINTS] =
                    std::array::from_fn(|j| ((row[j] - low) / scale).round().clamp(0.0, ENTRY_MAX) as u8);
                std::array::from_fn(|i| half[i % POINTS])
            })
            .collect();
        Table { entries, scale, bias: lows.iter().sum() }
    }

    fn subspace_points(&self, m: usize) -> &[f32] {
        &self.points[m * POINTS * SUB_DIMENSION..(m + 1) * POINTS * SUB_DIMENSION]
    }
}

/// Sub-quantizers for `dimension`: enough to cover it, rounded up to even (two codes a byte).
fn subspaces(dimension: usize) -> usize {
    dimension.div_ceil(SUB_DIMENSION).next_multiple_of(2)
}

/// K-means with `POINTS` points over 2-d values: starts from evenly spaced values, then
/// alternates assigning and averaging. An empty cluster keeps its point; fewer values than
/// points leave the rest at zero.
fn kmeans(values: &[[f32; SUB_DIMENSION]]) -> Vec<[f32; SUB_DIMENSION]> {
    let mut points: Vec<[f32; SUB_DIMENSION]> = (0..POINTS)
        .map(|j| if values.is_empty() { [0.0; SUB_DIMENSION] } else { values[j * values.len() / POINTS] })
        .collect();
    for _ in 0..ITERATIONS {
        let mut sums = vec![[0f32; SUB_DIMENSION]; POINTS];
        let mut counts = [0usize; POINTS];
        for value in values {
            let best = nearest(points.as_flattened(), value);
            counts[best] += 1;
            sums[best].iter_mut().zip(value).for_each(|(s, v)| *s += v);
        }
        for ((point, sum), &count) in points.iter_mut().zip(&sums).zip(&counts) {
            if count > 0 {
                *point = sum.map(|s| s / count as f32);
            }
        }
    }
    points
}

/// The index of the point nearest to `value` in L2 (the first on ties).
fn nearest(points: &[f32], value: &[f32; SUB_DIMENSION]) -> usize {
    let mut best = (f32::INFINITY, 0);
    for (j, point) in points.chunks_exact(SUB_DIMENSION).enumerate() {
        let distance: f32 = point.iter().zip(value).map(|(p, v)| (p - v) * (p - v)).sum();
        if distance < best.0 {
            best = (distance, j);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in -1..1.
    fn wobble(i: usize) -> f32 {
        ((i as f32 * 12.9898).sin() * 43758.547).fract()
    }

    #[test]
    fn the_table_estimates_the_dot_product_with_the_reconstruction() {
        let dimension = 9; // odd: the last sub-quantizer is half padding, and one more pads to even
        let residuals: Vec<f32> = (0..4000 * dimension).map(|i| 0.2 * wobble(i)).collect();
        let pq = ProductQuantizer::train(&residuals, dimension);
        assert_eq!(pq.subspaces, 6);
        let probe: Vec<f32> = (0..dimension).map(|i| wobble(i + 77)).collect();
        let table = pq.table(&probe);
        let (mut error, mut energy) = (0f32, 0f32);
        for row in residuals.chunks_exact(dimension).take(200) {
            let bytes = pq.encode(row);
            let codes: Vec<u8> = bytes.iter().flat_map(|b| [b & 15, b >> 4]).collect();
            let reconstructed: Vec<f32> = (0..dimension)
                .map(|d| pq.points[(d / 2 * POINTS + codes[d / 2] as usize) * 2 + d % 2])
                .collect();
            let exact: f32 = probe.iter().zip(&reconstructed).map(|(p, r)| p * r).sum();
            let sum: u32 =
                codes.iter().enumerate().map(|(m, &c)| u32::from(table.entries[m][c as usize])).sum();
            let estimate = table.bias + table.scale * sum as f32;
            // Each entry is rounded by at most half a step.
            assert!((estimate - exact).abs() <= 0.5 * table.scale * pq.subspaces as f32 + 1e-5);
            error += row.iter().zip(&reconstructed).map(|(x, r)| (x - r) * (x - r)).sum::<f32>();
            energy += row.iter().map(|x| x * x).sum::<f32>();
        }
        // 16 points per pair of uniform values leave about a sixteenth of the energy.
        assert!(error / energy < 0.1, "{}", error / energy);
        assert!(
            table.entries.iter().all(|row| row[..POINTS] == row[POINTS..] && row.iter().all(|&e| e <= 127))
        );
        assert!(table.entries.iter().any(|row| row.contains(&127)), "the widest row spans the range");
    }

    #[test]
    fn training_on_nothing_or_little_still_gives_a_quantizer() {
        let empty = ProductQuantizer::train(&[], 4);
        assert_eq!(empty.encode(&[0.1, 0.2, 0.3, 0.4]), [0]);
        let few = ProductQuantizer::train(&[0.5, 0.5, -0.5, -0.5], 4);
        assert_eq!(few.encode(&[0.5, 0.5, -0.5, -0.5]).len(), 1);
        assert_eq!(ProductQuantizer::from_points(4, few.points().to_vec()), Some(few));
        assert_eq!(ProductQuantizer::from_points(4, vec![0.0; 3]), None);
    }
}
