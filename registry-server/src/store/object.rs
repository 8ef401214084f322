//! Content in object storage (S3 or anything that speaks its API, through `object_store`):
//! `<prefix>/blobs/<algorithm>/<hex>`. A blob becomes visible only when its upload completes,
//! which happens only after the whole stream was read without an error (the caller's digest
//! check is part of the stream), so no reader ever sees a partial or unverified blob.
//!
//! Small blobs go up in one `PUT`; larger ones as a multipart upload of whole parts (S3 wants
//! at least 5 MiB per part), so memory stays at a few parts whatever the blob's size. An
//! upload cut off by a crash is never completed and so never visible. Each multipart upload
//! leaves a marker (`<prefix>/uploads/…`) until it completes or is aborted, and
//! [`sweep`](ContentStore::sweep) aborts the uploads whose markers are older than a day, which
//! frees the parts a crash left behind.

use super::{ByteStream, Content, ContentStore, StoreError, StoreResult};
use crate::digest::Digest;
use futures_util::{future::BoxFuture, StreamExt, TryStreamExt};
use object_store::{
    multipart::{MultipartStore, PartId},
    path::Path,
    signer::Signer,
    GetOptions, GetRange, ObjectStore, ObjectStoreExt,
};
use sha2::Digest as _;
use std::{sync::Arc, time::Duration};

/// S3's smallest part but the last.
const PART: usize = 5 * 1024 * 1024;
/// Parts in flight at once.
const PARTS_IN_FLIGHT: usize = 2;
/// How long a presigned download URL stays valid.
const REDIRECT_TTL: Duration = Duration::from_secs(300);

pub(crate) struct ObjectContentStore {
    store: Arc<dyn ObjectStore>,
    /// The same store's multipart calls, by upload id, so that an upload a crash cut off can
    /// still be aborted.
    multipart: Arc<dyn MultipartStore>,
    prefix: Path,
    /// Set when downloads answer with a presigned URL instead of the bytes.
    signer: Option<Arc<dyn Signer>>,
    /// Multipart uploads older than this are taken for abandoned.
    abandon_after: Duration,
}

/// What a multipart upload's marker holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Marker {
    path: String,
    id: String,
}

impl ObjectContentStore {
    pub(crate) fn new<S>(
        store: Arc<S>,
        prefix: &str,
        signer: Option<Arc<dyn Signer>>,
        abandon_after: Duration,
    ) -> Self
    where
        S: ObjectStore + MultipartStore,
    {
        Self {
            store: store.clone(),
            multipart: store,
            prefix: Path::from(prefix),
            signer,
            abandon_after,
        }
    }

    fn marker(&self, id: &str) -> Path {
        let name = hex::encode(sha2::Sha256::digest(id.as_bytes()));
        self.prefix.clone().join("uploads").join(name)
    }

    /// Uploads `head` and the rest of `body` in parts, then completes the upload; on any
    /// failure the upload is aborted. Returns the bytes read from `body`.
    async fn multipart(
        &self,
        path: &Path,
        head: Vec<u8>,
        body: &mut ByteStream<'_>,
    ) -> StoreResult<u64> {
        let id = self
            .multipart
            .create_multipart(path)
            .await
            .map_err(backend)?;
        let marker = self.marker(&id);
        let note = serde_json::to_vec(&Marker {
            path: path.to_string(),
            id: id.clone(),
        })
        .expect("a marker serialises");
        let result = match self.store.put(&marker, note.into()).await {
            Ok(_) => self.parts(path, &id, head, body).await,
            Err(e) => Err(backend(e)),
        };
        if result.is_err() {
            let _ = self.multipart.abort_multipart(path, &id).await;
        }
        let _ = self.store.delete(&marker).await;
        result
    }

    async fn parts(
        &self,
        path: &Path,
        id: &String,
        head: Vec<u8>,
        body: &mut ByteStream<'_>,
    ) -> StoreResult<u64> {
        let mut len = head.len() as u64;
        let mut buffer = head;
        let mut in_flight = futures_util::stream::FuturesOrdered::new();
        let mut done: Vec<PartId> = Vec::new();
        let mut index = 0;
        let mut finished = false;
        while !finished {
            while buffer.len() < PART && !finished {
                match body.next().await {
                    Some(Ok(chunk)) => {
                        len += chunk.len() as u64;
                        buffer.extend_from_slice(&chunk);
                    }
                    Some(Err(_)) => return Err(StoreError::Aborted),
                    None => finished = true,
                }
            }
            // Whole parts while the body lasts; what is left goes last, whatever its size.
            while buffer.len() >= PART || (finished && !buffer.is_empty()) {
                let rest = buffer.split_off(buffer.len().min(PART));
                let part = std::mem::replace(&mut buffer, rest);
                let store = self.multipart.clone();
                let (path, id) = (path.clone(), id.clone());
                let at = index;
                index += 1;
                in_flight
                    .push_back(async move { store.put_part(&path, &id, at, part.into()).await });
                if in_flight.len() >= PARTS_IN_FLIGHT {
                    if let Some(r) = in_flight.next().await {
                        done.push(r.map_err(backend)?);
                    }
                }
            }
        }
        while let Some(r) = in_flight.next().await {
            done.push(r.map_err(backend)?);
        }
        self.multipart
            .complete_multipart(path, id, done)
            .await
            .map_err(backend)?;
        Ok(len)
    }

