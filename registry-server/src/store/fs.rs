//! Content as files: `blobs/<algorithm>/<hex>`, written to `blobs/tmp/` first, fsynced and renamed so
//! that a reader (or a crash) never sees a partial blob.

use super::{ByteStream, Content, ContentStore, Spooled, StoreError, StoreResult};
use crate::digest::{Algorithm, Digest};
use bytes::Bytes;
use futures_util::{future::BoxFuture, StreamExt};
use std::{
    fs::{self, File},
    io::{Read, Write},
    path::{Path, PathBuf},
};

pub(crate) struct FsContentStore {
    root: PathBuf,
    tmp_dir: PathBuf,
}

/// Upload bytes are gathered into writes of this size, and downloads read in chunks of it.
const CHUNK: usize = 256 * 1024;

impl FsContentStore {
    pub(crate) fn open(root: &Path) -> StoreResult<Self> {
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            fs::create_dir_all(root.join(algorithm.name()))?;
        }
        let tmp_dir = root.join("tmp");
        fs::create_dir_all(&tmp_dir)?;
        // Leftovers of uploads interrupted by a crash are garbage: nothing refers to them.
        for entry in fs::read_dir(&tmp_dir)? {
            let _ = fs::remove_file(entry?.path());
        }
        Ok(Self {
            root: root.to_path_buf(),
            tmp_dir,
        })
    }

    fn final_dir(&self, digest: &Digest) -> PathBuf {
        self.root.join(digest.algorithm().name())
    }

    fn final_path(&self, digest: &Digest) -> StoreResult<PathBuf> {
        Ok(self.final_dir(digest).join(digest.hex()))
    }

    fn open_blob(&self, digest: &Digest) -> StoreResult<Option<(File, u64)>> {
        let file = match File::open(self.final_path(digest)?) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let meta = file.metadata()?;
        Ok(meta.is_file().then_some((file, meta.len())))
    }
}

impl ContentStore for FsContentStore {
    fn list(&self) -> BoxFuture<'_, StoreResult<Vec<Digest>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
                for entry in fs::read_dir(self.root.join(algorithm.name()))? {
                    let name = entry?.file_name().to_string_lossy().to_string();
                    if let Ok(d) = Digest::parse(&format!("{}:{name}", algorithm.name())) {
                        out.push(d);
                    }
                }
            }
            out.sort_by_key(|d| d.to_string());
            Ok(out)
        })
    }

    fn size<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, StoreResult<Option<u64>>> {
        Box::pin(async move {
            let path = self.final_path(digest)?;
            Ok(fs::metadata(path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len()))
        })
    }

    fn read<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, StoreResult<Option<Content>>> {
        Box::pin(async move {
            Ok(self.open_blob(digest)?.map(|(file, len)| Content::Stream {
                len,
                body: file_chunks(file, len).boxed(),
            }))
        })
    }

    fn read_range<'a>(
        &'a self,
        digest: &'a Digest,
        start: u64,
        len: u64,
    ) -> BoxFuture<'a, StoreResult<Option<ByteStream<'static>>>> {
        Box::pin(async move {
            let Some((mut file, size)) = self.open_blob(digest)? else {
                return Ok(None);
            };
            if start.saturating_add(len) > size {
                return Ok(None);
            }
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start))?;
            Ok(Some(file_chunks(file, len).boxed()))
        })
    }

    fn write<'a>(
        &'a self,
        digest: &'a Digest,
        mut body: ByteStream<'a>,
    ) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(async move {
            let target = self.final_path(digest)?;
            let tmp = tempfile::Builder::new()
                .prefix("upload-")
                .tempfile_in(&self.tmp_dir)?;
            let mut file = Batched::new(tmp);
            while let Some(chunk) = body.next().await {
                // Dropping the temp file deletes it: nothing of a failed stream remains.
                let chunk = chunk.map_err(|_| StoreError::Aborted)?;
                file.write(&chunk)?;
            }
            let len = file.written;
            let final_dir = self.final_dir(digest);
            // fsync and rename are disk waits: off the async threads.
            tokio::task::spawn_blocking(move || file.persist(&target, &final_dir))
                .await
                .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
            Ok(len)
        })
    }

    fn adopt<'a>(
        &'a self,
        digest: &'a Digest,
        spooled: Spooled,
    ) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(async move {
            let target = self.final_path(digest)?;
            let final_dir = self.final_dir(digest);
            let path = spooled.path.clone();
            let len = spooled.len;
            let renamed = tokio::task::spawn_blocking(move || -> StoreResult<bool> {
                let file = fs::OpenOptions::new().write(true).open(&path)?;
                if file.metadata()?.len() < len {
                    return Err(StoreError::Io(std::io::Error::from(
                        std::io::ErrorKind::UnexpectedEof,
                    )));
                }
                // Bytes past `len` were never acknowledged (a broken request left them).
                file.set_len(len)?;
                file.sync_all()?;
                match fs::rename(&path, &target) {
                    Ok(()) => {
                        File::open(&final_dir)?.sync_all()?;
                        Ok(true)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => Ok(false),
                    Err(e) => Err(e.into()),
                }
            })
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
            if renamed {
                return Ok(len);
            }
            // Another file system: copy, as any other store would.
            super::copy_in(self, digest, spooled).await
        })
    }
}

/// A temp file written in large writes.
struct Batched {
    tmp: tempfile::NamedTempFile,
    pending: Vec<u8>,
    written: u64,
}

impl Batched {
    fn new(tmp: tempfile::NamedTempFile) -> Self {
        Self {
            tmp,
            pending: Vec::new(),
            written: 0,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> StoreResult<()> {
        self.written += bytes.len() as u64;
        if self.pending.len() + bytes.len() < CHUNK {
            self.pending.extend_from_slice(bytes);
            return Ok(());
        }
        // Local file writes are short; block_in_place keeps other tasks running meanwhile.
        tokio::task::block_in_place(|| -> StoreResult<()> {
            self.flush()?;
            if bytes.len() >= CHUNK {
                self.tmp.as_file_mut().write_all(bytes)?;
            } else {
                self.pending.extend_from_slice(bytes);
            }
            Ok(())
        })
    }

    fn flush(&mut self) -> StoreResult<()> {
        if !self.pending.is_empty() {
            self.tmp.as_file_mut().write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    fn persist(mut self, target: &Path, final_dir: &Path) -> StoreResult<()> {
        self.flush()?;
        self.tmp.as_file().sync_all()?;
        self.tmp
            .persist(target)
            .map_err(|e| StoreError::Io(e.error))?;
        File::open(final_dir)?.sync_all()?;
        Ok(())
    }
}

/// The file's bytes in chunks of [`CHUNK`], each read on the blocking pool straight into the
/// buffer that is sent (no intermediate copy), one chunk in flight at a time.
pub(super) fn file_chunks(
    file: File,
    len: u64,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    futures_util::stream::try_unfold((file, len), |(mut file, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let n = left.min(CHUNK as u64) as usize;
        // Allocated here rather than on the blocking thread: the buffer is freed on this side
        // once sent, and allocating and freeing on the same thread keeps the allocator from
        // holding freed chunks in one arena per blocking thread.
        let mut buf = Vec::with_capacity(n);
        let (file, chunk) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            // Read into spare capacity: no zeroing of the buffer first.
            (&mut file).take(n as u64).read_to_end(&mut buf)?;
            if buf.len() < n {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            Ok((file, buf))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(Some((Bytes::from(chunk), (file, left - n as u64))))
    })
}
