//! Moving and checking whole stores, for operators: `copy` (which `backup` and `restore` are
//! too) and `verify`. Both read the source log the way a start does, so every record and every
//! checkpoint is checked before anything is trusted.
//!
//! A copy moves content first, then secrets, tokens and OCI metadata, then the log, one
//! checkpoint at a time, verbatim (records and signed checkpoints keep their bytes), and last
//! replays the destination to check what arrived. Every step skips what the destination holds
//! already, so a copy that was cut off resumes where it stopped; a destination whose log is not
//! a prefix of the source's is refused.

use super::state::{ReplayError, State};
use crate::{
    digest::Digest,
    store::{ByteStream, StoreError, Stores},
};
use futures_util::StreamExt;
use std::collections::BTreeSet;

#[derive(Debug, thiserror::Error)]
pub(crate) enum MaintenanceError {
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the destination's log ({dest} records) is not a prefix of the source's ({theirs} records); it holds another registry")]
    Diverged { dest: usize, theirs: usize },
    #[error("the destination holds a different `{0}`; it belongs to another registry")]
    OtherSecret(String),
    #[error("the source's blob {0} does not have its digest: the source is corrupt")]
    CorruptSource(Digest),
}

/// What a copy moved (and found already there).
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct CopyReport {
    pub records: usize,
    pub checkpoints: usize,
    pub blobs_copied: usize,
    pub blobs_present: usize,
    pub tokens: usize,
    pub manifests: usize,
    pub log_length: usize,
}

/// What a verify found.
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct VerifyReport {
    pub log_length: usize,
    pub checkpoints: usize,
    pub blobs: usize,
    /// Blobs whose bytes do not have their digest.
    pub corrupt: Vec<String>,
    /// Content that records or manifests refer to and the store lacks.
    pub missing: Vec<String>,
}

impl VerifyReport {
    pub(crate) fn ok(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty()
    }
}

/// Reads a blob whole, checking its digest on the way; the stream ends with an error (and so
/// aborts a write) if the bytes do not match.
async fn checked(
    stores: &Stores,
    digest: &Digest,
) -> Result<Option<ByteStream<'static>>, StoreError> {
    let Some(size) = stores.content.size(digest).await? else {
        return Ok(None);
    };
    let Some(body) = stores.content.read_range(digest, 0, size).await? else {
        return Ok(None);
    };
    let expected = digest.clone();
    let mut hasher = Some(expected.algorithm().hasher());
    // `None` marks the end, where the digest is checked.
    let checked = body
        .map(Some)
        .chain(futures_util::stream::once(async { None }))
        .map(move |item| match item {
            Some(Ok(bytes)) => {
                if let Some(h) = hasher.as_mut() {
                    h.update(&bytes);
                }
                Ok(bytes)
            }
            Some(Err(e)) => Err(e),
            None => match hasher.take().map(|h| h.finish()) {
                Some(found) if found != expected => Err(std::io::Error::other(format!(
                    "blob {expected} does not have its digest"
                ))),
                _ => Ok(bytes::Bytes::new()),
            },
        });
    Ok(Some(checked.boxed()))
}

