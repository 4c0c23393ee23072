//! `facepay keys`: the operator's key file. `init` writes a new one; `rotate` puts a fresh
//! master key first in the file and re-wraps every shopper's data key under it while nodes keep
//! serving (a node re-reads the file when it meets the new key); `retire` re-wraps whatever was
//! enrolled under the old key meanwhile and drops the old master keys from the file.

use std::io::Write;
use std::path::Path;

use facepay_domain::Secret;
use facepay_store_postgres::PostgresBiometricStore;
use facepay_store_sqlite::SqliteBiometricStore;
use facepay_vault::{BiometricStore, KeyKind, Keyring, Vault, VaultError, rewrap_all};

use crate::POSTGRES_SCHEMA;
use crate::config::{Config, Database, KeyLocation};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no key file at {0} (run `facepay keys init`)")]
    Missing(String),
    #[error("a key file already exists at {0}; it is never overwritten")]
    Exists(String),
    #[error("the keys come from FACEPAY_KEYS; rotation writes a key file, so set FACEPAY_KEY_FILE instead")]
    InEnvironment,
    #[error("the key file {path} can be read by others (mode {mode:o}); run chmod 600 on it")]
    Exposed { path: String, mode: u32 },
    #[error("{0}")]
    Io(String),
    #[error("the database: {0}")]
    Store(String),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl KeyError {
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::Missing(_) => "keys_file_missing",
            KeyError::Exists(_) => "keys_file_exists",
            KeyError::InEnvironment => "keys_in_environment",
            KeyError::Exposed { .. } => "keys_file_exposed",
            KeyError::Io(_) => "keys_file_unwritable",
            KeyError::Store(_) => "store_unavailable",
            KeyError::Vault(err) => err.code(),
        }
    }
}

/// The operator's keys, from where the configuration says.
pub fn load(location: &KeyLocation) -> Result<Keyring, KeyError> {
    let text = match location {
        KeyLocation::Environment => Secret::new(std::env::var("FACEPAY_KEYS").unwrap_or_default()),
        KeyLocation::File(path) => Secret::new(
            std::fs::read_to_string(path).map_err(|_| KeyError::Missing(path.display().to_string()))?,
        ),
    };
    Ok(Keyring::parse(text.expose_secret())?)
}

/// What `facepay doctor` says about the keys: where they are and which master key is current.
/// No key file yet is fine (nobody is enrolled); one others can read, or one that does not
/// parse, is a problem.
pub fn status(location: &KeyLocation) -> Result<String, KeyError> {
    use std::os::unix::fs::PermissionsExt;
    if let KeyLocation::File(path) = location {
        if !path.exists() {
            return Ok(format!("no key file yet at {} (`facepay keys init` writes one)", path.display()));
        }
        let mode = std::fs::metadata(path).map_err(|err| KeyError::Io(err.to_string()))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(KeyError::Exposed { path: path.display().to_string(), mode: mode & 0o777 });
        }
    }
    let keyring = load(location)?;
    let source = match location {
        KeyLocation::File(path) => format!("file {}", path.display()),
        KeyLocation::Environment => "from FACEPAY_KEYS".to_owned(),
    };
    let retired: Vec<&str> = keyring.retired_ids().collect();
    let current = format!("{source}: master key {} current", keyring.current_id());
    if retired.is_empty() {
        Ok(current)
    } else {
        Ok(format!("{current}, {retired:?} retired but kept (finish with `facepay keys retire`)"))
    }
}

/// `facepay keys init`: a new key file with fresh random keys.
pub fn init(config: &Config) -> Result<String, KeyError> {
    let path = key_file(config)?;
    if path.exists() {
        return Err(KeyError::Exists(path.display().to_string()));
    }
    write_key_file(path, &Keyring::generate(&new_master_id(&[]))?)?;
    Ok(format!("wrote a new key file at {} (mode 0600); back it up apart from the database", path.display()))
}

