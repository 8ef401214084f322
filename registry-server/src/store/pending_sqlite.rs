//! Pending records and their upload sessions in the registry's SQLite file, so that a restart
//! neither forgets an upload URL it issued nor a record whose content is all present.
//!
//! This connection runs with `synchronous=NORMAL`: in WAL mode that survives `kill -9`, and
//! losing the last pending changes to a power cut loses nothing a client was promised (see
//! [`PendingStore`]), while it spares every submission an fsync.

use super::{
    sqlite::{corrupt, Db},
    PendingRecord, PendingStatus, PendingStore, StoreResult, UploadFor, UploadSession,
};
use indexmap::IndexMap;
use rusqlite::{params, OptionalExtension, Transaction};
use std::path::Path;
use warg_crypto::hash::AnyHash;
use warg_protocol::{
    package::PackageRecord,
    registry::{LogId, PackageName, RecordId},
    ProtoEnvelope,
};

/// Bounds the space held by abandoned or rejected submissions.
const MAX_PENDING: i64 = 10_000;

pub(crate) struct SqlitePendingStore(Db);

impl SqlitePendingStore {
    pub(crate) fn open(path: &Path) -> StoreResult<Self> {
        Db::open_with(path, "NORMAL").map(Self)
    }
}

fn parse_hash(text: &str) -> StoreResult<AnyHash> {
    text.parse::<AnyHash>().map_err(corrupt)
}

