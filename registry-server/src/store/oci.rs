//! OCI metadata (manifests, tags, referrers) and blob upload sessions, in the registry's SQLite
//! file (WAL, `synchronous=FULL`). Manifest bytes live in the content store like any blob; a row
//! here is written only after they are durable, so no tag ever points at missing bytes.
//!
//! Upload sessions are a row (repository, committed offset, times) plus a data file under
//! `uploads/`. The offset is advanced only after the appended bytes are fsynced, so after a
//! crash a session continues from the last acknowledged byte (anything past it is cut off on
//! the next append), or, if it expired or was never issued, is unknown.

use super::{unix_now as now, ByteStream, Finished, Spooled, StoreError, StoreResult};
use crate::digest::Digest;
use futures_util::{future::BoxFuture, StreamExt};
use rusqlite::{params, Connection, OptionalExtension};
use std::{
    fs::{self, File, OpenOptions},
    io::{Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

/// A manifest as indexed: its bytes are the blob `digest` in the content store.
#[derive(Clone, Debug)]
pub(crate) struct ManifestRow {
    pub repo: String,
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub subject: Option<Digest>,
    pub artifact_type: Option<String>,
    /// The manifest's `annotations` object as JSON, for referrers listings.
    pub annotations: Option<String>,
}

/// What putting a manifest under a tag did.
#[derive(Debug)]
pub(crate) enum TagOutcome {
    /// The manifest (and the tag, if any) is stored.
    Stored,
    /// The tag already points at this manifest; nothing changed.
    TagExists(Digest),
}

#[derive(Clone, Debug)]
pub(crate) struct UploadRow {
    pub id: String,
    pub repo: String,
    /// Bytes received and durable.
    pub committed: u64,
}

#[derive(Debug)]
pub(crate) enum AppendOutcome {
    /// The bytes are durable; the session now holds this many.
    Appended(u64),
    /// The client's offset is not where the session stands.
    WrongOffset(u64),
    /// The session would exceed the limit; nothing was appended.
    TooLarge,
    Unknown,
}

/// OCI tags and manifests.
pub(crate) trait OciStore: Send + Sync {
    fn manifest(&self, repo: &str, digest: &Digest) -> StoreResult<Option<ManifestRow>>;
    fn tag(&self, repo: &str, tag: &str) -> StoreResult<Option<Digest>>;
    /// Indexes a manifest (whose bytes are already stored) and points `tag` at it, atomically.
    /// A tag never moves unless `move_tag`: if it exists, nothing changes and its digest is
    /// returned.
    fn put_manifest(
        &self,
        row: &ManifestRow,
        tag: Option<&str>,
        move_tag: bool,
    ) -> StoreResult<TagOutcome>;
    /// Every tag of a repository, sorted.
    fn tags(&self, repo: &str) -> StoreResult<Vec<String>>;
    fn referrers(&self, repo: &str, subject: &Digest) -> StoreResult<Vec<ManifestRow>>;
    /// Every manifest of a repository.
    fn manifests(&self, repo: &str) -> StoreResult<Vec<ManifestRow>>;
    /// Every tag of a repository with the manifest it points at.
    fn tag_targets(&self, repo: &str) -> StoreResult<Vec<(String, Digest)>>;
    /// Every repository holding a manifest, sorted.
    fn repositories(&self) -> StoreResult<Vec<String>>;
    fn has_repository(&self, repo: &str) -> StoreResult<bool>;
}

/// Blob upload sessions, shared by every instance over one store.
pub(crate) trait UploadStore: Send + Sync {
    fn create(&self, repo: &str) -> StoreResult<UploadRow>;
    fn get(&self, id: &str) -> StoreResult<Option<UploadRow>>;
    /// Appends `body` at `offset`, which must be the session's committed length, keeping the
    /// session at most `limit` bytes long.
    fn append<'a>(
        &'a self,
        id: &'a str,
        offset: u64,
        limit: u64,
        body: ByteStream<'a>,
    ) -> BoxFuture<'a, StoreResult<AppendOutcome>>;
    /// The session's committed bytes.
    fn read(&self, id: &str, len: u64) -> StoreResult<ByteStream<'static>>;
    /// The session's first `len` bytes for the content store (a file it may take over, where
    /// the session has one); the session is to be removed afterwards.
    fn finished(&self, id: &str, len: u64) -> StoreResult<Finished>;
    fn remove(&self, id: &str) -> StoreResult<()>;
    /// Removes sessions untouched for `idle_secs` and their bytes; returns how many.
    fn expire(&self, idle_secs: u64) -> StoreResult<usize>;
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn parse_digest(raw: String) -> StoreResult<Digest> {
    Digest::parse(&raw).map_err(corrupt)
}

pub(crate) struct SqliteOciStore {
    conn: Mutex<Connection>,
    /// Upload sessions' own connection, with `synchronous=NORMAL`, and their bytes are not
    /// fsynced per chunk: both survive `kill -9`, and what a power cut takes from a session
    /// that was not finished makes it fail cleanly (its file is then shorter than its row
    /// says), where nothing was promised yet. A finished blob is fsynced before it is visible.
    sessions: Mutex<Connection>,
    uploads: PathBuf,
}

impl SqliteOciStore {
    pub(crate) fn open(db: &Path, uploads: &Path) -> StoreResult<Self> {
        let conn = super::sqlite::connect(db, "FULL")?;
        let sessions = super::sqlite::connect(db, "NORMAL")?;
        fs::create_dir_all(uploads)?;
        Ok(Self {
            conn: Mutex::new(conn),
            sessions: Mutex::new(sessions),
            uploads: uploads.to_path_buf(),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn data_path(&self, id: &str) -> PathBuf {
        self.uploads.join(id)
    }

    fn spooled(&self, id: &str, len: u64) -> Spooled {
        Spooled {
            path: self.data_path(id),
            len,
        }
    }
}

type RawRow = (
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn row_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn manifest_of(raw: RawRow) -> StoreResult<ManifestRow> {
    let (repo, digest, media_type, size, subject, artifact_type, annotations) = raw;
    Ok(ManifestRow {
        repo,
        digest: parse_digest(digest)?,
        media_type,
        size: u64::try_from(size).map_err(corrupt)?,
        subject: subject.map(parse_digest).transpose()?,
        artifact_type,
        annotations,
    })
}

const MANIFEST_COLUMNS: &str =
    "repo, digest, media_type, size, subject, artifact_type, annotations";

impl OciStore for SqliteOciStore {
    fn manifest(&self, repo: &str, digest: &Digest) -> StoreResult<Option<ManifestRow>> {
        let raw = self
            .conn()
            .query_row(
                &format!(
                    "SELECT {MANIFEST_COLUMNS} FROM oci_manifests WHERE repo = ?1 AND digest = ?2"
                ),
                params![repo, digest.to_string()],
                row_of,
            )
            .optional()?;
        raw.map(manifest_of).transpose()
    }

    fn tag(&self, repo: &str, tag: &str) -> StoreResult<Option<Digest>> {
        let raw: Option<String> = self
            .conn()
            .query_row(
                "SELECT digest FROM oci_tags WHERE repo = ?1 AND tag = ?2",
                params![repo, tag],
                |row| row.get(0),
            )
            .optional()?;
        raw.map(parse_digest).transpose()
    }

    fn put_manifest(
        &self,
        row: &ManifestRow,
        tag: Option<&str>,
        move_tag: bool,
    ) -> StoreResult<TagOutcome> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if let (Some(tag), false) = (tag, move_tag) {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT digest FROM oci_tags WHERE repo = ?1 AND tag = ?2",
                    params![row.repo, tag],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(existing) = existing {
                return Ok(TagOutcome::TagExists(parse_digest(existing)?));
            }
        }
        tx.execute(
            "INSERT OR IGNORE INTO oci_manifests (repo, digest, media_type, size, subject, artifact_type, annotations)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                row.repo,
                row.digest.to_string(),
                row.media_type,
                row.size as i64,
                row.subject.as_ref().map(|d| d.to_string()),
                row.artifact_type,
                row.annotations,
            ],
        )?;
        if let Some(tag) = tag {
            tx.execute(
                "INSERT OR REPLACE INTO oci_tags (repo, tag, digest) VALUES (?1, ?2, ?3)",
                params![row.repo, tag, row.digest.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(TagOutcome::Stored)
    }

    fn tags(&self, repo: &str) -> StoreResult<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT tag FROM oci_tags WHERE repo = ?1")?;
        let mut tags = stmt
            .query_map(params![repo], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        tags.sort();
        Ok(tags)
    }

    fn referrers(&self, repo: &str, subject: &Digest) -> StoreResult<Vec<ManifestRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {MANIFEST_COLUMNS} FROM oci_manifests WHERE repo = ?1 AND subject = ?2 ORDER BY digest"
        ))?;
        let raws = stmt
            .query_map(params![repo, subject.to_string()], row_of)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(manifest_of).collect()
    }

    fn manifests(&self, repo: &str) -> StoreResult<Vec<ManifestRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {MANIFEST_COLUMNS} FROM oci_manifests WHERE repo = ?1 ORDER BY digest"
        ))?;
        let raws = stmt
            .query_map(params![repo], row_of)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(manifest_of).collect()
    }

    fn tag_targets(&self, repo: &str) -> StoreResult<Vec<(String, Digest)>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT tag, digest FROM oci_tags WHERE repo = ?1 ORDER BY tag")?;
        let rows = stmt
            .query_map(params![repo], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(tag, digest)| Ok((tag, parse_digest(digest)?)))
            .collect()
    }

    fn repositories(&self) -> StoreResult<Vec<String>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT DISTINCT repo FROM oci_manifests ORDER BY repo")?;
        let repos = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(repos)
    }

    fn has_repository(&self, repo: &str) -> StoreResult<bool> {
        let found: Option<i64> = self
            .conn()
            .query_row(
                "SELECT 1 FROM oci_manifests WHERE repo = ?1 LIMIT 1",
                params![repo],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }
}

