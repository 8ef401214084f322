//! Receiving content: stream → hash and content policy, chunk by chunk → atomic commit in the
//! content store, then the pending record learns that its content arrived.

use super::{Service, SubmitOutcome};
use crate::{
    policy::{ContentCheck, ContentRejection},
    store::{StoreError, UploadFor},
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::io;
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

/// Checks content while it streams into the store.
///
/// The content policy validates forward only, chunk by chunk, so nothing is spooled or read
/// back: memory stays bounded by what the policy holds (see `policy::content`).
struct Intake<'a> {
    check: Option<ContentCheck>,
    expected: &'a AnyHash,
    hasher: Sha256,
    refusal: Option<UploadError>,
}

impl Intake<'_> {
    fn take(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        self.hasher.update(chunk);
        let Some(check) = self.check.as_mut() else {
            return Ok(());
        };
        // Validation is CPU work: block_in_place keeps other tasks running meanwhile. Content
        // that is invalid is still read to its end, so that a wrong digest is reported as
        // such; only content over the size limit is cut short.
        match tokio::task::block_in_place(|| check.feed(chunk)) {
            Err(r @ ContentRejection::TooLarge { .. }) => Err(self.rejected(r)),
            _ => Ok(()),
        }
    }

    fn finish(&mut self) -> Result<(), UploadError> {
        let found = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        if found != self.expected.to_string() {
            return Err(UploadError::DigestMismatch {
                found,
                expected: self.expected.clone(),
            });
        }
        let Some(check) = self.check.take() else {
            return Ok(());
        };
        match tokio::task::block_in_place(|| check.finish()) {
            Ok(stats) => {
                tracing::debug!(
                    peak_buffered = stats.peak_buffered,
                    skipped = stats.skipped,
                    "content validated"
                );
                Ok(())
            }
            Err(r) => Err(self.rejected(r)),
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

        let mut intake = Intake {
            check: Some(self.core.policies.content.start()),
            expected: &digest,
            hasher: Sha256::new(),
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
            .write(&(&digest).into(), checked.boxed())
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
