//! Reads for the package browser: what the registry holds, shaped for people rather than for
//! the warg protocol. Everything is read from the published state (what the latest checkpoint
//! covers), so a page never shows a record a client could not yet verify.

use super::Service;
use crate::store::{Content, StoreError};
use bytes::Bytes;
use futures_util::StreamExt;
use std::time::SystemTime;
use warg_crypto::hash::AnyHash;
use warg_protocol::{
    package::{PackageEntry, PackageRecord},
    registry::{LogId, PackageName},
};

/// One package as the index lists it.
#[derive(Clone, Debug)]
pub(crate) struct PackageSummary {
    pub name: PackageName,
    /// The newest release that is not yanked.
    pub latest: Option<semver::Version>,
    pub latest_content: Option<AnyHash>,
    pub releases: usize,
    pub last_published: Option<SystemTime>,
}

/// One release of a package.
#[derive(Clone, Debug)]
pub(crate) struct ReleaseInfo {
    pub version: semver::Version,
    /// The content the release record named; kept for yanked releases too.
    pub content: Option<AnyHash>,
    pub published: SystemTime,
    /// The key that signed the release.
    pub signed_by: String,
    pub yanked: Option<Yank>,
}

#[derive(Clone, Debug)]
pub(crate) struct Yank {
    pub by: String,
    pub at: SystemTime,
}

/// A package and its releases, newest version first.
#[derive(Clone, Debug)]
pub(crate) struct PackageInfo {
    pub releases: Vec<ReleaseInfo>,
}

/// The latest checkpoint and how it was signed.
#[derive(Clone, Debug)]
pub(crate) struct CheckpointInfo {
    pub log_length: usize,
    pub log_root: String,
    pub map_root: String,
    pub timestamp: u64,
    pub key_id: String,
    pub signature: String,
}

/// A record of the published log.
#[derive(Clone, Debug)]
pub(crate) struct RecordInfo {
    pub registry_index: usize,
    /// The package the record belongs to; `None` for the operator log.
    pub package: Option<PackageName>,
    pub record_id: String,
    pub timestamp: Option<SystemTime>,
    /// What the record does, one line per entry (`release 1.0.0`).
    pub entries: Vec<String>,
}

