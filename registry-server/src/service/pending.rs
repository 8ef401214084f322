//! Records that were accepted for processing but are not committed yet. Kept in memory only:
//! a record counts as acknowledged once it is `published`, which happens only after a durable
//! commit, so losing this table in a crash loses nothing a client was promised.

use indexmap::IndexMap;
use std::collections::{HashMap, VecDeque};
use warg_crypto::hash::AnyHash;
use warg_protocol::{
    package::PackageRecord,
    registry::{LogId, PackageName, RecordId, RegistryIndex},
    ProtoEnvelope,
};

/// Bounds memory held by abandoned or rejected submissions.
const MAX_PENDING: usize = 10_000;

#[derive(Clone, Debug)]
pub enum PendingStatus {
    Sourcing,
    Processing,
    Rejected(String),
}

/// What the API reports for a record.
#[derive(Clone, Debug)]
pub enum SubmitOutcome {
    Published(RegistryIndex),
    Processing,
    /// Missing digests, each with the nonce of the upload URL issued for it.
    Sourcing(Vec<(AnyHash, String)>),
    Rejected(String),
}

pub struct PendingRecord {
    pub log_id: LogId,
    pub name: PackageName,
    pub envelope: ProtoEnvelope<PackageRecord>,
    pub missing: IndexMap<AnyHash, String>,
    pub status: PendingStatus,
}

impl PendingRecord {
    pub fn outcome(&self) -> SubmitOutcome {
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

/// An upload URL the server issued: the only uploads it accepts.
#[derive(Clone)]
pub struct UploadTarget {
    pub log_id: LogId,
    pub record_id: RecordId,
    pub digest: AnyHash,
}

#[derive(Default)]
pub struct Pending {
    pub records: HashMap<RecordId, PendingRecord>,
    pub uploads: HashMap<String, UploadTarget>,
    order: VecDeque<RecordId>,
}

impl Pending {
    pub fn insert(&mut self, record_id: RecordId, record: PendingRecord) {
        for (digest, nonce) in &record.missing {
            self.uploads.insert(
                nonce.clone(),
                UploadTarget {
                    log_id: record.log_id.clone(),
                    record_id: record_id.clone(),
                    digest: digest.clone(),
                },
            );
        }
        self.records.insert(record_id.clone(), record);
        self.order.push_back(record_id);
        while self.records.len() > MAX_PENDING {
            match self.order.pop_front() {
                Some(old) => self.remove(&old),
                None => break,
            }
        }
    }

    pub fn remove(&mut self, record_id: &RecordId) {
        if let Some(record) = self.records.remove(record_id) {
            for nonce in record.missing.values() {
                self.uploads.remove(nonce);
            }
        }
    }

    pub fn reject(&mut self, record_id: &RecordId, reason: String) {
        if let Some(record) = self.records.get_mut(record_id) {
            for nonce in record.missing.values() {
                self.uploads.remove(nonce);
            }
            record.missing.clear();
            record.status = PendingStatus::Rejected(reason);
        }
    }
}

/// A fresh unguessable nonce for an upload URL.
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 24];
    // The OS RNG failing is not recoverable for a server that issues secrets.
    getrandom::fill(&mut bytes).expect("operating system random number generator failed");
    hex::encode(bytes)
}
