//! Read paths and the submission entry points used by the API layer. Errors are the `warg-api`
//! error enums, so the API layer only has to serialise them.

use super::{
    pending::{new_nonce, PendingRecord, PendingStatus, UploadTarget},
    writer::Submission,
    Service, SubmitOutcome,
};
use indexmap::IndexMap;
use std::time::Duration;
use warg_api::v1::{
    fetch::{FetchError, FetchLogsResponse, PublishedRecord},
    monitor::{CheckpointVerificationResponse, VerificationState},
    package::PackageError,
    proof::{ConsistencyResponse, InclusionResponse, ProofError},
};
use warg_crypto::{
    hash::{AnyHash, Sha256},
    Encode, Signable,
};
use warg_protocol::{
    operator::NamespaceState,
    package::{self, PackageEntry},
    registry::{
        LogId, LogLeaf, MapLeaf, PackageName, RecordId, RegistryIndex, RegistryLen,
        TimestampedCheckpoint,
    },
    ProtoEnvelope, PublishedProtoEnvelopeBody, Record as _, SerdeEnvelope,
};
use warg_transparency::{
    log::{LogData, LogProofBundle},
    map::MapProofBundle,
};

/// How long a submit or upload waits for its commit before answering `processing`.
const COMMIT_WAIT: Duration = Duration::from_secs(5);

pub struct FetchLogsQuery<'a> {
    pub log_length: RegistryLen,
    pub limit: u16,
    pub operator: Option<&'a str>,
    pub packages: &'a IndexMap<LogId, Option<String>>,
}

fn parse_token(token: &str) -> Result<RecordId, FetchError> {
    token
        .parse::<AnyHash>()
        .map(RecordId::from)
        .map_err(|_| FetchError::FetchTokenNotFound(token.to_string()))
}

fn published<R>(
    envelope: &ProtoEnvelope<R>,
    registry_index: RegistryIndex,
    token: String,
) -> PublishedRecord
where
    R: Clone,
{
    PublishedRecord {
        envelope: PublishedProtoEnvelopeBody {
            envelope: envelope.clone().into(),
            registry_index,
        },
        fetch_token: token,
    }
}

impl Service {
    pub fn latest_checkpoint(&self) -> Option<SerdeEnvelope<TimestampedCheckpoint>> {
        self.core.read().latest_checkpoint().cloned()
    }

    pub fn fetch_logs(&self, q: FetchLogsQuery<'_>) -> Result<FetchLogsResponse, FetchError> {
        let state = self.core.read();
        if !state.checkpoints.contains_key(&q.log_length) {
            return Err(FetchError::CheckpointNotFound(q.log_length));
        }
        let limit = q.limit as usize;
        let op_id = super::state::operator_log_id();

        // Fetch tokens are record ids; one is valid only for a committed record of that log.
        let start_after = |log_id: &LogId, token: &str| -> Result<usize, FetchError> {
            let rid = parse_token(token)?;
            match state.positions.get(&rid) {
                Some(p) if &p.log_id == log_id => Ok(p.index_in_log + 1),
                _ => Err(FetchError::FetchTokenNotFound(token.to_string())),
            }
        };

        let start = match q.operator {
            Some(t) => start_after(&op_id, t)?,
            None => 0,
        };
        let operator: Vec<PublishedRecord> = state
            .operator
            .entries
            .iter()
            .skip(start)
            .take_while(|e| e.registry_index < q.log_length)
            .take(limit)
            .map(|e| {
                let token = RecordId::operator_record::<Sha256>(&e.envelope).to_string();
                published(&e.envelope, e.registry_index, token)
            })
            .collect();
        let mut more = operator.len() == limit;

        let mut packages = IndexMap::new();
        for (log_id, token) in q.packages {
            let log = state
                .packages
                .get(log_id)
                .ok_or_else(|| FetchError::LogNotFound(log_id.clone()))?;
            let start = match token {
                Some(t) => start_after(log_id, t)?,
                None => {
                    // A log with nothing inside the requested checkpoint does not exist yet
                    // from the client's point of view; an empty list would look like lying.
                    if log.entries.first().map(|e| e.registry_index) >= Some(q.log_length) {
                        return Err(FetchError::LogNotFound(log_id.clone()));
                    }
                    0
                }
            };
            let records: Vec<PublishedRecord> = log
                .entries
                .iter()
                .skip(start)
                .take_while(|e| e.registry_index < q.log_length)
                .take(limit)
                .map(|e| {
                    let token = RecordId::package_record::<Sha256>(&e.envelope).to_string();
                    published(&e.envelope, e.registry_index, token)
                })
                .collect();
            more |= records.len() == limit;
            packages.insert(log_id.clone(), records);
        }

        Ok(FetchLogsResponse {
            more,
            operator,
            packages,
            warnings: Vec::new(),
        })
    }

