//! A project's `wit/` directory: which foreign packages its root package names, and the
//! `wit/deps/` tree that satisfies them, built beside the old one and swapped in so a failure
//! never leaves it half-written.

use crate::exit::{coded, Code, WithCode};
use anyhow::{bail, Context, Result};
use semver::VersionReq;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use wasm_pkg_common::package::PackageRef;
use wit_parser::{Resolve, UnresolvedPackageGroup};

/// `deps/` entries by directory name, each the text of its `package.wit`.
pub type DepsTree = BTreeMap<String, String>;

pub struct Project {
    pub wit_dir: PathBuf,
}

impl Project {
    pub fn deps_dir(&self) -> PathBuf {
        self.wit_dir.join("deps")
    }

    /// The root package's foreign dependencies (from `use`, `import`, `include` and `export`,
    /// nested packages included), minus packages the group defines itself.
    pub fn requirements(&self) -> Result<Vec<(PackageRef, VersionReq)>> {
        if !self.wit_dir.is_dir() {
            bail!(
                "`{}` is not a directory; run in a project with a `wit/` folder or pass --wit-dir",
                self.wit_dir.display()
            );
        }
        // The error already renders file, line and column; its cause would only repeat it.
        let group = UnresolvedPackageGroup::parse_dir(&self.wit_dir)
            .map_err(|e| coded(Code::InvalidInput, anyhow::anyhow!("{e}")))?;
        let mut defined = BTreeSet::new();
        let mut names = BTreeSet::new();
        for pkg in std::iter::once(&group.main).chain(&group.nested) {
            defined.insert(pkg.name.to_string());
            for name in pkg.foreign_deps.keys() {
                names.insert(name.clone());
            }
        }
        names
            .into_iter()
            .filter(|n| !defined.contains(&n.to_string()))
            .map(|n| crate::witpkg::requirement(&n))
            .collect()
    }

