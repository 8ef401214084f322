//! Compose inputs named by registry reference (`acme:logger@1.2`) rather than by path. They are
//! resolved with the same resolver, config, cache and lock as `wtool fetch`, so `--locked`,
//! `--offline` and `--frozen` mean the same here.

use super::fetch::parse_spec;
use super::{GlobalOpts, RegistryArgs};
use crate::input::InputFile;
use crate::lock::{self, Entry, Lock};
use crate::output::write_atomically;
use crate::registry::Registries;
use crate::resolver::{Mode, Resolved, Resolver};
use crate::witpkg::{self, Decoded};
use anyhow::{bail, Result};
use semver::VersionReq;
use std::path::{Path, PathBuf};
use wasm_pkg_common::package::PackageRef;
use wtool_compose::Input;

/// What a socket or plug argument names.
pub enum Source {
    File(PathBuf),
    Package(String),
}

/// Like `wac`: an argument that exists as a file is a path; otherwise a package reference.
pub fn classify(arg: &str, global: &GlobalOpts) -> Result<Source> {
    let path = Path::new(arg);
    let looks_like_ref = parse_spec(arg).is_ok();
    if path.is_file() {
        if looks_like_ref && global.verbose > 0 {
            eprintln!("note: `{arg}` exists as a file, so it is read as a path, not a package");
        }
        return Ok(Source::File(path.to_path_buf()));
    }
    if looks_like_ref {
        if global.verbose > 0 {
            eprintln!("note: `{arg}` is not a file, so it is resolved as a registry package");
        }
        return Ok(Source::Package(arg.to_string()));
    }
    let path_like =
        arg.contains('/') || arg.contains('\\') || arg.ends_with(".wasm") || arg.ends_with(".wat");
    if path_like || !arg.contains(':') {
        return Ok(Source::File(path.to_path_buf()));
    }
    bail!(
        "`{arg}` is neither an existing file nor a package reference; write a path to a \
         component or `ns:name[@version]`"
    )
}

/// Loads every input, resolving package references against registries and recording them in
/// the lock (which `--locked` forbids changing).
pub fn load_all(
    sources: Vec<Source>,
    registry: &RegistryArgs,
    global: &GlobalOpts,
) -> Result<Vec<Input>> {
    if !sources.iter().any(|s| matches!(s, Source::Package(_))) {
        return sources
            .into_iter()
            .map(|s| match s {
                Source::File(p) => load_file(&p),
                Source::Package(_) => unreachable!(),
            })
            .collect();
    }
    let mut from_registry = RegistryInputs::open(registry)?;
    let mut inputs = Vec::new();
    for source in sources {
        match source {
            Source::File(p) => inputs.push(load_file(&p)?),
            Source::Package(spec) => {
                let (name, req) = parse_spec(&spec)?;
                let resolved = from_registry.resolve(&name, &req)?;
                let e = &resolved.entry;
                let label = format!("{}@{}", e.name, e.version);
                if let Decoded::Package(_) =
                    witpkg::decode(&resolved.bytes, &format!("`{spec}` ({label})"))?
                {
                    bail!(
                        "`{spec}` resolves to {label} in registry `{}`, a WIT package, not a \
                         component; plugs and sockets must be components",
                        e.registry
                    );
                }
                if global.verbose > 0 {
                    eprintln!(
                        "note: `{spec}` is {label} ({}) from registry `{}`",
                        e.digest, e.registry
                    );
                }
                inputs.push(Input {
                    name: label,
                    bytes: resolved.bytes,
                });
            }
        }
    }
    from_registry.finish()?;
    Ok(inputs)
}

/// Components resolved from registries for one compose run, recorded in the project's
/// `wkg.lock` when the run succeeds (which `--locked` forbids changing).
pub struct RegistryInputs {
    registries: Registries,
    lock_path: PathBuf,
    lock: Lock,
    mode: Mode,
    runtime: tokio::runtime::Runtime,
    resolved: Vec<Entry>,
}

impl RegistryInputs {
    pub fn open(args: &RegistryArgs) -> Result<Self> {
        let lock_path = PathBuf::from(lock::FILE_NAME);
        Ok(Self {
            registries: args.open(false)?,
            lock: Lock::read(&lock_path)?,
            lock_path,
            mode: Mode {
                locked: args.locked || args.frozen,
                offline: args.is_offline(),
            },
            runtime: super::runtime()?,
            resolved: Vec::new(),
        })
    }

    pub fn resolve(&mut self, name: &PackageRef, req: &VersionReq) -> Result<Resolved> {
        let resolver = Resolver {
            registries: &self.registries,
            lock: &self.lock,
            mode: self.mode,
        };
        let resolved = self
            .runtime
            .block_on(resolver.resolve(name, req))
            .map_err(|e| {
                if self.mode.locked {
                    e.context(LOCKED)
                } else {
                    e
                }
            })?;
        self.resolved.push(resolved.entry.clone());
        Ok(resolved)
    }

    /// Writes what was resolved into the lock.
    pub fn finish(self) -> Result<()> {
        let new_lock = self.lock.replacing(&self.resolved);
        if new_lock == self.lock {
            return Ok(());
        }
        if self.mode.locked {
            bail!("{LOCKED}");
        }
        write_atomically(&self.lock_path, new_lock.to_toml().as_bytes())
    }
}

const LOCKED: &str = "wkg.lock needs to be updated but --locked was passed to prevent this; run \
                      once without --locked and commit wkg.lock";

fn load_file(path: &Path) -> Result<Input> {
    let file = InputFile::read(path)?;
    Ok(Input {
        name: file.name(),
        bytes: file.bytes,
    })
}