    pub fn package_names(
        &self,
        ids: &[LogId],
    ) -> Result<IndexMap<LogId, Option<PackageName>>, FetchError> {
        let state = self.core.read();
        ids.iter()
            .take(1000)
            .map(|id| match state.packages.get(id) {
                Some(log) => Ok((id.clone(), Some(log.name.clone()))),
                None => Err(FetchError::LogNotFound(id.clone())),
            })
            .collect()
    }

    pub fn prove_inclusion(
        &self,
        log_length: RegistryLen,
        leafs: &[RegistryIndex],
    ) -> Result<InclusionResponse, ProofError> {
        let state = self.core.read();
        let map = state
            .map_snapshots
            .get(&log_length)
            .ok_or(ProofError::CheckpointNotFound(log_length))?;
        let map_root = map.root().clone();
        let mut log_proofs = Vec::with_capacity(leafs.len());
        let mut map_proofs = Vec::with_capacity(leafs.len());
        for &leaf in leafs {
            if leaf >= log_length {
                return Err(ProofError::LeafNotFound(leaf));
            }
            let (LogLeaf { log_id, record_id }, node) = state
                .leaves
                .get(leaf)
                .ok_or(ProofError::LeafNotFound(leaf))?;
            log_proofs.push(state.log.prove_inclusion(*node, log_length));
            let proof = map
                .prove(log_id.clone())
                .ok_or_else(|| ProofError::PackageLogNotIncluded(log_id.clone()))?;
            let found = proof.evaluate(
                log_id,
                &MapLeaf {
                    record_id: record_id.clone(),
                },
            );
            if found != map_root {
                return Err(ProofError::IncorrectProof {
                    root: map_root.into(),
                    found: found.into(),
                });
            }
            map_proofs.push(proof);
        }
        let log = LogProofBundle::bundle(vec![], log_proofs, &state.log)
            .map_err(|e| ProofError::BundleFailure(e.to_string()))?;
        Ok(InclusionResponse {
            log: log.encode(),
            map: MapProofBundle::bundle(map_proofs).encode(),
        })
    }

    pub fn prove_consistency(
        &self,
        from: RegistryLen,
        to: RegistryLen,
    ) -> Result<ConsistencyResponse, ProofError> {
        let state = self.core.read();
        for len in [from, to] {
            if !state.checkpoints.contains_key(&len) {
                return Err(ProofError::CheckpointNotFound(len));
            }
        }
        if from > to {
            return Err(ProofError::BundleFailure(format!(
                "cannot prove consistency from log length {from} to the shorter length {to}"
            )));
        }
        let proof = state.log.prove_consistency(from, to);
        let bundle = LogProofBundle::bundle(vec![proof], vec![], &state.log)
            .map_err(|e| ProofError::BundleFailure(e.to_string()))?;
        Ok(ConsistencyResponse {
            proof: bundle.encode(),
        })
    }

    /// Leaves `[start, start + limit)` of the published log, for the ledger.
    pub fn ledger_leaves(&self, start: RegistryIndex, limit: usize) -> Vec<LogLeaf> {
        let state = self.core.read();
        let published = state
            .latest_checkpoint()
            .map(|c| c.as_ref().checkpoint.log_length)
            .unwrap_or(0);
        state
            .leaves
            .iter()
            .take(published)
            .skip(start)
            .take(limit)
            .map(|(leaf, _)| leaf.clone())
            .collect()
    }

    pub fn published_length(&self) -> RegistryLen {
        self.latest_checkpoint()
            .map(|c| c.as_ref().checkpoint.log_length)
            .unwrap_or(0)
    }

    /// Checkpoint verification for monitors. Unlike the reference server, the signature is
    /// always checked cryptographically, so a forged checkpoint carrying a copied signature is
    /// `invalid` rather than `verified`.
    pub fn verify_checkpoint(
        &self,
        body: &SerdeEnvelope<TimestampedCheckpoint>,
    ) -> CheckpointVerificationResponse {
        let state = self.core.read();
        let cp = &body.as_ref().checkpoint;
        let checkpoint = match state.checkpoints.get(&cp.log_length) {
            Some(found) if &found.as_ref().checkpoint == cp => VerificationState::Verified,
            _ => VerificationState::Invalid,
        };
        let op = &state.operator.state;
        let signature = match op.public_key(body.key_id()) {
            Some(key)
                if TimestampedCheckpoint::verify(
                    key,
                    &body.as_ref().encode(),
                    body.signature(),
                )
                .is_ok()
                    && op.key_has_permission_to_sign_checkpoints(body.key_id()) =>
            {
                VerificationState::Verified
            }
            _ => VerificationState::Invalid,
        };
        CheckpointVerificationResponse {
            checkpoint,
            signature,
            retry_after: None,
        }
    }

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
