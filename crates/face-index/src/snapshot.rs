//! The snapshot format: the whole index as one byte string, so a node restarts or a new node
//! starts without re-clustering. Loading a million 128-d templates takes about as long as
//! reading and checking the bytes (`facepay bench index` measures it).
//!
//! Layout, little-endian: the magic `FPIDX` and a format byte; the recognizer's name and version
//! (u32 length + UTF-8 each); the dimension (u32); the segment count (u32); then per segment its
//! row count (u64), its list count (u32; 0 = no lists), with lists the centroids (f32 ×
//! dimension each), rows per list (u32 each) and the product quantizer's points (f32s), and the
//! rows (shopper u128, 4 hint digits, f32 × dimension, with lists the row's code bytes); last, a
//! CRC-32 of everything before it. Deleted rows are left out.
//!
//! The bytes hold every template in the clear, so they come wrapped in `Secret`; whoever stores
//! them encrypts them first (the vault does).

use facepay_domain::{RecognizerTag, Secret, ShopperId};

use crate::index::{FaceIndex, IndexError, PhoneHint, View};
use crate::ivf::Lists;
use crate::pq::ProductQuantizer;
use crate::segment::SegmentBuilder;

const MAGIC: &[u8; 6] = b"FPIDX\x02";

impl View {
    /// Everything this view holds, as snapshot bytes.
    pub fn snapshot(&self) -> Secret<Vec<u8>> {
        let d = self.dimension();
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        for text in [&self.recognizer().name, &self.recognizer().version] {
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        out.extend_from_slice(&(d as u32).to_le_bytes());
        let segments: Vec<_> = self.segments().collect();
        out.extend_from_slice(&(segments.len() as u32).to_le_bytes());
        for (segment, rows) in &segments {
            out.extend_from_slice(&(rows.len() as u64).to_le_bytes());
            let list_of: Vec<u32> =
                segment.lists().map_or(Vec::new(), |lists| lists.list_of_rows().collect());
            match segment.lists() {
                None => out.extend_from_slice(&0u32.to_le_bytes()),
                Some(lists) => {
                    out.extend_from_slice(&(lists.count() as u32).to_le_bytes());
                    lists.centroids().iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
                    // Deleted rows are left out, so count what each list still holds.
                    let mut sizes = vec![0u32; lists.count()];
                    rows.iter().for_each(|&row| sizes[list_of[row as usize] as usize] += 1);
                    sizes.iter().for_each(|s| out.extend_from_slice(&s.to_le_bytes()));
                    lists.quantizer().points().iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
                }
            }
            for &row in rows {
                out.extend_from_slice(&segment.owner(row).as_u128().to_le_bytes());
                out.extend_from_slice(&segment.hint(row).0);
                segment.unit(row).iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
                if let Some(lists) = segment.lists() {
                    out.extend(lists.codes_of(list_of[row as usize] as usize, row));
                }
            }
        }
        let checksum = crc32fast::hash(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        Secret::new(out)
    }
}

impl FaceIndex {
    /// Loads a snapshot made by `View::snapshot`. The recognizer must be the one named in it.
    pub fn from_snapshot(
        recognizer: RecognizerTag,
        dimension: usize,
        bytes: &[u8],
    ) -> Result<FaceIndex, IndexError> {
        let body_len =
            bytes.len().checked_sub(4).ok_or(IndexError::SnapshotCorrupt("shorter than a checksum"))?;
        let (body, checksum) = bytes.split_at(body_len);
        if crc32fast::hash(body).to_le_bytes() != checksum {
            return Err(IndexError::SnapshotCorrupt("checksum mismatch"));
        }
        let mut r = Reader { bytes: body };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(IndexError::SnapshotCorrupt("not a facepay index snapshot, or a newer format"));
        }
        let name = r.text()?;
        let version = r.text()?;
        let stored_dimension = r.u32()? as usize;
        if name != recognizer.name || version != recognizer.version || stored_dimension != dimension {
            return Err(IndexError::RecognizerMismatch {
                expected: format!("{} ({dimension}-d)", recognizer.name),
                got: format!("{name} ({stored_dimension}-d)"),
            });
        }
        let mut segments = Vec::new();
        for _ in 0..r.u32()? {
            let rows = r.u64()? as usize;
            let list_count = r.u32()? as usize;
            let lists = match list_count {
                0 => None,
                _ => {
                    let centroids = r.floats(list_count * dimension)?;
                    let sizes: Vec<u32> = (0..list_count).map(|_| r.u32()).collect::<Result<_, _>>()?;
                    if sizes.iter().map(|&s| s as usize).sum::<usize>() != rows {
                        return Err(IndexError::SnapshotCorrupt("list sizes do not add up to the rows"));
                    }
                    let points = r.floats(ProductQuantizer::point_count(dimension))?;
                    let quantizer = ProductQuantizer::from_points(dimension, points)
                        .ok_or(IndexError::SnapshotCorrupt("quantizer points"))?;
                    Some((centroids, sizes, quantizer))
                }
            };
            let code_bytes = lists.as_ref().map_or(0, |(_, _, q)| q.row_bytes());
            let mut codes = Vec::with_capacity(rows * code_bytes);
            // Every row takes at least its id, digits and vector: a count the bytes cannot hold
            // is corruption, not an allocation to attempt.
            if rows > r.bytes.len() / (16 + 4 + 4 * dimension) {
                return Err(IndexError::SnapshotCorrupt("more rows than bytes"));
            }
            let mut builder = SegmentBuilder::with_capacity(dimension, rows);
            for _ in 0..rows {
                let shopper = ShopperId::from_u128(u128::from_le_bytes(r.array()?));
                let hint = PhoneHint::parse(std::str::from_utf8(&r.array::<4>()?).unwrap_or(""))
                    .map_err(|_| IndexError::SnapshotCorrupt("phone digits"))?;
                builder.push_with(shopper, hint, |exact| {
                    let start = exact.len();
                    r.floats_into(exact, dimension)?;
                    let norm = exact[start..].iter().map(|x| x * x).sum::<f32>();
                    match norm.is_finite() && (norm - 1.0).abs() <= 1e-3 {
                        true => Ok(()),
                        false => Err(IndexError::SnapshotCorrupt("a template is not a unit vector")),
                    }
                })?;
                codes.extend_from_slice(r.take(code_bytes)?);
            }
            let lists = lists.map(|(centroids, sizes, quantizer)| {
                Lists::from_parts(dimension, centroids, &sizes, quantizer, &codes)
            });
            // The rows are stored grouped by list already.
            segments.push(builder.build(lists, None));
        }
        if !r.bytes.is_empty() {
            return Err(IndexError::SnapshotCorrupt("bytes after the last segment"));
        }
        FaceIndex::from_segments(recognizer, dimension, segments)
    }
}

/// Reads the snapshot body front to back; running out is corruption.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], IndexError> {
        if self.bytes.len() < n {
            return Err(IndexError::SnapshotCorrupt("truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], IndexError> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, IndexError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn text(&mut self) -> Result<String, IndexError> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec())
            .map_err(|_| IndexError::SnapshotCorrupt("text is not UTF-8"))
    }

    fn floats(&mut self, n: usize) -> Result<Vec<f32>, IndexError> {
        let mut values = Vec::new();
        self.floats_into(&mut values, n)?;
        Ok(values)
    }

    fn floats_into(&mut self, into: &mut Vec<f32>, n: usize) -> Result<(), IndexError> {
        let bytes = self.take(n.checked_mul(4).ok_or(IndexError::SnapshotCorrupt("size overflow"))?)?;
        into.extend(bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))));
        Ok(())
    }
}
