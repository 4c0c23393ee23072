//! `facepay doctor`: what this machine has, checked rather than assumed. It fetches nothing; it
//! loads the runtime, verifies every model's checksum, opens each verified model, and says which
//! database facepay would use. Any problem makes it exit non-zero, naming the file at fault.

use std::io::{self, Write};

use facepay_biometric::TensorInfo;
use facepay_model_store::{Manifest, ModelOrigin, ModelStatus, ModelStore, RuntimeOrigin, find_runtime};

use crate::config::Config;

/// Prints the report; true when everything is usable.
pub fn run(config: &Config, out: &mut dyn Write) -> io::Result<bool> {
    let manifest = Manifest::builtin();
    let mut problems = 0usize;
    writeln!(out, "facepay doctor")?;

    let runtime = match find_runtime(&manifest) {
        Ok(Some(library)) => match crate::biometrics::runtime(&library) {
            Ok(runtime) => {
                let version = match &library.origin {
                    RuntimeOrigin::Operator => "from ORT_DYLIB_PATH (version not pinned)".to_owned(),
                    RuntimeOrigin::PinnedWheel { version } => {
                        format!("{version} (official wheel, sha256 {} verified)", short(&library.sha256))
                    }
                };
                writeln!(out, "runtime   ok    ONNX Runtime {version} at {}", library.path.display())?;
                writeln!(out, "          {}", runtime.build_info())?;
                Some(runtime)
            }
            Err(err) => {
                problems += 1;
                writeln!(out, "runtime   FAIL  {err} [{}]", err.code())?;
                None
            }
        },
        Ok(None) => {
            problems += 1;
            writeln!(
                out,
                "runtime   FAIL  the pinned ONNX Runtime is not in the cache; run `facepay setup` [runtime_missing]"
            )?;
            None
        }
        Err(err) => {
            problems += 1;
            writeln!(out, "runtime   FAIL  {err} [{}]", err.code())?;
            None
        }
    };

    let store = ModelStore::from_env();
    match store.origin() {
        ModelOrigin::Dir(dir) => writeln!(out, "models    from FACEPAY_MODEL_DIR {}", dir.display())?,
        ModelOrigin::Cache(dir) => writeln!(out, "models    from the cache {}", dir.display())?,
    }
    for spec in &manifest.model {
        match store.status(spec) {
            ModelStatus::Verified(model) => {
                let verified_line = format!(
                    "  ok    {:<28} {}  sha256 {} verified",
                    spec.name,
                    spec.file,
                    short(&model.sha256)
                );
                match runtime.as_ref().map(|runtime| runtime.open(&model)) {
                    None => writeln!(out, "{verified_line}")?,
                    Some(Ok(loaded)) => {
                        writeln!(out, "{verified_line}")?;
                        print_tensors(out, "in ", &loaded.inputs())?;
                        print_tensors(out, "out", &loaded.outputs())?;
                    }
                    Some(Err(err)) => {
                        problems += 1;
                        writeln!(out, "  FAIL  {:<28} {err} [{}]", spec.name, err.code())?;
                    }
                }
            }
            ModelStatus::Missing(err) | ModelStatus::Rejected(err) => {
                problems += 1;
                writeln!(out, "  FAIL  {:<28} {err} [{}]", spec.name, err.code())?;
            }
        }
    }

    writeln!(out, "database  {}", config.database.describe())?;
    match crate::keys::status(&config.keys) {
        Ok(said) => writeln!(out, "keys      {said}")?,
        Err(err) => {
            problems += 1;
            writeln!(out, "keys      FAIL  {err} [{}]", err.code())?;
        }
    }
    if problems == 0 {
        writeln!(out, "result    ok: runtime and all {} models verified", manifest.model.len())?;
    } else {
        writeln!(
            out,
            "result    {problems} problem(s); `facepay setup` fetches what is missing from the cache"
        )?;
    }
    Ok(problems == 0)
}

fn print_tensors(out: &mut dyn Write, direction: &str, tensors: &[TensorInfo]) -> io::Result<()> {
    for tensor in tensors {
        writeln!(out, "          {direction} {}: {}", tensor.name, tensor.value_type)?;
    }
    Ok(())
}

/// The first 12 hex digits: enough for a person to compare, short enough to read.
fn short(sha256: &str) -> &str {
    &sha256[..sha256.len().min(12)]
}
