//! Submission paths: pre-checks at the edge, pending records, and waiting for the writer's
//! commit.

use super::{writer::Submission, Service};
use crate::store::{PendingRecord, PendingStatus, StoreError};
use indexmap::IndexMap;
use std::{collections::HashSet, time::Duration};
use warg_api::v1::package::PackageError;
use warg_crypto::{
    hash::{AnyHash, Sha256},
    Signable,
};
use warg_protocol::{
    operator::NamespaceState,
    package::{self, PackageEntry},
    registry::{LogId, PackageName, RecordId, RegistryIndex},
    ProtoEnvelope, Record as _,
};

/// How long a submit or upload waits for its commit before answering `processing`.
const COMMIT_WAIT: Duration = Duration::from_secs(5);

/// What the front ends report for a record.
#[derive(Clone, Debug)]
pub(crate) enum SubmitOutcome {
    Published(RegistryIndex),
    Processing,
    /// Missing digests, each with the id of the upload session issued for it.
    Sourcing(Vec<(AnyHash, String)>),
    Rejected(String),
}

impl PendingRecord {
    fn outcome(&self) -> SubmitOutcome {
        match &self.status {
            PendingStatus::Sourcing => SubmitOutcome::Sourcing(
                self.missing
                    .iter()
                    .map(|(d, n)| (d.clone(), n.clone()))
                    .collect(),
            ),
            PendingStatus::Processing => SubmitOutcome::Processing,
            PendingStatus::Rejected(reason) => SubmitOutcome::Rejected(reason.clone()),
        }
    }
}

/// A fresh unguessable id for an upload session (it is the secret part of the upload URL).
fn new_session_id() -> String {
    let mut bytes = [0u8; 24];
    // The OS RNG failing is not recoverable for a server that issues secrets.
    getrandom::fill(&mut bytes).expect("operating system random number generator failed");
    hex::encode(bytes)
}

fn store_failed(e: StoreError) -> PackageError {
    tracing::error!("pending store failed: {e}");
    if e.is_full() {
        return PackageError::Message {
            status: 507,
            message: crate::store::FULL.into(),
        };
    }
    match e {
        StoreError::Unavailable(why) => PackageError::Message {
            status: 503,
            message: format!("the registry's store is unavailable: {why}; try again"),
        },
        _ => PackageError::Message {
            status: 500,
            message: "the registry could not store the record".into(),
        },
    }
}

impl Service {
    /// Checks everything that can be checked before storing a submission: the namespace, and the
    /// signature against the log's keys (or the init key for a new log).
    pub(crate) fn precheck(
        &self,
        log_id: &LogId,
        name: &PackageName,
        envelope: &ProtoEnvelope<package::PackageRecord>,
    ) -> Result<(), PackageError> {
        let state = self.core.read();
        match state.operator.state.namespace_state(name.namespace()) {
            Some(NamespaceState::Defined) => {}
            Some(NamespaceState::Imported { .. }) => {
                return Err(PackageError::NamespaceImported(
                    name.namespace().to_string(),
                ))
            }
            None => {
                return Err(PackageError::NamespaceNotDefined(
                    name.namespace().to_string(),
                ))
            }
        }
        let key = match state
            .packages
            .get(log_id)
            .and_then(|log| log.state.public_key(envelope.key_id()))
        {
            Some(key) => key.clone(),
            None => match envelope.as_ref().entries.first() {
                Some(PackageEntry::Init { key, .. }) => key.clone(),
                _ => {
                    return Err(PackageError::Unauthorized(format!(
                        "unknown key id `{}`",
                        envelope.key_id()
                    )))
                }
            },
        };
        package::PackageRecord::verify(&key, envelope.content_bytes(), envelope.signature())
            .map_err(|_| {
                PackageError::Unauthorized(format!(
                    "record signature `{}` verification failed",
                    envelope.signature()
                ))
            })
    }

    /// Stores a checked submission and, if its content is all present, commits it.
    pub(crate) async fn submit(
        &self,
        log_id: LogId,
        name: PackageName,
        envelope: ProtoEnvelope<package::PackageRecord>,
    ) -> Result<SubmitOutcome, PackageError> {
        let record_id = RecordId::package_record::<Sha256>(&envelope);
        if let Some(outcome) = self.committed_outcome(&log_id, &record_id) {
            return Ok(outcome);
        }
        let mut missing = IndexMap::new();
        for digest in envelope.as_ref().contents() {
            if !self.has_content(digest).await && !missing.contains_key(digest) {
                missing.insert(digest.clone(), new_session_id());
            }
        }
        let status = if missing.is_empty() {
            PendingStatus::Processing
        } else {
            PendingStatus::Sourcing
        };
        let record = PendingRecord {
            record_id: record_id.clone(),
            log_id: log_id.clone(),
            name: name.clone(),
            envelope: envelope.clone(),
            missing,
            status,
        };
        let outcome = record.outcome();
        // A record already pending (a retry, or a concurrent duplicate) keeps its sessions.
        if let Some(existing) = self
            .core
            .stores
            .pending
            .insert(record)
            .map_err(store_failed)?
        {
            return Ok(existing.outcome());
        }
        if !matches!(outcome, SubmitOutcome::Processing) {
            return Ok(outcome);
        }
        Ok(self
            .commit_and_wait(log_id, name, record_id, envelope)
            .await)
    }

