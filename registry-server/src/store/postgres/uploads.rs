//! OCI blob upload sessions on PostgreSQL, bytes included, so that the `PATCH`es and the `PUT`
//! of one session may each land on a different instance.
//!
//! A request body is first spooled to a local file (memory stays flat whatever its size), then
//! written as rows of at most [`ROW`] bytes in one short transaction that also advances the
//! session's committed offset. So a session holds exactly the bytes it acknowledged: a crash or
//! a broken request leaves nothing half-appended.

use super::{corrupt, Pg};
use crate::store::{
    is_session_id, new_session_id, unix_now, AppendOutcome, ByteStream, Finished, StoreError,
    StoreResult, UploadRow, UploadStore,
};
use bytes::Bytes;
use futures_util::{future::BoxFuture, StreamExt};
use std::{io::Write, path::PathBuf, sync::Arc};

/// The largest row of upload bytes.
const ROW: usize = 1024 * 1024;

pub(crate) struct PgUploadStore {
    pub(super) pg: Arc<Pg>,
    /// Where request bodies wait before they go to the database.
    pub(super) spool: PathBuf,
}

impl UploadStore for PgUploadStore {
    fn create(&self, repo: &str) -> StoreResult<UploadRow> {
        let id = new_session_id();
        let (row_id, repo) = (id.clone(), repo.to_string());
        let row_repo = repo.clone();
        let t = unix_now();
        self.pg.run(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO oci_uploads (id, repo, committed, started_at, updated_at)
                     VALUES ($1, $2, 0, $3, $3)",
                    &[&row_id, &row_repo, &t],
                )
                .await?;
                Ok(())
            })
        })?;
        Ok(UploadRow {
            id,
            repo,
            committed: 0,
        })
    }

    fn get(&self, id: &str) -> StoreResult<Option<UploadRow>> {
        if !is_session_id(id) {
            return Ok(None);
        }
        let id = id.to_string();
        self.pg.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT id, repo, committed FROM oci_uploads WHERE id = $1",
                        &[&id],
                    )
                    .await?;
                row.map(|r| {
                    let committed: i64 = r.try_get(2)?;
                    Ok(UploadRow {
                        id: r.try_get(0)?,
                        repo: r.try_get(1)?,
                        committed: committed.max(0) as u64,
                    })
                })
                .transpose()
            })
        })
    }

    fn append<'a>(
        &'a self,
        id: &'a str,
        offset: u64,
        limit: u64,
        mut body: ByteStream<'a>,
    ) -> BoxFuture<'a, StoreResult<AppendOutcome>> {
        Box::pin(async move {
            let Some(row) = self.get(id)? else {
                return Ok(AppendOutcome::Unknown);
            };
            if row.committed != offset {
                return Ok(AppendOutcome::WrongOffset(row.committed));
            }
            let mut spool = tempfile::NamedTempFile::new_in(&self.spool)?;
            let mut end = offset;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|_| StoreError::Aborted)?;
                end += chunk.len() as u64;
                if end > limit {
                    return Ok(AppendOutcome::TooLarge);
                }
                tokio::task::block_in_place(|| spool.write_all(&chunk))?;
            }
            let file = spool.reopen()?;
            let id = id.to_string();
            let outcome = self
                .pg
                .run_async(move |c| {
                    Box::pin(async move {
                        let tx = c.transaction().await?;
                        let current = tx
                            .query_opt(
                                "SELECT committed FROM oci_uploads WHERE id = $1 FOR UPDATE",
                                &[&id],
                            )
                            .await?;
                        let Some(current) = current else {
                            return Ok(AppendOutcome::Unknown);
                        };
                        let current: i64 = current.try_get(0)?;
                        if current as u64 != offset {
                            return Ok(AppendOutcome::WrongOffset(current as u64));
                        }
                        let insert = tx
                            .prepare(
                                "INSERT INTO oci_upload_chunks (id, start_offset, bytes)
                                 VALUES ($1, $2, $3)",
                            )
                            .await?;
                        let mut reader = std::io::BufReader::new(file);
                        let mut at = offset;
                        loop {
                            let mut buf = Vec::with_capacity(ROW);
                            let n = std::io::Read::read_to_end(
                                &mut std::io::Read::take(&mut reader, ROW as u64),
                                &mut buf,
                            )?;
                            if n == 0 {
                                break;
                            }
                            tx.execute(&insert, &[&id, &(at as i64), &buf]).await?;
                            at += n as u64;
                        }
                        tx.execute(
                            "UPDATE oci_uploads SET committed = $2, updated_at = $3 WHERE id = $1",
                            &[&id, &(at as i64), &unix_now()],
                        )
                        .await?;
                        tx.commit().await?;
                        Ok(AppendOutcome::Appended(at))
                    })
                })
                .await?;
            if let AppendOutcome::Appended(at) = outcome {
                if at != end {
                    return Err(corrupt(format!(
                        "upload session `{}` spooled {end} bytes but stored {at}",
                        row.id
                    )));
                }
            }
            Ok(outcome)
        })
    }

    fn read(&self, id: &str, len: u64) -> StoreResult<ByteStream<'static>> {
        let pg = self.pg.clone();
        let id = id.to_string();
        let rows = futures_util::stream::unfold(0u64, move |at| {
            let (pg, id) = (pg.clone(), id.clone());
            async move {
                if at >= len {
                    return None;
                }
                let row_id = id.clone();
                let row = pg
                    .run_async(move |c| {
                        Box::pin(async move {
                            let row = c
                                .query_opt(
                                    "SELECT bytes FROM oci_upload_chunks
                                     WHERE id = $1 AND start_offset = $2",
                                    &[&row_id, &(at as i64)],
                                )
                                .await?;
                            Ok(row.map(|r| r.try_get::<_, Vec<u8>>(0)).transpose()?)
                        })
                    })
                    .await;
                let item = match row {
                    Ok(Some(bytes)) if !bytes.is_empty() => {
                        let keep = bytes.len().min((len - at) as usize);
                        let mut bytes = Bytes::from(bytes);
                        bytes.truncate(keep);
                        Ok(bytes)
                    }
                    Ok(_) => Err(std::io::Error::other(format!(
                        "upload session `{id}` lost bytes at offset {at}"
                    ))),
                    Err(e) => Err(std::io::Error::other(e)),
                };
                let next = match &item {
                    Ok(b) => at + b.len() as u64,
                    Err(_) => len,
                };
                Some((item, next))
            }
        });
        Ok(rows.boxed())
    }

    fn finished(&self, id: &str, len: u64) -> StoreResult<Finished> {
        Ok(Finished::Stream(self.read(id, len)?))
    }

    fn remove(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.pg.run(move |c| {
            Box::pin(async move {
                c.execute("DELETE FROM oci_uploads WHERE id = $1", &[&id])
                    .await?;
                Ok(())
            })
        })
    }

    fn expire(&self, idle_secs: u64) -> StoreResult<usize> {
        let cutoff = unix_now().saturating_sub(idle_secs as i64);
        self.pg.run(move |c| {
            Box::pin(async move {
                let n = c
                    .execute("DELETE FROM oci_uploads WHERE updated_at <= $1", &[&cutoff])
                    .await?;
                Ok(n as usize)
            })
        })
    }
}
