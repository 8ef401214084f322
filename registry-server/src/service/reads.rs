//! Read paths: logs, names, proofs, ledger and checkpoint verification. Errors are the
//! `warg-api` error enums, so the API layer only has to serialise them.

use super::{state::Committed, Service};
use crate::store::{Content, StoreError};
use bytes::Bytes;
use indexmap::IndexMap;
use warg_api::v1::{
    fetch::{FetchError, PublishedRecord},
    monitor::{CheckpointVerificationResponse, VerificationState},
    proof::{ConsistencyResponse, InclusionResponse, ProofError},
};
use warg_crypto::{
    hash::{AnyHash, Sha256},
    Encode, Signable,
};
use warg_protocol::{
    registry::{
        LogId, LogLeaf, MapLeaf, PackageName, RecordId, RegistryIndex, RegistryLen,
        TimestampedCheckpoint,
    },
    ProtoEnvelope, PublishedProtoEnvelopeBody, SerdeEnvelope,
};
use warg_transparency::{
    log::{LogData, LogProofBundle},
    map::MapProofBundle,
};

pub(crate) struct FetchLogsQuery<'a> {
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

/// Appends a committed record as `fetch/logs` serialises it, serialising it only the first time.
fn push_published<R: Clone>(
    out: &mut Vec<u8>,
    committed: &Committed<R>,
    record_id: impl FnOnce(&ProtoEnvelope<R>) -> RecordId,
) -> Result<(), FetchError> {
    if let Some(json) = committed.published_json.get() {
        out.extend_from_slice(json);
        return Ok(());
    }
    let token = record_id(&committed.envelope).to_string();
    let record = published(&committed.envelope, committed.registry_index, token);
    let json = Bytes::from(
        serde_json::to_vec(&record).map_err(|e| FetchError::Message {
            status: 500,
            message: format!("cannot serialise a record: {e}"),
        })?,
    );
    out.extend_from_slice(&json);
    let _ = committed.published_json.set(json);
    Ok(())
}

/// Appends `records` as a JSON array.
fn push_array<R: Clone>(
    out: &mut Vec<u8>,
    records: &[Committed<R>],
    record_id: impl Fn(&ProtoEnvelope<R>) -> RecordId,
) -> Result<(), FetchError> {
    out.push(b'[');
    for (i, committed) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_published(out, committed, &record_id)?;
    }
    out.push(b']');
    Ok(())
}

impl Service {
    /// The log length of the latest checkpoint this instance holds, without asking the store
    /// for a newer one: what a health check reports, so that it costs no database round trip.
    pub(crate) fn held_log_length(&self) -> Option<RegistryLen> {
        self.core
            .read()
            .latest_checkpoint()
            .map(|c| c.as_ref().checkpoint.log_length)
    }

    pub(crate) fn latest_checkpoint(&self) -> Option<SerdeEnvelope<TimestampedCheckpoint>> {
        // Another instance may have given this client a newer one.
        self.core.refresh_logged();
        self.core.read().latest_checkpoint().cloned()
    }

    /// The `fetch/logs` response body, byte for byte what serialising a
    /// [`FetchLogsResponse`] gives, assembled from records serialised once each.
    pub(crate) fn fetch_logs(&self, q: FetchLogsQuery<'_>) -> Result<Vec<u8>, FetchError> {
        self.core.catch_up_to(q.log_length);
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
        // The records of a log after `start` that the checkpoint covers, at most `limit`.
        let window =
            |entries_len: usize, start: usize, index_at: &dyn Fn(usize) -> RegistryIndex| {
                let start = start.min(entries_len);
                let end = entries_len.min(start.saturating_add(limit));
                // Entries are in registry order, so the covered ones are a prefix.
                start
                    ..start
                        + (start..end)
                            .take_while(|&i| index_at(i) < q.log_length)
                            .count()
            };

        let start = match q.operator {
            Some(t) => start_after(&op_id, t)?,
            None => 0,
        };
        let ops = &state.operator.entries;
        let operator = window(ops.len(), start, &|i| ops[i].registry_index);
        let mut more = operator.len() == limit;

        let mut packages = Vec::with_capacity(q.packages.len());
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
            let entries = &log.entries;
            let range = window(entries.len(), start, &|i| entries[i].registry_index);
            more |= range.len() == limit;
            packages.push((log_id, &entries[range]));
        }

        // Field order and omissions as `FetchLogsResponse` serialises: `more` always, then
        // `operator` and `packages` unless empty (`warnings` is always empty here).
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(if more {
            b"{\"more\":true"
        } else {
            b"{\"more\":false"
        });
        if !operator.is_empty() {
            out.extend_from_slice(b",\"operator\":");
            push_array(&mut out, &ops[operator], |e| {
                RecordId::operator_record::<Sha256>(e)
            })?;
        }
        if !packages.is_empty() {
            out.extend_from_slice(b",\"packages\":{");
            for (i, (log_id, records)) in packages.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, log_id).map_err(|e| FetchError::Message {
                    status: 500,
                    message: format!("cannot serialise a log id: {e}"),
                })?;
                out.push(b':');
                push_array(&mut out, records, RecordId::package_record::<Sha256>)?;
            }
            out.push(b'}');
        }
        out.push(b'}');
        Ok(out)
    }

    pub(crate) fn package_names(
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

    pub(crate) fn prove_inclusion(
        &self,
        log_length: RegistryLen,
        leafs: &[RegistryIndex],
    ) -> Result<InclusionResponse, ProofError> {
        self.core.catch_up_to(log_length);
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

    pub(crate) fn prove_consistency(
        &self,
        from: RegistryLen,
        to: RegistryLen,
    ) -> Result<ConsistencyResponse, ProofError> {
        self.core.catch_up_to(from.max(to));
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
    pub(crate) fn ledger_leaves(&self, start: RegistryIndex, limit: usize) -> Vec<LogLeaf> {
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

    pub(crate) fn published_length(&self) -> RegistryLen {
        self.latest_checkpoint()
            .map(|c| c.as_ref().checkpoint.log_length)
            .unwrap_or(0)
    }

    /// Checkpoint verification for monitors. Unlike the reference server, the signature is
    /// always checked cryptographically, so a forged checkpoint carrying a copied signature is
    /// `invalid` rather than `verified`.
    pub(crate) fn verify_checkpoint(
        &self,
        body: &SerdeEnvelope<TimestampedCheckpoint>,
    ) -> CheckpointVerificationResponse {
        self.core.catch_up_to(body.as_ref().checkpoint.log_length);
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
}

impl Service {
    /// The size of stored content; `None` if absent.
    pub(crate) async fn content_size(&self, digest: &AnyHash) -> Result<Option<u64>, StoreError> {
        self.core.stores.content.size(&digest.into()).await
    }

    /// Stored content, as a stream or a URL to fetch it from; `None` if absent.
    pub(crate) async fn read_content(
        &self,
        digest: &AnyHash,
    ) -> Result<Option<Content>, StoreError> {
        let content = self.core.stores.content.read(&digest.into()).await?;
        if content.is_some() {
            self.core.metrics.download();
        }
        Ok(content)
    }
}
