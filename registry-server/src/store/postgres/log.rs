//! The log on PostgreSQL. A commit takes one advisory lock for the transaction and checks
//! that the log still ends where the committing instance saw it end, so two instances never
//! append at the same index; the checkpoint table's primary key would refuse a second
//! checkpoint for one length even without the lock.

use super::{corrupt, Pg};
use crate::store::{LogStore, StoreError, StoreResult, StoredRecord};
use std::sync::Arc;
use warg_protocol::{registry::TimestampedCheckpoint, SerdeEnvelope};

/// The advisory lock every commit holds (`wtool-log` in ASCII).
const COMMIT_LOCK: i64 = 0x7774_6f6f_6c2d_6c6f;

pub(crate) struct PgLogStore(pub(super) Arc<Pg>);

fn record_of(row: &tokio_postgres::Row) -> StoreResult<StoredRecord> {
    StoredRecord::from_columns(
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
    )
}

impl LogStore for PgLogStore {
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.0.changes())
    }

    fn load_since(
        &self,
        from: usize,
    ) -> StoreResult<(Vec<StoredRecord>, Vec<SerdeEnvelope<TimestampedCheckpoint>>)> {
        let from = from as i64;
        self.0.run(move |c| {
            Box::pin(async move {
                // One snapshot, so the records and checkpoints agree.
                let tx = c
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await?;
                let rows = tx
                    .query(
                        "SELECT registry_index, log_id, record_id, package_name, envelope
                         FROM records WHERE registry_index >= $1 ORDER BY registry_index",
                        &[&from],
                    )
                    .await?;
                let records = rows.iter().map(record_of).collect::<StoreResult<_>>()?;
                let rows = tx
                    .query(
                        "SELECT envelope FROM checkpoints WHERE log_length > $1
                         ORDER BY log_length",
                        &[&from],
                    )
                    .await?;
                let mut checkpoints = Vec::with_capacity(rows.len());
                for row in rows {
                    let text: String = row.try_get(0)?;
                    checkpoints.push(serde_json::from_str(&text).map_err(corrupt)?);
                }
                tx.commit().await?;
                Ok((records, checkpoints))
            })
        })
    }

    fn length(&self) -> StoreResult<usize> {
        self.0.run(|c| {
            Box::pin(async move {
                let row = c
                    .query_one("SELECT COALESCE(MAX(log_length), 0) FROM checkpoints", &[])
                    .await?;
                let len: i64 = row.try_get(0)?;
                usize::try_from(len).map_err(corrupt)
            })
        })
    }

    fn commit(
        &self,
        records: &[StoredRecord],
        checkpoint: &SerdeEnvelope<TimestampedCheckpoint>,
    ) -> StoreResult<()> {
        let records = records.to_vec();
        let length = checkpoint.as_ref().checkpoint.log_length as i64;
        let base = length - records.len() as i64;
        let json = serde_json::to_string(checkpoint).map_err(corrupt)?;
        self.0.run(move |c| {
            Box::pin(async move {
                let tx = c.transaction().await?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&COMMIT_LOCK])
                    .await?;
                let row = tx
                    .query_one("SELECT COALESCE(MAX(log_length), 0) FROM checkpoints", &[])
                    .await?;
                let current: i64 = row.try_get(0)?;
                if current != base {
                    return Err(StoreError::Conflict(current as usize));
                }
                let insert = tx
                    .prepare(
                        "INSERT INTO records
                         (registry_index, log_id, record_id, package_name, envelope)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .await?;
                for r in &records {
                    tx.execute(
                        &insert,
                        &[
                            &(r.registry_index as i64),
                            &r.log_id.to_string(),
                            &r.record_id.to_string(),
                            &r.package_name.as_ref().map(|n| n.to_string()),
                            &r.envelope,
                        ],
                    )
                    .await?;
                }
                tx.execute(
                    "INSERT INTO checkpoints (log_length, envelope) VALUES ($1, $2)",
                    &[&length, &json],
                )
                .await?;
                // Delivered to the other instances when (and only if) this commits.
                tx.execute(
                    "SELECT pg_notify($1, $2)",
                    &[&super::listen::CHANNEL, &length.to_string()],
                )
                .await?;
                tx.commit().await?;
                Ok(())
            })
        })
    }
}
