//! The ONNX Runtime, loaded once per process from a located library, and the sessions opened on
//! verified model files. Every other module of this crate reaches ONNX through here.

use std::path::{Path, PathBuf};

use facepay_model_store::{RuntimeLibrary, VerifiedModel};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use sha2::{Digest, Sha256};

use crate::prelu_rewrite::rewrite_prelu;

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
    #[error("model {model} failed to run: {reason}")]
    Run { model: String, reason: String },
}

impl OnnxError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            OnnxError::Load { .. } => "onnx_runtime_load_failed",
            OnnxError::Open { .. } => "onnx_model_open_failed",
            OnnxError::Run { .. } => "onnx_model_run_failed",
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

    /// Reads a verified model, checks the bytes it read against the manifest's sha256 (the file
    /// could have changed since it was verified), rewrites its PRelu nodes and opens it with one
    /// intra-op thread: facepay runs many requests side by side, so parallelism comes from
    /// requests, not from inside one inference.
    pub fn open(&self, model: &VerifiedModel) -> Result<LoadedModel, OnnxError> {
        let bytes = self.prepare(model)?;
        self.open_prepared(&model.name, &model.path, &bytes)
    }

    /// The bytes `open` hands to ONNX Runtime: the verified model with PRelu rewritten.
    pub fn prepare(&self, model: &VerifiedModel) -> Result<Vec<u8>, OnnxError> {
        let open_error =
            |reason: String| OnnxError::Open { model: model.name.clone(), path: model.path.clone(), reason };
        let bytes = std::fs::read(&model.path).map_err(|e| open_error(e.to_string()))?;
        let actual = format!("{:x}", Sha256::digest(&bytes));
        if actual != model.sha256 {
            return Err(open_error(format!("its sha256 is now {actual}, not the verified {}", model.sha256)));
        }
        Ok(rewrite_prelu(&bytes).map_err(|e| open_error(e.to_string()))?.model)
    }

    /// Opens model bytes that `prepare` produced.
    pub fn open_prepared(&self, name: &str, path: &Path, bytes: &[u8]) -> Result<LoadedModel, OnnxError> {
        let open_error =
            |reason: String| OnnxError::Open { model: name.to_owned(), path: path.to_owned(), reason };
        let session = Session::builder(&self.environment)
            .map_err(|e| open_error(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| open_error(e.to_string()))?
            .with_intra_threads(1)
            .map_err(|e| open_error(e.to_string()))?
            .commit_from_memory(bytes)
            .map_err(|e| open_error(e.to_string()))?;
        Ok(LoadedModel { name: name.to_owned(), session })
    }
}

/// One output tensor, copied out of the runtime.
#[derive(Debug, Clone)]
pub struct Output {
    pub name: String,
    pub shape: Vec<i64>,
    pub data: Vec<f32>,
}

impl LoadedModel {
    pub fn inputs(&self) -> Vec<TensorInfo> {
        self.session
            .inputs()
            .iter()
            .map(|o| TensorInfo { name: o.name().to_owned(), value_type: o.dtype().to_string() })
            .collect()
    }

    /// Runs the model on its single f32 input (NCHW) and returns every output, in model order.
    pub fn run(&mut self, shape: [usize; 4], input: &[f32]) -> Result<Vec<Output>, OnnxError> {
        let run_error = |reason: String| OnnxError::Run { model: self.name.clone(), reason };
        let tensor = TensorRef::from_array_view((shape, input)).map_err(|e| run_error(e.to_string()))?;
        let outputs = self.session.run(ort::inputs![tensor]).map_err(|e| run_error(e.to_string()))?;
        let mut copied = Vec::with_capacity(outputs.len());
        for (name, value) in outputs.iter() {
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| run_error(e.to_string()))?;
            copied.push(Output { name: name.to_owned(), shape: shape.to_vec(), data: data.to_vec() });
        }
        Ok(copied)
    }

    pub fn outputs(&self) -> Vec<TensorInfo> {
        self.session
            .outputs()
            .iter()
            .map(|o| TensorInfo { name: o.name().to_owned(), value_type: o.dtype().to_string() })
            .collect()
    }
}
