//! Scoring 4-bit codes (see `pq`) 32 rows at a time without leaving registers. The codes of a
//! list are stored in blocks of 32 rows, transposed: per pair of sub-quantizers, 32 bytes whose
//! byte i holds row i's two codes. A 16-entry table fits a register half, so one byte shuffle
//! (`pshufb`) looks up 32 rows' entries at once; two entries (at most 127 each) add up in a byte,
//! and the sums accumulate in 16-bit lanes. This is the "fast scan" of FAISS and ScaNN, written
//! for AVX2 through `pulp` (no `unsafe`), with a portable loop that gives the same integers.

/// Rows per block.
pub const BLOCK_ROWS: usize = 32;

/// Every list's codes in blocks, list after list.
#[derive(Debug, Clone)]
pub struct Blocks {
    row_bytes: usize,
    bytes: Vec<u8>,
    /// List i's blocks are `first_block[i]..first_block[i + 1]`.
    first_block: Vec<u32>,
}

impl Blocks {
    /// Packs rows stored list by list (`starts` as in `ivf::Lists`), `row_bytes` code bytes each.
    pub fn pack(row_bytes: usize, rows: &[u8], starts: &[u32]) -> Blocks {
        let mut first_block = vec![0u32];
        for w in starts.windows(2) {
            let blocks = (w[1] - w[0]).div_ceil(BLOCK_ROWS as u32);
            first_block.push(first_block.last().copied().unwrap_or(0) + blocks);
        }
        let total = first_block.last().copied().unwrap_or(0) as usize;
        let mut bytes = vec![0u8; total * row_bytes * BLOCK_ROWS];
        for (list, w) in starts.windows(2).enumerate() {
            let base = first_block[list] as usize * row_bytes * BLOCK_ROWS;
            for (i, row) in (w[0] as usize..w[1] as usize).enumerate() {
                let block = base + i / BLOCK_ROWS * row_bytes * BLOCK_ROWS;
                for (pair, &byte) in rows[row * row_bytes..(row + 1) * row_bytes].iter().enumerate() {
                    bytes[block + pair * BLOCK_ROWS + i % BLOCK_ROWS] = byte;
                }
            }
        }
        Blocks { row_bytes, bytes, first_block }
    }

    /// The blocks of one list.
    pub fn list(&self, list: usize) -> &[u8] {
        let stride = self.row_bytes * BLOCK_ROWS;
        &self.bytes[self.first_block[list] as usize * stride..self.first_block[list + 1] as usize * stride]
    }

    /// The code bytes of row `i` of `list`, as `pq::ProductQuantizer::encode` gave them.
    pub fn row(&self, list: usize, i: usize) -> impl Iterator<Item = u8> + '_ {
        let block = &self.list(list)[i / BLOCK_ROWS * self.row_bytes * BLOCK_ROWS..];
        (0..self.row_bytes).map(move |pair| block[pair * BLOCK_ROWS + i % BLOCK_ROWS])
    }

    pub fn memory(&self) -> usize {
        self.bytes.capacity() + 4 * self.first_block.capacity()
    }
}