/// Whether a stored blob's bytes have its digest.
async fn intact(stores: &Stores, digest: &Digest) -> Result<bool, StoreError> {
    let Some(mut body) = checked(stores, digest).await? else {
        return Ok(false);
    };
    while let Some(chunk) = body.next().await {
        if chunk.is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The secrets a registry signs with; copied so that the destination signs alike.
pub(crate) const SECRETS: [&str; 3] = [
    crate::config::KEY_FILE,
    crate::config::OCI_KEY_FILE,
    crate::config::OCI_TOKEN_SECRET_FILE,
];

pub(crate) async fn copy(from: &Stores, to: &Stores) -> Result<CopyReport, MaintenanceError> {
    let mut report = CopyReport::default();
    let source = State::replay(from.log.load_since(0)?)?;
    let source_len = source.log_length();
    let dest_len = to.log.length()?;
    if dest_len > 0 {
        let (_, dest_checkpoints) = to.log.load_since(dest_len - 1)?;
        let same = dest_checkpoints
            .last()
            .zip(source.checkpoints.get(&dest_len));
        let same = same
            .is_some_and(|(d, s)| serde_json::to_string(d).ok() == serde_json::to_string(s).ok());
        if dest_len > source_len || !same {
            return Err(MaintenanceError::Diverged {
                dest: dest_len,
                theirs: source_len,
            });
        }
    }

    for digest in from.content.list().await? {
        if to.content.size(&digest).await?.is_some() {
            report.blobs_present += 1;
            continue;
        }
        let Some(body) = checked(from, &digest).await? else {
            continue;
        };
        match to.content.write(&digest, body).await {
            Ok(_) => report.blobs_copied += 1,
            Err(StoreError::Aborted) => return Err(MaintenanceError::CorruptSource(digest)),
            Err(e) => return Err(e.into()),
        }
    }

    for name in SECRETS {
        if let Some(value) = from.secrets.get(name)? {
            if to.secrets.get_or_insert(name, value.clone())? != value {
                return Err(MaintenanceError::OtherSecret(name.to_string()));
            }
        }
    }
    for token in from.tokens.all()? {
        to.tokens.restore(&token)?;
        report.tokens += 1;
    }
    for repo in from.oci.repositories()? {
        for manifest in from.oci.manifests(&repo)? {
            to.oci.put_manifest(&manifest, None, false)?;
            report.manifests += 1;
        }
        for (tag, digest) in from.oci.tag_targets(&repo)? {
            if let Some(manifest) = from.oci.manifest(&repo, &digest)? {
                to.oci.put_manifest(&manifest, Some(&tag), true)?;
            }
        }
    }

    let (records, checkpoints) = from.log.load_since(dest_len)?;
    let mut records = records.into_iter().peekable();
    for checkpoint in checkpoints {
        let len = checkpoint.as_ref().checkpoint.log_length;
        let mut batch = Vec::new();
        while records.peek().is_some_and(|r| r.registry_index < len) {
            batch.extend(records.next());
        }
        report.records += batch.len();
        to.log.commit(&batch, &checkpoint)?;
        report.checkpoints += 1;
    }
    // What arrived must replay to the same log.
    let arrived = State::replay(to.log.load_since(0)?)?;
    report.log_length = arrived.log_length();
    if arrived
        .latest_checkpoint()
        .map(|c| c.as_ref().checkpoint.clone())
        != source
            .latest_checkpoint()
            .map(|c| c.as_ref().checkpoint.clone())
    {
        return Err(MaintenanceError::Diverged {
            dest: arrived.log_length(),
            theirs: source_len,
        });
    }
    Ok(report)
}

pub(crate) async fn verify(stores: &Stores) -> Result<VerifyReport, MaintenanceError> {
    let state = State::replay(stores.log.load_since(0)?)?;
    let mut report = VerifyReport {
        log_length: state.log_length(),
        checkpoints: state.checkpoints.len(),
        ..Default::default()
    };
    let stored: BTreeSet<String> = stores
        .content
        .list()
        .await?
        .iter()
        .map(Digest::to_string)
        .collect();
    for raw in &stored {
        let digest = Digest::parse(raw).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        report.blobs += 1;
        if !intact(stores, &digest).await? {
            report.corrupt.push(raw.clone());
        }
    }
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for log in state.packages.values() {
        for release in log.state.releases() {
            if let Some(content) = release.content() {
                wanted.insert(content.to_string());
            }
        }
    }
    for repo in stores.oci.repositories()? {
        for manifest in stores.oci.manifests(&repo)? {
            wanted.insert(manifest.digest.to_string());
        }
    }
    report.missing = wanted.difference(&stored).cloned().collect();
    Ok(report)
}
