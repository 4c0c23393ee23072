//! The biometric contract on SQLite, and what only a file can show: no plaintext template or
//! image reaches the database file or its WAL, and a shredded data key leaves neither.

use facepay_domain::Secret;
use facepay_store_contract::biometric::{BiometricDatabase, KeyFile, face, gallery, shopper};
use facepay_store_contract::biometric_contract_tests;
use facepay_store_sqlite::SqliteBiometricStore;
use facepay_vault::{BiometricStore, Vault};

struct SqliteDatabase(tempfile::TempDir);

impl BiometricDatabase for SqliteDatabase {
    type Store = SqliteBiometricStore;
    fn connect(&self) -> SqliteBiometricStore {
        SqliteBiometricStore::open(&self.0.path().join("facepay.sqlite")).expect("the file opens")
    }
}

fn fresh() -> SqliteDatabase {
    SqliteDatabase(tempfile::tempdir().expect("a temporary folder"))
}

biometric_contract_tests!(fresh());

/// Every file SQLite keeps for the database (the file, its WAL, its shared-memory index).
fn files_on_disk(database: &SqliteDatabase) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(database.0.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap()))
        .collect();
    files.sort();
    files
}

fn found_in(files: &[(String, Vec<u8>)], needle: &[u8]) -> Vec<String> {
    files
        .iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
        .map(|(n, _)| n.clone())
        .collect()
}

#[test]
fn no_plaintext_template_or_image_reaches_the_file_or_the_wal_and_a_shred_leaves_no_key() {
    let database = fresh();
    let keys = KeyFile::generate();
    let mut node = gallery(&database, &keys);
    let template = face(4242);
    let plain: Vec<u8> = template.expose_embedding().iter().flat_map(|v| v.to_le_bytes()).collect();
    let photo = Secret::new(b"JFIF the enrollment photo of shopper 42, kept with consent".repeat(20));
    node.enroll(shopper(42), "4242", face(4242), std::slice::from_ref(&photo), None).unwrap();
    for n in 1..=20 {
        node.enroll(shopper(n), "0000", face(n as u64), &[], None).unwrap();
    }

    let files = files_on_disk(&database);
    assert!(files.iter().any(|(name, _)| name.ends_with("-wal")), "the WAL is checked too: {files:?}");
    // Neither the whole template, nor any 16-byte run of it, nor a run of the photo.
    for run in plain.chunks(16) {
        assert_eq!(found_in(&files, run), Vec::<String>::new(), "a run of the template's bytes is on disk");
    }
    for run in photo.expose_secret().chunks(16) {
        assert_eq!(found_in(&files, run), Vec::<String>::new(), "a run of the photo's bytes is on disk");
    }

    // The wrapped data key is on disk until the shred (which shows the search finds what is
    // there), and nowhere after it.
    let mut store = database.connect();
    let pseudonym = Vault::new(keys.keyring()).pseudonym(shopper(42));
    let stored = store.template(&pseudonym).unwrap().unwrap();
    assert!(!found_in(&files_on_disk(&database), stored.wrapped_key.as_bytes()).is_empty());
    assert!(node.delete(shopper(42)).unwrap());
    let after = files_on_disk(&database);
    assert_eq!(
        found_in(&after, stored.wrapped_key.as_bytes()),
        Vec::<String>::new(),
        "the shredded key lingers"
    );
    assert_eq!(found_in(&after, &stored.template), Vec::<String>::new(), "the sealed template lingers");
}
