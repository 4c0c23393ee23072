//! The gallery: one writer (`FaceIndex`) and any number of readers (`IndexReader`), which never
//! wait for the writer. The enrolled templates live in immutable segments (see `segment`); every
//! change publishes a new generation (the list of segments and a version number) with one atomic
//! pointer swap, and a reader searches whichever generation it loaded, as of its version.
//!
//! New templates arrive as one-row segments, and segments of similar size are merged as they
//! accumulate (like a binary counter), so there are about log2(n) of them and each template is
//! copied about log2(n) times over its life. Segments from `ivf::MIN_ROWS` rows on are grouped
//! into lists for the approximate search.
//!
//! Search is exact: the int8 scan gives each template an approximate score with a proven error
//! bound (`quantize::bound`); only templates whose best possible score could still reach the top
//! k are scored again in f32. The result is the same as scoring everything in f32.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use facepay_domain::{FaceTemplate, RecognizerTag, ShopperId};

use crate::collect::Collector;
use crate::ivf::{self, Lists};
use crate::kernel::{Kernel, dot_exact};
use crate::quantize::Quantized;
use crate::segment::{Probe, Segment, SegmentBuilder};

/// The last four digits of the shopper's phone number, which narrow a search to one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PhoneHint(pub(crate) [u8; 4]);

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
    #[error("the index snapshot is damaged or truncated: {0}")]
    SnapshotCorrupt(&'static str),
}

impl IndexError {
    pub fn code(&self) -> &'static str {
        match self {
            IndexError::RecognizerMismatch { .. } => "index_recognizer_mismatch",
            IndexError::HintMalformed => "index_hint_malformed",
            IndexError::SnapshotCorrupt(_) => "index_snapshot_corrupt",
        }
    }
}

/// Which rows a search scans (not `decide::Scope`, which says where candidates came from).
#[derive(Debug, Clone, Copy)]
enum Rows {
    Everyone,
    Bucket(PhoneHint),
    /// Segments with lists: the 4-bit codes of the `nprobe` nearest lists, for a shortlist
    /// scored exactly; the others in full.
    NearestLists(usize),
}

/// How many rows of the listed segments an approximate search scores exactly (at least k).
pub const SHORTLIST: usize = 64;

/// One published state of the index.
#[derive(Debug)]
struct Generation {
    version: u64,
    live: usize,
    segments: Vec<Arc<Segment>>,
}

/// A handle for searching; clone it freely, across threads. It never blocks on the writer.
#[derive(Debug, Clone)]
pub struct IndexReader {
    recognizer: RecognizerTag,
    dimension: usize,
    kernel: Kernel,
    current: Arc<ArcSwap<Generation>>,
}

/// The index as of one moment: every search on a view sees the same enrolled faces.
#[derive(Debug, Clone)]
pub struct View {
    reader: IndexReader,
    generation: Arc<Generation>,
}

/// A segment as the writer tracks it.
#[derive(Debug)]
struct Tracked {
    id: u64,
    live: usize,
    segment: Arc<Segment>,
}

/// The one writer. Wrap it in a mutex to share it; searches go through `reader()`.
#[derive(Debug)]
pub struct FaceIndex {
    reader: IndexReader,
    version: u64,
    next_segment: u64,
    /// Segments from this many rows on are grouped into lists.
    list_min_rows: usize,
    segments: Vec<Tracked>,
    /// Where each enrolled shopper's row is: (segment id, row).
    locations: HashMap<ShopperId, (u64, u32)>,
}

impl FaceIndex {
    pub fn new(recognizer: RecognizerTag, dimension: usize) -> FaceIndex {
        FaceIndex::with_list_min_rows(recognizer, dimension, ivf::MIN_ROWS)
    }

    /// An index that groups segments into lists from `rows` rows on (the default is
    /// `ivf::MIN_ROWS`; tests use small galleries).
    pub fn with_list_min_rows(recognizer: RecognizerTag, dimension: usize, rows: usize) -> FaceIndex {
        let empty = Generation { version: 0, live: 0, segments: Vec::new() };
        FaceIndex {
            reader: IndexReader {
                recognizer,
                dimension,
                kernel: Kernel::default(),
                current: Arc::new(ArcSwap::from_pointee(empty)),
            },
            version: 0,
            next_segment: 0,
            list_min_rows: rows.max(1),
            segments: Vec::new(),
            locations: HashMap::new(),
        }
    }

