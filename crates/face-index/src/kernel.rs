//! The scan's inner loops, compiled once per instruction set and picked at run time: AVX-512
//! or AVX2 on x86 where the CPU has them, plain code elsewhere. `pulp` does the detection and
//! enables the target features around our loops without `unsafe` here; the int8 loops are
//! written so the compiler vectorizes them (fixed 64-code chunks, `i32` accumulation), the 4-bit
//! one (`fastscan`) names its AVX2 instructions.

/// Codes are stored in chunks of this many, zero-padded: zeros add nothing to a dot product,
/// and whole chunks let the compiler unroll without a remainder loop.
pub const CHUNK: usize = 64;

/// The stored width of a `dimension`-long code vector.
pub fn padded(dimension: usize) -> usize {
    dimension.div_ceil(CHUNK) * CHUNK
}

/// The instruction set chosen once, when the index is made.
#[derive(Debug, Clone, Copy)]
pub struct Kernel {
    arch: pulp::Arch,
    #[cfg(target_arch = "x86_64")]
    avx2: Option<pulp::x86::V3>,
}

impl Default for Kernel {
    fn default() -> Self {
        Kernel {
            arch: pulp::Arch::new(),
            #[cfg(target_arch = "x86_64")]
            avx2: pulp::x86::V3::try_new(),
        }
    }
}

impl Kernel {
    /// `fastscan::scan_portable`, on AVX2 where the CPU has it.
    pub fn fast_scan(&self, entries: &[[u8; 32]], blocks: &[u8], above: i16, hits: &mut Vec<(u32, u16)>) {
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = self.avx2 {
            return simd.vectorize(crate::fastscan::Avx2Scan { simd, entries, blocks, above, hits });
        }
        crate::fastscan::scan_portable(entries, blocks, above, hits)
    }

    /// `dot_rows` compiled for the best instruction set this CPU has.
    pub fn dot_rows(&self, probes: &[&[i8]], rows: &[i8], width: usize, out: &mut [Vec<i32>]) {
        self.arch.dispatch(DotRows { probes, rows, width, out });
    }
}

/// `dot_rows` as pulp's entry point: `with_simd` is inlined into a function compiled with the
/// detected target features, and `dot_rows` into it, so the loops vectorize for that CPU. (A
/// closure passed to `dispatch` is not reliably inlined, and then runs as baseline SSE2.)
struct DotRows<'a> {
    probes: &'a [&'a [i8]],
    rows: &'a [i8],
    width: usize,
    out: &'a mut [Vec<i32>],
}

impl pulp::WithSimd for DotRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        dot_rows(self.probes, self.rows, self.width, self.out);
    }
}

/// The dot product of two padded code vectors, exact in `i32` (128² × 8192 dimensions fits).
///
/// Wrapping operations, though nothing here can wrap: release builds keep overflow checks (for
/// money), and a checked add in this loop stops the compiler vectorizing it (`bench index`
/// measured the exact scan 3-6x behind FAISS with them, at 1.9 GB/s).
#[inline(always)]
pub fn dot_codes(a: &[i8], b: &[i8]) -> i32 {
    let mut total = 0i32;
    for (x, y) in a.chunks_exact(CHUNK).zip(b.chunks_exact(CHUNK)) {
        let mut chunk = 0i32;
        for i in 0..CHUNK {
            chunk = chunk.wrapping_add(i32::from(x[i]).wrapping_mul(i32::from(y[i])));
        }
        total = total.wrapping_add(chunk);
    }
    total
}

/// `out[q][r]` = probe `q` · row `r`, for rows of `width` codes. Each block of rows is read from
/// memory once for all the probes, which is what batching several queries buys.
#[inline(always)]
pub fn dot_rows(probes: &[&[i8]], rows: &[i8], width: usize, out: &mut [Vec<i32>]) {
    for (r, row) in rows.chunks_exact(width).enumerate() {
        for (q, probe) in probes.iter().enumerate() {
            out[q][r] = dot_codes(probe, row);
        }
    }
}

/// A dot product for ranking lists by their centroids: eight running sums, which the compiler
/// vectorizes. It rounds differently from `dot_exact`, so it never gives a returned score.
#[inline(always)]
pub fn dot_ranking(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            sums[i] += x[i] * y[i];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// The exact score of two unit vectors; one function, so every exact score is computed alike.
#[inline(always)]
pub fn dot_exact(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dispatched_scan_matches_scalar_products_at_the_extremes() {
        let width = padded(70);
        assert_eq!(width, 128);
        let mut rows = vec![0i8; 3 * width];
        rows[..70].fill(-127);
        rows[width..width + 70].fill(127);
        rows[2 * width + 5] = 3;
        let mut probe = vec![0i8; width];
        probe[..70].fill(-127);
        let mut out = vec![vec![0; 3]];
        Kernel::default().dot_rows(&[&probe], &rows, width, &mut out);
        assert_eq!(out[0], [70 * 127 * 127, -70 * 127 * 127, -3 * 127]);
    }
}
