//! Finding the ONNX Runtime shared library that `ort` loads (`load-dynamic`): `ORT_DYLIB_PATH`
//! when the operator names one, else the pinned library in the cache, else the official
//! `onnxruntime` wheel fetched from PyPI with `pip download`, checked, and unpacked into the cache.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cache::{cache_dir, write_atomically};
use crate::digest::{sha256_bytes, sha256_file};
use crate::manifest::{Manifest, RuntimeSpec};

/// The library inside the wheel is ~20 MiB; this refuses a zip bomb without refusing growth.
const LIBRARY_BYTES_MAX: u64 = 512 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeOrigin {
    /// `ORT_DYLIB_PATH`: the operator's choice, used as given (its checksum is not pinned).
    Operator,
    /// The pinned library from the official wheel, verified against the manifest.
    PinnedWheel { version: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeLibrary {
    pub path: PathBuf,
    pub origin: RuntimeOrigin,
    /// sha256 of the file at `path`.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("ORT_DYLIB_PATH names {}, which does not exist", path.display())]
    OperatorPathMissing { path: PathBuf },
    #[error(
        "facepay pins no ONNX Runtime build for {target}; install onnxruntime {version} yourself \
         and set ORT_DYLIB_PATH to its libonnxruntime"
    )]
    UnsupportedTarget { target: String, version: String },
    #[error(
        "could not fetch {wheel} with pip ({reason}); install python3 with pip, or set \
         ORT_DYLIB_PATH to a libonnxruntime {version}"
    )]
    Pip { wheel: String, version: String, reason: String },
    #[error("{file} has sha256 {actual}, but the manifest pins {expected}; it will not be loaded")]
    ChecksumMismatch { file: String, expected: String, actual: String },
    #[error("{wheel} is not a usable wheel: {reason}")]
    BadWheel { wheel: String, reason: String },
    #[error("cannot read or write {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl RuntimeError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RuntimeError::OperatorPathMissing { .. } => "runtime_path_missing",
            RuntimeError::UnsupportedTarget { .. } => "runtime_unsupported_target",
            RuntimeError::Pip { .. } => "runtime_fetch_failed",
            RuntimeError::ChecksumMismatch { .. } => "runtime_checksum_mismatch",
            RuntimeError::BadWheel { .. } => "runtime_bad_wheel",
            RuntimeError::Io { .. } => "runtime_io",
        }
    }
}

/// Where the library is now, without fetching: `Ok(None)` means it would have to be fetched.
pub fn find_runtime(manifest: &Manifest) -> Result<Option<RuntimeLibrary>, RuntimeError> {
    if let Some(library) = operator_library()? {
        return Ok(Some(library));
    }
    let spec = pinned_spec(manifest)?;
    RuntimeCache::new(cache_dir().join("runtime")).cached(spec)
}

/// The library to load, fetching and verifying the pinned wheel on first use.
pub fn locate_runtime(manifest: &Manifest) -> Result<RuntimeLibrary, RuntimeError> {
    if let Some(library) = operator_library()? {
        return Ok(library);
    }
    let spec = pinned_spec(manifest)?;
    RuntimeCache::new(cache_dir().join("runtime")).ensure(spec, &PipDownloader)
}

fn operator_library() -> Result<Option<RuntimeLibrary>, RuntimeError> {
    let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()).map(PathBuf::from) else {
        return Ok(None);
    };
    match sha256_file(&path) {
        Ok(sha256) => Ok(Some(RuntimeLibrary { path, origin: RuntimeOrigin::Operator, sha256 })),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Err(RuntimeError::OperatorPathMissing { path }),
        Err(source) => Err(RuntimeError::Io { path, source }),
    }
}

fn pinned_spec(manifest: &Manifest) -> Result<&RuntimeSpec, RuntimeError> {
    manifest.runtime_for_this_target().ok_or_else(|| RuntimeError::UnsupportedTarget {
        target: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        version: manifest.runtime.first().map(|r| r.version.clone()).unwrap_or_default(),
    })
}

