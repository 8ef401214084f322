//! Submission paths: pre-checks at the edge, pending records, uploads, and waiting for the
//! writer's commit.

use super::{
    pending::{new_nonce, PendingRecord, PendingStatus, UploadTarget},
    writer::Submission,
    Service, SubmitOutcome,
};
use indexmap::IndexMap;
use std::time::Duration;
use warg_api::v1::package::PackageError;
use warg_crypto::{
    hash::{AnyHash, Sha256},
    Signable,
};
use warg_protocol::{
    operator::NamespaceState,
    package::{self, PackageEntry},
    registry::{LogId, PackageName, RecordId},
    ProtoEnvelope, Record as _,
};

/// How long a submit or upload waits for its commit before answering `processing`.
const COMMIT_WAIT: Duration = Duration::from_secs(5);

impl Service {
    /// Checks everything that can be checked before storing a submission: the namespace, and the
    /// signature against the log's keys (or the init key for a new log).
    pub fn precheck(
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
    pub async fn submit(
        &self,
        log_id: LogId,
        name: PackageName,
        envelope: ProtoEnvelope<package::PackageRecord>,
    ) -> SubmitOutcome {
        let record_id = RecordId::package_record::<Sha256>(&envelope);
        if let Some(outcome) = self.committed_outcome(&log_id, &record_id) {
            return outcome;
        }
        {
            let mut pending = self.core.pending();
            if let Some(existing) = pending.records.get(&record_id) {
                if !matches!(existing.status, PendingStatus::Rejected(_)) {
                    return existing.outcome();
                }
            }
            let missing: IndexMap<AnyHash, String> = envelope
                .as_ref()
                .contents()
                .into_iter()
                .filter(|d| !self.core.blobs.contains(d))
                .map(|d| (d.clone(), new_nonce()))
                .collect();
            let status = if missing.is_empty() {
                PendingStatus::Processing
            } else {
                PendingStatus::Sourcing
            };
            let record = PendingRecord {
                log_id: log_id.clone(),
                name: name.clone(),
                envelope: envelope.clone(),
                missing,
                status,
            };
            let outcome = record.outcome();
            pending.insert(record_id.clone(), record);
            if !matches!(outcome, SubmitOutcome::Processing) {
                return outcome;
            }
        }
        self.commit_and_wait(log_id, name, record_id, envelope)
            .await
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
            self.core.pending().reject(&record_id, reason.clone());
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

    pub fn record_status(
        &self,
        log_id: &LogId,
        record_id: &RecordId,
    ) -> Result<SubmitOutcome, PackageError> {
        if let Some(outcome) = self.committed_outcome(log_id, record_id) {
            return Ok(outcome);
        }
        let pending = self.core.pending();
        match pending.records.get(record_id) {
            Some(r) if &r.log_id == log_id => Ok(r.outcome()),
            _ => {
                let known_log = self.core.read().packages.contains_key(log_id)
                    || pending.records.values().any(|r| &r.log_id == log_id);
                if known_log {
                    Err(PackageError::RecordNotFound(record_id.clone()))
                } else {
                    Err(PackageError::LogNotFound(log_id.clone()))
                }
            }
        }
    }

    pub fn upload_target(&self, nonce: &str) -> Option<UploadTarget> {
        self.core.pending().uploads.get(nonce).cloned()
    }

    pub fn reject(&self, record_id: &RecordId, reason: String) {
        self.core.metrics.record_rejected();
        self.core.pending().reject(record_id, reason);
    }

    /// Marks one digest of a record as stored; commits the record once nothing is missing.
    pub async fn content_stored(&self, target: &UploadTarget) -> SubmitOutcome {
        let ready = {
            let mut pending = self.core.pending();
            let Some(record) = pending.records.get_mut(&target.record_id) else {
                return SubmitOutcome::Rejected("the record is no longer pending".into());
            };
            if let Some(nonce) = record.missing.shift_remove(&target.digest) {
                pending.uploads.remove(&nonce);
            }
            let record = pending
                .records
                .get_mut(&target.record_id)
                .expect("present above");
            // Content may also have arrived through another record's upload meanwhile.
            let blobs = &self.core.blobs;
            let arrived: Vec<String> = record
                .missing
                .iter()
                .filter(|(d, _)| blobs.contains(d))
                .map(|(_, nonce)| nonce.clone())
                .collect();
            record.missing.retain(|d, _| !blobs.contains(d));
            let ready =
                if record.missing.is_empty() && matches!(record.status, PendingStatus::Sourcing) {
                    record.status = PendingStatus::Processing;
                    Some((
                        record.log_id.clone(),
                        record.name.clone(),
                        record.envelope.clone(),
                    ))
                } else {
                    None
                };
            for nonce in arrived {
                pending.uploads.remove(&nonce);
            }
            ready
        };
        match ready {
            Some((log_id, name, envelope)) => {
                self.commit_and_wait(log_id, name, target.record_id.clone(), envelope)
                    .await
            }
            None => SubmitOutcome::Processing,
        }
    }
}
