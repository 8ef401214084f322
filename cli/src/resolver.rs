//! Resolution: requirements in, exact versions with verified bytes out. The lock is both input
//! and output, and cargo's CI modes are rules in here, not special cases in the commands:
//!
//! - default: ask the registry, take the newest matching non-yanked version;
//! - `--locked`: take the locked version; a requirement the lock lacks is an error;
//! - `--offline`: lock and cache only (the cached version list when unlocked); no network;
//! - a version that is locked is never accepted with other bytes than the lock records.

use crate::cache::Release;
use crate::digest::Digest;
use crate::exit::{fail, Code};
use crate::lock::{Entry, Lock};
use crate::registry::{verify, Registries};
use crate::witpkg::{self, Decoded, WitPackage};
use anyhow::{anyhow, bail, Context, Result};
use futures_util::future::join_all;
use semver::VersionReq;
use std::collections::{BTreeMap, BTreeSet};
use wasm_pkg_common::package::PackageRef;
use wit_parser::{PackageId, PackageName, Resolve};

#[derive(Clone, Copy, Debug, Default)]
pub struct Mode {
    pub locked: bool,
    pub offline: bool,
}

pub struct Resolver<'a> {
    pub registries: &'a Registries,
    pub lock: &'a Lock,
    pub mode: Mode,
}

/// One resolved requirement.
pub struct Resolved {
    pub entry: Entry,
    pub bytes: Vec<u8>,
}

/// A resolved WIT package the project imports, decoded. The packages it builds on come
/// embedded in its binary, as far as it uses them.
pub struct Node {
    pub resolved: Resolved,
    pub package: WitPackage,
}

fn key(name: &PackageRef, req: &VersionReq) -> (String, String) {
    (name.to_string(), req.to_string())
}

#[derive(Debug, thiserror::Error)]
#[error("{name} ({req}) is not in wkg.lock")]
struct NotLocked {
    name: PackageRef,
    req: VersionReq,
}

