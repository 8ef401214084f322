//! Blob uploads: sessions (chunked, streamed, resumable across restarts and instances),
//! monolithic uploads and mounts. Every blob is hashed as it is committed and stored only if
//! its digest is the one the client named, so no partial or mislabelled blob is ever visible.

use super::{Code, OciError, OciResult, Repo};
use crate::{
    digest::{Algorithm, Digest},
    service::Service,
    store::{AppendOutcome, ByteStream, Finished, StoreError},
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::sync::{Arc, Mutex};

/// Where an upload session stands.
#[derive(Clone, Debug)]
pub(crate) struct UploadState {
    pub repo: String,
    pub id: String,
    /// Bytes received.
    pub offset: u64,
}

pub(crate) enum MonolithicOutcome {
    Stored(Digest),
    /// Mount source not found: a session was opened instead.
    Session(UploadState),
}

fn unknown_session(id: &str) -> OciError {
    let id: String = id.chars().take(64).collect();
    OciError::new(
        Code::BlobUploadUnknown,
        format!("upload `{id}` is unknown (it may have expired or been completed)"),
    )
}

fn transport<E: std::fmt::Display>(e: E) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl Service {
    fn max_blob(&self) -> u64 {
        self.core.policies.content.max_bytes
    }

    fn too_large(&self) -> OciError {
        OciError::new(
            Code::TooLarge,
            format!("blob is larger than the limit of {} bytes", self.max_blob()),
        )
    }

    fn session(&self, repo: &Repo, id: &str) -> OciResult<crate::store::UploadRow> {
        match self.core.stores.uploads.get(id)? {
            Some(row) if row.repo == repo.name() => Ok(row),
            _ => Err(unknown_session(id)),
        }
    }

    pub(crate) fn oci_start_upload(&self, repo: &Repo) -> OciResult<UploadState> {
        let row = self.core.stores.uploads.create(repo.name())?;
        // Only a package's layer is checked by the content policy; generic content is not.
        let policy = matches!(repo, Repo::Package { .. }).then_some(&self.core.policies.content);
        self.core.uploads_seen.follow(&row.id, policy);
        Ok(UploadState {
            repo: row.repo,
            id: row.id,
            offset: 0,
        })
    }

    pub(crate) fn oci_upload_status(&self, repo: &Repo, id: &str) -> OciResult<UploadState> {
        let row = self.session(repo, id)?;
        Ok(UploadState {
            repo: row.repo,
            id: row.id,
            offset: row.committed,
        })
    }

    /// A mount: the blob is content-addressed and shared, so it is mounted whenever stored.
    pub(crate) async fn oci_mount(
        &self,
        repo: &Repo,
        digest: &Digest,
    ) -> OciResult<MonolithicOutcome> {
        if self.core.stores.content.size(digest).await?.is_some() {
            return Ok(MonolithicOutcome::Stored(digest.clone()));
        }
        self.oci_start_upload(repo).map(MonolithicOutcome::Session)
    }

    /// Appends a chunk. With `range` (`start-end` inclusive) the chunk must start where the
    /// session stands; without it (a streamed upload) it is appended wherever that is.
    pub(crate) async fn oci_append<S, E>(
        &self,
        repo: &Repo,
        id: &str,
        range: Option<(u64, u64)>,
        body: S,
    ) -> OciResult<UploadState>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let row = self.session(repo, id)?;
        let offset = match range {
            Some((start, _)) => start,
            None => row.committed,
        };
        let state = |offset| UploadState {
            repo: row.repo.clone(),
            id: row.id.clone(),
            offset,
        };
        let out_of_order = |at: u64| {
            let mut e = OciError::new(
                Code::RangeInvalid,
                format!("the chunk must start at byte {at}"),
            );
            e.upload = Some(state(at));
            e
        };
        if range.is_some_and(|(start, end)| end < start) {
            return Err(OciError::new(
                Code::RangeInvalid,
                "the Content-Range is inverted",
            ));
        }
        let seen = &self.core.uploads_seen;
        let body: ByteStream<'_> = body
            .map(|c| c.map_err(transport))
            .scan(offset, move |at, chunk| {
                let start = *at;
                if let Ok(bytes) = &chunk {
                    *at += bytes.len() as u64;
                }
                let bytes = chunk.as_ref().ok().cloned();
                async move {
                    if let Some(bytes) = bytes {
                        seen.chunk(id, start, bytes).await;
                    }
                    Some(chunk)
                }
            })
            .boxed();
        match self
            .core
            .stores
            .uploads
            .append(id, offset, self.max_blob(), body)
            .await
        {
            Ok(AppendOutcome::Appended(end)) => {
                if let Some((start, last)) = range {
                    if end != last + 1 && end > start {
                        tracing::debug!(
                            start,
                            last,
                            end,
                            "chunk length differs from its Content-Range"
                        );
                    }
                }
                Ok(state(end))
            }
            Ok(AppendOutcome::WrongOffset(at)) => Err(out_of_order(at)),
            Ok(AppendOutcome::TooLarge) => Err(self.too_large()),
            Ok(AppendOutcome::Unknown) => Err(unknown_session(id)),
            Err(StoreError::Aborted) => Err(OciError::new(
                Code::BlobUploadInvalid,
                "the chunk was not received completely",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Closes a session: appends the final chunk, then commits the blob if it has `digest`.
    pub(crate) async fn oci_close<S, E>(
        &self,
        repo: &Repo,
        id: &str,
        digest: &Digest,
        range: Option<(u64, u64)>,
        body: S,
        has_body: bool,
    ) -> OciResult<Digest>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let mut state = self.oci_upload_status(repo, id)?;
        if has_body || range.is_some() {
            state = self.oci_append(repo, id, range, body).await?;
        }
        let uploads = &self.core.stores.uploads;
        let digested = self.core.uploads_seen.finish(id, state.offset).await;
        let found = match digested {
            Some(d) if digest.algorithm() == Algorithm::Sha256 => {
                if &d.sha256 == digest {
                    if let Some(verdict) = d.verdict {
                        self.core.uploads_seen.remember(digest, verdict);
                    }
                }
                d.sha256
            }
            _ => hash_stream(uploads.read(id, state.offset)?, digest).await?,
        };
        if &found != digest {
            return Err(mismatch(digest, &found));
        }
        if self.core.stores.content.size(digest).await?.is_none() {
            let bytes = match uploads.finished(id, state.offset)? {
                Finished::Spooled(spooled) => {
                    self.core.stores.content.adopt(digest, spooled).await?
                }
                Finished::Stream(body) => self.core.stores.content.write(digest, body).await?,
            };
            self.core.metrics.upload(bytes);
            tracing::info!(%digest, bytes, "OCI blob stored");
        }
        uploads.remove(id)?;
        Ok(digest.clone())
    }

    /// A single-request upload (`POST ?digest=` or a blob of a monolithic `PUT`).
    pub(crate) async fn oci_put_blob<S, E>(&self, digest: &Digest, body: S) -> OciResult<Digest>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let body: ByteStream<'_> = body.map(|c| c.map_err(transport)).boxed();
        if self.core.stores.content.size(digest).await?.is_some() {
            let found = hash_stream(body, digest).await?;
            if &found != digest {
                return Err(mismatch(digest, &found));
            }
            return Ok(digest.clone());
        }
        self.store_verified(digest, body).await?;
        Ok(digest.clone())
    }

    /// Streams `body` into the content store under `digest`, hashing it on the way; the store
    /// keeps it only if the stream ends cleanly with the right digest and within the limit.
    async fn store_verified(&self, digest: &Digest, body: ByteStream<'_>) -> OciResult<()> {
        let refusal: Arc<Mutex<Option<OciError>>> = Arc::default();
        let limit = self.max_blob();
        let slot = refusal.clone();
        let expected = digest.clone();
        let too_large = self.too_large();
        let mut too_large = Some(too_large);
        let checked = futures_util::stream::unfold(
            (body, Some(digest.algorithm().hasher()), 0u64),
            move |(mut body, hasher, seen)| {
                let slot = slot.clone();
                let expected = expected.clone();
                let big = if seen > limit { too_large.take() } else { None };
                async move {
                    let mut hasher = hasher?;
                    let fail = |e: OciError| {
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        Some((
                            Err(std::io::Error::other("refused")),
                            (body_placeholder(), None, 0),
                        ))
                    };
                    if let Some(e) = big {
                        return fail(e);
                    }
                    match body.next().await {
                        Some(Ok(chunk)) => {
                            hasher.update(&chunk);
                            let seen = seen + chunk.len() as u64;
                            Some((Ok(chunk), (body, Some(hasher), seen)))
                        }
                        Some(Err(e)) => fail(OciError::new(
                            Code::BlobUploadInvalid,
                            format!("the upload broke off: {e}"),
                        )),
                        None => {
                            let found = hasher.finish();
                            if found != expected {
                                return fail(mismatch(&expected, &found));
                            }
                            None
                        }
                    }
                }
            },
        );
        let written = self
            .core
            .stores
            .content
            .write(digest, checked.boxed())
            .await;
        let refused = refusal.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (written, refused) {
            (Ok(bytes), _) => {
                self.core.metrics.upload(bytes);
                tracing::info!(%digest, bytes, "OCI blob stored");
                Ok(())
            }
            (Err(StoreError::Aborted), Some(refusal)) => Err(refusal),
            (Err(e), _) => Err(e.into()),
        }
    }
}

/// A stream standing in for one that is finished with.
fn body_placeholder<'a>() -> ByteStream<'a> {
    futures_util::stream::empty().boxed()
}

fn mismatch(expected: &Digest, found: &Digest) -> OciError {
    OciError::new(
        Code::DigestInvalid,
        format!("the uploaded content has digest `{found}`, not `{expected}`"),
    )
}

async fn hash_stream(mut body: ByteStream<'_>, like: &Digest) -> OciResult<Digest> {
    let mut hasher = like.algorithm().hasher();
    while let Some(chunk) = body.next().await {
        hasher.update(&chunk.map_err(StoreError::Io)?);
    }
    Ok(hasher.finish())
}