    /// A search handle that stays current as this index changes.
    pub fn reader(&self) -> IndexReader {
        self.reader.clone()
    }

    /// The index as of now.
    pub fn view(&self) -> View {
        self.reader.view()
    }

    /// How many shoppers are enrolled.
    pub fn len(&self) -> usize {
        self.locations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.locations.is_empty()
    }

    /// Bytes allocated for the enrolled rows: (read by every exact scan, held in all, this
    /// writer's map of where each shopper is included).
    pub fn memory(&self) -> (usize, usize) {
        let (scanned, held) =
            self.segments.iter().map(|t| t.segment.memory()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        let map = self.locations.capacity() * (size_of::<ShopperId>() + size_of::<(u64, u32)>() + 1);
        (scanned, held + map)
    }

    /// Enrolls `shopper`, or replaces their template and hint if they are enrolled already.
    pub fn upsert(
        &mut self,
        shopper: ShopperId,
        template: &FaceTemplate,
        hint: PhoneHint,
    ) -> Result<(), IndexError> {
        self.upsert_many([(shopper, template, hint)])
    }

    /// Enrolls or replaces many at once, as one new segment (the way to load a gallery). When a
    /// shopper appears twice, the later entry wins. Any bad template rejects the whole batch.
    pub fn upsert_many<'t>(
        &mut self,
        entries: impl IntoIterator<Item = (ShopperId, &'t FaceTemplate, PhoneHint)>,
    ) -> Result<(), IndexError> {
        let entries: Vec<_> = entries.into_iter().collect();
        for (_, template, _) in &entries {
            self.reader.check(template)?;
        }
        let mut last: HashMap<ShopperId, usize> = HashMap::new();
        for (i, (shopper, _, _)) in entries.iter().enumerate() {
            last.insert(*shopper, i);
        }
        self.version += 1;
        let mut builder = SegmentBuilder::with_capacity(self.reader.dimension, last.len());
        for (i, (shopper, template, hint)) in entries.iter().enumerate() {
            if last[shopper] == i {
                self.delete(*shopper);
                builder.push(*shopper, *hint, template.expose_embedding());
            }
        }
        if builder.len() > 0 {
            self.add_segment(builder);
            self.merge_while_similar();
        }
        self.publish();
        Ok(())
    }

    /// Removes a shopper's face; true when they were enrolled. Searches that start after this
    /// returns never see the face.
    pub fn remove(&mut self, shopper: ShopperId) -> bool {
        self.version += 1;
        let removed = self.delete(shopper);
        // A segment whose every row is deleted would still be scanned.
        self.segments.retain(|t| t.live > 0);
        self.publish();
        removed
    }

    /// Stamps the shopper's row deleted at the current version.
    fn delete(&mut self, shopper: ShopperId) -> bool {
        let Some((id, row)) = self.locations.remove(&shopper) else { return false };
        let tracked = self.segments.iter_mut().find(|t| t.id == id).expect("locations name live segments");
        tracked.segment.delete(row, self.version);
        tracked.live -= 1;
        true
    }

    /// Builds the rows into a segment (grouped into lists when it is big) and records where
    /// every row went.
    fn add_segment(&mut self, builder: SegmentBuilder) {
        let segment = Arc::new(match builder.len() >= self.list_min_rows {
            true => {
                let (lists, order) = Lists::group(builder.units(), self.reader.dimension);
                builder.build(Some(lists), Some(order))
            }
            false => builder.build(None, None),
        });
        let id = self.next_segment;
        self.next_segment += 1;
        for row in 0..segment.len() as u32 {
            self.locations.insert(segment.owner(row), (id, row));
        }
        self.segments.push(Tracked { id, live: segment.len(), segment });
    }

    /// Merges the two newest segments while the older holds at most twice the newer's live rows;
    /// empty segments are dropped.
    fn merge_while_similar(&mut self) {
        self.segments.retain(|t| t.live > 0);
        while let [.., older, newer] = self.segments.as_slice() {
            if older.live > 2 * newer.live {
                break;
            }
            let (newer, older) = (self.segments.pop().expect("two"), self.segments.pop().expect("two"));
            let mut builder = SegmentBuilder::with_capacity(self.reader.dimension, older.live + newer.live);
            for tracked in [&older, &newer] {
                for row in tracked.segment.live_rows() {
                    builder.push(
                        tracked.segment.owner(row),
                        tracked.segment.hint(row),
                        tracked.segment.unit(row),
                    );
                }
            }
            self.add_segment(builder);
        }
    }

    fn publish(&self) {
        let generation = Generation {
            version: self.version,
            live: self.locations.len(),
            segments: self.segments.iter().map(|t| Arc::clone(&t.segment)).collect(),
        };
        self.reader.current.store(Arc::new(generation));
    }

    /// Rebuilds an index from `segments` as a snapshot stores them (see `snapshot`).
    pub(crate) fn from_segments(
        recognizer: RecognizerTag,
        dimension: usize,
        segments: Vec<Segment>,
    ) -> Result<FaceIndex, IndexError> {
        let mut index = FaceIndex::new(recognizer, dimension);
        index.version = 1;
        index.locations.reserve(segments.iter().map(Segment::len).sum());
        for segment in segments {
            let id = index.next_segment;
            index.next_segment += 1;
            for row in 0..segment.len() as u32 {
                if index.locations.insert(segment.owner(row), (id, row)).is_some() {
                    return Err(IndexError::SnapshotCorrupt("a shopper appears twice"));
                }
            }
            index.segments.push(Tracked { id, live: segment.len(), segment: Arc::new(segment) });
        }
        index.publish();
        Ok(index)
    }
}

impl IndexReader {
    /// The index as of now.
    pub fn view(&self) -> View {
        View { reader: self.clone(), generation: self.current.load_full() }
    }

