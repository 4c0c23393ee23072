//! 1:N identification: the one place that searches a probe template against every enrolled one.
//!
//! Owns: the in-memory index of templates (an exact SIMD scan over int8-encoded vectors with the
//! f32 originals for the final scores, buckets by a phone-digit hint, an inverted-file index
//! over 4-bit product-quantized codes for approximate search), its snapshot format, the
//! similarity score, and the decision rule "best match, above threshold, with a margin over the
//! runner-up".
//!
//! Must never: see pixels (templates arrive from `biometric`), do IO (the snapshot is bytes in
//! memory; the caller encrypts and stores them), read the wall clock or ambient randomness, or
//! let a template leave except inside `Secret`. It returns shopper ids and scores, never
//! templates.

mod collect;
mod decide;
mod fastscan;
mod index;
mod ivf;
mod kernel;
mod pq;
mod quantize;
mod segment;
mod snapshot;

pub use decide::{Decision, DecisionRule, Scope, decide};
pub use index::{Candidate, FaceIndex, IndexError, IndexReader, PhoneHint, SHORTLIST, View};
pub use ivf::list_count;
pub use quantize::encoded_similarity;
