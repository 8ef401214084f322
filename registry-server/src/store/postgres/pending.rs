//! Pending records and their upload sessions on PostgreSQL, so that a record submitted to one
//! instance can receive its content through another, and either instance's writer commits it.

use super::{corrupt, Pg};
use crate::store::{
    PendingRecord, PendingStatus, PendingStore, StoreResult, UploadFor, UploadSession,
};
use deadpool_postgres::Transaction;
use indexmap::IndexMap;
use std::sync::Arc;
use warg_crypto::hash::AnyHash;
use warg_protocol::{
    package::PackageRecord,
    registry::{LogId, PackageName, RecordId},
    ProtoEnvelope,
};

/// Bounds the space held by abandoned or rejected submissions.
const MAX_PENDING: i64 = 10_000;

pub(crate) struct PgPendingStore(pub(super) Arc<Pg>);

fn parse_hash(text: &str) -> StoreResult<AnyHash> {
    text.parse::<AnyHash>().map_err(corrupt)
}

/// Reads a record, locking its row for the rest of the transaction when `lock`.
async fn load(
    tx: &Transaction<'_>,
    record_id: &str,
    lock: bool,
) -> StoreResult<Option<PendingRecord>> {
    let query = if lock {
        "SELECT log_id, package_name, envelope, status, reason
         FROM pending_records WHERE record_id = $1 FOR UPDATE"
    } else {
        "SELECT log_id, package_name, envelope, status, reason
         FROM pending_records WHERE record_id = $1"
    };
    let Some(row) = tx.query_opt(query, &[&record_id]).await? else {
        return Ok(None);
    };
    let log_id: String = row.try_get(0)?;
    let name: String = row.try_get(1)?;
    let envelope: Vec<u8> = row.try_get(2)?;
    let status: String = row.try_get(3)?;
    let reason: Option<String> = row.try_get(4)?;
    let status = PendingStatus::from_columns(&status, reason)?;
    let mut missing = IndexMap::new();
    for row in tx
        .query(
            "SELECT digest, id FROM upload_sessions WHERE record_id = $1 ORDER BY position",
            &[&record_id],
        )
        .await?
    {
        let digest: String = row.try_get(0)?;
        missing.insert(parse_hash(&digest)?, row.try_get::<_, String>(1)?);
    }
    Ok(Some(PendingRecord {
        record_id: parse_hash(record_id)?.into(),
        log_id: parse_hash(&log_id)?.into(),
        name: PackageName::new(name).map_err(corrupt)?,
        envelope: ProtoEnvelope::<PackageRecord>::from_protobuf(&envelope).map_err(corrupt)?,
        missing,
        status,
    }))
}

async fn write_sessions(tx: &Transaction<'_>, record: &PendingRecord) -> StoreResult<()> {
    let record_id = record.record_id.to_string();
    tx.execute(
        "DELETE FROM upload_sessions WHERE record_id = $1",
        &[&record_id],
    )
    .await?;
    for (position, (digest, id)) in record.missing.iter().enumerate() {
        tx.execute(
            "INSERT INTO upload_sessions (id, record_id, digest, position) VALUES ($1, $2, $3, $4)",
            &[id, &record_id, &digest.to_string(), &(position as i32)],
        )
        .await?;
    }
    Ok(())
}

async fn delete(tx: &Transaction<'_>, record_id: &str) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM upload_sessions WHERE record_id = $1",
        &[&record_id],
    )
    .await?;
    tx.execute(
        "DELETE FROM pending_records WHERE record_id = $1",
        &[&record_id],
    )
    .await?;
    Ok(())
}

