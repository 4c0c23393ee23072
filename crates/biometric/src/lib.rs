//! From pixels to a live, aligned face template: decode, detect, align, check liveness, embed.
//!
//! Owns: every pixel facepay sees and the ONNX Runtime (through `ort`, loaded at run time from
//! the library that `model-store` located and verified). Models are opened only from a
//! `VerifiedModel`, so nothing whose checksum was not checked can run.
//!
//! Must never: keep or log an image or template after returning it (templates leave only inside
//! `Secret`), know about payments, storage or HTTP, or panic on a hostile image.

mod onnx;

pub use onnx::{LoadedModel, OnnxError, OnnxRuntime, TensorInfo};