/// Session ids are 16 random bytes in hex: unguessable, and safe as file names.
pub(crate) fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("operating system random number generator failed");
    hex::encode(bytes)
}

pub(crate) fn is_session_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl UploadStore for SqliteOciStore {
    fn create(&self, repo: &str) -> StoreResult<UploadRow> {
        let id = new_session_id();
        let path = self.data_path(&id);
        File::create(&path)?;
        let t = now();
        self.sessions().execute(
            "INSERT INTO oci_uploads (id, repo, committed, started_at, updated_at) VALUES (?1, ?2, 0, ?3, ?3)",
            params![id, repo, t],
        )?;
        Ok(UploadRow {
            id,
            repo: repo.to_string(),
            committed: 0,
        })
    }

    fn get(&self, id: &str) -> StoreResult<Option<UploadRow>> {
        if !is_session_id(id) {
            return Ok(None);
        }
        let row = self
            .sessions()
            .query_row(
                "SELECT id, repo, committed FROM oci_uploads WHERE id = ?1",
                params![id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, repo, committed)) = row else {
            return Ok(None);
        };
        let committed = committed.max(0) as u64;
        // A power cut can take unsynced bytes a row still counts: such a session is gone.
        match fs::metadata(self.data_path(&id)) {
            Ok(meta) if meta.len() >= committed => {}
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        Ok(Some(UploadRow {
            id,
            repo,
            committed,
        }))
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
            let path = self.data_path(id);
            let mut file = match OpenOptions::new().write(true).open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(AppendOutcome::Unknown)
                }
                Err(e) => return Err(e.into()),
            };
            // Bytes past the committed offset were never acknowledged: a crash or a broken
            // request left them.
            file.set_len(offset)?;
            file.seek(SeekFrom::Start(offset))?;
            let mut end = offset;
            let mut pending: Vec<u8> = Vec::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|_| StoreError::Aborted)?;
                end += chunk.len() as u64;
                if end > limit {
                    file.set_len(offset)?;
                    return Ok(AppendOutcome::TooLarge);
                }
                pending.extend_from_slice(&chunk);
                if pending.len() >= 1 << 20 {
                    tokio::task::block_in_place(|| file.write_all(&pending))?;
                    pending.clear();
                }
            }
            let t = now();
            let committed = tokio::task::block_in_place(|| -> StoreResult<usize> {
                file.write_all(&pending)?;
                super::start_writeback(&file, offset, end - offset);
                Ok(self.sessions().execute(
                    "UPDATE oci_uploads SET committed = ?2, updated_at = ?3 WHERE id = ?1 AND committed = ?4",
                    params![id, end as i64, t, offset as i64],
                )?)
            })?;
            if committed == 0 {
                // Another request moved the session meanwhile (or removed it).
                return Ok(match self.get(id)? {
                    Some(r) => AppendOutcome::WrongOffset(r.committed),
                    None => AppendOutcome::Unknown,
                });
            }
            Ok(AppendOutcome::Appended(end))
        })
    }

    fn read(&self, id: &str, len: u64) -> StoreResult<ByteStream<'static>> {
        self.spooled(id, len).stream().map_err(|e| match e {
            StoreError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                corrupt(format!("upload session `{id}` lost bytes"))
            }
            e => e,
        })
    }

    fn finished(&self, id: &str, len: u64) -> StoreResult<Finished> {
        Ok(Finished::Spooled(self.spooled(id, len)))
    }

    fn remove(&self, id: &str) -> StoreResult<()> {
        self.sessions()
            .execute("DELETE FROM oci_uploads WHERE id = ?1", params![id])?;
        match fs::remove_file(self.data_path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn expire(&self, idle_secs: u64) -> StoreResult<usize> {
        let cutoff = now().saturating_sub(idle_secs as i64);
        let ids: Vec<String> = {
            let conn = self.sessions();
            let mut stmt = conn.prepare("SELECT id FROM oci_uploads WHERE updated_at <= ?1")?;
            let ids = stmt
                .query_map(params![cutoff], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            ids
        };
        for id in &ids {
            self.remove(id)?;
        }
        // Files without a row: a crash between creating the file and its row.
        let known: std::collections::HashSet<String> = {
            let conn = self.sessions();
            let mut stmt = conn.prepare("SELECT id FROM oci_uploads")?;
            let ids = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?;
            ids
        };
        for entry in fs::read_dir(&self.uploads)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age.as_secs() >= idle_secs.max(60));
            if !known.contains(&name) && old {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(ids.len())
    }
}
