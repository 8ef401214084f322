//! Blob files: `blobs/sha256/<hex>`, written to `blobs/tmp/` first, fsynced and renamed so that a
//! reader (or a crash) never sees a partial blob.

use super::{digest_hex, BlobStore, StoreError, StoreResult};
use std::{
    fs::{self, File},
    io::Write,
    path::{Path, PathBuf},
};
use warg_crypto::hash::AnyHash;

pub struct FsBlobStore {
    final_dir: PathBuf,
    tmp_dir: PathBuf,
}

impl FsBlobStore {
    pub fn open(root: &Path) -> StoreResult<Self> {
        let final_dir = root.join("sha256");
        let tmp_dir = root.join("tmp");
        fs::create_dir_all(&final_dir)?;
        fs::create_dir_all(&tmp_dir)?;
        // Leftovers of uploads interrupted by a crash are garbage: nothing refers to them.
        for entry in fs::read_dir(&tmp_dir)? {
            let _ = fs::remove_file(entry?.path());
        }
        Ok(Self { final_dir, tmp_dir })
    }

    fn final_path(&self, digest: &AnyHash) -> Option<PathBuf> {
        digest_hex(digest).map(|hex| self.final_dir.join(hex))
    }
}

impl BlobStore for FsBlobStore {
    fn contains(&self, digest: &AnyHash) -> bool {
        self.final_path(digest).is_some_and(|p| p.is_file())
    }

    fn path(&self, digest: &AnyHash) -> Option<PathBuf> {
        self.final_path(digest).filter(|p| p.is_file())
    }

    fn size(&self, digest: &AnyHash) -> Option<u64> {
        self.path(digest)
            .and_then(|p| fs::metadata(p).ok())
            .map(|m| m.len())
    }

    fn open(&self, digest: &AnyHash) -> StoreResult<Option<(File, u64)>> {
        let Some(path) = self.final_path(digest) else {
            return Ok(None);
        };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Ok(None);
        }
        Ok(Some((file, meta.len())))
    }

    fn writer(&self) -> StoreResult<BlobWriter> {
        let tmp = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&self.tmp_dir)?;
        Ok(BlobWriter {
            tmp,
            pending: Vec::new(),
            written: 0,
            final_dir: self.final_dir.clone(),
        })
    }
}

/// Upload bytes are gathered into writes of this size.
const WRITE_BUFFER: usize = 256 * 1024;

/// An in-progress blob. Dropping it without committing deletes the temp file.
pub struct BlobWriter {
    tmp: tempfile::NamedTempFile,
    pending: Vec<u8>,
    written: u64,
    final_dir: PathBuf,
}

impl BlobWriter {
    /// Appends bytes; they reach the file in large writes.
    pub fn write_all(&mut self, bytes: &[u8]) -> StoreResult<()> {
        self.written += bytes.len() as u64;
        if self.pending.len() + bytes.len() < WRITE_BUFFER {
            self.pending.extend_from_slice(bytes);
            return Ok(());
        }
        self.flush()?;
        if bytes.len() >= WRITE_BUFFER {
            self.tmp.as_file_mut().write_all(bytes)?;
        } else {
            self.pending.extend_from_slice(bytes);
        }
        Ok(())
    }

    /// Whether the next [`write_all`](Self::write_all) of `len` bytes would write to the file
    /// (callers use it to move only those calls off the async threads).
    pub fn would_write(&self, len: usize) -> bool {
        self.pending.len() + len >= WRITE_BUFFER
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.written
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    fn flush(&mut self) -> StoreResult<()> {
        if !self.pending.is_empty() {
            self.tmp.as_file_mut().write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Everything written so far, read back from the start of the temp file (for validation
    /// before the blob is committed).
    pub fn reader(&mut self) -> StoreResult<File> {
        self.flush()?;
        Ok(self.tmp.reopen()?)
    }

    /// Makes the blob durable under its digest. The caller has already checked the digest.
    pub fn commit(mut self, digest: &AnyHash) -> StoreResult<()> {
        let hex = digest_hex(digest)
            .ok_or_else(|| StoreError::Corrupt(format!("unsupported digest `{digest}`")))?;
        self.flush()?;
        self.tmp.as_file().sync_all()?;
        let target = self.final_dir.join(hex);
        self.tmp
            .persist(&target)
            .map_err(|e| StoreError::Io(e.error))?;
        File::open(&self.final_dir)?.sync_all()?;
        Ok(())
    }
}
