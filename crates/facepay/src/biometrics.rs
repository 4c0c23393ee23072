//! The biometric engine as every command builds it: the verified runtime and models and the
//! configured recognizer. `eval` and `bench` measure exactly what the server will run.

use std::sync::{Arc, Mutex, PoisonError};

use facepay_biometric::{BiometricConfig, BiometricEngine, OnnxError, OnnxRuntime};
use facepay_model_store::{Manifest, ModelStore, RuntimeLibrary, find_runtime};

/// ONNX Runtime allows one environment per process: the first load is kept for every later
/// engine (the demo runs `doctor`, then starts a node; `bench pay` runs two engines).
static RUNTIME: Mutex<Option<Arc<OnnxRuntime>>> = Mutex::new(None);

/// The process's ONNX Runtime, loaded from `library` the first time.
pub fn runtime(library: &RuntimeLibrary) -> Result<Arc<OnnxRuntime>, OnnxError> {
    let mut loaded = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(runtime) = loaded.as_ref() {
        return Ok(runtime.clone());
    }
    let runtime = Arc::new(OnnxRuntime::load(library)?);
    *loaded = Some(runtime.clone());
    Ok(runtime)
}

/// The engine with `recognizer` (else the default) and flip fusion on or off.
pub fn engine(recognizer: Option<String>, flip_fusion: bool) -> Result<BiometricEngine, String> {
    let manifest = Manifest::builtin();
    let library = find_runtime(&manifest)
        .map_err(|e| format!("{e} [{}]", e.code()))?
        .ok_or("ONNX Runtime is not set up here: run `facepay setup` first")?;
    let runtime = runtime(&library).map_err(|e| format!("{e} [{}]", e.code()))?;
    let mut config = BiometricConfig { flip_fusion, ..BiometricConfig::default() };
    if let Some(name) = recognizer {
        config.recognizer_model = name;
    }
    BiometricEngine::new(runtime, &ModelStore::from_env(), &manifest, config)
        .map_err(|e| format!("{e} [{}]", e.code()))
}