fn describe_entry(entry: &PackageEntry) -> String {
    match entry {
        PackageEntry::Init { key, .. } => format!("init, key {}", key.fingerprint()),
        PackageEntry::GrantFlat { key, permissions } => format!(
            "grant {} to {}",
            permissions
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            key.fingerprint()
        ),
        PackageEntry::RevokeFlat {
            key_id,
            permissions,
        } => format!(
            "revoke {} from {key_id}",
            permissions
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        PackageEntry::Release { version, .. } => format!("release {version}"),
        PackageEntry::Yank { version } => format!("yank {version}"),
        // Entries of later protocol versions: named, not interpreted.
        #[allow(unreachable_patterns)]
        _ => "entry".to_string(),
    }
}

/// The content each release record named, by version.
fn released_content(records: &[&PackageRecord], version: &semver::Version) -> Option<AnyHash> {
    records.iter().find_map(|r| {
        r.entries.iter().find_map(|e| match e {
            PackageEntry::Release {
                version: v,
                content,
            } if v == version => Some(content.clone()),
            _ => None,
        })
    })
}

impl Service {
    /// The length of the published log: pages are cached against it.
    pub(crate) fn browse_generation(&self) -> usize {
        self.published_length()
    }

    /// Every package with a published release or record, sorted by name.
    pub(crate) fn browse_packages(&self) -> Vec<PackageSummary> {
        let state = self.core.read();
        let published = state
            .latest_checkpoint()
            .map(|c| c.as_ref().checkpoint.log_length)
            .unwrap_or(0);
        let mut out: Vec<PackageSummary> = state
            .packages
            .values()
            .filter(|log| {
                log.entries
                    .first()
                    .is_some_and(|e| e.registry_index < published)
            })
            .map(|log| {
                let latest = log
                    .state
                    .releases()
                    .filter(|r| !r.yanked())
                    .max_by(|a, b| a.version.cmp(&b.version));
                PackageSummary {
                    name: log.name.clone(),
                    latest: latest.map(|r| r.version.clone()),
                    latest_content: latest.and_then(|r| r.content().cloned()),
                    releases: log.state.releases().count(),
                    last_published: log.state.releases().map(|r| r.timestamp).max(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.as_ref().cmp(b.name.as_ref()));
        out
    }

    /// A package's releases, newest version first; `None` if the registry has no such package.
    pub(crate) fn browse_package(&self, name: &PackageName) -> Option<PackageInfo> {
        let state = self.core.read();
        let log = state
            .packages
            .get(&LogId::package_log::<warg_crypto::hash::Sha256>(name))?;
        let records: Vec<&PackageRecord> =
            log.entries.iter().map(|c| c.envelope.as_ref()).collect();
        let mut releases: Vec<ReleaseInfo> = log
            .state
            .releases()
            .map(|r| {
                let yanked = match &r.state {
                    warg_protocol::package::ReleaseState::Yanked { by, timestamp } => Some(Yank {
                        by: by.to_string(),
                        at: *timestamp,
                    }),
                    _ => None,
                };
                ReleaseInfo {
                    version: r.version.clone(),
                    content: r
                        .content()
                        .cloned()
                        .or_else(|| released_content(&records, &r.version)),
                    published: r.timestamp,
                    signed_by: r.by.to_string(),
                    yanked,
                }
            })
            .collect();
        releases.sort_by(|a, b| b.version.cmp(&a.version));
        Some(PackageInfo { releases })
    }

    pub(crate) fn browse_checkpoint(&self) -> Option<CheckpointInfo> {
        let cp = self.latest_checkpoint()?;
        let body = cp.as_ref();
        Some(CheckpointInfo {
            log_length: body.checkpoint.log_length,
            log_root: body.checkpoint.log_root.to_string(),
            map_root: body.checkpoint.map_root.to_string(),
            timestamp: body.timestamp,
            key_id: cp.key_id().to_string(),
            signature: cp.signature().to_string(),
        })
    }

    /// The last `limit` records of the published log, newest first.
    pub(crate) fn browse_recent(&self, limit: usize) -> Vec<RecordInfo> {
        let state = self.core.read();
        let published = state
            .latest_checkpoint()
            .map(|c| c.as_ref().checkpoint.log_length)
            .unwrap_or(0)
            .min(state.leaves.len());
        state.leaves[..published]
            .iter()
            .enumerate()
            .rev()
            .take(limit)
            .map(|(registry_index, (leaf, _))| {
                let position = state.positions.get(&leaf.record_id);
                let package = state.packages.get(&leaf.log_id);
                let record = package.zip(position).and_then(|(log, p)| {
                    log.entries.get(p.index_in_log).map(|c| c.envelope.as_ref())
                });
                RecordInfo {
                    registry_index,
                    package: package.map(|p| p.name.clone()),
                    record_id: leaf.record_id.to_string(),
                    timestamp: record.map(|r| r.timestamp),
                    entries: match (record, package) {
                        (Some(r), _) => r.entries.iter().map(describe_entry).collect(),
                        (None, None) => vec!["operator record".to_string()],
                        (None, Some(_)) => Vec::new(),
                    },
                }
            })
            .collect()
    }

    /// The bytes of stored content, when it is at most `limit` bytes; `None` if absent.
    pub(crate) async fn content_bytes(
        &self,
        digest: &AnyHash,
        limit: u64,
    ) -> Result<Option<Bytes>, StoreError> {
        let Some(content) = self.core.stores.content.read(&digest.into()).await? else {
            return Ok(None);
        };
        let Content::Stream { len, mut body } = content else {
            return Ok(None);
        };
        if len > limit {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(len as usize);
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk.map_err(StoreError::Io)?);
        }
        Ok(Some(Bytes::from(out)))
    }
}
