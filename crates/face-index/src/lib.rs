//! 1:N identification: the one place that searches a probe template against every enrolled one.
//!
//! Owns: the in-memory index of templates (exact scan over int8-encoded vectors with the f32
//! originals for the final scores, buckets by a phone-digit hint), the similarity score, and the
//! decision rule "best match, above threshold, with a margin over the runner-up".
//!
//! Must never: see pixels (templates arrive from `biometric`), do IO, read the wall clock or
//! ambient randomness, or let a template leave except inside `Secret`. It returns shopper ids and
//! scores, never templates.
//!
//! Still to build (issue 4): SIMD kernels with runtime dispatch, batched queries, readers that
//! never block on writers, the snapshot file, the approximate index, and the measurements.

mod decide;
mod index;
mod quantize;

pub use decide::{Decision, DecisionRule, decide};
pub use index::{Candidate, FaceIndex, IndexError, PhoneHint};
