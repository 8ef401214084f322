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
use futures_util::stream::{FuturesUnordered, StreamExt};
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

/// A resolved WIT package and the requirements its binary carries. Only the packages the
/// project names itself are decoded (`package`); the ones they build on are outlined, and
/// their WIT comes from what the decoded binaries embed of them.
pub struct Node {
    pub resolved: Resolved,
    pub package: Option<WitPackage>,
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
                let not_locked = NotLocked {
                    name: name.clone(),
                    req: req.clone(),
                };
                // Plain, so that `resolve_closure` can tell it from other failures; it gives
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

    async fn resolve_node(&self, name: PackageRef, req: VersionReq, root: bool) -> Result<Node> {
        let resolved = self.resolve(&name, &req).await?;
        let e = &resolved.entry;
        let what = e.label();
        let outline = if root {
            None
        } else {
            witpkg::outline(&resolved.bytes)
        };
        let (declared, deps, package) = match outline {
            Some(o) => (o.name, o.deps, None),
            // Decoding also tells what an artifact that is no WIT package is.
            None => match witpkg::decode(&resolved.bytes, &what)? {
                Decoded::Package(p) => (p.name().clone(), p.dependencies()?, Some(*p)),
                Decoded::Component => fail!(
                    Code::InvalidInput,
                    "{what} is a component, not a WIT package; WIT dependencies must be WIT \
                     packages"
                ),
            },
        };
        let matches = format!("{}:{}", declared.namespace, declared.name) == e.name.to_string()
            && declared.version.as_ref().is_none_or(|v| *v == e.version);
        if !matches {
            fail!(
                Code::InvalidInput,
                "{what} declares itself as `{declared}`; the registry entry is mislabelled"
            );
        }
        Ok(Node {
            resolved,
            package,
            deps,
        })
    }

