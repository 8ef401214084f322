//! Reads: blobs (whole or a range), manifests by tag or digest, tags, referrers, catalog.

use super::{derive, Code, OciError, OciResult, Reference, Repo};
use crate::{
    digest::Digest,
    service::Service,
    store::{ByteStream, Content, ManifestRow},
};
use bytes::Bytes;
use futures_util::StreamExt;
use warg_crypto::hash::Sha256;
use warg_protocol::{package::PackageEntry, registry::LogId};

pub(crate) enum BlobRead {
    /// The whole blob.
    Whole(Content),
    /// `start..=end` of a blob of `total` bytes.
    Part {
        start: u64,
        end: u64,
        total: u64,
        body: ByteStream<'static>,
    },
}

/// A manifest as served: the exact stored bytes and the media type they were pushed with.
pub(crate) struct ManifestBody {
    pub media_type: String,
    pub digest: Digest,
    pub bytes: Bytes,
}

/// A release of a package as the OCI view needs it.
pub(super) struct ReleaseView {
    pub version: String,
    pub content: Option<Digest>,
    pub yanked: bool,
    pub timestamp: std::time::SystemTime,
}

fn blob_unknown(digest: &Digest) -> OciError {
    OciError::new(Code::BlobUnknown, format!("blob `{digest}` is unknown"))
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n` against a blob of `total` bytes: `Ok(None)`
/// for no usable range header, `Err` for one that cannot be served.
pub(crate) fn resolve_range(header: &str, total: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Several ranges: the whole blob is a correct answer.
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = match (a.is_empty(), b.is_empty()) {
        (true, true) => return Err(()),
        (true, false) => {
            let n: u64 = b.parse().map_err(|_| ())?;
            if n == 0 || total == 0 {
                return Err(());
            }
            (total.saturating_sub(n), total - 1)
        }
        (false, _) => {
            let start: u64 = a.parse().map_err(|_| ())?;
            let end: u64 = if b.is_empty() {
                total.saturating_sub(1)
            } else {
                b.parse().map_err(|_| ())?
            };
            (start, end.min(total.saturating_sub(1)))
        }
    };
    if start >= total || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

impl Service {
    pub(crate) async fn oci_blob_size(&self, digest: &Digest) -> OciResult<u64> {
        self.core
            .stores
            .content
            .size(digest)
            .await?
            .ok_or_else(|| blob_unknown(digest))
    }

    /// A blob, or the part of it `range` asks for.
    pub(crate) async fn oci_read_blob(
        &self,
        digest: &Digest,
        range: Option<&str>,
    ) -> OciResult<BlobRead> {
        let content = &self.core.stores.content;
        if let Some(range) = range {
            let total = self.oci_blob_size(digest).await?;
            match resolve_range(range, total) {
                Ok(None) => {}
                Ok(Some((start, end))) => {
                    let body = content
                        .read_range(digest, start, end - start + 1)
                        .await?
                        .ok_or_else(|| blob_unknown(digest))?;
                    self.core.metrics.download();
                    return Ok(BlobRead::Part {
                        start,
                        end,
                        total,
                        body,
                    });
                }
                Err(()) => {
                    return Err(OciError::new(
                        Code::RangeInvalid,
                        format!("range `{range}` cannot be served from a blob of {total} bytes"),
                    ))
                }
            }
        }
        let content = content
            .read(digest)
            .await?
            .ok_or_else(|| blob_unknown(digest))?;
        self.core.metrics.download();
        Ok(BlobRead::Whole(content))
    }

    pub(super) async fn read_small_blob(
        &self,
        digest: &Digest,
        limit: u64,
    ) -> OciResult<Option<Bytes>> {
        let Some(content) = self.core.stores.content.read(digest).await? else {
            return Ok(None);
        };
        let Content::Stream { len, mut body } = content else {
            return Err(OciError::internal(
                "cannot read a manifest",
                "redirected content",
            ));
        };
        if len > limit {
            return Err(OciError::new(
                Code::ManifestInvalid,
                format!("blob `{digest}` is larger than {limit} bytes"),
            ));
        }
        let mut out = Vec::with_capacity(len as usize);
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk.map_err(crate::store::StoreError::Io)?);
        }
        Ok(Some(Bytes::from(out)))
    }

    /// The releases of a package, from its warg log.
    pub(super) fn releases(&self, repo: &Repo) -> Option<Vec<ReleaseView>> {
        let Repo::Package { name, .. } = repo else {
            return None;
        };
        let state = self.core.read();
        let log = state.packages.get(&LogId::package_log::<Sha256>(name))?;
        // A yank keeps the release pullable by digest, but the log state forgets its content:
        // the release record still names it.
        let released_content = |version: &semver::Version| {
            log.entries.iter().find_map(|c| {
                c.envelope.as_ref().entries.iter().find_map(|e| match e {
                    PackageEntry::Release {
                        version: v,
                        content,
                    } if v == version => Some(Digest::from(content)),
                    _ => None,
                })
            })
        };
        Some(
            log.state
                .releases()
                .map(|r| ReleaseView {
                    version: r.version.to_string(),
                    content: r
                        .content()
                        .map(Digest::from)
                        .or_else(|| released_content(&r.version)),
                    yanked: r.yanked(),
                    timestamp: r.timestamp,
                })
                .collect(),
        )
    }

    /// Whether a repository exists: a package with a log, or anything holding a manifest.
    pub(crate) fn oci_repo_exists(&self, repo: &Repo) -> OciResult<bool> {
        if self.releases(repo).is_some() {
            return Ok(true);
        }
        Ok(self.core.stores.oci.has_repository(repo.name())?)
    }

    fn name_unknown(repo: &Repo) -> OciError {
        OciError::new(
            Code::NameUnknown,
            format!("repository `{}` is unknown", repo.name()),
        )
    }

    async fn stored_manifest(&self, row: &ManifestRow) -> OciResult<ManifestBody> {
        let bytes = self
            .read_small_blob(&row.digest, u64::MAX)
            .await?
            .ok_or_else(|| OciError::internal("a manifest's bytes are missing", &row.digest))?;
        Ok(ManifestBody {
            media_type: row.media_type.clone(),
            digest: row.digest.clone(),
            bytes,
        })
    }

    /// A manifest by tag or digest: pushed ones as pushed; a release published over warg as
    /// the manifest derived from it.
    pub(crate) async fn oci_manifest(
        &self,
        repo: &Repo,
        reference: &Reference,
    ) -> OciResult<ManifestBody> {
        let oci = &self.core.stores.oci;
        let digest = match reference {
            Reference::Tag(tag) => oci.tag(repo.name(), tag)?,
            Reference::Digest(d) => Some(d.clone()),
        };
        if let Some(digest) = &digest {
            if let Some(row) = oci.manifest(repo.name(), digest)? {
                return self.stored_manifest(&row).await;
            }
        }
        if let (Some(releases), Repo::Package { name, .. }) = (self.releases(repo), repo) {
            for release in releases {
                let Some(content) = &release.content else {
                    continue;
                };
                let wanted = match reference {
                    Reference::Tag(tag) => tag == &release.version,
                    Reference::Digest(_) => true,
                };
                if !wanted {
                    continue;
                }
                let size = self.oci_blob_size(content).await?;
                let derived =
                    derive::derive(name, &release.version, content, size, release.timestamp);
                if let Reference::Digest(d) = reference {
                    if d != &derived.manifest_digest {
                        continue;
                    }
                }
                self.persist_derived(&derived).await?;
                return Ok(ManifestBody {
                    media_type: derive::MANIFEST_TYPE.to_string(),
                    digest: derived.manifest_digest,
                    bytes: derived.manifest,
                });
            }
        } else if !self.oci_repo_exists(repo)? {
            return Err(Self::name_unknown(repo));
        }
        Err(OciError::new(
            Code::ManifestUnknown,
            match reference {
                Reference::Tag(t) => format!("`{}` has no tag `{t}`", repo.name()),
                Reference::Digest(d) => format!("`{}` has no manifest `{d}`", repo.name()),
            },
        ))
    }

    /// Stores the config and manifest of a derived release once, so that their digests can be
    /// fetched as blobs like any pushed ones.
    async fn persist_derived(&self, derived: &derive::Derived) -> OciResult<()> {
        for (digest, bytes) in [
            (&derived.config_digest, &derived.config),
            (&derived.manifest_digest, &derived.manifest),
        ] {
            if self.core.stores.content.size(digest).await?.is_none() {
                let body = futures_util::stream::once(std::future::ready(Ok(bytes.clone())));
                self.core.stores.content.write(digest, body.boxed()).await?;
            }
        }
        Ok(())
    }

    /// Every tag of a repository, sorted; yanked releases are left out.
    pub(crate) fn oci_tags(&self, repo: &Repo) -> OciResult<Vec<String>> {
        let releases = self.releases(repo);
        let mut tags = self.core.stores.oci.tags(repo.name())?;
        if releases.is_none() && tags.is_empty() && !self.oci_repo_exists(repo)? {
            return Err(Self::name_unknown(repo));
        }
        if let Some(releases) = releases {
            let yanked: std::collections::HashSet<&str> = releases
                .iter()
                .filter(|r| r.yanked)
                .map(|r| r.version.as_str())
                .collect();
            tags.retain(|t| !yanked.contains(t.as_str()));
            tags.extend(
                releases
                    .iter()
                    .filter(|r| !r.yanked && super::valid_tag(&r.version))
                    .map(|r| r.version.clone()),
            );
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// The manifests whose `subject` is `digest`, optionally of one artifact type.
    pub(crate) fn oci_referrers(
        &self,
        repo: &Repo,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> OciResult<serde_json::Value> {
        let rows = self.core.stores.oci.referrers(repo.name(), digest)?;
        let manifests: Vec<serde_json::Value> = rows
            .into_iter()
            .filter(|r| artifact_type.is_none() || r.artifact_type.as_deref() == artifact_type)
            .map(|r| {
                let mut d = serde_json::json!({
                    "mediaType": r.media_type,
                    "digest": r.digest.to_string(),
                    "size": r.size,
                });
                if let Some(t) = r.artifact_type {
                    d["artifactType"] = t.into();
                }
                if let Some(a) = r
                    .annotations
                    .and_then(|a| serde_json::from_str::<serde_json::Value>(&a).ok())
                {
                    d["annotations"] = a;
                }
                d
            })
            .collect();
        Ok(serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }))
    }

    /// Every repository: packages with a log, and any holding a pushed manifest.
    pub(crate) fn oci_catalog(&self) -> OciResult<Vec<String>> {
        let mut repos = self.core.stores.oci.repositories()?;
        let names: Vec<_> = self
            .core
            .read()
            .packages
            .values()
            .map(|log| log.name.clone())
            .collect();
        repos.extend(names.iter().map(|n| self.oci_repo_of(n)));
        repos.sort();
        repos.dedup();
        Ok(repos)
    }
}

#[cfg(test)]
mod tests {
    use super::resolve_range;

    #[test]
    fn ranges() {
        assert_eq!(resolve_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(resolve_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(resolve_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(resolve_range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(resolve_range("bytes=500-0", 2048), Err(()));
        assert_eq!(resolve_range("bytes=5000-10000", 2048), Err(()));
        assert_eq!(resolve_range("items=0-1", 10), Ok(None));
    }
}