/// Brings the pinned wheel into a folder. A trait so tests can hand over a wheel they built.
trait WheelDownloader {
    fn download(&self, spec: &RuntimeSpec, into: &Path) -> Result<PathBuf, String>;
}

/// `python3 -m pip download` of exactly the pinned wheel, whatever Python this machine has.
#[derive(Debug)]
struct PipDownloader;

impl WheelDownloader for PipDownloader {
    fn download(&self, spec: &RuntimeSpec, into: &Path) -> Result<PathBuf, String> {
        let output = Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"])
            .args(["--python-version", &spec.python_version, "--platform", &spec.platform])
            .arg("--dest")
            .arg(into)
            .arg(format!("{}=={}", spec.package, spec.version))
            .output()
            .map_err(|e| format!("cannot run python3: {e}"))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last_line = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
            return Err(format!("pip exited with {}: {last_line}", output.status));
        }
        Ok(into.join(&spec.wheel))
    }
}

/// `<cache>/runtime/<version>/<library file name>`, written only after both checksums matched.
#[derive(Debug)]
struct RuntimeCache {
    root: PathBuf,
}

impl RuntimeCache {
    fn new(root: PathBuf) -> RuntimeCache {
        RuntimeCache { root }
    }

    fn library_path(&self, spec: &RuntimeSpec) -> PathBuf {
        let file_name = Path::new(&spec.library).file_name().unwrap_or_default();
        self.root.join(&spec.version).join(file_name)
    }

    fn cached(&self, spec: &RuntimeSpec) -> Result<Option<RuntimeLibrary>, RuntimeError> {
        let path = self.library_path(spec);
        match sha256_file(&path) {
            Ok(sha256) if sha256 == spec.library_sha256 => Ok(Some(RuntimeLibrary {
                path,
                origin: RuntimeOrigin::PinnedWheel { version: spec.version.clone() },
                sha256,
            })),
            // A damaged or foreign file is treated as absent: `ensure` replaces it.
            Ok(_) => Ok(None),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RuntimeError::Io { path, source }),
        }
    }

    fn ensure(
        &self,
        spec: &RuntimeSpec,
        downloader: &dyn WheelDownloader,
    ) -> Result<RuntimeLibrary, RuntimeError> {
        if let Some(library) = self.cached(spec)? {
            return Ok(library);
        }
        std::fs::create_dir_all(&self.root)
            .map_err(|source| RuntimeError::Io { path: self.root.clone(), source })?;
        let download_dir = tempfile_dir(&self.root)?;
        let wheel_path = downloader.download(spec, download_dir.path()).map_err(|reason| {
            RuntimeError::Pip { wheel: spec.wheel.clone(), version: spec.version.clone(), reason }
        })?;
        let wheel_bytes = std::fs::read(&wheel_path)
            .map_err(|source| RuntimeError::Io { path: wheel_path.clone(), source })?;
        check(&spec.wheel, &spec.wheel_sha256, sha256_bytes(&wheel_bytes))?;
        let library_bytes = extract_zip_member(&wheel_bytes, &spec.library)
            .map_err(|reason| RuntimeError::BadWheel { wheel: spec.wheel.clone(), reason })?;
        check(&spec.library, &spec.library_sha256, sha256_bytes(&library_bytes))?;
        let path = self.library_path(spec);
        write_atomically(&path, &library_bytes)
            .map_err(|source| RuntimeError::Io { path: path.clone(), source })?;
        Ok(RuntimeLibrary {
            path,
            origin: RuntimeOrigin::PinnedWheel { version: spec.version.clone() },
            sha256: spec.library_sha256.clone(),
        })
    }
}

fn check(file: &str, expected: &str, actual: String) -> Result<(), RuntimeError> {
    if actual == expected {
        Ok(())
    } else {
        Err(RuntimeError::ChecksumMismatch { file: file.to_owned(), expected: expected.to_owned(), actual })
    }
}

/// A scratch folder beside the cache (same file system, removed on drop).
fn tempfile_dir(parent: &Path) -> Result<TempDir, RuntimeError> {
    TempDir::new_in(parent).map_err(|source| RuntimeError::Io { path: parent.to_owned(), source })
}