    /// Resolves requirements and everything they depend on, downloading in parallel. Packages
    /// in `skip` are provided locally and not resolved. Every package comes before the ones it
    /// depends on.
    pub async fn resolve_closure(
        &self,
        roots: Vec<(PackageRef, VersionReq)>,
        skip: &BTreeSet<String>,
    ) -> Result<Vec<Node>> {
        let mut seen = BTreeSet::new();
        let mut pending = FuturesUnordered::new();
        // The requirements of one node (or the roots) form a group whose registry logs are
        // fetched together; the group's nodes then resolve in parallel.
        let mut enqueue = |group: Vec<(PackageRef, VersionReq)>,
                           root: bool,
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
                    (k, root, self.resolve_node(name, req, root).await)
                }))
                .await
            });
        };
        enqueue(roots, true, &mut pending);
        let mut nodes = BTreeMap::new();
        let mut not_locked = Vec::new();
        let mut errors = Vec::new();
        while let Some(group) = pending.next().await {
            for (k, root, result) in group {
                match result {
                    Ok(node) => {
                        enqueue(node.deps.clone(), false, &mut pending);
                        nodes.insert(k, node);
                    }
                    Err(e) => match e.downcast::<NotLocked>() {
                        // A lock written by wkg names only what the project imports itself; the
                        // packages those build on come embedded in their (locked, verified)
                        // binaries, so a locked run takes them from there.
                        Ok(n) if !root => {
                            tracing::debug!("{n}; its WIT comes from the packages that use it")
                        }
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
            fail!(
                Code::Verification,
                "wkg.lock needs to be updated but --locked was passed to prevent this:\n  {}\n\
                 run `wtool fetch` without --locked and commit wkg.lock",
                not_locked.join("\n  ")
            );
        }
        dependents_first(nodes)
    }
}

/// A resolved closure as one `Resolve`, and where each resolved entry sits in it.
pub struct Assembled {
    pub resolve: Resolve,
    pub packages: Vec<(Entry, PackageId)>,
    /// Packages that only come embedded in others (a locked run on a wkg lock, which names
    /// only the direct dependencies), with their versioned names.
    pub embedded: Vec<(PackageRef, semver::Version, PackageId)>,
}

/// Puts a closure (dependents first) together: every decoded package whole, and every package
/// they build on as far as their binaries embed it, which is what wkg writes too and all a
/// build of the project can reach. A package that no decoded binary embeds (only parts of its
/// dependents that nothing here uses refer to it) is decoded from its own bytes.
pub fn assemble(nodes: Vec<Node>) -> Result<Assembled> {
    let mut resolve = Resolve::default();
    let merge = |resolve: &mut Resolve, other: Resolve| {
        resolve
            .merge(other)
            .map(drop)
            .context("the fetched packages disagree about a package they share")
    };
    let mut entries = Vec::new();
    let mut outlined = Vec::new();
    for node in nodes {
        entries.push(node.resolved.entry.clone());
        match node.package {
            Some(p) => merge(&mut resolve, p.resolve)?,
            None => outlined.push(node.resolved),
        }
    }
    for resolved in outlined {
        if package_id(&resolve, &resolved.entry).is_none() {
            if let Decoded::Package(p) = witpkg::decode(&resolved.bytes, &resolved.entry.label())? {
                merge(&mut resolve, p.resolve)?;
            }
        }
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

/// The nodes with every package before the packages it depends on, or the cycle that makes
/// that impossible.
fn dependents_first(mut nodes: BTreeMap<Key, Node>) -> Result<Vec<Node>> {
    fn visit(
        k: &Key,
        nodes: &BTreeMap<Key, Node>,
        stack: &mut Vec<Key>,
        done: &mut BTreeSet<Key>,
        order: &mut Vec<Key>,
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
            visit(&key(name, req), nodes, stack, done, order)?;
        }
        stack.pop();
        done.insert(k.clone());
        order.push(k.clone());
        Ok(())
    }
    let mut done = BTreeSet::new();
    let mut order = Vec::new();
    for k in nodes.keys() {
        visit(k, &nodes, &mut Vec::new(), &mut done, &mut order)?;
    }
    Ok(order.iter().rev().filter_map(|k| nodes.remove(k)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A node as `resolve_closure` makes it: the package the project names decoded, the others
    /// outlined.
    fn node(dir: &str, name: &str, root: bool) -> Node {
        let root_dir = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let bytes = witpkg::build_wit(&root_dir.join(dir)).unwrap();
        let (package, deps) = if root {
            let Decoded::Package(p) = witpkg::decode(&bytes, dir).unwrap() else {
                panic!("{dir} is not a package")
            };
            let deps = p.dependencies().unwrap();
            (Some(*p), deps)
        } else {
            (None, witpkg::outline(&bytes).unwrap().deps)
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
            package,
            deps,
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
        // acme:a uses a type of acme:b that does not involve acme:c: a's binary embeds part of
        // b and nothing of c, while b's own binary depends on c.
        let inputs = "tests/cli/fetch/inputs/unused-dep";
        let nodes = vec![
            node(&format!("{inputs}/a"), "acme:a", true),
            node(&format!("{inputs}/b"), "acme:b", false),
            node(&format!("{inputs}/c"), "acme:c", false),
        ];
        assert_eq!(nodes[1].deps.len(), 1, "b's outline names c");
        let assembled = assemble(nodes).unwrap();
        let text: BTreeMap<String, String> = assembled
            .packages
            .iter()
            .map(|(e, id)| {
                let wit = witpkg::print_package(&assembled.resolve, *id).unwrap();
                (e.name.to_string(), wit)
            })
            .collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(
            text["acme:a"].contains("g: func() -> t;"),
            "{}",
            text["acme:a"]
        );
        // b as a uses it: the type, not the function that needs c.
        assert!(
            text["acme:b"].contains("type t = u32;"),
            "{}",
            text["acme:b"]
        );
        assert!(!text["acme:b"].contains("f: func"), "{}", text["acme:b"]);
        // c is embedded by nothing fetched, so it comes whole from its own binary.
        assert!(
            text["acme:c"].contains("type id = u64;"),
            "{}",
            text["acme:c"]
        );
    }
}