    /// The entries of `deps/`, each with the package names it defines. Read once per fetch:
    /// which of them wtool wrote is known only as resolution goes on.
    pub fn deps_entries(&self) -> Result<DepsEntries> {
        let mut entries = Vec::new();
        let Ok(dir) = std::fs::read_dir(self.deps_dir()) else {
            return Ok(DepsEntries(entries));
        };
        for entry in dir {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let group = if path.is_dir() {
                UnresolvedPackageGroup::parse_dir(&path).ok()
            } else if path.extension().is_some_and(|e| e == "wit") {
                std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| UnresolvedPackageGroup::parse(&path, &text).ok())
            } else {
                None
            };
            let packages = group
                .iter()
                .flat_map(|g| std::iter::once(&g.main).chain(&g.nested))
                .map(|pkg| format!("{}:{}", pkg.name.namespace, pkg.name.name))
                .collect();
            entries.push((name, packages));
        }
        entries.sort();
        Ok(DepsEntries(entries))
    }

    /// Checks that the root package resolves against `tree` plus the vendored entries, without
    /// touching `wit/deps`.
    /// `fetched` holds the fetched packages merged into one `Resolve`; `tree` the same packages
    /// as the text written for them.
    pub fn check_resolves(
        &self,
        tree: &DepsTree,
        vendored: &[String],
        fetched: Resolve,
    ) -> Result<()> {
        let main = UnresolvedPackageGroup::parse_dir(&self.wit_dir)?;
        let unresolved = || {
            format!(
                "`{}` does not resolve against the fetched dependencies",
                self.wit_dir.display()
            )
        };
        // The fetched packages were validated when they were decoded and merged (as wkg does);
        // that costs a fifth of parsing their text again. Vendored packages exist only as
        // text, and registry packages may refer to them, so then everything is parsed.
        if vendored.is_empty() {
            let mut resolve = fetched;
            resolve
                .push_group(main)
                .map_err(|e| coded(Code::InvalidInput, anyhow::anyhow!("{e}")))
                .with_context(unresolved)?;
            return Ok(());
        }
        let mut deps = Vec::new();
        for (dir, text) in tree {
            let path = self.deps_dir().join(dir).join("package.wit");
            deps.push(
                UnresolvedPackageGroup::parse(&path, text)
                    .map_err(|(map, e)| coded(Code::InvalidInput, anyhow::anyhow!(e.render(&map))))
                    .with_context(|| format!("fetched package `{dir}` does not parse"))?,
            );
        }
        for name in vendored {
            let path = self.deps_dir().join(name);
            if path.is_dir() {
                deps.push(UnresolvedPackageGroup::parse_dir(&path).code(Code::InvalidInput)?);
            } else if path.extension().is_some_and(|e| e == "wit") {
                let text = std::fs::read_to_string(&path)?;
                deps.push(
                    UnresolvedPackageGroup::parse(&path, &text).map_err(|(map, e)| {
                        coded(Code::InvalidInput, anyhow::anyhow!(e.render(&map)))
                    })?,
                );
            }
        }
        Resolve::default()
            .push_groups(main, deps)
            .map_err(|e| coded(Code::InvalidInput, anyhow::anyhow!("{e}")))
            .with_context(unresolved)?;
        Ok(())
    }

    /// Entries of the current `deps/` that differ from `tree` (missing, changed, or stale).
    pub fn stale_entries(&self, tree: &DepsTree, managed: &BTreeSet<String>) -> Vec<String> {
        let mut stale = Vec::new();
        for (dir, text) in tree {
            let path = self.deps_dir().join(dir).join("package.wit");
            match std::fs::read_to_string(&path) {
                Ok(current) if current == *text => {}
                Ok(_) => stale.push(format!("{dir} differs from the locked package")),
                Err(_) => stale.push(format!("{dir} is missing")),
            }
        }
        for name in managed {
            if !tree.contains_key(name) && self.deps_dir().join(name).exists() {
                stale.push(format!("{name} is no longer needed"));
            }
        }
        stale
    }

    /// Writes `tree` (plus the kept vendored entries) as the new `deps/`: built in a temporary
    /// directory beside it, then swapped in.
    pub fn write_deps(&self, tree: &DepsTree, vendored: &[String]) -> Result<()> {
        let deps = self.deps_dir();
        self.remove_leftovers();
        let staging = tempfile::Builder::new()
            .prefix(&format!(".deps-new-{}-", std::process::id()))
            .tempdir_in(&self.wit_dir)
            .with_context(|| format!("cannot write in `{}`", self.wit_dir.display()))?;
        for (dir, text) in tree {
            let d = staging.path().join(dir);
            std::fs::create_dir_all(&d)?;
            std::fs::write(d.join("package.wit"), text)
                .with_context(|| format!("cannot write `{}`; is the disk full?", d.display()))?;
        }
        for name in vendored {
            copy_recursively(&deps.join(name), &staging.path().join(name))?;
        }
        let staged = staging.keep();
        let old = self
            .wit_dir
            .join(format!(".deps-old-{}", std::process::id()));
        if deps.exists() {
            std::fs::rename(&deps, &old)
                .with_context(|| format!("cannot move `{}` aside", deps.display()))?;
        }
        if let Err(e) = std::fs::rename(&staged, &deps) {
            let _ = std::fs::rename(&old, &deps);
            let _ = std::fs::remove_dir_all(&staged);
            return Err(e).with_context(|| format!("cannot replace `{}`", deps.display()));
        }
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    /// Removes what an interrupted `write_deps` left beside `deps/` (its staging directory, or
    /// the old tree it had moved aside): each is named after its process, and only those of
    /// processes that are gone are touched, so a fetch running beside this one keeps its own.
    pub fn remove_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.wit_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name
                .strip_prefix(".deps-new-")
                .or_else(|| name.strip_prefix(".deps-old-"))
            else {
                continue;
            };
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| p != std::process::id() && !process_alive(p)) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Whether a process with this id runs; where that cannot be told, it is taken to run.
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

fn copy_recursively(from: &Path, to: &Path) -> Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_recursively(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        std::fs::copy(from, to).with_context(|| format!("cannot copy `{}`", from.display()))?;
    }
    Ok(())
}

/// What `deps/` holds: each entry's name and the packages it defines.
pub struct DepsEntries(Vec<(String, Vec<String>)>);

impl DepsEntries {
    /// The entries wtool did not write (not named in `managed`), kept as they are, with the
    /// package names they define: those are provided locally and never fetched.
    pub fn vendored(&self, managed: &BTreeSet<String>) -> (Vec<String>, BTreeSet<String>) {
        let kept = self.0.iter().filter(|(name, _)| !managed.contains(name));
        let packages = kept.clone().flat_map(|(_, p)| p.iter().cloned()).collect();
        (kept.map(|(name, _)| name.clone()).collect(), packages)
    }
}