fn load(tx: &Transaction<'_>, record_id: &RecordId) -> StoreResult<Option<PendingRecord>> {
    let row = tx
        .query_row(
            "SELECT log_id, package_name, envelope, status, reason
             FROM pending_records WHERE record_id = ?1",
            params![record_id.to_string()],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Vec<u8>>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((log_id, name, envelope, status, reason)) = row else {
        return Ok(None);
    };
    let status = PendingStatus::from_columns(&status, reason)?;
    let mut missing = IndexMap::new();
    let mut stmt = tx.prepare_cached(
        "SELECT digest, id FROM upload_sessions WHERE record_id = ?1 ORDER BY position",
    )?;
    let rows = stmt.query_map(params![record_id.to_string()], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (digest, id) = row?;
        missing.insert(parse_hash(&digest)?, id);
    }
    Ok(Some(PendingRecord {
        record_id: record_id.clone(),
        log_id: parse_hash(&log_id)?.into(),
        name: PackageName::new(name).map_err(corrupt)?,
        envelope: ProtoEnvelope::<PackageRecord>::from_protobuf(&envelope).map_err(corrupt)?,
        missing,
        status,
    }))
}

/// Replaces the sessions of a record with one per digest it still misses.
fn write_sessions(tx: &Transaction<'_>, record: &PendingRecord) -> StoreResult<()> {
    let record_id = record.record_id.to_string();
    tx.execute(
        "DELETE FROM upload_sessions WHERE record_id = ?1",
        params![record_id],
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO upload_sessions (id, record_id, digest, position) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (position, (digest, id)) in record.missing.iter().enumerate() {
        insert.execute(params![id, record_id, digest.to_string(), position as i64])?;
    }
    Ok(())
}

fn delete(tx: &Transaction<'_>, record_id: &str) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM upload_sessions WHERE record_id = ?1",
        params![record_id],
    )?;
    tx.execute(
        "DELETE FROM pending_records WHERE record_id = ?1",
        params![record_id],
    )?;
    Ok(())
}

impl PendingStore for SqlitePendingStore {
    fn insert(&self, record: PendingRecord) -> StoreResult<Option<PendingRecord>> {
        let mut conn = self.0.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if let Some(existing) = load(&tx, &record.record_id)? {
            if !matches!(existing.status, PendingStatus::Rejected(_)) {
                return Ok(Some(existing));
            }
        }
        let record_id = record.record_id.to_string();
        delete(&tx, &record_id)?;
        let (status, reason) = record.status.columns();
        tx.execute(
            "INSERT INTO pending_records (record_id, log_id, package_name, envelope, status, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                record_id,
                record.log_id.to_string(),
                record.name.to_string(),
                record.envelope.to_protobuf(),
                status,
                reason,
            ],
        )?;
        write_sessions(&tx, &record)?;
        // Evict the oldest beyond the bound, sessions first.
        let cut = "(SELECT record_id FROM pending_records
                    WHERE seq <= (SELECT MAX(seq) FROM pending_records) - ?1)";
        tx.execute(
            &format!("DELETE FROM upload_sessions WHERE record_id IN {cut}"),
            params![MAX_PENDING],
        )?;
        tx.execute(
            &format!("DELETE FROM pending_records WHERE record_id IN {cut}"),
            params![MAX_PENDING],
        )?;
        tx.commit()?;
        Ok(None)
    }

    fn get(&self, record_id: &RecordId) -> StoreResult<Option<PendingRecord>> {
        let mut conn = self.0.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        load(&tx, record_id)
    }

    fn update(
        &self,
        record_id: &RecordId,
        change: &mut dyn FnMut(&mut PendingRecord),
    ) -> StoreResult<Option<PendingRecord>> {
        let mut conn = self.0.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let Some(mut record) = load(&tx, record_id)? else {
            return Ok(None);
        };
        change(&mut record);
        let (status, reason) = record.status.columns();
        tx.execute(
            "UPDATE pending_records SET status = ?2, reason = ?3 WHERE record_id = ?1",
            params![record_id.to_string(), status, reason],
        )?;
        write_sessions(&tx, &record)?;
        tx.commit()?;
        Ok(Some(record))
    }

    fn remove(&self, record_id: &RecordId) -> StoreResult<()> {
        let mut conn = self.0.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        delete(&tx, &record_id.to_string())?;
        tx.commit()?;
        Ok(())
    }

    fn has_log(&self, log_id: &LogId) -> StoreResult<bool> {
        let found = self
            .0
            .conn()
            .query_row(
                "SELECT 1 FROM pending_records WHERE log_id = ?1 LIMIT 1",
                params![log_id.to_string()],
                |_| Ok(()),
            )
            .optional()?;
        Ok(found.is_some())
    }

    fn session(&self, id: &str) -> StoreResult<Option<UploadSession>> {
        let row = self
            .0
            .conn()
            .query_row(
                "SELECT record_id, digest FROM upload_sessions WHERE id = ?1",
                params![id],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )
            .optional()?;
        row.map(|(record_id, digest)| {
            Ok(UploadSession {
                purpose: UploadFor::Record {
                    record_id: parse_hash(&record_id)?.into(),
                    digest: parse_hash(&digest)?,
                },
            })
        })
        .transpose()
    }

    fn processing(&self) -> StoreResult<Vec<PendingRecord>> {
        let mut conn = self.0.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let ids = {
            let mut stmt = tx.prepare(
                "SELECT record_id FROM pending_records WHERE status = 'processing' ORDER BY seq",
            )?;
            let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(record) = load(&tx, &parse_hash(&id)?.into())? {
                records.push(record);
            }
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let dir = tempfile::tempdir().unwrap();
        crate::store::migrate::sqlite(&dir.path().join("db"), true).unwrap();
        let store = SqlitePendingStore::open(&dir.path().join("db")).unwrap();
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
        assert_eq!(
            store.get(&id).unwrap().unwrap().name.to_string(),
            "example:pkg"
        );
        assert!(store.session("c").unwrap().is_some());
        assert!(store.processing().unwrap().is_empty());
        store
            .update(&id, &mut |r| r.status = PendingStatus::Processing)
            .unwrap();
        let reopened = SqlitePendingStore::open(&dir.path().join("db")).unwrap();
        let processing = reopened.processing().unwrap();
        assert_eq!(processing.len(), 1, "a processing record survives a reopen");
        assert_eq!(processing[0].record_id, id);
        assert_eq!(
            processing[0].envelope.to_protobuf(),
            store.get(&id).unwrap().unwrap().envelope.to_protobuf(),
            "the signed envelope comes back byte for byte"
        );
        store.remove(&id).unwrap();
        assert!(store.get(&id).unwrap().is_none());
        assert!(store.session("c").unwrap().is_none());
        assert!(!store.has_log(&digest(101).into()).unwrap());
    }
}