    /// Hands the writer the records a previous run accepted with all their content but did not
    /// commit before it stopped; a record it did commit is only forgotten.
    pub(super) async fn resume_processing(self) {
        let records = match self.core.stores.pending.processing() {
            Ok(records) => records,
            Err(e) => {
                tracing::error!("cannot read pending records: {e}");
                return;
            }
        };
        for r in records {
            if self.committed_outcome(&r.log_id, &r.record_id).is_some() {
                self.core.forget(&r.record_id);
                continue;
            }
            let (reply, _) = tokio::sync::oneshot::channel();
            let submission = Submission {
                log_id: r.log_id,
                name: r.name,
                record_id: r.record_id,
                envelope: r.envelope,
                reply,
            };
            if self.submit_tx.send(submission).await.is_err() {
                return;
            }
        }
    }

    /// Whether content is stored; a store that cannot answer counts as not having it (the
    /// client is then asked to upload it again).
    pub(super) async fn has_content(&self, digest: &AnyHash) -> bool {
        match self.core.stores.content.size(&digest.into()).await {
            Ok(size) => size.is_some(),
            Err(e) => {
                tracing::error!(%digest, "content store failed: {e}");
                false
            }
        }
    }

    async fn commit_and_wait(
        &self,
        log_id: LogId,
        name: PackageName,
        record_id: RecordId,
        envelope: ProtoEnvelope<package::PackageRecord>,
    ) -> SubmitOutcome {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let submission = Submission {
            log_id,
            name,
            record_id: record_id.clone(),
            envelope,
            reply,
        };
        if self.submit_tx.send(submission).await.is_err() {
            let reason = "the registry is shutting down".to_string();
            self.core.reject(&record_id, reason.clone());
            return SubmitOutcome::Rejected(reason);
        }
        match tokio::time::timeout(COMMIT_WAIT, rx).await {
            Ok(Ok(outcome)) => outcome,
            _ => SubmitOutcome::Processing,
        }
    }

    fn committed_outcome(&self, log_id: &LogId, record_id: &RecordId) -> Option<SubmitOutcome> {
        let state = self.core.read();
        state
            .positions
            .get(record_id)
            .filter(|p| &p.log_id == log_id)
            .map(|p| SubmitOutcome::Published(p.registry_index))
    }

    pub(crate) fn record_status(
        &self,
        log_id: &LogId,
        record_id: &RecordId,
    ) -> Result<SubmitOutcome, PackageError> {
        if let Some(outcome) = self.committed_outcome(log_id, record_id) {
            return Ok(outcome);
        }
        let pending = &self.core.stores.pending;
        if let Some(r) = pending
            .get(record_id)
            .map_err(store_failed)?
            .filter(|r| &r.log_id == log_id)
        {
            return Ok(r.outcome());
        }
        // Another instance sharing the store may have committed it since this one looked.
        if self.core.stores.shared {
            self.core.refresh_logged();
            if let Some(outcome) = self.committed_outcome(log_id, record_id) {
                return Ok(outcome);
            }
        }
        let known_log = self.core.read().packages.contains_key(log_id)
            || pending.has_log(log_id).map_err(store_failed)?;
        if known_log {
            Err(PackageError::RecordNotFound(record_id.clone()))
        } else {
            Err(PackageError::LogNotFound(log_id.clone()))
        }
    }

    /// Marks `digest` of a record as stored; commits the record once nothing is missing.
    pub(super) async fn content_stored(
        &self,
        record_id: &RecordId,
        digest: &AnyHash,
    ) -> Result<SubmitOutcome, StoreError> {
        let pending = &self.core.stores.pending;
        let Some(record) = pending.get(record_id)? else {
            return Ok(SubmitOutcome::Rejected(
                "the record is no longer pending".into(),
            ));
        };
        // Content may also have arrived through another record's upload meanwhile.
        let mut present = HashSet::from([digest.clone()]);
        for other in record.missing.keys() {
            if other != digest && self.has_content(other).await {
                present.insert(other.clone());
            }
        }
        // Only the upload that moves the record out of `sourcing` submits it.
        let mut ready = false;
        let updated = pending.update(record_id, &mut |r| {
            r.missing.retain(|d, _| !present.contains(d));
            if r.missing.is_empty() && matches!(r.status, PendingStatus::Sourcing) {
                r.status = PendingStatus::Processing;
                ready = true;
            }
        })?;
        Ok(match updated {
            Some(r) if ready => {
                self.commit_and_wait(r.log_id, r.name, r.record_id, r.envelope)
                    .await
            }
            Some(r) => r.outcome(),
            None => SubmitOutcome::Rejected("the record is no longer pending".into()),
        })
    }
}

impl super::Core {
    /// Marks a pending record rejected and closes its upload sessions.
    pub(super) fn reject(&self, record_id: &RecordId, reason: String) {
        let rejected = self.stores.pending.update(record_id, &mut |r| {
            r.missing.clear();
            r.status = PendingStatus::Rejected(reason.clone());
        });
        if let Err(e) = rejected {
            tracing::error!(%record_id, "cannot mark the record rejected: {e}");
        }
    }

    /// Forgets a pending record once it is committed.
    pub(super) fn forget(&self, record_id: &RecordId) {
        if let Err(e) = self.stores.pending.remove(record_id) {
            tracing::error!(%record_id, "cannot drop the pending record: {e}");
        }
    }
}
