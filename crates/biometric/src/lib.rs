//! From pixels to a live, aligned face template: decode, detect, align, check quality and
//! liveness, embed.
//!
//! Owns: every pixel facepay sees and the ONNX Runtime (through `ort`, loaded at run time from
//! the library that `model-store` located and verified). Models are opened only from a
//! `VerifiedModel`, and the bytes are checked again as they are read, so nothing whose checksum was
//! not checked can run.
//!
//! Also makes synthetic presentation attacks from photos (`synthetic_attacks`), for measuring
//! liveness.
//!
//! Must never: keep or log an image or template after returning it (templates leave only inside
//! `FaceTemplate`'s `Secret`), know about payments, storage or HTTP, or panic on a hostile image.

mod align;
mod detect;
mod engine;
mod liveness;
mod onnx;
mod photo;
mod prelu_rewrite;
mod quality;
mod recognize;
mod resample;
pub mod synthetic_attacks;

pub use align::{ALIGNED_SIDE, ARCFACE_TEMPLATE, Similarity, align};
pub use detect::{Detection, DetectorConfig, Point};
pub use engine::{BiometricConfig, BiometricEngine, Capture, CaptureError, EngineError, Worker};
pub use onnx::{LoadedModel, OnnxError, OnnxRuntime, Output, TensorInfo};
pub use photo::{DecodeError, DecodeLimits, Photo};
pub use prelu_rewrite::{MalformedModel, Rewritten, rewrite_prelu};
pub use quality::{QualityConfig, QualityIssue, QualityMeasures, main_face};