    /// Refuses a template this index cannot hold (another recognizer or dimension).
    pub fn check(&self, template: &FaceTemplate) -> Result<(), IndexError> {
        if *template.recognizer() != self.recognizer || template.dimension() != self.dimension {
            return Err(IndexError::RecognizerMismatch {
                expected: format!("{} ({}-d)", self.recognizer.name, self.dimension),
                got: format!("{} ({}-d)", template.recognizer().name, template.dimension()),
            });
        }
        Ok(())
    }
}

impl View {
    /// How many shoppers this view holds.
    pub fn len(&self) -> usize {
        self.generation.live
    }

    pub fn is_empty(&self) -> bool {
        self.generation.live == 0
    }

    /// Counts every change to the index; a later view never has a smaller one.
    pub fn version(&self) -> u64 {
        self.generation.version
    }

    /// The `k` best matches among everyone, best first (ties by shopper id). Exact.
    pub fn search(&self, probe: &FaceTemplate, k: usize) -> Result<Vec<Candidate>, IndexError> {
        Ok(self.search_batch(&[probe], k)?.pop().expect("one probe, one result"))
    }

    /// `search` for several probes in one pass over the gallery.
    pub fn search_batch(
        &self,
        probes: &[&FaceTemplate],
        k: usize,
    ) -> Result<Vec<Vec<Candidate>>, IndexError> {
        self.run(probes, k, Rows::Everyone)
    }

    /// The `k` best matches among the shoppers whose phone ends in `hint`. Exact.
    pub fn search_hint(
        &self,
        probe: &FaceTemplate,
        hint: PhoneHint,
        k: usize,
    ) -> Result<Vec<Candidate>, IndexError> {
        Ok(self.run(&[probe], k, Rows::Bucket(hint))?.pop().expect("one probe, one result"))
    }

