//! The ONNX Runtime, loaded once per process from a located library, and the sessions opened on
//! verified model files. Every other module of this crate reaches ONNX through here.

use std::path::{Path, PathBuf};

use facepay_model_store::{RuntimeLibrary, VerifiedModel};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

/// The loaded runtime. `ort` keeps one library per process: a second `load` with another path
/// keeps the first library, and says so with an error rather than silently mixing them.
#[derive(Debug)]
pub struct OnnxRuntime {
    library: PathBuf,
    build_info: String,
    environment: ort::environment::Environment,
}

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot load ONNX Runtime from {}: {reason}", library.display())]
    Load { library: PathBuf, reason: String },
    #[error("model {model} ({}) could not be opened by ONNX Runtime: {reason}", path.display())]
    Open { model: String, path: PathBuf, reason: String },
}

impl OnnxError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            OnnxError::Load { .. } => "onnx_runtime_load_failed",
            OnnxError::Open { .. } => "onnx_model_open_failed",
        }
    }
}

/// One input or output of a model, as ONNX Runtime reports it (`Tensor<f32>(1, 3, 112, 112)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub value_type: String,
}

/// A model opened in the runtime, ready to run.
#[derive(Debug)]
pub struct LoadedModel {
    pub name: String,
    pub session: Session,
}

impl OnnxRuntime {
    pub fn load(library: &RuntimeLibrary) -> Result<OnnxRuntime, OnnxError> {
        let load_error = |reason: String| OnnxError::Load { library: library.path.clone(), reason };
        let builder = ort::init_from(&library.path).map_err(|e| load_error(e.to_string()))?;
        let environment = builder.with_name("facepay").build().map_err(|e| load_error(e.to_string()))?;
        Ok(OnnxRuntime { library: library.path.clone(), build_info: ort::info().to_owned(), environment })
    }

    pub fn library(&self) -> &Path {
        &self.library
    }

    /// The runtime's own build line (`ORT Build Info: git-branch=..., git-commit-id=...`).
    pub fn build_info(&self) -> &str {
        &self.build_info
    }

    /// Opens a verified model with one intra-op thread: facepay runs many requests side by side,
    /// so parallelism comes from requests, not from inside one inference.
    pub fn open(&self, model: &VerifiedModel) -> Result<LoadedModel, OnnxError> {
        let open_error =
            |reason: String| OnnxError::Open { model: model.name.clone(), path: model.path.clone(), reason };
        let session = Session::builder(&self.environment)
            .map_err(|e| open_error(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| open_error(e.to_string()))?
            .with_intra_threads(1)
            .map_err(|e| open_error(e.to_string()))?
            .commit_from_file(&model.path)
            .map_err(|e| open_error(e.to_string()))?;
        Ok(LoadedModel { name: model.name.clone(), session })
    }
}

impl LoadedModel {
    pub fn inputs(&self) -> Vec<TensorInfo> {
        self.session
            .inputs()
            .iter()
            .map(|o| TensorInfo { name: o.name().to_owned(), value_type: o.dtype().to_string() })
            .collect()
    }

    pub fn outputs(&self) -> Vec<TensorInfo> {
        self.session
            .outputs()
            .iter()
            .map(|o| TensorInfo { name: o.name().to_owned(), value_type: o.dtype().to_string() })
            .collect()
    }
}