impl Resolver<'_> {
    /// Resolves one requirement to a version and its verified bytes.
    pub async fn resolve(&self, name: &PackageRef, req: &VersionReq) -> Result<Resolved> {
        let registry = self.registries.for_package(name)?;
        let cache = self.registries.cache(&registry);
        let locked = self.lock.find(name, &registry.name, req);
        // A local-directory registry is already on this disk: copying it into the cache would
        // only double the file writes of a cold fetch.
        let local = matches!(registry.location, crate::registry::Location::Local(_));

        let (release, trusted) = match (&locked, self.mode) {
            (Some(e), Mode { locked: true, .. }) | (Some(e), Mode { offline: true, .. }) => (
                Release {
                    version: e.version.clone(),
                    digest: Some(e.digest),
                    yanked: false,
                },
                "wkg.lock",
            ),
            (None, Mode { locked: true, .. }) => {
                let not_locked = NotLocked {
                    name: name.clone(),
                    req: req.clone(),
                };
                // Plain, so that `resolve_imports` can tell it from other failures; it gives
                // the exit code when it reports it.
                return Err(not_locked.into());
            }
            (None, Mode { offline: true, .. }) if !local => {
                let Some(releases) = cache.read_index(name) else {
                    bail!(
                        "--offline: no versions of {name} from registry `{}` are cached; run once \
                         without --offline",
                        registry.name
                    );
                };
                (
                    pick(name, req, &registry.name, &releases)?,
                    "the cached index",
                )
            }
            _ if exact_version(req).is_some()
                && self
                    .registries
                    .backend(&registry)
                    .await?
                    .fetches_by_version() =>
            {
                // WIT names exact versions; where a version is fetched by its name (an OCI
                // tag), listing every version first would only cost a request.
                let version = exact_version(req).expect("checked");
                let digest = locked
                    .as_ref()
                    .filter(|e| e.version == version)
                    .map(|e| e.digest);
                (
                    Release {
                        version,
                        digest,
                        yanked: false,
                    },
                    "the registry",
                )
            }
            _ => {
                let backend = self.registries.backend(&registry).await?;
                let Some(releases) = backend.releases(name).await? else {
                    let mut place = backend.describe(name);
                    if place.is_empty() {
                        place = format!("registry `{}`", registry.name);
                    }
                    bail!(
                        "package {name} not found at {place}; check the name, or the \
                         namespace's registry mapping"
                    );
                };
                if !local {
                    cache.write_index(name, &releases)?;
                }
                let mut release = pick(name, req, &registry.name, &releases)?;
                if let Some(e) = locked.as_ref().filter(|e| e.version == release.version) {
                    if let Some(d) = release.digest.filter(|d| *d != e.digest) {
                        fail!(
                            Code::Verification,
                            "registry `{}` now lists {name}@{} with digest {d}, but wkg.lock \
                             records {}; refusing to use changed bytes for a locked version",
                            registry.name,
                            e.version,
                            e.digest
                        );
                    }
                    release.digest = Some(e.digest);
                }
                (release, "the registry's log")
            }
        };

        let cached = match &release.digest {
            Some(d) if !local => cache.read(d)?,
            _ => None,
        };
        let bytes = match cached {
            Some(bytes) => bytes,
            None if self.mode.offline && !local => bail!(
                "--offline: {name}@{} ({}) is not in the cache for registry `{}`; run once \
                 without --offline",
                release.version,
                release
                    .digest
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "no digest".into()),
                registry.name
            ),
            None => {
                let backend = self.registries.backend(&registry).await?;
                let bytes = backend.download(name, &release).await?;
                let expected = locked
                    .as_ref()
                    .filter(|e| e.version == release.version)
                    .map(|e| (e.digest, "wkg.lock"))
                    .or(release.digest.map(|d| (d, trusted)));
                if let Some((d, what)) = expected {
                    verify(name, &release.version, &registry.name, &d, &bytes, what)?;
                }
                if !local {
                    cache.write(&Digest::of(&bytes), &bytes)?;
                }
                bytes
            }
        };
        Ok(Resolved {
            entry: Entry {
                name: name.clone(),
                registry: registry.name.clone(),
                requirement: req.clone(),
                version: release.version,
                digest: Digest::of(&bytes),
            },
            bytes,
        })
    }

    /// Lets each registry fetch the logs of a group's packages at once. Only a resolution that
    /// reads registry logs anyway (not `--locked` or `--offline`) asks.
    async fn prefetch(&self, group: &[(PackageRef, VersionReq)]) {
        if self.mode.locked || self.mode.offline {
            return;
        }
        let mut by_registry: BTreeMap<String, (crate::registry::RegistryRef, Vec<PackageRef>)> =
            BTreeMap::new();
        for (name, _) in group {
            if let Ok(registry) = self.registries.for_package(name) {
                by_registry
                    .entry(registry.name.clone())
                    .or_insert_with(|| (registry, Vec::new()))
                    .1
                    .push(name.clone());
            }
        }
        for (registry, names) in by_registry.into_values() {
            if let Ok(backend) = self.registries.backend(&registry).await {
                backend.prefetch(&names).await;
            }
        }
    }

    async fn resolve_node(&self, name: PackageRef, req: VersionReq) -> Result<Node> {
        let resolved = self.resolve(&name, &req).await?;
        let e = &resolved.entry;
        let what = e.label();
        let package = match witpkg::decode(&resolved.bytes, &what)? {
            Decoded::Package(p) => *p,
            Decoded::Component => fail!(
                Code::InvalidInput,
                "{what} is a component, not a WIT package; WIT dependencies must be WIT packages"
            ),
        };
        let declared = package.name();
        let matches = format!("{}:{}", declared.namespace, declared.name) == e.name.to_string()
            && declared.version.as_ref().is_none_or(|v| *v == e.version);
        if !matches {
            fail!(
                Code::InvalidInput,
                "{what} declares itself as `{declared}`; the registry entry is mislabelled"
            );
        }
        Ok(Node { resolved, package })
    }

    /// Resolves the packages the project imports, downloading in parallel. Packages in `skip`
    /// are provided locally and not resolved. What those packages build on is not fetched: their
    /// verified binaries carry it, as far as they use it, which is all a build of the project
    /// can reach and what wkg writes and locks too.
    pub async fn resolve_imports(
        &self,
        roots: Vec<(PackageRef, VersionReq)>,
        skip: &BTreeSet<String>,
    ) -> Result<Vec<Node>> {
        let mut seen = BTreeSet::new();
        let fresh: Vec<_> = roots
            .into_iter()
            .filter(|(name, req)| !skip.contains(&name.to_string()) && seen.insert(key(name, req)))
            .collect();
        self.prefetch(&fresh).await;
        let results = join_all(
            fresh
                .into_iter()
                .map(|(name, req)| self.resolve_node(name, req)),
        )
        .await;
        let mut nodes = Vec::new();
        let mut not_locked = Vec::new();
        for result in results {
            match result {
                Ok(node) => nodes.push(node),
                Err(e) => match e.downcast::<NotLocked>() {
                    Ok(n) => not_locked.push(n.to_string()),
                    Err(e) => return Err(e),
                },
            }
        }
        if !not_locked.is_empty() {
            not_locked.sort();
            fail!(
                Code::Verification,
                "wkg.lock needs to be updated but --locked was passed to prevent this:\n  {}\n\
                 run `wtool fetch` without --locked and commit wkg.lock",
                not_locked.join("\n  ")
            );
        }
        Ok(nodes)
    }
}

