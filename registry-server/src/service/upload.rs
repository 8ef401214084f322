//! Receiving content: stream → size limit → hash → content policy → atomic commit in the
//! content store, then the pending record learns that its content arrived.

use super::{Service, SubmitOutcome};
use crate::{
    policy::{CheckError, ContentPolicy, ContentRejection},
    store::{StoreError, UploadFor},
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::io::{self, Seek, Write};
use warg_crypto::hash::AnyHash;

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UploadError {
    #[error("no upload was issued for `{0}`")]
    NotIssued(String),
    #[error("upload failed: {0}")]
    Transport(String),
    #[error("content digest `{found}` does not match expected digest `{expected}`")]
    DigestMismatch { found: String, expected: AnyHash },
    /// The content policy refused the content; the record it was for is rejected.
    #[error("{reason}")]
    Rejected {
        rejection: ContentRejection,
        reason: String,
    },
    #[error("cannot store content: {0}")]
    Store(#[from] StoreError),
}

/// Upload session ids are 24 random bytes in hex; anything else was never issued.
fn is_session_id(id: &str) -> bool {
    id.len() == 48 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Upload bytes are gathered into spool writes of this size.
const SPOOL_BUFFER: usize = 256 * 1024;

/// Checks content while it streams into the store.
///
/// The content policy checks complete content through a reader that seeks (it skips data
/// segments and custom sections), so the upload is also spooled to an anonymous temp file,
/// which the OS deletes however the process ends. Memory stays bounded by the spool buffer and
/// what the policy holds.
struct Intake<'a> {
    policy: &'a ContentPolicy,
    expected: &'a AnyHash,
    hasher: Sha256,
    len: u64,
    spool: io::BufWriter<std::fs::File>,
    refusal: Option<UploadError>,
}

impl Intake<'_> {
    fn take(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        self.len += chunk.len() as u64;
        self.policy
            .check_size(self.len)
            .map_err(|r| self.rejected(r))?;
        self.hasher.update(chunk);
        let spooled = if self.spool.capacity() - self.spool.buffer().len() < chunk.len() {
            // Local file writes are short; block_in_place keeps other tasks running meanwhile.
            tokio::task::block_in_place(|| self.spool.write_all(chunk))
        } else {
            self.spool.write_all(chunk)
        };
        spooled.map_err(StoreError::Io)?;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), UploadError> {
        let found = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        if found != self.expected.to_string() {
            return Err(UploadError::DigestMismatch {
                found,
                expected: self.expected.clone(),
            });
        }
        // Validation is CPU work and reads the spool back: off the async threads.
        let checked = tokio::task::block_in_place(|| -> Result<(), CheckError> {
            self.spool.flush()?;
            let file = self.spool.get_mut();
            file.rewind()?;
            let stats = self.policy.check(&*file, self.len)?;
            tracing::debug!(
                peak_buffered = stats.peak_buffered,
                skipped = stats.skipped,
                "content validated"
            );
            Ok(())
        });
        match checked {
            Ok(()) => Ok(()),
            Err(CheckError::Rejected(r)) => Err(self.rejected(r)),
            Err(CheckError::Io(e)) => Err(StoreError::Io(e).into()),
        }
    }

    fn rejected(&self, rejection: ContentRejection) -> UploadError {
        let reason = format!(
            "content with digest `{}` was rejected by policy: {rejection}",
            self.expected
        );
        UploadError::Rejected { rejection, reason }
    }
}

impl Service {
    /// Receives the content for upload session `session`: checks the size limit while it
    /// streams, its digest and the content policy before it is committed, and commits it
    /// atomically, so that refused or broken content is never stored. A policy refusal rejects
    /// the record the content was for. Answers where that record stands now.
    pub(crate) async fn receive_upload<S, E>(
        &self,
        session: &str,
        body: S,
    ) -> Result<SubmitOutcome, UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let not_issued = || UploadError::NotIssued(session.chars().take(100).collect());
        if !is_session_id(session) {
            return Err(not_issued());
        }
        let found = self.core.stores.pending.session(session)?;
        let Some(UploadFor::Record { record_id, digest }) = found.map(|s| s.purpose) else {
            return Err(not_issued());
        };

        let spool = tempfile::tempfile().map_err(StoreError::Io)?;
        let mut intake = Intake {
            policy: &self.core.policies.content,
            expected: &digest,
            hasher: Sha256::new(),
            len: 0,
            spool: io::BufWriter::with_capacity(SPOOL_BUFFER, spool),
            refusal: None,
        };
        let body = std::pin::pin!(body);
        // Each chunk passes the intake on its way to the store; the first refusal ends the
        // stream with an error, which makes the store drop what it has.
        let checked = futures_util::stream::unfold(
            (body, &mut intake, false),
            |(mut body, intake, done)| async move {
                if done {
                    return None;
                }
                let step = match body.next().await {
                    Some(Ok(chunk)) => match intake.take(&chunk) {
                        Ok(()) => return Some((Ok(chunk), (body, intake, false))),
                        Err(e) => e,
                    },
                    Some(Err(e)) => UploadError::Transport(e.to_string()),
                    None => match intake.finish() {
                        Ok(()) => return None,
                        Err(e) => e,
                    },
                };
                intake.refusal = Some(step);
                let abort = io::Error::other("the upload was refused");
                Some((Err(abort), (body, intake, true)))
            },
        );
        let written = self
            .core
            .stores
            .content
            .write(&digest, checked.boxed())
            .await;
        let bytes = match (written, intake.refusal.take()) {
            (Ok(bytes), _) => bytes,
            (Err(StoreError::Aborted), Some(UploadError::Rejected { rejection, reason })) => {
                self.core.metrics.record_rejected();
                self.core.reject(&record_id, reason.clone());
                return Err(UploadError::Rejected { rejection, reason });
            }
            (Err(StoreError::Aborted), Some(refusal)) => return Err(refusal),
            (Err(e), _) => return Err(e.into()),
        };
        self.core.metrics.upload(bytes);
        tracing::info!(%digest, bytes, "content stored");
        let outcome = self.content_stored(&record_id, &digest).await?;
        if let SubmitOutcome::Rejected(reason) = &outcome {
            tracing::info!(%record_id, %reason, "record rejected after its content arrived");
        }
        Ok(outcome)
    }
}
