//! Durable storage behind traits, so that other backends (PostgreSQL for metadata, object
//! storage for content) can replace the embedded ones without touching the service or the API.
//!
//! Nothing here names a file or a database: content is read as a stream (or a redirect to a
//! URL), content is written from a stream that commits atomically, and backend errors are
//! carried as [`StoreError::Backend`]. The one exception is [`Spooled`]: bytes that already wait
//! in a local file (a finished upload session), which a content store may take over instead of
//! copying.

mod fs;
pub(crate) mod migrate;
mod object;
mod oci;
pub(crate) mod open;
mod pending_sqlite;
mod postgres;
mod secrets;
mod sqlite;

pub(crate) use fs::FsContentStore;
pub(crate) use oci::{
    is_session_id, new_session_id, AppendOutcome, ManifestRow, OciStore, SqliteOciStore,
    TagOutcome, UploadRow, UploadStore,
};
pub(crate) use pending_sqlite::SqlitePendingStore;
pub(crate) use secrets::FileSecretStore;
pub(crate) use sqlite::{SqliteLogStore, SqliteTokenStore};

use crate::digest::Digest;
use bytes::Bytes;
use futures_util::{future::BoxFuture, stream::BoxStream, StreamExt};
use indexmap::IndexMap;
use warg_crypto::hash::AnyHash;
use warg_protocol::{
    package::PackageRecord,
    registry::{LogId, PackageName, RecordId, RegistryIndex, TimestampedCheckpoint},
    ProtoEnvelope, SerdeEnvelope,
};

#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("storage error: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the data directory is in use by another wtool-registry process")]
    Locked,
    /// The stream being written failed (or was refused by its reader); nothing was stored.
    #[error("the content stream ended with an error; nothing was stored")]
    Aborted,
    /// A backend that is shared over the network did not answer (down, or every pooled
    /// connection busy); the request may succeed when it is retried.
    #[error("{0}")]
    Unavailable(String),
    /// Another instance committed to the log first; it now has this length.
    #[error("another instance extended the log first (it is now {0} records long)")]
    Conflict(usize),
}

impl StoreError {
    /// Whether the store's disk (or quota) is full: nothing was stored, reads still work, and
    /// writes work again once its operator frees space.
    pub(crate) fn is_full(&self) -> bool {
        fn io_full(e: &std::io::Error) -> bool {
            use std::io::ErrorKind;
            matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
                || e.get_ref()
                    .and_then(|inner| inner.downcast_ref::<std::io::Error>())
                    .is_some_and(io_full)
        }
        match self {
            StoreError::Io(e) => io_full(e),
            StoreError::Backend(b) => {
                b.downcast_ref::<rusqlite::Error>()
                    .is_some_and(|e| e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull))
                    || b.downcast_ref::<std::io::Error>().is_some_and(io_full)
            }
            _ => false,
        }
    }
}

/// What a client is told when the store's disk is full.
pub(crate) const FULL: &str =
    "the registry's disk is full, so nothing was stored; reads still work, and writes will \
     again once its operator frees space";

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Asks the kernel to start writing `len` bytes of `file` from `offset` to disk, without
/// waiting. An upload arrives in chunks and is fsynced once it is complete; bytes already on
/// their way by then make that fsync short. Only a hint: it changes nothing that is promised.
pub(crate) fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for the whole call, and the call reads no memory.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

pub(crate) type StoreResult<T> = Result<T, StoreError>;

/// One committed record as persisted: the exact envelope bytes plus where it sits in the log.
#[derive(Debug, Clone)]
pub(crate) struct StoredRecord {
    pub registry_index: RegistryIndex,
    pub log_id: LogId,
    pub record_id: RecordId,
    /// `None` for operator records.
    pub package_name: Option<PackageName>,
    /// `ProtoEnvelope::to_protobuf` output, which keeps the signed content bytes verbatim.
    pub envelope: Vec<u8>,
}

