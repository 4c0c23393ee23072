//! Key rotation without downtime: every key (face and personal) still wrapped under an older
//! master key is re-wrapped under the current one, one compare-and-set per key, while nodes keep
//! enrolling, deleting and paying. What the keys seal is untouched (the keys do not change).

use crate::{BiometricStore, KeyKind, Vault, VaultError};

/// Keys re-wrapped per read of the store.
const PAGE: usize = 512;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rewrapped {
    pub rewrapped: usize,
    /// Keys that were re-enrolled or shredded between the read and the write; a re-enrolled one
    /// is read again.
    pub changed_meanwhile: usize,
}

/// Re-wraps every key in `store` that is not under `vault`'s current master key, walking
/// the vault in passes until one finds nothing left. When it returns, none is (unless a node
/// still running with the old key file enrolled someone since: run it again after every node
/// has the new file).
pub fn rewrap_all(vault: &Vault, store: &mut dyn BiometricStore) -> Result<Rewrapped, VaultError> {
    let mut done = Rewrapped::default();
    for kind in [KeyKind::Face, KeyKind::Personal] {
        rewrap_kind(vault, store, kind, &mut done)?;
    }
    Ok(done)
}

fn rewrap_kind(
    vault: &Vault,
    store: &mut dyn BiometricStore,
    kind: KeyKind,
    done: &mut Rewrapped,
) -> Result<(), VaultError> {
    let current = vault.keyring().current_id().to_owned();
    loop {
        let mut found_any = false;
        let mut after = None;
        loop {
            let page = store.keys_not_under(kind, &current, after.as_ref(), PAGE)?;
            let Some(&(last, _)) = page.last() else { break };
            after = Some(last);
            found_any = true;
            for (pseudonym, old) in page {
                let Some(new) = vault.rewrap(kind, pseudonym, &old)? else { continue };
                if store.replace_key(kind, &pseudonym, &old, &new)? {
                    done.rewrapped += 1;
                } else {
                    done.changed_meanwhile += 1;
                }
            }
        }
        if !found_any {
            return Ok(());
        }
    }
}
