//! `facepay doctor` run as an operator runs it: the real binary, the real runtime and models
//! (from `FACEPAY_MODEL_DIR` or the cache that `facepay setup` filled), and damaged copies.

use std::path::Path;
use std::process::{Command, Output};

use facepay_model_store::{Manifest, ModelStore};

fn facepay(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_facepay"));
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A private copy of the model folder this machine uses, so a test can damage it.
fn copy_of_the_models() -> tempfile::TempDir {
    let source = ModelStore::from_env();
    let copy = tempfile::tempdir().unwrap();
    for spec in &Manifest::builtin().model {
        std::fs::copy(source.origin().folder().join(&spec.file), copy.path().join(&spec.file)).unwrap();
    }
    copy
}

#[test]
fn doctor_reports_the_runtime_and_every_model_verified_and_loaded() {
    let output = facepay(&["doctor"], &[]);
    let report = stdout(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("runtime   ok    ONNX Runtime"), "{report}");
    for spec in &Manifest::builtin().model {
        let line = report.lines().find(|l| l.contains(&spec.name)).unwrap_or_else(|| panic!("{report}"));
        assert!(line.starts_with("  ok") && line.contains("verified"), "{line}");
    }
    // Each model was opened in ONNX Runtime, which reported its real input.
    assert!(report.contains("in  input0: Tensor<f32>(1, 3, 112, 112)"), "{report}");
    assert!(report.contains("database  "), "{report}");
}

#[test]
fn a_corrupt_model_fails_doctor_and_is_named() {
    let models = copy_of_the_models();
    let victim = models.path().join("mobilefacenet_128.onnx");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[1000] ^= 0x01;
    std::fs::write(&victim, bytes).unwrap();

    let output = facepay(&["doctor"], &[("FACEPAY_MODEL_DIR", models.path())]);
    let report = stdout(&output);
    assert!(!output.status.success(), "{report}");
    let failures: Vec<&str> = report.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(failures.len(), 1, "{report}");
    assert!(
        failures[0].contains("mobilefacenet_128.onnx") && failures[0].contains("[model_checksum_mismatch]")
    );
}

#[test]
fn a_missing_model_fails_doctor_and_is_named() {
    let models = copy_of_the_models();
    std::fs::remove_file(models.path().join("faceplugin_fr_liveness.onnx")).unwrap();
    let output = facepay(&["doctor"], &[("FACEPAY_MODEL_DIR", models.path())]);
    let report = stdout(&output);
    assert!(!output.status.success(), "{report}");
    let failure = report.lines().find(|l| l.contains("FAIL")).unwrap();
    assert!(
        failure.contains("faceplugin_fr_liveness.onnx") && failure.contains("[model_missing]"),
        "{failure}"
    );
}

#[test]
fn a_runtime_path_that_does_not_exist_fails_doctor_clearly() {
    let output = facepay(&["doctor"], &[("ORT_DYLIB_PATH", Path::new("/nonexistent/libonnxruntime.so"))]);
    let report = stdout(&output);
    assert!(!output.status.success(), "{report}");
    assert!(report.contains("/nonexistent/libonnxruntime.so") && report.contains("[runtime_path_missing]"));
}

#[test]
fn a_file_that_is_not_a_runtime_fails_doctor_clearly() {
    let folder = tempfile::tempdir().unwrap();
    let fake = folder.path().join("libonnxruntime.so");
    std::fs::write(&fake, b"not a shared library").unwrap();
    let output = facepay(&["doctor"], &[("ORT_DYLIB_PATH", &fake)]);
    let report = stdout(&output);
    assert!(!output.status.success(), "{report}");
    assert!(report.contains("[onnx_runtime_load_failed]"), "{report}");
}

#[test]
fn an_unsupported_database_url_is_refused_with_its_code() {
    let output = facepay(&["doctor"], &[("FACEPAY_DATABASE_URL", Path::new("mysql://root:hunter2@db/x"))]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("[config_database_unsupported]") && !stderr.contains("hunter2"), "{stderr}");
}
