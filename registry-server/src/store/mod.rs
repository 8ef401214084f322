//! Durable storage, behind traits so that other backends (Postgres, object storage) can replace
//! the embedded ones without touching the service or API layers.

mod blobs;
mod sqlite;

pub use blobs::{BlobWriter, FsBlobStore};
pub use sqlite::SqliteStore;

use std::path::PathBuf;
use warg_crypto::hash::AnyHash;
use warg_protocol::{
    registry::{LogId, PackageName, RecordId, RegistryIndex, TimestampedCheckpoint},
    SerdeEnvelope,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the data directory is in use by another wtool-registry process")]
    Locked,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One committed record as persisted: the exact envelope bytes plus where it sits in the log.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub registry_index: RegistryIndex,
    pub log_id: LogId,
    pub record_id: RecordId,
    /// `None` for operator records.
    pub package_name: Option<PackageName>,
    /// `ProtoEnvelope::to_protobuf` output, which keeps the signed content bytes verbatim.
    pub envelope: Vec<u8>,
}

/// A publish token as stored: only the hash of the secret is kept.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub id: String,
    pub namespaces: Vec<String>,
}

/// The append-only transparency log and its signed checkpoints.
///
/// A commit appends records and the checkpoint covering them in one atomic, durable step, so a
/// checkpoint a client has seen always refers to records that survive a crash.
pub trait LogStore: Send + Sync {
    fn load_records(&self) -> StoreResult<Vec<StoredRecord>>;
    fn load_checkpoints(&self) -> StoreResult<Vec<SerdeEnvelope<TimestampedCheckpoint>>>;
    fn commit(
        &self,
        records: &[StoredRecord],
        checkpoint: &SerdeEnvelope<TimestampedCheckpoint>,
    ) -> StoreResult<()>;
    fn insert_token(&self, id: &str, secret_hash: &str, namespaces: &[String]) -> StoreResult<()>;
    fn find_token(&self, secret_hash: &str) -> StoreResult<Option<StoredToken>>;
    fn revoke_token(&self, id: &str) -> StoreResult<bool>;
}

/// Content-addressed blob storage keyed by sha256 digest only.
pub trait BlobStore: Send + Sync {
    fn contains(&self, digest: &AnyHash) -> bool;
    /// Local path of a complete blob, for streaming it out. `None` if absent.
    fn path(&self, digest: &AnyHash) -> Option<PathBuf>;
    fn size(&self, digest: &AnyHash) -> Option<u64>;
    /// Opens a complete blob for streaming it out, with its size. `None` if absent.
    fn open(&self, digest: &AnyHash) -> StoreResult<Option<(std::fs::File, u64)>>;
    /// Starts writing a blob; it becomes visible only after [`BlobWriter::commit`].
    fn writer(&self) -> StoreResult<BlobWriter>;
}

/// Lowercase hex of a sha256 digest; the only form ever used to build blob file names.
pub fn digest_hex(digest: &AnyHash) -> Option<String> {
    if digest.algorithm() != warg_crypto::hash::HashAlgorithm::Sha256 {
        return None;
    }
    Some(hex::encode(digest.bytes()))
}
