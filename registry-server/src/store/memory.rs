//! Pending records in memory, for a single server instance. Losing them in a crash loses
//! nothing a client was promised: see [`PendingStore`].

use super::{PendingRecord, PendingStatus, PendingStore, StoreResult, UploadFor, UploadSession};
use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, MutexGuard},
};
use warg_protocol::registry::{LogId, RecordId};

/// Bounds memory held by abandoned or rejected submissions.
const MAX_PENDING: usize = 10_000;

#[derive(Default)]
pub(crate) struct MemoryPendingStore(Mutex<Tables>);

#[derive(Default)]
struct Tables {
    records: HashMap<RecordId, PendingRecord>,
    sessions: HashMap<String, UploadSession>,
    /// Insertion order, for evicting the oldest records first.
    order: VecDeque<RecordId>,
}

impl Tables {
    fn open_sessions(&mut self, record: &PendingRecord) {
        for (digest, id) in &record.missing {
            self.sessions.insert(
                id.clone(),
                UploadSession {
                    purpose: UploadFor::Record {
                        record_id: record.record_id.clone(),
                        digest: digest.clone(),
                    },
                },
            );
        }
    }

    fn close_sessions(&mut self, record: &PendingRecord) {
        for id in record.missing.values() {
            self.sessions.remove(id);
        }
    }

    fn remove(&mut self, record_id: &RecordId) {
        if let Some(record) = self.records.remove(record_id) {
            self.close_sessions(&record);
        }
    }
}

impl MemoryPendingStore {
    fn tables(&self) -> MutexGuard<'_, Tables> {
        // Every change below leaves the tables consistent before it can panic.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl PendingStore for MemoryPendingStore {
    fn insert(&self, record: PendingRecord) -> StoreResult<Option<PendingRecord>> {
        let mut t = self.tables();
        if let Some(existing) = t.records.get(&record.record_id) {
            if !matches!(existing.status, PendingStatus::Rejected(_)) {
                return Ok(Some(existing.clone()));
            }
        }
        let id = record.record_id.clone();
        t.remove(&id);
        t.open_sessions(&record);
        t.records.insert(id.clone(), record);
        t.order.push_back(id);
        while t.records.len() > MAX_PENDING {
            match t.order.pop_front() {
                Some(old) => t.remove(&old),
                None => break,
            }
        }
        Ok(None)
    }

    fn get(&self, record_id: &RecordId) -> StoreResult<Option<PendingRecord>> {
        Ok(self.tables().records.get(record_id).cloned())
    }

    fn update(
        &self,
        record_id: &RecordId,
        change: &mut dyn FnMut(&mut PendingRecord),
    ) -> StoreResult<Option<PendingRecord>> {
        let mut t = self.tables();
        let Some(record) = t.records.get_mut(record_id) else {
            return Ok(None);
        };
        let before: Vec<String> = record.missing.values().cloned().collect();
        change(record);
        let record = record.clone();
        for id in before {
            if !record.missing.values().any(|kept| kept == &id) {
                t.sessions.remove(&id);
            }
        }
        Ok(Some(record))
    }

    fn remove(&self, record_id: &RecordId) -> StoreResult<()> {
        self.tables().remove(record_id);
        Ok(())
    }

    fn has_log(&self, log_id: &LogId) -> StoreResult<bool> {
        Ok(self.tables().records.values().any(|r| &r.log_id == log_id))
    }

    fn session(&self, id: &str) -> StoreResult<Option<UploadSession>> {
        Ok(self.tables().sessions.get(id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PendingRecord, PendingStatus};
    use indexmap::IndexMap;
    use warg_crypto::hash::AnyHash;
    use warg_protocol::{package::PackageRecord, registry::PackageName, ProtoEnvelope};

    fn digest(n: u8) -> AnyHash {
        format!("sha256:{}", hex::encode([n; 32])).parse().unwrap()
    }

    fn record(n: u8, missing: &[(u8, &str)]) -> PendingRecord {
        let key = warg_crypto::signing::generate_p256_pair().1;
        let contents = PackageRecord {
            prev: None,
            version: 0,
            timestamp: std::time::SystemTime::now(),
            entries: vec![],
        };
        PendingRecord {
            record_id: digest(n).into(),
            log_id: digest(100 + n).into(),
            name: PackageName::new("example:pkg").unwrap(),
            envelope: ProtoEnvelope::signed_contents(&key, contents).unwrap(),
            missing: missing
                .iter()
                .map(|(d, id)| (digest(*d), id.to_string()))
                .collect::<IndexMap<_, _>>(),
            status: PendingStatus::Sourcing,
        }
    }

    #[test]
    fn sessions_follow_what_a_record_still_misses() {
        let store = MemoryPendingStore::default();
        assert!(store
            .insert(record(1, &[(7, "a"), (8, "b")]))
            .unwrap()
            .is_none());
        assert!(store.session("a").unwrap().is_some());
        // A duplicate keeps the first record and its sessions.
        let existing = store.insert(record(1, &[(9, "c")])).unwrap().unwrap();
        assert_eq!(existing.missing.len(), 2);
        assert!(store.session("c").unwrap().is_none());

        let id: RecordId = digest(1).into();
        let changed = store
            .update(&id, &mut |r| {
                r.missing.shift_remove(&digest(7));
            })
            .unwrap()
            .unwrap();
        assert_eq!(changed.missing.len(), 1);
        assert!(store.session("a").unwrap().is_none());
        assert!(store.session("b").unwrap().is_some());
        assert!(store.has_log(&digest(101).into()).unwrap());

        // Once rejected, the same record may be submitted again.
        store
            .update(&id, &mut |r| {
                r.missing.clear();
                r.status = PendingStatus::Rejected("no".into());
            })
            .unwrap();
        assert!(store.session("b").unwrap().is_none());
        assert!(store.insert(record(1, &[(9, "c")])).unwrap().is_none());
        assert!(store.session("c").unwrap().is_some());
        store.remove(&id).unwrap();
        assert!(store.get(&id).unwrap().is_none());
        assert!(store.session("c").unwrap().is_none());
        assert!(!store.has_log(&digest(101).into()).unwrap());
    }
}
