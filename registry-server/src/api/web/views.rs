//! What each page shows, as data: the HTML templates render these, and the JSON twins are
//! these serialised. Built from the service's reads and the per-digest descriptions.

use super::Web;
use crate::service::{
    browse::{CheckpointInfo, PackageSummary, ReleaseInfo},
    describe::{Described, Metadata},
    oci::OciPackageView,
    Service,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::{sync::Arc, time::SystemTime};
use warg_protocol::registry::PackageName;

/// Rows per page of the index and of a version list.
pub(crate) const PAGE_SIZE: usize = 50;
/// Records shown on `/log`.
pub(crate) const RECENT_RECORDS: usize = 50;

pub(crate) fn rfc3339(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Serialize)]
pub(crate) struct CheckpointView {
    pub log_length: usize,
    pub log_root: String,
    pub map_root: String,
    pub timestamp: String,
    pub key_id: String,
    pub signature: String,
}

impl From<CheckpointInfo> for CheckpointView {
    fn from(c: CheckpointInfo) -> Self {
        Self {
            log_length: c.log_length,
            log_root: c.log_root,
            map_root: c.map_root,
            timestamp: rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(c.timestamp)),
            key_id: c.key_id,
            signature: c.signature,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct Page {
    pub page: usize,
    pub pages: usize,
    pub total: usize,
}

impl Page {
    /// The slice of `total` items that page `page` (from 1) shows.
    fn of(total: usize, page: usize) -> (Self, std::ops::Range<usize>) {
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        let page = page.clamp(1, pages);
        let start = (page - 1) * PAGE_SIZE;
        (
            Self { page, pages, total },
            start..(start + PAGE_SIZE).min(total),
        )
    }
}

#[derive(Serialize)]
pub(crate) struct NamespaceRow {
    pub name: String,
    pub packages: usize,
}

#[derive(Serialize)]
pub(crate) struct PackageRow {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_published: Option<String>,
    pub releases: usize,
    /// For a search: the interfaces of the latest release that matched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matched_interfaces: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct IndexView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub namespaces: Vec<NamespaceRow>,
    pub packages: Vec<PackageRow>,
    #[serde(flatten)]
    pub page: Page,
}

#[derive(Serialize)]
pub(crate) struct ReleaseRow {
    pub version: String,
    pub yanked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yanked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yanked_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub published: String,
    pub signed_by: String,
}

#[derive(Serialize)]
pub(crate) struct PackageView {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
    /// The latest release's metadata.
    #[serde(flatten)]
    pub meta: Metadata,
    pub releases: Vec<ReleaseRow>,
    #[serde(flatten)]
    pub page: Page,
    pub oci: OciPackageView,
}

#[derive(Serialize)]
pub(crate) struct DependencyLink {
    pub package: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The page of the dependency, when this registry has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct Commands {
    pub wtool_fetch: String,
    pub wtool_compose: String,
    pub wkg_get: String,
    pub oci_reference: String,
}

#[derive(Serialize)]
pub(crate) struct VersionView {
    pub name: String,
    pub version: String,
    pub release: ReleaseRow,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Arc<Described>>,
    pub dependencies: Vec<DependencyLink>,
    pub commands: Commands,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oci_manifest_digest: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct RecordRow {
    pub registry_index: usize,
    /// The package, or `None` for the operator log.
    pub package: Option<String>,
    pub record_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    pub entries: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct LogView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointView>,
    pub recent: Vec<RecordRow>,
}

#[derive(Serialize)]
pub(crate) struct NotFoundView {
    /// 404, as the API's errors carry their status.
    pub status: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

/// The closest package name to `wanted`, if any is close enough to be a likely typo.
pub(crate) fn suggest(wanted: &str, packages: &[PackageSummary]) -> Option<String> {
    let wanted = wanted.to_ascii_lowercase();
    packages
        .iter()
        .map(|p| {
            let name = p.name.to_string();
            let whole = strsim::normalized_levenshtein(&wanted, &name);
            // `logger` for `example:logger`: the name part alone is a good match too.
            let part = strsim::normalized_levenshtein(&wanted, p.name.name());
            (whole.max(part), name)
        })
        .filter(|(score, _)| *score >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

fn release_row(r: &ReleaseInfo, size: Option<u64>) -> ReleaseRow {
    ReleaseRow {
        version: r.version.to_string(),
        yanked: r.yanked.is_some(),
        yanked_at: r.yanked.as_ref().map(|y| rfc3339(y.at)),
        yanked_by: r.yanked.as_ref().map(|y| y.by.clone()),
        digest: r.content.as_ref().map(|d| d.to_string()),
        size,
        published: rfc3339(r.published),
        signed_by: r.signed_by.clone(),
    }
}

impl Web {
    pub(crate) async fn index(
        &self,
        service: &Service,
        query: Option<&str>,
        page: usize,
    ) -> IndexView {
        let all = service.browse_packages();
        let mut namespaces: Vec<NamespaceRow> = Vec::new();
        for p in &all {
            match namespaces.last_mut() {
                Some(ns) if ns.name == p.name.namespace() => ns.packages += 1,
                _ => namespaces.push(NamespaceRow {
                    name: p.name.namespace().to_string(),
                    packages: 1,
                }),
            }
        }
        let query = query.map(str::trim).filter(|q| !q.is_empty());
        // Without a query only the shown page needs descriptions; a search needs them all.
        let candidates: Vec<&PackageSummary> = match query {
            Some(_) => all.iter().collect(),
            None => {
                let (_, range) = Page::of(all.len(), page);
                all[range].iter().collect()
            }
        };
        let mut rows = Vec::new();
        for p in candidates {
            let described = match &p.latest_content {
                Some(d) => self.described(service, &p.name, d).await,
                None => None,
            };
            let mut matched = Vec::new();
            if let Some(q) = query {
                let by_name = p
                    .name
                    .as_ref()
                    .to_ascii_lowercase()
                    .contains(&q.to_ascii_lowercase());
                if let Some(d) = &described {
                    matched = interfaces_matching(d, q);
                }
                if !by_name && matched.is_empty() {
                    continue;
                }
            }
            rows.push(PackageRow {
                name: p.name.to_string(),
                latest: p.latest.as_ref().map(|v| v.to_string()),
                description: described.as_ref().and_then(|d| d.meta.description.clone()),
                last_published: p.last_published.map(rfc3339),
                releases: p.releases,
                matched_interfaces: matched,
            });
        }
        let (page, packages) = match query {
            Some(_) => {
                let (page, range) = Page::of(rows.len(), page);
                (page, rows.drain(range).collect())
            }
            None => (Page::of(all.len(), page).0, rows),
        };
        IndexView {
            query: query.map(str::to_string),
            namespaces,
            packages,
            page,
        }
    }

    pub(crate) async fn package(
        &self,
        service: &Service,
        name: &PackageName,
        page: usize,
    ) -> Option<PackageView> {
        let info = service.browse_package(name)?;
        let latest = info.releases.iter().find(|r| r.yanked.is_none());
        let described = match latest.and_then(|r| r.content.as_ref()) {
            Some(d) => self.described(service, name, d).await,
            None => None,
        };
        let (page, range) = Page::of(info.releases.len(), page);
        let mut releases = Vec::with_capacity(range.len());
        for r in &info.releases[range] {
            let size = match &r.content {
                Some(d) => service.content_size(d).await.ok().flatten(),
                None => None,
            };
            releases.push(release_row(r, size));
        }
        let oci = service
            .oci_package_view(name)
            .await
            .unwrap_or_else(|_| OciPackageView {
                repository: service.oci_repo_of(name),
                tags: Vec::new(),
            });
        Some(PackageView {
            name: name.to_string(),
            latest: latest.map(|r| r.version.to_string()),
            meta: described.map(|d| d.meta.clone()).unwrap_or_default(),
            releases,
            page,
            oci,
        })
    }

    pub(crate) async fn version(
        &self,
        service: &Service,
        name: &PackageName,
        version: &semver::Version,
    ) -> Option<VersionView> {
        let info = service.browse_package(name)?;
        let release = info.releases.iter().find(|r| &r.version == version)?;
        let size = match &release.content {
            Some(d) => service.content_size(d).await.ok().flatten(),
            None => None,
        };
        let content = match &release.content {
            Some(d) => self.described(service, name, d).await,
            None => None,
        };
        let known: std::collections::HashSet<String> = service
            .browse_packages()
            .into_iter()
            .map(|p| p.name.to_string())
            .collect();
        let dependencies = content
            .as_ref()
            .map(|c| {
                c.dependencies
                    .iter()
                    .map(|d| DependencyLink {
                        package: d.package.clone(),
                        version: d.version.clone(),
                        href: known.contains(&d.package).then(|| match &d.version {
                            Some(v) if known_version(service, &d.package, v) => {
                                format!("/{}@{v}", d.package)
                            }
                            _ => format!("/{}", d.package),
                        }),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let oci = service.oci_package_view(name).await.ok();
        let spec = format!("{name}@{version}");
        let host = self.registry_host.clone();
        let reference = format!(
            "{host}/{}:{version}",
            oci.as_ref()
                .map(|o| o.repository.clone())
                .unwrap_or_else(|| service.oci_repo_of(name))
        );
        let oci_manifest_digest = oci.and_then(|o| {
            o.tags
                .into_iter()
                .find(|t| t.tag == version.to_string())
                .map(|t| t.manifest_digest)
        });
        Some(VersionView {
            name: name.to_string(),
            version: version.to_string(),
            release: release_row(release, size),
            content,
            dependencies,
            commands: Commands {
                wtool_fetch: format!("wtool fetch {spec} -o {}.wasm", name.name()),
                wtool_compose: format!("wtool compose app.wasm --plug {spec} -o composed.wasm"),
                wkg_get: format!("wkg get {spec} --registry {host}"),
                oci_reference: reference,
            },
            oci_manifest_digest,
        })
    }

    pub(crate) fn log(&self, service: &Service) -> LogView {
        LogView {
            checkpoint: service.browse_checkpoint().map(CheckpointView::from),
            recent: service
                .browse_recent(RECENT_RECORDS)
                .into_iter()
                .map(|r| RecordRow {
                    registry_index: r.registry_index,
                    package: r.package.map(|p| p.to_string()),
                    record_id: r.record_id,
                    timestamp: r.timestamp.map(rfc3339),
                    entries: r.entries,
                })
                .collect(),
        }
    }
}

fn known_version(service: &Service, package: &str, version: &str) -> bool {
    let (Ok(name), Ok(version)) = (
        PackageName::new(package),
        version.parse::<semver::Version>(),
    ) else {
        return false;
    };
    service
        .browse_package(&name)
        .is_some_and(|p| p.releases.iter().any(|r| r.version == version))
}

/// The interfaces of `d` that `q` names, for a search result.
fn interfaces_matching(d: &Described, q: &str) -> Vec<String> {
    if !d.mentions_interface(q) {
        return Vec::new();
    }
    let q = q.to_ascii_lowercase();
    let mut out: Vec<String> = d
        .interfaces
        .iter()
        .chain(
            d.worlds
                .iter()
                .flat_map(|w| w.imports.iter().chain(&w.exports)),
        )
        .filter(|i| i.to_ascii_lowercase().contains(&q))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}
