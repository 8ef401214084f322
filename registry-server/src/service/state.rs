//! The in-memory view of the registry, rebuilt from the store at start: the verifiable log, the
//! map of log heads (one snapshot per checkpoint) and the per-log validated state.

use bytes::Bytes;
use std::{
    collections::{BTreeMap, HashMap},
    sync::OnceLock,
};
use warg_crypto::{hash::Sha256, signing::PrivateKey, Encode, Signable};
use warg_protocol::{
    operator, package,
    registry::{
        Checkpoint, LogId, LogLeaf, MapLeaf, PackageName, RecordId, RegistryIndex, RegistryLen,
        TimestampedCheckpoint,
    },
    ProtoEnvelope, SerdeEnvelope,
};
use warg_transparency::{
    log::{LogBuilder, Node, StackLog, VecLog},
    map::Map,
};

use crate::store::{LogTail, StoreError, StoredRecord};

pub(crate) type VerifiableMap = Map<Sha256, LogId, MapLeaf>;

/// Map snapshots kept for inclusion proofs. Clients ask for proofs against the checkpoint they
/// fetched moments before, and every commit makes a checkpoint, so only recent ones are needed;
/// older checkpoints stay valid for `fetch/logs` and consistency proofs, which need no map.
pub(crate) const MAP_SNAPSHOTS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplayError {
    #[error("registry index {found} is out of order (expected {expected})")]
    OutOfOrder { expected: usize, found: usize },
    #[error("stored record `{0}` cannot be decoded: {1}")]
    Decode(RecordId, String),
    #[error("stored record `{0}` no longer validates: {1}")]
    Invalid(RecordId, String),
    #[error("stored checkpoint at log length {0} does not match the replayed log and map")]
    CheckpointMismatch(RegistryLen),
    #[error("stored checkpoint at log length {0} has an invalid signature")]
    CheckpointSignature(RegistryLen),
    #[error("the store has {records} records but its latest checkpoint covers {checkpoint}")]
    Uncovered { records: usize, checkpoint: usize },
    #[error("the store is empty; run `wtool-registry init` first")]
    Empty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) struct Committed<R> {
    pub registry_index: RegistryIndex,
    pub envelope: ProtoEnvelope<R>,
    /// The record exactly as `fetch/logs` serialises it (with its fetch token), made on first
    /// use: committed records never change, so neither does this.
    pub published_json: OnceLock<Bytes>,
}

impl<R> Committed<R> {
    pub(crate) fn new(registry_index: RegistryIndex, envelope: ProtoEnvelope<R>) -> Self {
        Self {
            registry_index,
            envelope,
            published_json: OnceLock::new(),
        }
    }
}

pub(crate) struct PackageLog {
    pub name: PackageName,
    pub state: package::LogState,
    pub entries: Vec<Committed<package::PackageRecord>>,
}

#[derive(Default)]
pub(crate) struct OperatorLog {
    pub state: operator::LogState,
    pub entries: Vec<Committed<operator::OperatorRecord>>,
}

/// Where a committed record sits: its log and its position in that log.
#[derive(Clone)]
pub(crate) struct Position {
    pub log_id: LogId,
    pub index_in_log: usize,
    pub registry_index: RegistryIndex,
}

#[derive(Default)]
pub(crate) struct State {
    pub log: VecLog<Sha256, LogLeaf>,
    /// The same log as only its balanced roots (O(log n)): the writer stages a batch on a copy
    /// of this, so a commit never copies the whole log.
    pub roots: StackLog<Sha256, LogLeaf>,
    pub leaves: Vec<(LogLeaf, Node)>,
    pub map: VerifiableMap,
    pub map_snapshots: BTreeMap<RegistryLen, VerifiableMap>,
    pub checkpoints: BTreeMap<RegistryLen, SerdeEnvelope<TimestampedCheckpoint>>,
    pub operator: OperatorLog,
    pub packages: HashMap<LogId, PackageLog>,
    pub positions: HashMap<RecordId, Position>,
}

/// A record that passed validation, ready to be appended.
pub(crate) enum Accepted {
    Operator {
        record_id: RecordId,
        envelope: ProtoEnvelope<operator::OperatorRecord>,
        state: operator::LogState,
    },
    Package {
        log_id: LogId,
        name: PackageName,
        record_id: RecordId,
        envelope: ProtoEnvelope<package::PackageRecord>,
        state: package::LogState,
    },
}

impl Accepted {
    pub(crate) fn leaf(&self) -> LogLeaf {
        match self {
            Accepted::Operator { record_id, .. } => LogLeaf {
                log_id: LogId::operator_log::<Sha256>(),
                record_id: record_id.clone(),
            },
            Accepted::Package {
                log_id, record_id, ..
            } => LogLeaf {
                log_id: log_id.clone(),
                record_id: record_id.clone(),
            },
        }
    }

