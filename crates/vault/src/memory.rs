//! `MemoryBiometricStore`: the biometric store port in memory, for tests of what sits above it.
//! Clones share one set of records, as nodes share one database.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{BiometricStore, KeyKind, Pseudonym, SealedEnrollment, StoredTemplate, VaultError, WrappedKey};

#[derive(Debug, Clone, Default)]
pub struct MemoryBiometricStore {
    shared: Arc<Mutex<Records>>,
}

#[derive(Debug, Default)]
struct Records {
    enrollments: BTreeMap<Pseudonym, SealedEnrollment>,
    personal_keys: BTreeMap<Pseudonym, WrappedKey>,
    /// Change number to pseudonym, one entry per pseudonym (its newest change).
    changes: BTreeMap<u64, Pseudonym>,
    newest_change: HashMap<Pseudonym, u64>,
    last_change: u64,
}

impl Records {
    fn changed(&mut self, pseudonym: Pseudonym) {
        self.last_change += 1;
        if let Some(old) = self.newest_change.insert(pseudonym, self.last_change) {
            self.changes.remove(&old);
        }
        self.changes.insert(self.last_change, pseudonym);
    }
}

impl MemoryBiometricStore {
    fn records(&self) -> MutexGuard<'_, Records> {
        self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl BiometricStore for MemoryBiometricStore {
    fn put(
        &mut self,
        enrollment: &SealedEnrollment,
        unchanged_since: Option<u64>,
    ) -> Result<bool, VaultError> {
        let mut records = self.records();
        if unchanged_since.is_some_and(|seen| seen != records.last_change) {
            return Ok(false);
        }
        records.enrollments.insert(enrollment.pseudonym, enrollment.clone());
        records.changed(enrollment.pseudonym);
        Ok(true)
    }

    fn shred(&mut self, pseudonym: &Pseudonym) -> Result<bool, VaultError> {
        let mut records = self.records();
        let existed = records.enrollments.remove(pseudonym).is_some();
        if existed {
            records.changed(*pseudonym);
        }
        let had_personal_key = records.personal_keys.remove(pseudonym).is_some();
        Ok(existed || had_personal_key)
    }

    fn keep_personal_key(
        &mut self,
        pseudonym: &Pseudonym,
        wrapped: &WrappedKey,
    ) -> Result<WrappedKey, VaultError> {
        Ok(self.records().personal_keys.entry(*pseudonym).or_insert_with(|| wrapped.clone()).clone())
    }

    fn personal_key(&mut self, pseudonym: &Pseudonym) -> Result<Option<WrappedKey>, VaultError> {
        Ok(self.records().personal_keys.get(pseudonym).cloned())
    }

    fn template(&mut self, pseudonym: &Pseudonym) -> Result<Option<StoredTemplate>, VaultError> {
        Ok(self.records().enrollments.get(pseudonym).map(stored_template))
    }

    fn images(&mut self, pseudonym: &Pseudonym) -> Result<Vec<Vec<u8>>, VaultError> {
        Ok(self.records().enrollments.get(pseudonym).map(|e| e.images.clone()).unwrap_or_default())
    }

    fn templates_after(
        &mut self,
        after: Option<&Pseudonym>,
        limit: usize,
    ) -> Result<Vec<StoredTemplate>, VaultError> {
        let start = after.map_or(Bound::Unbounded, |after| Bound::Excluded(*after));
        let records = self.records();
        Ok(records
            .enrollments
            .range((start, Bound::Unbounded))
            .map(|(_, e)| stored_template(e))
            .take(limit)
            .collect())
    }

    fn last_change(&mut self) -> Result<u64, VaultError> {
        Ok(self.records().last_change)
    }

    fn changes_after(&mut self, after: u64, limit: usize) -> Result<Vec<(u64, Pseudonym)>, VaultError> {
        Ok(self.records().changes.range(after + 1..).map(|(&n, &p)| (n, p)).take(limit).collect())
    }

    fn keys_not_under(
        &mut self,
        kind: KeyKind,
        master_id: &str,
        after: Option<&Pseudonym>,
        limit: usize,
    ) -> Result<Vec<(Pseudonym, WrappedKey)>, VaultError> {
        let start = after.map_or(Bound::Unbounded, |after| Bound::Excluded(*after));
        let records = self.records();
        let keys: Box<dyn Iterator<Item = (&Pseudonym, &WrappedKey)>> = match kind {
            KeyKind::Face => Box::new(
                records.enrollments.range((start, Bound::Unbounded)).map(|(p, e)| (p, &e.wrapped_key)),
            ),
            KeyKind::Personal => Box::new(records.personal_keys.range((start, Bound::Unbounded))),
        };
        Ok(keys
            .filter(|(_, key)| key.master_id() != master_id)
            .map(|(pseudonym, key)| (*pseudonym, key.clone()))
            .take(limit)
            .collect())
    }

    fn replace_key(
        &mut self,
        kind: KeyKind,
        pseudonym: &Pseudonym,
        old: &WrappedKey,
        new: &WrappedKey,
    ) -> Result<bool, VaultError> {
        let mut records = self.records();
        let key = match kind {
            KeyKind::Face => records.enrollments.get_mut(pseudonym).map(|e| &mut e.wrapped_key),
            KeyKind::Personal => records.personal_keys.get_mut(pseudonym),
        };
        match key {
            Some(key) if *key == *old => {
                *key = new.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

fn stored_template(enrollment: &SealedEnrollment) -> StoredTemplate {
    StoredTemplate {
        pseudonym: enrollment.pseudonym,
        wrapped_key: enrollment.wrapped_key.clone(),
        template: enrollment.template.clone(),
    }
}