impl StoredRecord {
    /// A record from its stored columns, as both metadata databases keep them.
    pub(crate) fn from_columns(
        index: i64,
        log_id: &str,
        record_id: &str,
        name: Option<String>,
        envelope: Vec<u8>,
    ) -> StoreResult<Self> {
        let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
        let hash = |text: &str| text.parse::<AnyHash>().map_err(|e| corrupt(&e));
        Ok(Self {
            registry_index: usize::try_from(index).map_err(|e| corrupt(&e))?,
            log_id: hash(log_id)?.into(),
            record_id: hash(record_id)?.into(),
            package_name: name
                .map(|n| PackageName::new(n).map_err(|e| corrupt(&e)))
                .transpose()?,
            envelope,
        })
    }
}

impl PendingStatus {
    /// The `status` and `reason` columns.
    pub(crate) fn columns(&self) -> (&'static str, Option<&str>) {
        match self {
            PendingStatus::Sourcing => ("sourcing", None),
            PendingStatus::Processing => ("processing", None),
            PendingStatus::Rejected(reason) => ("rejected", Some(reason)),
        }
    }

    pub(crate) fn from_columns(status: &str, reason: Option<String>) -> StoreResult<Self> {
        match status {
            "sourcing" => Ok(PendingStatus::Sourcing),
            "processing" => Ok(PendingStatus::Processing),
            "rejected" => Ok(PendingStatus::Rejected(reason.unwrap_or_default())),
            other => Err(StoreError::Corrupt(format!(
                "unknown pending status `{other}`"
            ))),
        }
    }
}

/// Every store the service works over, on whichever backends the config chose.
pub(crate) struct Stores {
    pub log: std::sync::Arc<dyn LogStore>,
    pub content: std::sync::Arc<dyn ContentStore>,
    pub tokens: std::sync::Arc<dyn TokenStore>,
    pub pending: std::sync::Arc<dyn PendingStore>,
    pub oci: std::sync::Arc<dyn OciStore>,
    pub uploads: std::sync::Arc<dyn UploadStore>,
    pub secrets: std::sync::Arc<dyn SecretStore>,
    /// Whether other instances may share these stores (a shared database): the service then
    /// refreshes its view of the log from the store.
    pub shared: bool,
}

/// Records and the checkpoints that cover them.
pub(crate) type LogTail = (Vec<StoredRecord>, Vec<SerdeEnvelope<TimestampedCheckpoint>>);

