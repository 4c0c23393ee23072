//! `facepay setup`: brings the pinned ONNX Runtime library and every model onto this machine,
//! each checked against its sha256 before it is kept. Idempotent: what is verified is reused.

use std::io::{self, Write};

use facepay_model_store::{Manifest, ModelStore, locate_runtime};

use crate::config::Config;

/// Prints what it did; true when the runtime and every model are in place and verified.
pub fn run(config: &Config, out: &mut dyn Write) -> io::Result<bool> {
    let manifest = Manifest::builtin();
    let mut healthy = true;
    writeln!(out, "facepay setup")?;
    match locate_runtime(&manifest) {
        Ok(library) => writeln!(out, "runtime   ok    {}", library.path.display())?,
        Err(err) => {
            healthy = false;
            writeln!(out, "runtime   FAIL  {err} [{}]", err.code())?;
        }
    }
    let store = ModelStore::from_env();
    for spec in &manifest.model {
        match store.verified(spec) {
            Ok(model) => writeln!(out, "  ok    {:<28} {}", spec.name, model.path.display())?,
            Err(err) => {
                healthy = false;
                writeln!(out, "  FAIL  {:<28} {err} [{}]", spec.name, err.code())?;
            }
        }
    }
    if let Err(err) = std::fs::create_dir_all(&config.data_dir) {
        healthy = false;
        writeln!(
            out,
            "data      FAIL  cannot create {}: {err} [data_dir_unwritable]",
            config.data_dir.display()
        )?;
    }
    Ok(healthy)
}
