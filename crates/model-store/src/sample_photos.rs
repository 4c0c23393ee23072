//! The demo's photos on a machine without a dataset: the test photos inside the face_recognition
//! source package on PyPI (MIT), fetched with `pip download`, checked against the sdist's pinned
//! sha256 and unpacked into `<cache>/sample-photos/<version>/Name/Name_NNNN.jpg`, the layout the
//! demo reads. Three photos of one person (one to enroll, two to pay with) and one of another
//! (the stranger).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cache::{unique_suffix, write_atomically};
use crate::digest::sha256_bytes;
use crate::fetch::extract_tgz_member;

const PACKAGE: &str = "face_recognition";
const VERSION: &str = "1.3.0";
const SDIST: &str = "face_recognition-1.3.0.tar.gz";
const SDIST_SHA256: &str = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec";
/// Member of the sdist, and where it goes in the demo's layout.
const PHOTOS: [(&str, &str); 4] = [
    ("face_recognition-1.3.0/tests/test_images/obama.jpg", "Barack_Obama/Barack_Obama_0001.jpg"),
    ("face_recognition-1.3.0/tests/test_images/obama2.jpg", "Barack_Obama/Barack_Obama_0002.jpg"),
    ("face_recognition-1.3.0/tests/test_images/obama3.jpg", "Barack_Obama/Barack_Obama_0003.jpg"),
    ("face_recognition-1.3.0/tests/test_images/biden.jpg", "Joe_Biden/Joe_Biden_0001.jpg"),
];

#[derive(Debug, thiserror::Error)]
pub enum SamplePhotosError {
    #[error(
        "could not fetch {SDIST} with pip ({0}); install python3 with pip, or give the demo --photos DIR"
    )]
    Pip(String),
    #[error("{SDIST} has sha256 {actual}, expected {SDIST_SHA256}")]
    ChecksumMismatch { actual: String },
    #[error("{SDIST} is not the expected package: {0}")]
    BadPackage(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl SamplePhotosError {
    pub fn code(&self) -> &'static str {
        match self {
            SamplePhotosError::Pip(_) => "sample_photos_fetch_failed",
            SamplePhotosError::ChecksumMismatch { .. } => "sample_photos_checksum_mismatch",
            SamplePhotosError::BadPackage(_) => "sample_photos_bad_package",
            SamplePhotosError::Io { .. } => "sample_photos_io",
        }
    }
}

/// The folder of sample photos in the cache, fetched and unpacked first if it is not there.
pub fn sample_photos() -> Result<PathBuf, SamplePhotosError> {
    ensure(&crate::cache_dir().join("sample-photos").join(VERSION), &pip_download)
}

/// `python3 -m pip download` of exactly the pinned sdist into `into`; its path.
fn pip_download(into: &Path) -> Result<PathBuf, String> {
    let output = Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "--no-binary=:all:", "--dest"])
        .arg(into)
        .arg(format!("{PACKAGE}=={VERSION}"))
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last_line = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
        return Err(format!("pip exited with {}: {last_line}", output.status));
    }
    Ok(into.join(SDIST))
}

fn ensure(
    folder: &Path,
    download: &dyn Fn(&Path) -> Result<PathBuf, String>,
) -> Result<PathBuf, SamplePhotosError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SamplePhotosError::Io { path, source }
    };
    // The last photo is written last: when it is there, all are.
    if folder.join(PHOTOS[PHOTOS.len() - 1].1).is_file() {
        return Ok(folder.to_owned());
    }
    let scratch = folder.with_file_name(format!(".download-{}", unique_suffix()));
    std::fs::create_dir_all(&scratch).map_err(io(&scratch))?;
    let fetched = download(&scratch).map_err(SamplePhotosError::Pip);
    let sdist = fetched.and_then(|path| std::fs::read(&path).map_err(io(&path)));
    let _ = std::fs::remove_dir_all(&scratch);
    let sdist = sdist?;
    let actual = sha256_bytes(&sdist);
    if actual != SDIST_SHA256 {
        return Err(SamplePhotosError::ChecksumMismatch { actual });
    }
    for (member, name) in PHOTOS {
        let photo = extract_tgz_member(&sdist, member).map_err(SamplePhotosError::BadPackage)?;
        let path = folder.join(name);
        std::fs::create_dir_all(path.parent().expect("a photo sits in a person's folder"))
            .map_err(io(&path))?;
        write_atomically(&path, &photo).map_err(io(&path))?;
    }
    Ok(folder.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::tests::make_tgz;

    #[test]
    fn a_package_that_is_not_the_pinned_one_is_refused_and_nothing_is_unpacked() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("photos");
        let forged = make_tgz(&[(PHOTOS[0].0, b"not obama")]);
        let download = |into: &Path| {
            std::fs::write(into.join(SDIST), &forged).unwrap();
            Ok(into.join(SDIST))
        };
        let err = ensure(&folder, &download).unwrap_err();
        assert_eq!(err.code(), "sample_photos_checksum_mismatch");
        assert!(!folder.join(PHOTOS[0].1).exists());
        let failed = ensure(&folder, &|_: &Path| Err("offline".into())).unwrap_err();
        assert_eq!(failed.code(), "sample_photos_fetch_failed");
        assert!(std::fs::read_dir(dir.path()).unwrap().count() == 0, "no scratch folder is left behind");
    }

    #[test]
    fn photos_already_unpacked_are_used_without_fetching() {
        let dir = tempfile::tempdir().unwrap();
        for (_, name) in PHOTOS {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"jpeg").unwrap();
        }
        let found = ensure(dir.path(), &|_: &Path| panic!("must not fetch")).unwrap();
        assert_eq!(found, dir.path());
    }
}