/// The resolved imports as one `Resolve`, and where each resolved entry sits in it.
pub struct Assembled {
    pub resolve: Resolve,
    pub packages: Vec<(Entry, PackageId)>,
    /// Packages that only come embedded in the imported ones, with their versioned names.
    pub embedded: Vec<(PackageRef, semver::Version, PackageId)>,
}

/// Puts the imported packages together: each whole, and every package they build on as far as
/// their binaries embed it.
pub fn assemble(nodes: Vec<Node>) -> Result<Assembled> {
    let mut resolve = Resolve::default();
    let mut entries = Vec::new();
    for node in nodes {
        entries.push(node.resolved.entry);
        resolve
            .merge(node.package.resolve)
            .context("the fetched packages disagree about a package they share")?;
    }
    // Listed in name order, as the lock is, not in dependency order.
    entries.sort_by(|a, b| {
        (a.name.to_string(), a.requirement.to_string())
            .cmp(&(b.name.to_string(), b.requirement.to_string()))
    });
    let packages = entries
        .into_iter()
        .map(|entry| {
            let id = package_id(&resolve, &entry)
                .ok_or_else(|| anyhow!("{} is missing from the packages fetched", entry.label()))?;
            Ok((entry, id))
        })
        .collect::<Result<Vec<_>>>()?;
    let listed: BTreeSet<PackageId> = packages.iter().map(|(_, id)| *id).collect();
    let embedded = resolve
        .packages
        .iter()
        .filter(|(id, _)| !listed.contains(id))
        .filter_map(|(id, p)| {
            let version = p.name.version.clone()?;
            let name = format!("{}:{}", p.name.namespace, p.name.name)
                .parse()
                .ok()?;
            Some((name, version, id))
        })
        .collect();
    Ok(Assembled {
        resolve,
        packages,
        embedded,
    })
}

/// The package an entry names, published with a version or (as an unversioned WIT package)
/// without one.
fn package_id(resolve: &Resolve, entry: &Entry) -> Option<PackageId> {
    let mut name = PackageName {
        namespace: entry.name.namespace().to_string(),
        name: entry.name.name().to_string(),
        version: Some(entry.version.clone()),
    };
    if let Some(id) = resolve.package_names.get(&name) {
        return Some(*id);
    }
    name.version = None;
    resolve.package_names.get(&name).copied()
}

/// The one version `=X.Y.Z[-pre]` allows.
fn exact_version(req: &VersionReq) -> Option<semver::Version> {
    let [c] = req.comparators.as_slice() else {
        return None;
    };
    if c.op != semver::Op::Exact {
        return None;
    }
    Some(semver::Version {
        major: c.major,
        minor: c.minor?,
        patch: c.patch?,
        pre: c.pre.clone(),
        build: Default::default(),
    })
}

