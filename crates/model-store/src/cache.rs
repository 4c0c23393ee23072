//! The cache folder and the one way files enter it: written beside their final name, checked,
//! then renamed into place, so a crash or a concurrent fetch never leaves a half file behind.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// `FACEPAY_CACHE_DIR`, else `$XDG_CACHE_HOME/facepay`, else `$HOME/.cache/facepay`.
pub fn cache_dir() -> PathBuf {
    let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    from_env("FACEPAY_CACHE_DIR")
        .or_else(|| from_env("XDG_CACHE_HOME").map(|dir| dir.join("facepay")))
        .or_else(|| from_env("HOME").map(|home| home.join(".cache").join("facepay")))
        .unwrap_or_else(|| PathBuf::from(".facepay-cache"))
}

/// Writes `bytes` to `destination` atomically (temp file in the same folder, then rename).
/// `<pid>-<counter>`: no two scratch files or folders of any two fetches (other process, other
/// thread) ever share a name.
pub(crate) fn unique_suffix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

pub(crate) fn write_atomically(destination: &Path, bytes: &[u8]) -> io::Result<()> {
    let folder = destination.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(folder)?;
    let file_name = destination.file_name().and_then(|n| n.to_str()).unwrap_or("download");
    let partial = folder.join(format!(".{file_name}.{}.partial", unique_suffix()));
    fs::write(&partial, bytes)?;
    fs::rename(&partial, destination).inspect_err(|_| {
        let _ = fs::remove_file(&partial);
    })
}