/// `facepay keys rotate`: the new master key goes into the file first, so that a node re-reading
/// the file can open what is then wrapped under it.
pub fn rotate(config: &Config) -> Result<String, KeyError> {
    let path = key_file(config)?;
    let old = load(&config.keys)?;
    let taken: Vec<&str> = std::iter::once(old.current_id()).chain(old.retired_ids()).collect();
    let rotated = old.rotated(&new_master_id(&taken))?;
    write_key_file(path, &rotated)?;
    let vault = Vault::new(Keyring::parse(rotated.expose_secret())?);
    let done = rewrap_all(&vault, open_biometric_store(config)?.as_mut())?;
    Ok(format!(
        "master key {} is current; re-wrapped {} data keys under it ({} changed meanwhile and were read again). \
         Once every node has the new file, run `facepay keys retire`.",
        vault.keyring().current_id(),
        done.rewrapped,
        done.changed_meanwhile,
    ))
}

/// `facepay keys retire`: nothing may be left under an old master key when it leaves the file.
pub fn retire(config: &Config) -> Result<String, KeyError> {
    let path = key_file(config)?;
    let vault = Vault::new(load(&config.keys)?);
    let retired: Vec<String> = vault.keyring().retired_ids().map(str::to_owned).collect();
    let mut store = open_biometric_store(config)?;
    let done = rewrap_all(&vault, store.as_mut())?;
    for kind in [KeyKind::Face, KeyKind::Personal] {
        if !store.keys_not_under(kind, vault.keyring().current_id(), None, 1)?.is_empty() {
            return Err(KeyError::Store("a key is still under an old master key; run retire again".into()));
        }
    }
    write_key_file(path, &vault.keyring().retired_dropped())?;
    Ok(format!(
        "re-wrapped {} late data keys; dropped master keys {retired:?}; {} is the only one",
        done.rewrapped,
        vault.keyring().current_id()
    ))
}

fn key_file(config: &Config) -> Result<&Path, KeyError> {
    match &config.keys {
        KeyLocation::File(path) => Ok(path),
        KeyLocation::Environment => Err(KeyError::InEnvironment),
    }
}

/// The configured database's biometric store.
fn open_biometric_store(config: &Config) -> Result<Box<dyn BiometricStore>, KeyError> {
    let store: Box<dyn BiometricStore> = match &config.database {
        Database::Sqlite { path } => {
            Box::new(SqliteBiometricStore::open(path).map_err(|e| KeyError::Store(e.to_string()))?)
        }
        Database::Postgres { url } => Box::new(
            PostgresBiometricStore::connect(url, POSTGRES_SCHEMA)
                .map_err(|e| KeyError::Store(e.to_string()))?,
        ),
    };
    Ok(store)
}

/// A master key id not in `taken`: `k` and the time in seconds, then `-2`, `-3`... within one
/// second.
fn new_master_id(taken: &[&str]) -> String {
    let seconds =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let base = format!("k{seconds}");
    std::iter::once(base.clone())
        .chain((2..).map(|n| format!("{base}-{n}")))
        .find(|id| !taken.contains(&id.as_str()))
        .expect("an endless list has a free id")
}

