//! The OCI side of a package for the browser: its repository name and its tags, each with the
//! manifest digest a pull by that tag gets.

use super::{derive, Repo};
use crate::store::StoreError;
use warg_protocol::registry::PackageName;

/// A package as OCI clients see it.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct OciPackageView {
    /// `<prefix><namespace>/<name>`.
    pub repository: String,
    pub tags: Vec<OciTag>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct OciTag {
    pub tag: String,
    pub manifest_digest: String,
}

impl crate::service::Service {
    /// The digest of the manifest derived from the release `tag`, if it is released and stored.
    async fn derived_manifest(
        &self,
        name: &PackageName,
        tag: &str,
        releases: &[super::reads::ReleaseView],
    ) -> Result<Option<crate::digest::Digest>, StoreError> {
        let Some(release) = releases.iter().find(|r| r.version == tag && !r.yanked) else {
            return Ok(None);
        };
        let Some(content) = &release.content else {
            return Ok(None);
        };
        let size = self.core.stores.content.size(content).await?;
        Ok(size.map(|size| {
            derive::derive(name, tag, content, size, release.timestamp).manifest_digest
        }))
    }

    /// The repository of a package and its tags; pushed tags name their stored manifest,
    /// releases published over warg the manifest derived from them.
    pub(crate) async fn oci_package_view(
        &self,
        name: &PackageName,
    ) -> Result<OciPackageView, StoreError> {
        let repository = self.oci_repo_of(name);
        let repo = Repo::Package {
            repo: repository.clone(),
            name: name.clone(),
        };
        let tags = self.oci_tags(&repo).unwrap_or_default();
        let releases = self.releases(&repo).unwrap_or_default();
        let mut out = Vec::with_capacity(tags.len());
        for tag in tags {
            let digest = match self.core.stores.oci.tag(&repository, &tag)? {
                Some(d) => Some(d),
                None => self.derived_manifest(name, &tag, &releases).await?,
            };
            if let Some(digest) = digest {
                out.push(OciTag {
                    tag,
                    manifest_digest: digest.to_string(),
                });
            }
        }
        Ok(OciPackageView {
            repository,
            tags: out,
        })
    }
}