/// Pushes `(r, sum)` for every row r of `blocks` (32 per block, padding rows included, in row
/// order) whose sum of table entries is above `above`. `entries` has one row per sub-quantizer,
/// two per code byte.
pub fn scan_portable(entries: &[[u8; 32]], blocks: &[u8], above: i16, hits: &mut Vec<(u32, u16)>) {
    let row_bytes = entries.len() / 2;
    for (b, block) in blocks.chunks_exact(row_bytes * BLOCK_ROWS).enumerate() {
        for i in 0..BLOCK_ROWS {
            let sum: u16 = (0..row_bytes)
                .map(|pair| {
                    let byte = block[pair * BLOCK_ROWS + i];
                    u16::from(entries[2 * pair][usize::from(byte & 15)])
                        + u16::from(entries[2 * pair + 1][usize::from(byte >> 4)])
                })
                .sum();
            if i32::from(sum) > i32::from(above) {
                hits.push(((b * BLOCK_ROWS + i) as u32, sum));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub use avx2::Avx2Scan;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use pulp::x86::V3;
    use std::arch::x86_64::__m256i;

    use super::BLOCK_ROWS;

    /// `scan_portable` on AVX2; `V3::vectorize` runs `call` with the features enabled.
    pub struct Avx2Scan<'a> {
        pub simd: V3,
        pub entries: &'a [[u8; 32]],
        pub blocks: &'a [u8],
        pub above: i16,
        pub hits: &'a mut Vec<(u32, u16)>,
    }

    impl pulp::NullaryFnOnce for Avx2Scan<'_> {
        type Output = ();

        #[inline(always)]
        fn call(self) {
            let Avx2Scan { simd, entries, blocks, above, hits } = self;
            let (avx, avx2) = (simd.avx, simd.avx2);
            let row_bytes = entries.len() / 2;
            let nibble = avx._mm256_set1_epi8(0x0f);
            let low_byte = avx._mm256_set1_epi16(0x00ff);
            let threshold = avx._mm256_set1_epi16(above);
            for (b, block) in blocks.chunks_exact(row_bytes * BLOCK_ROWS).enumerate() {
                // 16-bit lane j sums byte 2j (row 2j) in `even` and byte 2j + 1 in `odd`.
                let (mut even, mut odd) = (avx._mm256_setzero_si256(), avx._mm256_setzero_si256());
                for (codes, tables) in block.chunks_exact(BLOCK_ROWS).zip(entries.chunks_exact(2)) {
                    let codes: __m256i = pulp::cast(<[u8; 32]>::try_from(codes).expect("32 bytes"));
                    let low = avx2._mm256_and_si256(codes, nibble);
                    let high = avx2._mm256_and_si256(avx2._mm256_srli_epi16::<4>(codes), nibble);
                    let first = avx2._mm256_shuffle_epi8(pulp::cast(tables[0]), low);
                    let second = avx2._mm256_shuffle_epi8(pulp::cast(tables[1]), high);
                    let both = avx2._mm256_add_epi8(first, second);
                    even = avx2._mm256_add_epi16(even, avx2._mm256_and_si256(both, low_byte));
                    odd = avx2._mm256_add_epi16(odd, avx2._mm256_srli_epi16::<8>(both));
                }
                // Sums stay under 64 × 254, so the signed comparison is right. Most blocks have
                // no row above, and are done after one test.
                let above_either = avx2._mm256_or_si256(
                    avx2._mm256_cmpgt_epi16(even, threshold),
                    avx2._mm256_cmpgt_epi16(odd, threshold),
                );
                if avx2._mm256_movemask_epi8(above_either) == 0 {
                    continue;
                }
                let (even, odd): ([u16; 16], [u16; 16]) = (pulp::cast(even), pulp::cast(odd));
                for j in 0..16 {
                    for (offset, sum) in [(0, even[j]), (1, odd[j])] {
                        if i32::from(sum) > i32::from(above) {
                            hits.push(((b * BLOCK_ROWS + 2 * j + offset) as u32, sum));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_rows_read_back_and_the_scan_sums_their_entries() {
        // Two lists of 40 and 3 rows, 2 code bytes (4 sub-quantizers) per row.
        let rows: Vec<u8> = (0..43 * 2).map(|i| (i * 37 % 256) as u8).collect();
        let blocks = Blocks::pack(2, &rows, &[0, 40, 43]);
        assert_eq!(blocks.list(0).len(), 2 * 2 * BLOCK_ROWS, "40 rows take two blocks");
        assert_eq!(blocks.list(1).len(), 2 * BLOCK_ROWS);
        assert_eq!(blocks.row(1, 2).collect::<Vec<_>>(), rows[42 * 2..43 * 2]);
        assert_eq!(blocks.row(0, 33).collect::<Vec<_>>(), rows[33 * 2..34 * 2]);

        let entries: Vec<[u8; 32]> =
            (0..4).map(|m| std::array::from_fn(|j| ((m * 31 + (j % 16) * 7) % 128) as u8)).collect();
        let mut all = Vec::new();
        scan_portable(&entries, blocks.list(0), -1, &mut all);
        assert_eq!(all.len(), 2 * BLOCK_ROWS, "every row is above -1");
        for &(r, total) in &all[..40] {
            let r = r as usize;
            let codes = [rows[2 * r] & 15, rows[2 * r] >> 4, rows[2 * r + 1] & 15, rows[2 * r + 1] >> 4];
            let expected: u16 =
                codes.iter().enumerate().map(|(m, &c)| u16::from(entries[m][c as usize])).sum();
            assert_eq!(total, expected, "row {r}");
        }
        assert!(all[40..].iter().all(|&(_, t)| t == all[40].1), "padding rows are all code 0");
        // Only the rows above a threshold come back, the rows at it not.
        let above = all[7].1 as i16;
        let mut some = Vec::new();
        scan_portable(&entries, blocks.list(0), above, &mut some);
        let expected: Vec<(u32, u16)> = all.iter().copied().filter(|&(_, t)| t as i16 > above).collect();
        assert_eq!(some, expected);
        assert!(!some.is_empty() && some.len() < all.len() && !some.contains(&all[7]));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_scan_gives_the_portable_integers() {
        let Some(simd) = pulp::x86::V3::try_new() else { return };
        let row_bytes = 64;
        let rows: Vec<u8> = (0..100 * row_bytes).map(|i| ((i * 7919) >> 3) as u8).collect();
        let blocks = Blocks::pack(row_bytes, &rows, &[0, 100]);
        // Entries at the extremes: the byte sums reach 254 and the lanes 64 × 254.
        let entries: Vec<[u8; 32]> = (0..2 * row_bytes)
            .map(|m| {
                std::array::from_fn(|j| if (j % 16 + m) % 3 == 0 { 127 } else { (j % 16 * m % 128) as u8 })
            })
            .collect();
        for above in [-1, 4000, 8000, 9000, i16::MAX] {
            let (mut portable, mut avx2) = (Vec::new(), Vec::new());
            scan_portable(&entries, blocks.list(0), above, &mut portable);
            let blocks = blocks.list(0);
            simd.vectorize(Avx2Scan { simd, entries: &entries, blocks, above, hits: &mut avx2 });
            assert_eq!(portable, avx2, "above {above}");
        }
        let mut all = Vec::new();
        scan_portable(&entries, blocks.list(0), -1, &mut all);
        assert!(all.iter().any(|&(_, t)| t > 8000), "sums reach past 8,000");
    }
}
