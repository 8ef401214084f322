//! Resolution: requirements in, exact versions with verified bytes out. The lock is both input
//! and output, and cargo's CI modes are rules in here, not special cases in the commands:
//!
//! - default: ask the registry, take the newest matching non-yanked version;
//! - `--locked`: take the locked version; a requirement the lock lacks is an error;
//! - `--offline`: lock and cache only (the cached version list when unlocked); no network;
//! - a version that is locked is never accepted with other bytes than the lock records.

use crate::cache::Release;
use crate::digest::Digest;
use crate::lock::{Entry, Lock};
use crate::registry::{verify, Registries};
use crate::witpkg::{self, Decoded, WitPackage};
use anyhow::{anyhow, bail, Result};
use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt};
use semver::VersionReq;
use std::collections::{BTreeMap, BTreeSet};
use wasm_pkg_common::package::PackageRef;

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

/// A resolved WIT package and the requirements its binary carries.
pub struct Node {
    pub resolved: Resolved,
    pub package: WitPackage,
    pub deps: Vec<(PackageRef, VersionReq)>,
}

type Key = (String, String);

fn key(name: &PackageRef, req: &VersionReq) -> Key {
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
                return Err(NotLocked {
                    name: name.clone(),
                    req: req.clone(),
                }
                .into())
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
            _ => {
                let backend = self.registries.backend(&registry).await?;
                let Some(releases) = backend.releases(name).await? else {
                    bail!(
                        "package {name} does not exist in registry `{}`; check the name, or \
                         the namespace's registry mapping",
                        registry.name
                    );
                };
                if !local {
                    cache.write_index(name, &releases)?;
                }
                let mut release = pick(name, req, &registry.name, &releases)?;
                if let Some(e) = locked.as_ref().filter(|e| e.version == release.version) {
                    if let Some(d) = release.digest.filter(|d| *d != e.digest) {
                        bail!(
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
        let what = format!("{}@{} from registry `{}`", e.name, e.version, e.registry);
        let package = match witpkg::decode(&resolved.bytes, &what)? {
            Decoded::Package(p) => *p,
            Decoded::Component => bail!(
                "{what} is a component, not a WIT package; WIT dependencies must be WIT packages"
            ),
        };
        let declared = package.name();
        let matches = format!("{}:{}", declared.namespace, declared.name) == e.name.to_string()
            && declared.version.as_ref().is_none_or(|v| *v == e.version);
        if !matches {
            bail!("{what} declares itself as `{declared}`; the registry entry is mislabelled");
        }
        let deps = package.dependencies()?;
        Ok(Node {
            resolved,
            package,
            deps,
        })
    }

    /// Resolves requirements and everything they depend on, downloading in parallel. Packages
    /// in `skip` are provided locally and not resolved.
    pub async fn resolve_closure(
        &self,
        roots: Vec<(PackageRef, VersionReq)>,
        skip: &BTreeSet<String>,
    ) -> Result<BTreeMap<Key, Node>> {
        let mut seen = BTreeSet::new();
        let mut pending = FuturesUnordered::new();
        // The requirements of one node (or the roots) form a group whose registry logs are
        // fetched together; the group's nodes then resolve in parallel.
        let mut enqueue = |group: Vec<(PackageRef, VersionReq)>,
                           pending: &mut FuturesUnordered<_>| {
            let fresh: Vec<_> = group
                .into_iter()
                .filter(|(name, req)| {
                    !skip.contains(&name.to_string()) && seen.insert(key(name, req))
                })
                .collect();
            if fresh.is_empty() {
                return;
            }
            pending.push(async move {
                self.prefetch(&fresh).await;
                join_all(fresh.into_iter().map(|(name, req)| async move {
                    let k = key(&name, &req);
                    (k, self.resolve_node(name, req).await)
                }))
                .await
            });
        };
        enqueue(roots, &mut pending);
        let mut nodes = BTreeMap::new();
        let mut not_locked = Vec::new();
        let mut errors = Vec::new();
        while let Some(group) = pending.next().await {
            for (k, result) in group {
                match result {
                    Ok(node) => {
                        enqueue(node.deps.clone(), &mut pending);
                        nodes.insert(k, node);
                    }
                    Err(e) => match e.downcast::<NotLocked>() {
                        Ok(n) => not_locked.push(n.to_string()),
                        Err(e) => errors.push(e),
                    },
                }
            }
        }
        if let Some(first) = errors.into_iter().next() {
            return Err(first);
        }
        if !not_locked.is_empty() {
            not_locked.sort();
            bail!(
                "wkg.lock needs to be updated but --locked was passed to prevent this:\n  {}\n\
                 run `wtool fetch` without --locked and commit wkg.lock",
                not_locked.join("\n  ")
            );
        }
        check_cycles(&nodes)?;
        Ok(nodes)
    }
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

fn check_cycles(nodes: &BTreeMap<Key, Node>) -> Result<()> {
    fn visit(
        k: &Key,
        nodes: &BTreeMap<Key, Node>,
        stack: &mut Vec<Key>,
        done: &mut BTreeSet<Key>,
    ) -> Result<()> {
        if done.contains(k) {
            return Ok(());
        }
        if let Some(pos) = stack.iter().position(|s| s == k) {
            let label = |k: &Key| {
                nodes
                    .get(k)
                    .map(|n| format!("{}@{}", n.resolved.entry.name, n.resolved.entry.version))
                    .unwrap_or_else(|| k.0.clone())
            };
            let chain: Vec<String> = stack[pos..].iter().chain([k]).map(label).collect();
            bail!("dependency cycle: {}", chain.join(" -> "));
        }
        let Some(node) = nodes.get(k) else {
            return Ok(());
        };
        stack.push(k.clone());
        for (name, req) in &node.deps {
            visit(&key(name, req), nodes, stack, done)?;
        }
        stack.pop();
        done.insert(k.clone());
        Ok(())
    }
    let mut done = BTreeSet::new();
    for k in nodes.keys() {
        visit(k, nodes, &mut Vec::new(), &mut done)?;
    }
    Ok(())
}
