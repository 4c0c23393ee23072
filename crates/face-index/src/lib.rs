//! 1:N identification: the one place that searches a probe template against every enrolled one.
//!
//! Owns: the in-memory index of templates (exact scan over normalised vectors, partitions such as
//! a phone-digit hint, optional approximate search), the similarity score, and the decision rule
//! "best match, above threshold, with a margin over the runner-up".
//!
//! Must never: see pixels (templates arrive from `biometric`), do IO, read the wall clock or
//! ambient randomness, or let a template leave except inside `Secret`. It returns shopper ids and
//! scores, never templates.