    pub(crate) fn to_stored(&self, registry_index: RegistryIndex) -> StoredRecord {
        let leaf = self.leaf();
        let (name, envelope) = match self {
            Accepted::Operator { envelope, .. } => (None, envelope.to_protobuf()),
            Accepted::Package { name, envelope, .. } => {
                (Some(name.clone()), envelope.to_protobuf())
            }
        };
        StoredRecord {
            registry_index,
            log_id: leaf.log_id,
            record_id: leaf.record_id,
            package_name: name,
            envelope,
        }
    }
}

pub(crate) fn operator_log_id() -> LogId {
    LogId::operator_log::<Sha256>()
}

/// Computes the checkpoint of a log and map; roots are hash strings, as signed.
pub(crate) fn checkpoint_of(
    log: &impl LogBuilder<Sha256, LogLeaf>,
    map: &VerifiableMap,
) -> Checkpoint {
    let c = log.checkpoint();
    Checkpoint {
        log_root: c.root().into(),
        log_length: c.length() as RegistryLen,
        map_root: map.root().clone().into(),
    }
}

pub(crate) fn sign_checkpoint(
    key: &PrivateKey,
    checkpoint: Checkpoint,
) -> anyhow::Result<SerdeEnvelope<TimestampedCheckpoint>> {
    let timestamped = TimestampedCheckpoint::now(checkpoint)?;
    Ok(SerdeEnvelope::signed_contents(key, timestamped)?)
}

impl State {
    pub(crate) fn log_length(&self) -> RegistryLen {
        self.log.length() as RegistryLen
    }

    pub(crate) fn latest_checkpoint(&self) -> Option<&SerdeEnvelope<TimestampedCheckpoint>> {
        self.checkpoints.values().next_back()
    }

    /// Rebuilds the state from stored records and verifies every stored checkpoint against it.
    pub(crate) fn replay(tail: LogTail) -> Result<Self, ReplayError> {
        if tail.0.is_empty() {
            return Err(ReplayError::Empty);
        }
        let mut state = State::default();
        state.extend(tail)?;
        Ok(state)
    }

    /// Applies the records after this state's end (another instance committed them, or the
    /// store is being replayed) and verifies every checkpoint among them, as [`replay`] does.
    /// On an error the state may hold part of the tail: the store is corrupt.
    ///
    /// [`replay`]: Self::replay
    pub(crate) fn extend(&mut self, (records, checkpoints): LogTail) -> Result<(), ReplayError> {
        let start = self.log.length();
        let mut by_len: BTreeMap<RegistryLen, SerdeEnvelope<TimestampedCheckpoint>> = checkpoints
            .into_iter()
            .map(|c| (c.as_ref().checkpoint.log_length, c))
            .collect();
        let last = by_len.keys().next_back().copied().unwrap_or(start);
        if last != start + records.len() {
            return Err(ReplayError::Uncovered {
                records: start + records.len(),
                checkpoint: last,
            });
        }
        for (offset, stored) in records.into_iter().enumerate() {
            let expected = start + offset;
            if stored.registry_index != expected {
                return Err(ReplayError::OutOfOrder {
                    expected,
                    found: stored.registry_index,
                });
            }
            let accepted = self.revalidate(stored)?;
            self.apply(accepted);
            let len = self.log_length();
            if let Some(stored_cp) = by_len.remove(&len) {
                let computed = checkpoint_of(&self.log, &self.map);
                if stored_cp.as_ref().checkpoint != computed {
                    return Err(ReplayError::CheckpointMismatch(len));
                }
                let key = self
                    .operator
                    .state
                    .public_key(stored_cp.key_id())
                    .ok_or(ReplayError::CheckpointSignature(len))?;
                TimestampedCheckpoint::verify(
                    key,
                    &stored_cp.as_ref().encode(),
                    stored_cp.signature(),
                )
                .map_err(|_| ReplayError::CheckpointSignature(len))?;
                self.keep_map_snapshot(len);
                self.checkpoints.insert(len, stored_cp);
            }
        }
        // The writer stages commits on `roots`; it must agree with the full log.
        let len = self.log_length();
        if checkpoint_of(&self.roots, &self.map) != checkpoint_of(&self.log, &self.map) {
            return Err(ReplayError::CheckpointMismatch(len));
        }
        Ok(())
    }

