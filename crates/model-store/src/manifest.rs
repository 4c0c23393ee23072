//! The manifest: a typed view of `manifest.toml`, compiled into the binary so that the pinned
//! checksums travel with the code that trusts them.

use serde::Deserialize;

const BUILTIN_MANIFEST: &str = include_str!("../manifest.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub runtime: Vec<RuntimeSpec>,
    pub model: Vec<ModelSpec>,
}

/// The pinned ONNX Runtime build for one target: a wheel on PyPI and the library inside it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSpec {
    /// `<arch>-<os>`, as in `std::env::consts` (`x86_64-linux`).
    pub target: String,
    pub package: String,
    pub version: String,
    pub python_version: String,
    pub platform: String,
    pub wheel: String,
    pub wheel_sha256: String,
    /// Path of the shared library inside the wheel.
    pub library: String,
    pub library_sha256: String,
    pub license: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelRole {
    Detector,
    Recognizer,
    Liveness,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The name configuration uses (`mobilefacenet_128`); templates record it with `version`.
    pub name: String,
    pub role: ModelRole,
    /// The file name in the cache or in `FACEPAY_MODEL_DIR`.
    pub file: String,
    pub version: String,
    pub sha256: String,
    pub license: String,
    pub source: Source,
    pub input: InputSpec,
    /// What the outputs mean, for the engineer wiring the model.
    pub output: String,
}

/// Where upstream keeps a file: a URL, or a member of a `.tgz` at a URL (an npm package).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub url: String,
    #[serde(default)]
    pub member: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Channels {
    #[serde(rename = "RGB")]
    Rgb,
    #[serde(rename = "BGR")]
    Bgr,
}

/// What the model expects as input: NCHW shape (-1 = any size), channel order, and the per
/// channel normalisation `(pixel_0_255 - mean) / std`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub shape: Vec<i64>,
    pub channels: Channels,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// For liveness crops: the detector box scaled by this factor around its centre.
    #[serde(default)]
    pub crop_scale: Option<f32>,
    /// For recognizers: the face alignment the model was trained with.
    #[serde(default)]
    pub alignment: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("model manifest is not valid: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("model manifest is not valid: {0}")]
    Invalid(String),
}

impl Manifest {
    /// The manifest compiled into this build.
    pub fn builtin() -> Manifest {
        Self::parse(BUILTIN_MANIFEST).expect("the built-in manifest is checked by the test suite")
    }

    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text)?;
        manifest.validate()?;
        Ok(manifest)
    }

    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.model.iter().find(|m| m.name == name)
    }

    /// The runtime pinned for the machine this runs on, if any.
    pub fn runtime_for_this_target(&self) -> Option<&RuntimeSpec> {
        let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
        self.runtime.iter().find(|r| r.target == target)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let invalid = |message: String| Err(ManifestError::Invalid(message));
        let mut names = std::collections::HashSet::new();
        let mut files = std::collections::HashSet::new();
        for model in &self.model {
            if !names.insert(&model.name) {
                return invalid(format!("model name {:?} appears twice", model.name));
            }
            if !files.insert(&model.file) {
                return invalid(format!("model file {:?} appears twice", model.file));
            }
            if model.file.contains(['/', '\\']) || model.file.starts_with('.') {
                return invalid(format!("model file {:?} must be a plain file name", model.file));
            }
            if !is_sha256_hex(&model.sha256) {
                return invalid(format!("{}: sha256 must be 64 lower-case hex digits", model.name));
            }
            if !model.source.url.starts_with("https://") {
                return invalid(format!("{}: upstream must be an https URL", model.name));
            }
            if model.input.std.contains(&0.0) {
                return invalid(format!("{}: a std of 0 would divide by zero", model.name));
            }
        }
        for runtime in &self.runtime {
            if !is_sha256_hex(&runtime.wheel_sha256) || !is_sha256_hex(&runtime.library_sha256) {
                return invalid(format!("runtime {}: checksums must be sha256 hex", runtime.target));
            }
        }
        Ok(())
    }
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses_and_covers_every_role() {
        let manifest = Manifest::builtin();
        for role in [ModelRole::Detector, ModelRole::Recognizer, ModelRole::Liveness] {
            assert!(manifest.model.iter().any(|m| m.role == role), "{role:?}");
        }
        // Both recognizers the biometric engine must support are present.
        assert_eq!(manifest.model("mobilefacenet_128").unwrap().input.shape, [1, 3, 112, 112]);
        assert_eq!(manifest.model("faceplugin_fr_feature_512").unwrap().input.mean, [127.5; 3]);
        assert!(manifest.runtime.iter().any(|r| r.target == "x86_64-linux" && r.version == "1.31.1"));
    }

    #[test]
    fn invalid_manifests_are_refused_with_the_reason() {
        let good = Manifest::builtin();
        let text = include_str!("../manifest.toml");

        let bad_checksum = text.replacen(&good.model[0].sha256, "not-a-checksum", 1);
        let err = Manifest::parse(&bad_checksum).unwrap_err().to_string();
        assert!(err.contains("sha256"), "{err}");

        let path_as_name =
            text.replacen("file = \"mobilefacenet_128.onnx\"", "file = \"../mobilefacenet_128.onnx\"", 1);
        let err = Manifest::parse(&path_as_name).unwrap_err().to_string();
        assert!(err.contains("plain file name"), "{err}");

        let unknown_key = text.replacen("[[model]]", "[[model]]\ncolour = \"blue\"", 1);
        assert!(matches!(Manifest::parse(&unknown_key), Err(ManifestError::Parse(_))));

        let plain_http = text.replacen("https://github.com/foamliu", "http://github.com/foamliu", 1);
        let err = Manifest::parse(&plain_http).unwrap_err().to_string();
        assert!(err.contains("https"), "{err}");
    }
}