impl PendingStore for PgPendingStore {
    fn insert(&self, record: PendingRecord) -> StoreResult<Option<PendingRecord>> {
        self.0.run(move |c| {
            Box::pin(async move {
                let tx = c.transaction().await?;
                let record_id = record.record_id.to_string();
                // Two instances taking the same record at once: the second waits here.
                tx.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1)::bigint)",
                    &[&record_id],
                )
                .await?;
                if let Some(existing) = load(&tx, &record_id, true).await? {
                    if !matches!(existing.status, PendingStatus::Rejected(_)) {
                        return Ok(Some(existing));
                    }
                }
                delete(&tx, &record_id).await?;
                let (status, reason) = record.status.columns();
                tx.execute(
                    "INSERT INTO pending_records
                     (record_id, log_id, package_name, envelope, status, reason)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &record_id,
                        &record.log_id.to_string(),
                        &record.name.to_string(),
                        &record.envelope.to_protobuf(),
                        &status,
                        &reason,
                    ],
                )
                .await?;
                write_sessions(&tx, &record).await?;
                let cut = "(SELECT record_id FROM pending_records
                            WHERE seq <= (SELECT MAX(seq) FROM pending_records) - $1)";
                tx.execute(
                    &format!("DELETE FROM upload_sessions WHERE record_id IN {cut}"),
                    &[&MAX_PENDING],
                )
                .await?;
                tx.execute(
                    &format!("DELETE FROM pending_records WHERE record_id IN {cut}"),
                    &[&MAX_PENDING],
                )
                .await?;
                tx.commit().await?;
                Ok(None)
            })
        })
    }

    fn get(&self, record_id: &RecordId) -> StoreResult<Option<PendingRecord>> {
        let record_id = record_id.to_string();
        self.0.run(move |c| {
            Box::pin(async move {
                let tx = c.transaction().await?;
                load(&tx, &record_id, false).await
            })
        })
    }

    fn update(
        &self,
        record_id: &RecordId,
        change: &mut dyn FnMut(&mut PendingRecord),
    ) -> StoreResult<Option<PendingRecord>> {
        // The change runs here, on the caller's thread, between reading the locked row and
        // writing it back on the store's runtime.
        let record_id = record_id.to_string();
        let (loaded_tx, loaded_rx) = std::sync::mpsc::sync_channel::<Option<PendingRecord>>(1);
        let (changed_tx, changed_rx) = tokio::sync::oneshot::channel::<PendingRecord>();
        let done = self.0.start(move |c| {
            Box::pin(async move {
                let tx = c.transaction().await?;
                let loaded = load(&tx, &record_id, true).await?;
                let _ = loaded_tx.send(loaded);
                let Ok(record) = changed_rx.await else {
                    return Ok(None);
                };
                let (status, reason) = record.status.columns();
                tx.execute(
                    "UPDATE pending_records SET status = $2, reason = $3 WHERE record_id = $1",
                    &[&record_id, &status, &reason],
                )
                .await?;
                write_sessions(&tx, &record).await?;
                tx.commit().await?;
                Ok(Some(record))
            })
        });
        if let Ok(Some(mut record)) = loaded_rx.recv() {
            change(&mut record);
            let _ = changed_tx.send(record);
        } else {
            drop(changed_tx);
        }
        done.wait()
    }

    fn remove(&self, record_id: &RecordId) -> StoreResult<()> {
        let record_id = record_id.to_string();
        self.0.run(move |c| {
            Box::pin(async move {
                let tx = c.transaction().await?;
                delete(&tx, &record_id).await?;
                tx.commit().await?;
                Ok(())
            })
        })
    }

    fn has_log(&self, log_id: &LogId) -> StoreResult<bool> {
        let log_id = log_id.to_string();
        self.0.run(move |c| {
            Box::pin(async move {
                Ok(c.query_opt(
                    "SELECT 1 FROM pending_records WHERE log_id = $1 LIMIT 1",
                    &[&log_id],
                )
                .await?
                .is_some())
            })
        })
    }

    fn session(&self, id: &str) -> StoreResult<Option<UploadSession>> {
        let id = id.to_string();
        let row = self.0.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT record_id, digest FROM upload_sessions WHERE id = $1",
                        &[&id],
                    )
                    .await?;
                Ok(row
                    .map(|r| {
                        Ok::<_, tokio_postgres::Error>((
                            r.try_get::<_, String>(0)?,
                            r.try_get::<_, String>(1)?,
                        ))
                    })
                    .transpose()?)
            })
        })?;
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
        self.0.run(move |c| {
            Box::pin(async move {
                let tx = c.transaction().await?;
                let ids: Vec<String> = tx
                    .query(
                        "SELECT record_id FROM pending_records WHERE status = 'processing' ORDER BY seq",
                        &[],
                    )
                    .await?
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<Result<_, _>>()?;
                let mut records = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(record) = load(&tx, &id, false).await? {
                        records.push(record);
                    }
                }
                Ok(records)
            })
        })
    }
}