    fn path(&self, digest: &Digest) -> Path {
        self.prefix
            .clone()
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }
}

fn backend(e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::Generic { .. } => {
            StoreError::Unavailable(format!("the object store did not answer: {e}"))
        }
        other => StoreError::Backend(Box::new(other)),
    }
}

fn io(e: object_store::Error) -> std::io::Error {
    std::io::Error::other(e)
}

impl ContentStore for ObjectContentStore {
    fn list(&self) -> BoxFuture<'_, StoreResult<Vec<Digest>>> {
        Box::pin(async move {
            let prefix = self.prefix.clone().join("blobs");
            let mut listed = self.store.list(Some(&prefix));
            let mut out = Vec::new();
            while let Some(meta) = listed.next().await {
                let meta = meta.map_err(backend)?;
                let mut parts: Vec<String> = meta
                    .location
                    .parts()
                    .map(|p| p.as_ref().to_string())
                    .collect();
                let hex = parts.pop().unwrap_or_default();
                let algorithm = parts.pop().unwrap_or_default();
                if let Ok(d) = Digest::parse(&format!("{algorithm}:{hex}")) {
                    out.push(d);
                }
            }
            out.sort_by_key(|d| d.to_string());
            Ok(out)
        })
    }

    fn size<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, StoreResult<Option<u64>>> {
        Box::pin(async move {
            match self.store.head(&self.path(digest)).await {
                Ok(meta) => Ok(Some(meta.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(backend(e)),
            }
        })
    }

    fn read<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, StoreResult<Option<Content>>> {
        Box::pin(async move {
            let path = self.path(digest);
            if let Some(signer) = &self.signer {
                if self.size(digest).await?.is_none() {
                    return Ok(None);
                }
                let url = signer
                    .signed_url(axum::http::Method::GET, &path, REDIRECT_TTL)
                    .await
                    .map_err(backend)?;
                return Ok(Some(Content::Redirect(url)));
            }
            match self.store.get(&path).await {
                Ok(got) => {
                    let len = got.meta.size;
                    Ok(Some(Content::Stream {
                        len,
                        body: got.into_stream().map_err(io).boxed(),
                    }))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(backend(e)),
            }
        })
    }

    fn read_range<'a>(
        &'a self,
        digest: &'a Digest,
        start: u64,
        len: u64,
    ) -> BoxFuture<'a, StoreResult<Option<ByteStream<'static>>>> {
        Box::pin(async move {
            let options = GetOptions {
                range: Some(GetRange::Bounded(start..start + len)),
                ..Default::default()
            };
            match self.store.get_opts(&self.path(digest), options).await {
                Ok(got) if got.range.end - got.range.start == len => {
                    Ok(Some(got.into_stream().map_err(io).boxed()))
                }
                Ok(_) => Ok(None),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(backend(e)),
            }
        })
    }

    fn write<'a>(
        &'a self,
        digest: &'a Digest,
        mut body: ByteStream<'a>,
    ) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(async move {
            let path = self.path(digest);
            let mut head: Vec<u8> = Vec::new();
            // Gather the first part: a blob that fits goes up in one request.
            while head.len() < PART {
                match body.next().await {
                    Some(Ok(chunk)) => head.extend_from_slice(&chunk),
                    Some(Err(_)) => return Err(StoreError::Aborted),
                    None => {
                        let len = head.len() as u64;
                        self.store.put(&path, head.into()).await.map_err(backend)?;
                        return Ok(len);
                    }
                }
            }
            // `head` holds every byte read so far.
            self.multipart(&path, head, &mut body).await
        })
    }

    fn sweep(&self) -> BoxFuture<'_, StoreResult<usize>> {
        Box::pin(async move {
            let cutoff = chrono::Utc::now()
                - chrono::Duration::from_std(self.abandon_after).unwrap_or(chrono::Duration::MAX);
            let prefix = self.prefix.clone().join("uploads");
            let mut listed = self.store.list(Some(&prefix));
            let mut stale = Vec::new();
            while let Some(meta) = listed.next().await {
                let meta = meta.map_err(backend)?;
                if meta.last_modified < cutoff {
                    stale.push(meta.location);
                }
            }
            drop(listed);
            let mut aborted = 0;
            for marker in stale {
                let Ok(got) = self.store.get(&marker).await else {
                    continue;
                };
                let bytes = got.bytes().await.map_err(backend)?;
                if let Ok(m) = serde_json::from_slice::<Marker>(&bytes) {
                    // Gone already (completed, or aborted by the store) is as good as aborted.
                    let _ = self
                        .multipart
                        .abort_multipart(&Path::from(m.path), &m.id)
                        .await;
                    aborted += 1;
                }
                self.store.delete(&marker).await.map_err(backend)?;
            }
            Ok(aborted)
        })
    }
}
