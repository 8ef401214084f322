//! `wtool fetch`: one package into a file, or a project's WIT dependencies into `wit/deps/`
//! and `wkg.lock`.

use super::{GlobalOpts, RegistryArgs};
use crate::digest::Digest;
use crate::exit::{fail, Code};
use crate::lock::{self, Entry, Lock};
use crate::package_spec::PackageSpec;
use crate::project::{DepsTree, Project};
use crate::resolver::{self, Mode, Resolver};
use crate::witpkg::{self, deps_dir_name};
use anyhow::Result;
use semver::{Version, VersionReq};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wasm_pkg_common::package::PackageRef;

/// Download one package, or resolve and lock the WIT dependencies of a project.
///
/// With a package (`ns:name[@requirement]`), downloads it and checks its digest before writing
/// it. Without one, reads the root package in `wit/`, resolves every foreign package it names
/// (and what those depend on) against their registries, writes them to
/// `wit/deps/<ns>-<name>-<version>/package.wit`, and records the exact versions and digests in
/// `wkg.lock`.
#[derive(clap::Args)]
pub struct Args {
    /// The package to download, e.g. `acme:logging@1.2` (a bare version means exactly it), or
    /// a direct OCI reference, e.g. `ghcr.io/acme-org/acme/logging:1.2.0`.
    #[arg(value_name = "NS:NAME[@VERSION]")]
    package: Option<PackageSpec>,
    /// Where to write a single package (a file, or a directory ending in `/`).
    #[arg(short, long, requires = "package")]
    output: Option<PathBuf>,
    /// The project's WIT directory.
    #[arg(short = 'd', long, default_value = "wit", conflicts_with = "package")]
    wit_dir: PathBuf,
    /// The lock file (default: `wkg.lock` beside the WIT directory).
    #[arg(long, conflicts_with = "package")]
    lock_file: Option<PathBuf>,
    /// Write nothing; exit non-zero if `wit/deps` or the lock is out of date.
    #[arg(long, conflicts_with = "package")]
    check: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl Args {
    pub fn run(self, global: &GlobalOpts) -> Result<ExitCode> {
        let runtime = super::runtime()?;
        match &self.package {
            Some(spec) => runtime.block_on(self.fetch_one(spec, global)),
            None => runtime.block_on(self.fetch_project(global)),
        }
    }

    async fn fetch_one(&self, spec: &PackageSpec, global: &GlobalOpts) -> Result<ExitCode> {
        let mut registries = self.registry.open(false)?;
        registries.pin(spec)?;
        let lock = Lock::default();
        let resolver = Resolver {
            registries: &registries,
            lock: &lock,
            mode: Mode {
                locked: false,
                offline: self.registry.is_offline(),
            },
        };
        let resolved = resolver.resolve(&spec.name, &spec.req).await?;
        let e = &resolved.entry;
        let file_name = format!(
            "{}-{}-{}.wasm",
            e.name.namespace(),
            e.name.name(),
            e.version
        );
        let path = match &self.output {
            Some(p) if p.is_dir() || p.to_string_lossy().ends_with('/') => {
                std::fs::create_dir_all(p)?;
                p.join(file_name)
            }
            Some(p) => p.clone(),
            None => PathBuf::from(file_name),
        };
        crate::atomic::write(&path, &resolved.bytes)?;
        let report = Fetched {
            package: &e.name,
            version: &e.version,
            digest: &e.digest,
            registry: &e.registry,
            path: &path,
        };
        global.output().summary(&report, || {
            format!(
                "fetched {}@{} ({}) from `{}` into {}\n",
                e.name,
                e.version,
                e.digest,
                e.registry,
                path.display()
            )
        })?;
        Ok(ExitCode::SUCCESS)
    }

    async fn fetch_project(&self, global: &GlobalOpts) -> Result<ExitCode> {
        let project = Project {
            wit_dir: self.wit_dir.clone(),
        };
        let lock_path = self.lock_file.clone().unwrap_or_else(|| {
            self.wit_dir
                .parent()
                .unwrap_or(std::path::Path::new(""))
                .join(lock::FILE_NAME)
        });
        let old_lock = Lock::read(&lock_path)?;
        let locked = self.registry.locked || self.registry.frozen || self.check;
        let registries = self.registry.open(self.check)?;

        let previously_managed: BTreeSet<String> = old_lock
            .entries()
            .map(|e| deps_dir_name(&e.name, &e.version))
            .collect();
        let deps_entries = project.deps_entries()?;
        let (_, provided) = deps_entries.vendored(&previously_managed);
        let roots = project.requirements()?;

        let resolver = Resolver {
            registries: &registries,
            lock: &old_lock,
            mode: Mode {
                locked,
                offline: self.registry.is_offline(),
            },
        };
        let nodes = resolver.resolve_imports(roots, &provided).await?;
        let assembled = resolver::assemble(nodes)?;
        // The packages that come embedded are not in the lock, but their directories are
        // wtool's too: written by an earlier fetch, not vendored by hand.
        let mut previously_managed = previously_managed;
        previously_managed.extend(
            assembled
                .embedded
                .iter()
                .map(|(name, version, _)| deps_dir_name(name, version)),
        );
        let (vendored, provided) = deps_entries.vendored(&previously_managed);

        let mut tree = DepsTree::new();
        let mut resolved = Vec::new();
        for (e, id) in assembled.packages {
            tree.insert(
                deps_dir_name(&e.name, &e.version),
                witpkg::print_package(&assembled.resolve, id)?,
            );
            resolved.push(e);
        }
        for (name, version, id) in &assembled.embedded {
            if !provided.contains(&name.to_string()) {
                tree.insert(
                    deps_dir_name(name, version),
                    witpkg::print_package(&assembled.resolve, *id)?,
                );
            }
        }
        // Components locked by `wtool compose` share the file; only WIT packages are pruned.
        // An entry this resolution replaces needs no look at its blob. An entry for a package
        // that now comes embedded (a lock that named the whole closure) still describes the
        // tree, so it stays, and such a lock passes `--locked`.
        let embedded = |o: &Entry| {
            assembled
                .embedded
                .iter()
                .any(|(name, version, _)| *name == o.name && *version == o.version)
        };
        let kept: Vec<_> = old_lock
            .entries()
            .filter(|o| {
                resolved.iter().any(|n| n.same_key(o))
                    || embedded(o)
                    || !is_wit_package(&registries, o)
            })
            .collect();
        let new_lock = Lock::from_entries(kept).replacing(&resolved);
        project.check_resolves(&tree, &vendored, assembled.resolve)?;

        let lock_changed = new_lock != old_lock;
        if self.check {
            let mut stale = project.stale_entries(&tree, &previously_managed);
            if lock_changed {
                stale.push(format!("{} would change", lock_path.display()));
            }
            if !stale.is_empty() {
                let list: String = stale.iter().map(|s| format!("\n  {s}")).collect();
                fail!(
                    Code::Verification,
                    "out of date (nothing was written):{list}\nrun `wtool fetch` and commit the \
                     result"
                );
            }
            global.output().status(|| {
                format!(
                    "{} and {} are up to date",
                    project.deps_dir().display(),
                    lock_path.display()
                )
            });
            return Ok(ExitCode::SUCCESS);
        }
        if locked && lock_changed {
            let kept: BTreeSet<String> = new_lock
                .entries()
                .map(|e| format!("{} ({})", e.name, e.requirement))
                .collect();
            let dropped: Vec<String> = old_lock
                .entries()
                .map(|e| format!("{} ({})", e.name, e.requirement))
                .filter(|e| !kept.contains(e))
                .collect();
            fail!(
                Code::Verification,
                "wkg.lock needs to be updated but --locked was passed to prevent this: it has \
                 entries no longer used: {}; run `wtool fetch` without --locked and commit \
                 wkg.lock",
                dropped.join(", ")
            );
        }
        let deps_stale = !project.stale_entries(&tree, &previously_managed).is_empty();
        if deps_stale {
            project.write_deps(&tree, &vendored)?;
        } else {
            project.remove_leftovers();
        }
        if lock_changed {
            crate::atomic::write(&lock_path, new_lock.to_toml().as_bytes())?;
        }

        let report = ProjectFetched {
            packages: resolved.iter().map(LockedPackage::from).collect(),
            vendored: &vendored,
            deps_written: deps_stale,
            lock_written: lock_changed,
        };
        global.output().summary(&report, || {
            let mut text = String::new();
            for e in &resolved {
                text += &format!(
                    "  {} {} -> {} from `{}`\n",
                    e.name, e.requirement, e.version, e.registry
                );
            }
            text + &format!(
                "{} package(s) in {}{}; {} {}\n",
                tree.len(),
                project.deps_dir().display(),
                if deps_stale { "" } else { " (unchanged)" },
                lock_path.display(),
                if lock_changed { "updated" } else { "unchanged" }
            )
        })?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Whether a lock entry names a WIT package, judged from the cached blob. An entry that is not
/// cached is kept: a cold CI cache must not make `--locked` see a changed lock.
fn is_wit_package(registries: &crate::registry::Registries, entry: &crate::lock::Entry) -> bool {
    let cache =
        crate::cache::RegistryCache::new(&registries.settings().cache_dir, &entry.registry, true);
    match cache.read(&entry.digest) {
        Ok(Some(bytes)) => witpkg::is_wit_package(&bytes),
        _ => false,
    }
}

/// `--json` of `wtool fetch PACKAGE`.
#[derive(Serialize)]
struct Fetched<'a> {
    package: &'a PackageRef,
    version: &'a Version,
    digest: &'a Digest,
    registry: &'a str,
    path: &'a Path,
}

/// `--json` of `wtool fetch` in a project.
#[derive(Serialize)]
struct ProjectFetched<'a> {
    packages: Vec<LockedPackage<'a>>,
    /// `wit/deps/` entries the project keeps itself, left alone.
    vendored: &'a [String],
    deps_written: bool,
    lock_written: bool,
}

#[derive(Serialize)]
struct LockedPackage<'a> {
    package: &'a PackageRef,
    requirement: &'a VersionReq,
    version: &'a Version,
    registry: &'a str,
    digest: &'a Digest,
    /// The directory under `wit/deps/`.
    dir: String,
}

impl<'a> From<&'a Entry> for LockedPackage<'a> {
    fn from(e: &'a Entry) -> Self {
        Self {
            package: &e.name,
            requirement: &e.requirement,
            version: &e.version,
            registry: &e.registry,
            digest: &e.digest,
            dir: deps_dir_name(&e.name, &e.version),
        }
    }
}