    fn revalidate(&self, stored: StoredRecord) -> Result<Accepted, ReplayError> {
        let rid = stored.record_id.clone();
        if stored.log_id == operator_log_id() {
            let envelope =
                ProtoEnvelope::<operator::OperatorRecord>::from_protobuf(&stored.envelope)
                    .map_err(|e| ReplayError::Decode(rid.clone(), e.to_string()))?;
            self.validate_operator(envelope)
                .map_err(|e| ReplayError::Invalid(rid, e))
        } else {
            let name = stored
                .package_name
                .ok_or_else(|| ReplayError::Decode(rid.clone(), "missing package name".into()))?;
            let envelope = ProtoEnvelope::<package::PackageRecord>::from_protobuf(&stored.envelope)
                .map_err(|e| ReplayError::Decode(rid.clone(), e.to_string()))?;
            self.validate_package(&stored.log_id, &name, envelope, None)
                .map_err(|e| ReplayError::Invalid(rid, e))
        }
    }

    pub(crate) fn validate_operator(
        &self,
        envelope: ProtoEnvelope<operator::OperatorRecord>,
    ) -> Result<Accepted, String> {
        let state = self
            .operator
            .state
            .clone()
            .validate(&envelope)
            .map_err(|e| e.to_string())?;
        Ok(Accepted::Operator {
            record_id: RecordId::operator_record::<Sha256>(&envelope),
            envelope,
            state,
        })
    }

    /// Validates a package record against `base` (the state after earlier records of the same
    /// batch) or, if none, the committed state of its log.
    pub(crate) fn validate_package(
        &self,
        log_id: &LogId,
        name: &PackageName,
        envelope: ProtoEnvelope<package::PackageRecord>,
        base: Option<&package::LogState>,
    ) -> Result<Accepted, String> {
        let base = match base {
            Some(s) => s.clone(),
            None => self
                .packages
                .get(log_id)
                .map(|p| p.state.clone())
                .unwrap_or_default(),
        };
        let state = base.validate(&envelope).map_err(|e| e.to_string())?;
        Ok(Accepted::Package {
            log_id: log_id.clone(),
            name: name.clone(),
            record_id: RecordId::package_record::<Sha256>(&envelope),
            envelope,
            state,
        })
    }

    /// Appends a validated record to the log, the map and its own log.
    pub(crate) fn apply(&mut self, accepted: Accepted) {
        let registry_index = self.log.length();
        let leaf = accepted.leaf();
        let node = self.log.push(&leaf);
        self.roots.push(&leaf);
        self.map = self.map.insert(
            leaf.log_id.clone(),
            MapLeaf {
                record_id: leaf.record_id.clone(),
            },
        );
        self.leaves.push((leaf.clone(), node));
        let index_in_log = match accepted {
            Accepted::Operator {
                envelope, state, ..
            } => {
                self.operator.state = state;
                self.operator
                    .entries
                    .push(Committed::new(registry_index, envelope));
                self.operator.entries.len() - 1
            }
            Accepted::Package {
                log_id,
                name,
                envelope,
                state,
                ..
            } => {
                let log = self.packages.entry(log_id).or_insert_with(|| PackageLog {
                    name,
                    state: Default::default(),
                    entries: Vec::new(),
                });
                log.state = state;
                log.entries.push(Committed::new(registry_index, envelope));
                log.entries.len() - 1
            }
        };
        self.positions.insert(
            leaf.record_id,
            Position {
                log_id: leaf.log_id,
                index_in_log,
                registry_index,
            },
        );
    }

    /// Records a checkpoint that the store has durably committed.
    pub(crate) fn publish_checkpoint(&mut self, checkpoint: SerdeEnvelope<TimestampedCheckpoint>) {
        let len = checkpoint.as_ref().checkpoint.log_length;
        self.keep_map_snapshot(len);
        self.checkpoints.insert(len, checkpoint);
    }

    fn keep_map_snapshot(&mut self, len: RegistryLen) {
        self.map_snapshots.insert(len, self.map.clone());
        while self.map_snapshots.len() > MAP_SNAPSHOTS {
            self.map_snapshots.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warg_crypto::hash::AnyHash;

    /// The writer signs checkpoints computed from the balanced roots alone; they must equal the
    /// full log's at every length.
    #[test]
    fn stack_of_roots_matches_the_full_log() {
        let mut log = VecLog::<Sha256, LogLeaf>::default();
        let mut roots = StackLog::<Sha256, LogLeaf>::default();
        let map = VerifiableMap::default();
        assert!(checkpoint_of(&roots, &map) == checkpoint_of(&log, &map));
        let mut seen = std::collections::HashSet::new();
        for i in 0..130u32 {
            let digest: AnyHash = format!("sha256:{:064x}", i).parse().unwrap();
            let leaf = LogLeaf {
                log_id: LogId::from(digest.clone()),
                record_id: RecordId::from(digest),
            };
            log.push(&leaf);
            roots.push(&leaf);
            let full = checkpoint_of(&log, &map);
            assert!(checkpoint_of(&roots, &map) == full, "length {}", i + 1);
            assert!(seen.insert(full.log_root.to_string()));
        }
    }
}