/// Replaces `path` in one rename, with a file only its owner can read, fsynced before and after.
fn write_key_file(path: &Path, text: &Secret<String>) -> Result<(), KeyError> {
    let io =
        |err: std::io::Error| KeyError::Io(format!("cannot write the key file {}: {err}", path.display()));
    let folder = path.parent().filter(|f| !f.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(io)?;
    // tempfile creates it with mode 0600.
    let mut file = tempfile::NamedTempFile::new_in(folder).map_err(io)?;
    file.write_all(text.expose_secret().as_bytes()).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    file.persist(path).map_err(|err| io(err.error))?;
    std::fs::File::open(folder).and_then(|f| f.sync_all()).map_err(io)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use facepay_domain::{FaceTemplate, RecognizerTag, ShopperId};
    use facepay_face_index::FaceIndex;
    use facepay_gallery::Gallery;

    use super::*;

    fn config(dir: &Path) -> Config {
        Config {
            data_dir: dir.to_owned(),
            database: Database::Sqlite { path: dir.join("facepay.sqlite3") },
            keys: KeyLocation::File(dir.join("facepay.keys")),
            settlement: crate::config::Settlement { cutoff_minutes: 0, dir: dir.join("settlement") },
        }
    }

    fn gallery(config: &Config) -> Gallery<SqliteBiometricStore> {
        let Database::Sqlite { path } = &config.database else { unreachable!("SQLite here") };
        let store = SqliteBiometricStore::open(path).unwrap();
        let index = FaceIndex::new(RecognizerTag { name: "t".into(), version: "1".into() }, 8);
        let location = config.keys.clone();
        let reload = Box::new(move || match load(&location) {
            Err(KeyError::Vault(err)) => Err(err),
            Err(other) => Err(VaultError::KeyFileMalformed(other.to_string())),
            Ok(keys) => Ok(keys),
        });
        Gallery::open(load(&config.keys).unwrap(), reload, store, index).unwrap().0
    }

    fn face(n: u32) -> FaceTemplate {
        let tag = RecognizerTag { name: "t".into(), version: "1".into() };
        FaceTemplate::new(tag, (0..8).map(|i| ((i * 7 + n) as f32).sin()).collect()).unwrap()
    }

    fn masters(config: &Config) -> usize {
        let KeyLocation::File(path) = &config.keys else { unreachable!("a file here") };
        std::fs::read_to_string(path).unwrap().lines().filter(|l| l.starts_with("master ")).count()
    }

    #[test]
    fn init_rotate_and_retire_keep_every_face_readable() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        init(&config).unwrap();
        assert_eq!(init(&config).unwrap_err().code(), "keys_file_exists", "never overwritten");
        let mode = std::fs::metadata(dir.path().join("facepay.keys")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let mut node = gallery(&config);
        for n in 0..30 {
            node.enroll(ShopperId::from_u128(u128::from(n)), "0000", face(n), &[], None).unwrap();
        }

        let first = load(&config.keys).unwrap().current_id().to_owned();
        // Likely within the same second as `init`; the new id differs all the same.
        let said = rotate(&config).unwrap();
        assert!(said.contains("re-wrapped 30 data keys"), "{said}");
        assert_ne!(load(&config.keys).unwrap().current_id(), first);
        assert_eq!(masters(&config), 2, "the old master stays until retired");
        // A node started before the rotation enrolls under the old key meanwhile.
        node.enroll(ShopperId::from_u128(99), "0000", face(99), &[], None).unwrap();
        let said = retire(&config).unwrap();
        assert!(
            said.contains("re-wrapped 1 late data keys") && said.contains(&format!("{first:?}")),
            "{said}"
        );
        assert_eq!(masters(&config), 1);

        let after = gallery(&config);
        assert_eq!(after.len(), 31, "every face opens with only the new master key");
    }

    #[test]
    fn the_doctor_line_accepts_no_file_and_refuses_one_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        assert!(status(&config.keys).unwrap().starts_with("no key file yet at"));
        init(&config).unwrap();
        let said = status(&config.keys).unwrap();
        assert!(said.contains("current") && !said.contains("retired"), "{said}");
        let path = dir.path().join("facepay.keys");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = status(&config.keys).unwrap_err();
        assert_eq!(err.code(), "keys_file_exposed");
        assert!(err.to_string().contains("644"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "master k1 00").unwrap();
        assert_eq!(status(&config.keys).unwrap_err().code(), "vault_key_file_malformed");
    }

    #[test]
    fn keys_from_the_environment_cannot_be_rotated_and_a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path());
        let err = rotate(&config).unwrap_err();
        assert_eq!(err.code(), "keys_file_missing");
        assert!(err.to_string().contains("facepay.keys"), "{err}");
        config.keys = KeyLocation::Environment;
        assert_eq!(rotate(&config).unwrap_err().code(), "keys_in_environment");
        assert_eq!(retire(&config).unwrap_err().code(), "keys_in_environment");
    }
}