    /// The `k` best matches among `shoppers` only (those not enrolled are passed over), each
    /// found by name rather than by scanning: the cost grows with the names, not the gallery.
    /// Exact. A metro's exit gate searches this way among the riders inside its network.
    pub fn search_among(
        &self,
        probe: &FaceTemplate,
        shoppers: &[ShopperId],
        k: usize,
    ) -> Result<Vec<Candidate>, IndexError> {
        self.reader.check(probe)?;
        let unit = probe.expose_embedding();
        let version = self.generation.version;
        let mut found: Vec<Candidate> = Vec::new();
        for segment in &self.generation.segments {
            for &shopper in shoppers {
                for &row in segment.rows_of(shopper) {
                    if segment.visible(row, version) {
                        found.push(Candidate { shopper, score: dot_exact(unit, segment.unit(row)) });
                    }
                }
            }
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.shopper.cmp(&b.shopper)));
        // A name given twice is one shopper.
        found.dedup_by_key(|c| c.shopper);
        found.truncate(k);
        Ok(found)
    }

    /// Like `search`, but big segments are searched only in their `nprobe` lists nearest to the
    /// probe, by their 4-bit codes, and a shortlist of the best estimates is scored exactly:
    /// faster, and it can miss. Scores of what it returns are exact.
    pub fn search_approximate(
        &self,
        probe: &FaceTemplate,
        k: usize,
        nprobe: usize,
    ) -> Result<Vec<Candidate>, IndexError> {
        Ok(self.run(&[probe], k, Rows::NearestLists(nprobe))?.pop().expect("one probe, one result"))
    }

    /// Every visible row, segment by segment, for the snapshot.
    pub(crate) fn segments(&self) -> impl Iterator<Item = (&Segment, Vec<u32>)> {
        let version = self.generation.version;
        self.generation
            .segments
            .iter()
            .map(move |s| (s.as_ref(), (0..s.len() as u32).filter(|&row| s.visible(row, version)).collect()))
    }

    pub(crate) fn recognizer(&self) -> &RecognizerTag {
        &self.reader.recognizer
    }

    pub(crate) fn dimension(&self) -> usize {
        self.reader.dimension
    }

    fn run(&self, probes: &[&FaceTemplate], k: usize, rows: Rows) -> Result<Vec<Vec<Candidate>>, IndexError> {
        for probe in probes {
            self.reader.check(probe)?;
        }
        if k == 0 {
            return Ok(vec![Vec::new(); probes.len()]);
        }
        let units: Vec<&[f32]> = probes.iter().map(|p| p.expose_embedding()).collect();
        let encoded: Vec<Quantized> = units.iter().map(|u| Quantized::encode(u)).collect();
        let version = self.generation.version;
        let segments = &self.generation.segments;
        let kernel = &self.reader.kernel;
        let mut scans: Vec<Probe<'_>> =
            encoded.iter().map(|encoded| Probe { encoded, collector: Collector::new(k) }).collect();
        // Estimates from the 4-bit codes are not bounded, so they go to their own collector.
        let mut shortlist = Collector::new(k.max(SHORTLIST));
        for (id, segment) in segments.iter().enumerate() {
            let id = id as u32;
            match (rows, segment.lists()) {
                (Rows::Bucket(hint), _) => segment.scan_bucket(id, hint, version, &mut scans[0]),
                (Rows::NearestLists(nprobe), Some(_)) => {
                    segment.scan_codes(kernel, id, units[0], nprobe, version, &mut shortlist)
                }
                _ => segment.scan(kernel, id, 0..segment.len(), version, &mut scans),
            }
        }
        // Only the first probe can have a shortlist (approximate search takes one probe).
        let mut shortlist = Some(shortlist);
        Ok(scans
            .into_iter()
            .zip(&units)
            .map(|(scan, unit)| {
                let mut found: Vec<Candidate> = scan
                    .collector
                    .into_survivors()
                    .chain(shortlist.take().into_iter().flat_map(Collector::into_survivors))
                    .map(|(id, row)| {
                        let segment = &segments[id as usize];
                        Candidate { shopper: segment.owner(row), score: dot_exact(unit, segment.unit(row)) }
                    })
                    .collect();
                found.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.shopper.cmp(&b.shopper)));
                found.truncate(k);
                found
            })
            .collect())
    }
}
