//! Measuring recognition accuracy the way the field reports it: the LFW pairs protocol (k folds,
//! threshold chosen on the other folds), all-pairs verification metrics (EER, TAR at a fixed FAR,
//! DET curve) and the DET picture.
//!
//! Owns: the arithmetic of evaluation, so the CLI that runs models over a dataset stays plumbing.
//!
//! Must never: touch files, pixels or models. Scores come in, numbers and PNG bytes go out.

mod det_plot;
mod pairs;
mod verification;

pub use det_plot::{Curve, det_plot_png};
pub use pairs::{ImageRef, Pair, PairsError, PairsFile};
pub use verification::{FoldAccuracy, ScorePair, TarAtFar, Verification, kfold_accuracy};