/// The append-only transparency log and its signed checkpoints.
///
/// A commit appends records and the checkpoint covering them in one atomic, durable step, so a
/// checkpoint a client has seen always refers to records that survive a crash. Calls block;
/// the service makes them from the writer's blocking task, its refresh task, or at startup.
pub(crate) trait LogStore: Send + Sync {
    /// The records from registry index `from` on, and the checkpoints of lengths past `from`,
    /// read from one snapshot.
    fn load_since(&self, from: usize) -> StoreResult<LogTail>;
    /// The length the latest checkpoint covers (0 for an empty store).
    fn length(&self) -> StoreResult<usize>;
    /// Appends `records` and `checkpoint`, which must extend the log exactly where the store's
    /// latest checkpoint ends; otherwise nothing is written and the answer is
    /// [`StoreError::Conflict`] (another instance sharing the store committed first).
    fn commit(
        &self,
        records: &[StoredRecord],
        checkpoint: &SerdeEnvelope<TimestampedCheckpoint>,
    ) -> StoreResult<()>;
    /// A signal that another instance sharing the store may have committed, where the
    /// backend can announce commits; polling covers the rest.
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// Keys and secrets the registry makes once and keeps (the operator key, the OCI publisher key,
/// the token-signing secret), shared by every instance over one store.
pub(crate) trait SecretStore: Send + Sync {
    fn get(&self, name: &str) -> StoreResult<Option<String>>;
    /// The stored value, storing `value` first if there is none (a concurrent caller's value
    /// may win; every caller gets the same answer).
    fn get_or_insert(&self, name: &str, value: String) -> StoreResult<String>;
}

/// A publish token as stored: only the hash of the secret is kept.
#[derive(Debug, Clone)]
pub(crate) struct StoredToken {
    pub id: String,
    pub namespaces: Vec<String>,
}

/// A token row whole, for copying a store.
#[derive(Debug, Clone)]
pub(crate) struct TokenRow {
    pub id: String,
    pub secret_hash: String,
    pub namespaces: Vec<String>,
    pub created_at: i64,
    pub revoked: bool,
}

/// Publish tokens, by the hash of their secret.
pub(crate) trait TokenStore: Send + Sync {
    /// Every token, revoked ones too.
    fn all(&self) -> StoreResult<Vec<TokenRow>>;
    /// Stores a copied token unless one with its id exists.
    fn restore(&self, row: &TokenRow) -> StoreResult<()>;
    fn insert(&self, id: &str, secret_hash: &str, namespaces: &[String]) -> StoreResult<()>;
    /// The live (unrevoked) token with this secret hash.
    fn find(&self, secret_hash: &str) -> StoreResult<Option<StoredToken>>;
    /// The live (unrevoked) token with this id.
    fn find_by_id(&self, id: &str) -> StoreResult<Option<StoredToken>>;
    /// Whether a token with this id existed.
    fn revoke(&self, id: &str) -> StoreResult<bool>;
}

/// Bytes flowing in or out of the content store.
pub(crate) type ByteStream<'a> = BoxStream<'a, std::io::Result<Bytes>>;

/// How stored content is read back.
pub(crate) enum Content {
    /// The bytes themselves, `len` of them.
    Stream { len: u64, body: ByteStream<'static> },
    /// A URL the client fetches the bytes from (an object store's signed URL).
    #[allow(dead_code)] // the shape for object storage; the file store always streams
    Redirect(url::Url),
}

/// Content-addressed blob storage keyed by digest (algorithm and hex). A blob, once stored, never changes and is
/// shared by every front end.
pub(crate) trait ContentStore: Send + Sync {
    /// The size of a stored blob; `None` if absent.
    fn size<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, StoreResult<Option<u64>>>;
    /// Reads a stored blob; `None` if absent.
    fn read<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, StoreResult<Option<Content>>>;
    /// Reads `len` bytes of a stored blob from `start`; `None` if absent or shorter.
    fn read_range<'a>(
        &'a self,
        digest: &'a Digest,
        start: u64,
        len: u64,
    ) -> BoxFuture<'a, StoreResult<Option<ByteStream<'static>>>>;
    /// Stores `body` under `digest` and returns its length. The blob becomes visible only if the
    /// stream ends without an error, and then atomically and durably; if an item is an error,
    /// nothing is stored and the answer is [`StoreError::Aborted`]. The caller has checked, or
    /// checks within the stream, that the bytes have this digest.
    fn write<'a>(
        &'a self,
        digest: &'a Digest,
        body: ByteStream<'a>,
    ) -> BoxFuture<'a, StoreResult<u64>>;
    /// Every stored blob.
    fn list(&self) -> BoxFuture<'_, StoreResult<Vec<Digest>>>;
    /// Stores the bytes of `spooled` under `digest`, as [`write`](Self::write) does, taking the
    /// file over where that is cheaper than copying it (a rename on the same file system). The
    /// caller has checked the digest. The file is gone afterwards either way.
    fn adopt<'a>(
        &'a self,
        digest: &'a Digest,
        spooled: Spooled,
    ) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(copy_in(self, digest, spooled))
    }
    /// Frees what interrupted writes left behind in the store (object storage's unfinished
    /// multipart uploads); returns how many it freed. Files need nothing: a partial file is
    /// never renamed into place.
    fn sweep(&self) -> BoxFuture<'_, StoreResult<usize>> {
        Box::pin(async { Ok(0) })
    }
}