/// The newest non-yanked version matching `req`, or an error that lists what exists.
fn pick(
    name: &PackageRef,
    req: &VersionReq,
    registry: &str,
    releases: &[Release],
) -> Result<Release> {
    if let Some(r) = releases
        .iter()
        .filter(|r| !r.yanked && req.matches(&r.version))
        .max_by(|a, b| a.version.cmp(&b.version))
    {
        return Ok(r.clone());
    }
    let mut listed: Vec<&Release> = releases.iter().collect();
    listed.sort_by(|a, b| a.version.cmp(&b.version));
    let list = listed
        .iter()
        .map(|r| {
            if r.yanked {
                format!("{} (yanked)", r.version)
            } else {
                r.version.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(y) = releases
        .iter()
        .find(|r| r.yanked && req.matches(&r.version))
    {
        bail!(
            "{name}@{} was yanked from registry `{registry}` and nothing else matches `{req}`; \
             available: {list}",
            y.version
        );
    }
    if releases.is_empty() {
        bail!("package {name} has no versions in registry `{registry}`");
    }
    Err(anyhow!(
        "no version of {name} in registry `{registry}` matches `{req}`; available: {list}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A node as `resolve_imports` makes it: a package the project imports, decoded.
    fn node(dir: &str, name: &str) -> Node {
        let root_dir = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let bytes = witpkg::build_wit(&root_dir.join(dir)).unwrap();
        let Decoded::Package(p) = witpkg::decode(&bytes, dir).unwrap() else {
            panic!("{dir} is not a package")
        };
        let entry = Entry {
            name: name.parse().unwrap(),
            registry: "test".into(),
            requirement: "=1.0.0".parse().unwrap(),
            version: "1.0.0".parse().unwrap(),
            digest: Digest::of(&bytes),
        };
        Node {
            resolved: Resolved { entry, bytes },
            package: *p,
        }
    }

    #[test]
    fn only_an_exact_requirement_names_one_version() {
        let v = |r: &str| exact_version(&r.parse().unwrap()).map(|v| v.to_string());
        assert_eq!(v("=1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(
            v("=0.3.0-rc-2025-09-16").as_deref(),
            Some("0.3.0-rc-2025-09-16")
        );
        assert_eq!(v("=1.2"), None);
        assert_eq!(v("^1.2.3"), None);
        assert_eq!(v("*"), None);
        assert_eq!(v(">=1.0.0, <2.0.0"), None);
    }

    #[test]
    fn dependencies_are_written_as_far_as_their_dependents_use_them() {
        // acme:a uses a type of acme:b that does not involve acme:c: a's binary embeds the part
        // of b it uses, not b's function that needs c.
        let nodes = vec![node("tests/cli/fetch/inputs/unused-dep/a", "acme:a")];
        let assembled = assemble(nodes).unwrap();
        assert_eq!(assembled.packages.len(), 1);
        let (entry, id) = &assembled.packages[0];
        let a = witpkg::print_package(&assembled.resolve, *id).unwrap();
        assert_eq!(entry.name.to_string(), "acme:a");
        assert!(a.contains("g: func() -> t;"), "{a}");
        let embedded: Vec<String> = assembled
            .embedded
            .iter()
            .map(|(name, version, _)| format!("{name}@{version}"))
            .collect();
        assert!(
            embedded.contains(&"acme:b@1.0.0".to_string()),
            "{embedded:?}"
        );
        // b as a uses it: the type, not the function that needs c.
        let b_id = assembled
            .embedded
            .iter()
            .find(|(name, ..)| name.to_string() == "acme:b")
            .unwrap()
            .2;
        let b = witpkg::print_package(&assembled.resolve, b_id).unwrap();
        assert!(b.contains("type t = u32;"), "{b}");
        assert!(!b.contains("f: func"), "{b}");
    }

    #[test]
    fn a_cycle_between_published_packages_does_not_reach_the_project() {
        // a:b@1.0.0 uses c:d@1.0.0, which was published using a:b@1.0.0. The project imports
        // a:b and gets c:d as far as a:b's binary embeds it, which is acyclic.
        let assembled = assemble(vec![node("tests/cli/fetch/inputs/cycle/a", "a:b")]).unwrap();
        let embedded: Vec<String> = assembled
            .embedded
            .iter()
            .map(|(name, version, _)| format!("{name}@{version}"))
            .collect();
        assert_eq!(embedded, ["c:d@1.0.0"]);
    }
}