/// A minimal scratch folder so this crate needs no `tempfile` at run time.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new_in(parent: &Path) -> io::Result<TempDir> {
        std::fs::create_dir_all(parent)?;
        let path = parent.join(format!(".download-{}", crate::cache::unique_suffix()));
        std::fs::create_dir(&path)?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn extract_zip_member(zip_bytes: &[u8], member: &str) -> Result<Vec<u8>, String> {
    let mut archive =
        zip::ZipArchive::new(io::Cursor::new(zip_bytes)).map_err(|e| format!("not a zip archive: {e}"))?;
    let entry = archive.by_name(member).map_err(|e| format!("no member {member:?}: {e}"))?;
    let mut bytes = Vec::new();
    entry
        .take(LIBRARY_BYTES_MAX)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("corrupt member {member:?}: {e}"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io::Write;

    use super::*;

    #[test]
    fn two_scratch_folders_of_one_process_never_share_a_path() {
        let parent = tempfile::tempdir().unwrap();
        let (a, b) = (TempDir::new_in(parent.path()).unwrap(), TempDir::new_in(parent.path()).unwrap());
        assert_ne!(a.path(), b.path());
        std::fs::write(a.path().join("wheel"), b"a").unwrap();
        drop(b);
        assert!(a.path().join("wheel").exists(), "dropping one folder leaves the other alone");
    }

    fn make_wheel(member: &str, bytes: &[u8]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let options =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        writer.start_file("onnxruntime/__init__.py", options).unwrap();
        writer.write_all(b"# python side").unwrap();
        writer.start_file(member, options).unwrap();
        writer.write_all(bytes).unwrap();
        writer.finish().unwrap().into_inner()
    }

    fn spec_for(wheel: &[u8], library: &[u8]) -> RuntimeSpec {
        RuntimeSpec {
            target: "x86_64-linux".into(),
            package: "onnxruntime".into(),
            version: "9.9.9".into(),
            python_version: "3.11".into(),
            platform: "manylinux_2_28_x86_64".into(),
            wheel: "onnxruntime-9.9.9-test.whl".into(),
            wheel_sha256: sha256_bytes(wheel),
            library: "onnxruntime/capi/libonnxruntime.so.9.9.9".into(),
            library_sha256: sha256_bytes(library),
            license: "MIT".into(),
        }
    }

    /// Writes a prepared wheel where pip would, counting how often it was asked.
    struct FakePip {
        wheel: Vec<u8>,
        calls: Cell<usize>,
    }

    impl WheelDownloader for FakePip {
        fn download(&self, spec: &RuntimeSpec, into: &Path) -> Result<PathBuf, String> {
            self.calls.set(self.calls.get() + 1);
            let path = into.join(&spec.wheel);
            std::fs::write(&path, &self.wheel).unwrap();
            Ok(path)
        }
    }

    #[test]
    fn the_pinned_library_is_unpacked_verified_and_then_reused() {
        let library = b"\x7fELF pretend shared library".to_vec();
        let wheel = make_wheel("onnxruntime/capi/libonnxruntime.so.9.9.9", &library);
        let spec = spec_for(&wheel, &library);
        let cache = tempfile::tempdir().unwrap();
        let store = RuntimeCache::new(cache.path().to_owned());
        let pip = FakePip { wheel, calls: Cell::new(0) };

        assert_eq!(store.cached(&spec).unwrap(), None);
        let found = store.ensure(&spec, &pip).unwrap();
        assert_eq!(std::fs::read(&found.path).unwrap(), library);
        assert_eq!(found.path, cache.path().join("9.9.9").join("libonnxruntime.so.9.9.9"));
        assert_eq!(found.origin, RuntimeOrigin::PinnedWheel { version: "9.9.9".into() });

        assert_eq!(store.ensure(&spec, &pip).unwrap(), found);
        assert_eq!(pip.calls.get(), 1, "the second call must use the cache");
        // Only the library remains; the scratch download folder is gone.
        let left: Vec<_> = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["9.9.9"]);
    }

    #[test]
    fn a_wheel_with_the_wrong_checksum_is_refused_and_nothing_is_cached() {
        let library = b"library".to_vec();
        let genuine = make_wheel("onnxruntime/capi/libonnxruntime.so.9.9.9", &library);
        let spec = spec_for(&genuine, &library);
        let tampered = make_wheel("onnxruntime/capi/libonnxruntime.so.9.9.9", b"evil library");
        let cache = tempfile::tempdir().unwrap();
        let store = RuntimeCache::new(cache.path().to_owned());

        let err = store.ensure(&spec, &FakePip { wheel: tampered, calls: Cell::new(0) }).unwrap_err();
        assert_eq!(err.code(), "runtime_checksum_mismatch");
        assert!(err.to_string().contains("onnxruntime-9.9.9-test.whl"), "{err}");
        assert_eq!(store.cached(&spec).unwrap(), None);
    }

    #[test]
    fn a_library_that_differs_from_the_pin_is_refused_even_in_a_pinned_wheel() {
        let wheel = make_wheel("onnxruntime/capi/libonnxruntime.so.9.9.9", b"unexpected build");
        let mut spec = spec_for(&wheel, b"expected build");
        spec.wheel_sha256 = sha256_bytes(&wheel);
        let cache = tempfile::tempdir().unwrap();
        let err = RuntimeCache::new(cache.path().to_owned())
            .ensure(&spec, &FakePip { wheel, calls: Cell::new(0) })
            .unwrap_err();
        assert_eq!(err.code(), "runtime_checksum_mismatch");
        assert!(err.to_string().contains("libonnxruntime.so.9.9.9"), "{err}");
    }

    #[test]
    fn a_wheel_without_the_library_or_not_a_zip_is_a_clear_error() {
        let wheel = make_wheel("onnxruntime/capi/other.so", b"x");
        let spec = spec_for(&wheel, b"x");
        let cache = tempfile::tempdir().unwrap();
        let store = RuntimeCache::new(cache.path().to_owned());
        let err = store.ensure(&spec, &FakePip { wheel, calls: Cell::new(0) }).unwrap_err();
        assert_eq!(err.code(), "runtime_bad_wheel");

        let garbage = b"not a zip at all".to_vec();
        let spec = spec_for(&garbage, b"x");
        let err = store.ensure(&spec, &FakePip { wheel: garbage, calls: Cell::new(0) }).unwrap_err();
        assert_eq!(err.code(), "runtime_bad_wheel");
    }

    #[test]
    fn a_damaged_cached_library_is_fetched_again() {
        let library = b"library".to_vec();
        let wheel = make_wheel("onnxruntime/capi/libonnxruntime.so.9.9.9", &library);
        let spec = spec_for(&wheel, &library);
        let cache = tempfile::tempdir().unwrap();
        let store = RuntimeCache::new(cache.path().to_owned());
        std::fs::create_dir_all(cache.path().join("9.9.9")).unwrap();
        std::fs::write(store.library_path(&spec), b"truncated").unwrap();
        let pip = FakePip { wheel, calls: Cell::new(0) };
        assert_eq!(std::fs::read(store.ensure(&spec, &pip).unwrap().path).unwrap(), library);
        assert_eq!(pip.calls.get(), 1);
    }

    #[test]
    fn a_pip_failure_says_how_to_proceed() {
        struct FailingPip;
        impl WheelDownloader for FailingPip {
            fn download(&self, _: &RuntimeSpec, _: &Path) -> Result<PathBuf, String> {
                Err("No matching distribution found".into())
            }
        }
        let spec = spec_for(b"w", b"l");
        let cache = tempfile::tempdir().unwrap();
        let err = RuntimeCache::new(cache.path().to_owned()).ensure(&spec, &FailingPip).unwrap_err();
        assert_eq!(err.code(), "runtime_fetch_failed");
        let message = err.to_string();
        assert!(
            message.contains("ORT_DYLIB_PATH") && message.contains("No matching distribution"),
            "{message}"
        );
    }
}