/// [`ContentStore::adopt`] by copying: the bytes are written as any upload is.
pub(crate) async fn copy_in<S: ContentStore + ?Sized>(
    store: &S,
    digest: &Digest,
    spooled: Spooled,
) -> StoreResult<u64> {
    let body = spooled.stream()?;
    let len = store.write(digest, body).await?;
    spooled.discard();
    Ok(len)
}

/// A finished upload session's bytes, as the content store takes them.
pub(crate) enum Finished {
    /// In a local file the content store may take over.
    Spooled(Spooled),
    /// Read back from a shared store.
    Stream(ByteStream<'static>),
}

/// Bytes that wait in a local file of their own, such as a finished upload session's.
pub(crate) struct Spooled {
    pub path: std::path::PathBuf,
    pub len: u64,
}

impl Spooled {
    /// The file's bytes, in chunks.
    pub(crate) fn stream(&self) -> StoreResult<ByteStream<'static>> {
        let file = std::fs::File::open(&self.path)?;
        if file.metadata()?.len() < self.len {
            return Err(StoreError::Io(std::io::Error::from(
                std::io::ErrorKind::UnexpectedEof,
            )));
        }
        Ok(fs::file_chunks(file, self.len).boxed())
    }

    pub(crate) fn discard(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where a pending record stands.
#[derive(Clone, Debug)]
pub(crate) enum PendingStatus {
    Sourcing,
    Processing,
    Rejected(String),
}

/// A record accepted for processing but not committed yet.
#[derive(Clone)]
pub(crate) struct PendingRecord {
    pub record_id: RecordId,
    pub log_id: LogId,
    pub name: PackageName,
    pub envelope: ProtoEnvelope<PackageRecord>,
    /// Missing digests, each with the id of the upload session issued for it.
    pub missing: IndexMap<AnyHash, String>,
    pub status: PendingStatus,
}

/// An upload the server issued; the id is the unguessable part of the upload URL, and the only
/// thing that ties an (unauthenticated) upload to what it is for.
#[derive(Clone)]
pub(crate) struct UploadSession {
    pub purpose: UploadFor,
}

/// What an upload session receives content for. OCI blob uploads (`/v2/<name>/blobs/uploads/`)
/// become a second variant, keyed by repository, whose digest is known only at the end.
#[derive(Clone)]
pub(crate) enum UploadFor {
    /// One missing digest of a pending warg record.
    Record {
        record_id: RecordId,
        digest: AnyHash,
    },
}

/// Pending records and their upload sessions: state that several server instances sharing one
/// store must agree on, so they persist: an upload URL the server issued stays valid across a
/// restart. A record counts as acknowledged only once it is committed to the [`LogStore`], so
/// losing the newest pending changes (to a power cut, say) loses nothing a client was promised.
pub(crate) trait PendingStore: Send + Sync {
    /// Stores a record and opens an upload session for each missing digest. If a record with
    /// the same id is pending and not rejected, nothing changes and that record is returned.
    fn insert(&self, record: PendingRecord) -> StoreResult<Option<PendingRecord>>;
    fn get(&self, record_id: &RecordId) -> StoreResult<Option<PendingRecord>>;
    /// Changes a pending record atomically and closes the upload sessions of digests it no
    /// longer misses; returns the record as changed, or `None` if it is not pending.
    fn update(
        &self,
        record_id: &RecordId,
        change: &mut dyn FnMut(&mut PendingRecord),
    ) -> StoreResult<Option<PendingRecord>>;
    /// Forgets a record (once committed) and closes its sessions.
    fn remove(&self, record_id: &RecordId) -> StoreResult<()>;
    /// Whether any pending record belongs to this log.
    fn has_log(&self, log_id: &LogId) -> StoreResult<bool>;
    fn session(&self, id: &str) -> StoreResult<Option<UploadSession>>;
    /// The records whose content is all present but which were not committed yet: after a
    /// restart, the service hands them to the writer again.
    fn processing(&self) -> StoreResult<Vec<PendingRecord>>;
}
