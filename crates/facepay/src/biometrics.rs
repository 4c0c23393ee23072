//! The biometric engine as every command builds it: the verified runtime and models and the
//! configured recognizer. `eval` and `bench` measure exactly what the server will run.

use std::sync::Arc;

use facepay_biometric::{BiometricConfig, BiometricEngine, OnnxRuntime};
use facepay_model_store::{Manifest, ModelStore, find_runtime};

/// The engine with `recognizer` (else the default) and flip fusion on or off.
pub fn engine(recognizer: Option<String>, flip_fusion: bool) -> Result<BiometricEngine, String> {
    let manifest = Manifest::builtin();
    let library = find_runtime(&manifest)
        .map_err(|e| format!("{e} [{}]", e.code()))?
        .ok_or("ONNX Runtime is not set up here: run `facepay setup` first")?;
    let runtime = OnnxRuntime::load(&library).map_err(|e| format!("{e} [{}]", e.code()))?;
    let mut config = BiometricConfig { flip_fusion, ..BiometricConfig::default() };
    if let Some(name) = recognizer {
        config.recognizer_model = name;
    }
    BiometricEngine::new(Arc::new(runtime), &ModelStore::from_env(), &manifest, config)
        .map_err(|e| format!("{e} [{}]", e.code()))
}
