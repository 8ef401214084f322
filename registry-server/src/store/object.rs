//! Content in object storage (S3 or anything that speaks its API, through `object_store`):
//! `<prefix>/blobs/<algorithm>/<hex>`. A blob becomes visible only when its upload completes,
//! which happens only after the whole stream was read without an error (the caller's digest
//! check is part of the stream), so no reader ever sees a partial or unverified blob.
//!
//! Small blobs go up in one `PUT`; larger ones as a multipart upload of whole parts (S3 wants
//! at least 5 MiB per part), so memory stays at a few parts whatever the blob's size. An
//! upload cut off by a crash is never completed and so never visible; a bucket lifecycle rule
//! (`AbortIncompleteMultipartUpload`) reclaims its parts.

use super::{ByteStream, Content, ContentStore, StoreError, StoreResult};
use crate::digest::Digest;
use futures_util::{future::BoxFuture, StreamExt, TryStreamExt};
use object_store::{
    path::Path, signer::Signer, GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart,
};
use std::{sync::Arc, time::Duration};

/// S3's smallest part but the last.
const PART: usize = 5 * 1024 * 1024;
/// Parts in flight at once.
const PARTS_IN_FLIGHT: usize = 2;
/// How long a presigned download URL stays valid.
const REDIRECT_TTL: Duration = Duration::from_secs(300);

pub(crate) struct ObjectContentStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// Set when downloads answer with a presigned URL instead of the bytes.
    signer: Option<Arc<dyn Signer>>,
}

impl ObjectContentStore {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        signer: Option<Arc<dyn Signer>>,
    ) -> Self {
        Self {
            store,
            prefix: Path::from(prefix),
            signer,
        }
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
            let mut len = 0u64;
            let mut head: Vec<u8> = Vec::new();
            // Gather the first part: a blob that fits goes up in one request.
            while head.len() < PART {
                match body.next().await {
                    Some(Ok(chunk)) => {
                        len += chunk.len() as u64;
                        head.extend_from_slice(&chunk);
                    }
                    Some(Err(_)) => return Err(StoreError::Aborted),
                    None => {
                        self.store.put(&path, head.into()).await.map_err(backend)?;
                        return Ok(len);
                    }
                }
            }
            let upload = self.store.put_multipart(&path).await.map_err(backend)?;
            let mut parts = WriteMultipart::new_with_chunk_size(upload, PART);
            parts.write(&head);
            drop(head);
            loop {
                match body.next().await {
                    Some(Ok(chunk)) => {
                        len += chunk.len() as u64;
                        if let Err(e) = parts.wait_for_capacity(PARTS_IN_FLIGHT).await {
                            let _ = parts.abort().await;
                            return Err(backend(e));
                        }
                        parts.write(&chunk);
                    }
                    Some(Err(_)) => {
                        let _ = parts.abort().await;
                        return Err(StoreError::Aborted);
                    }
                    None => break,
                }
            }
            parts.finish().await.map_err(backend)?;
            Ok(len)
        })
    }
}
