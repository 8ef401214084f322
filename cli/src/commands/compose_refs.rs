//! Compose inputs named by registry reference (`acme:logger@1.2`) rather than by path. They are
//! resolved with the same resolver, config, cache and lock as `wtool fetch`, so `--locked`,
//! `--offline` and `--frozen` mean the same here.

use super::fetch::parse_spec;
use super::{GlobalOpts, RegistryArgs};
use crate::digest_cache::Stamp;
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
    if path.is_file() {
        // Only asked when it is printed: a failed parse builds an error, and with
        // RUST_BACKTRACE set that captures a backtrace per input.
        if global.verbose > 0 && parse_spec(arg).is_ok() {
            eprintln!("note: `{arg}` exists as a file, so it is read as a path, not a package");
        }
        return Ok(Source::File(path.to_path_buf()));
    }
    if parse_spec(arg).is_ok() {
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
) -> Result<Loaded> {
    let mut loaded = Loaded {
        inputs: Vec::new(),
        stamps: Vec::new(),
    };
    let cache_dir = crate::config::cache_dir().ok();
    if !sources.iter().any(|s| matches!(s, Source::Package(_))) {
        for source in sources {
            if let Source::File(p) = source {
                loaded.push_file(&p, cache_dir.as_deref())?;
            }
        }
        return Ok(loaded);
    }
    let mut from_registry = RegistryInputs::open(registry)?;
    for source in sources {
        match source {
            Source::File(p) => loaded.push_file(&p, cache_dir.as_deref())?,
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
                loaded.inputs.push(Input {
                    name: label,
                    bytes: resolved.bytes,
                    // Checked against these bytes when they were resolved.
                    sha256: Some(e.digest.bytes()),
                });
            }
        }
    }
    from_registry.finish()?;
    Ok(loaded)
}

/// The inputs of one composition, and where their digests may be remembered.
pub struct Loaded {
    pub inputs: Vec<Input>,
    stamps: Vec<(usize, Stamp)>,
}

impl Loaded {
    fn push_file(&mut self, path: &Path, cache_dir: Option<&Path>) -> Result<()> {
        let (input, stamp) = load_file(path, cache_dir)?;
        self.stamps.extend(stamp.map(|s| (self.inputs.len(), s)));
        self.inputs.push(input);
        Ok(())
    }

    /// Records the digests the composition computed, for the next run.
    pub fn remember(&self, digests: &[wtool_compose::provenance::InputDigest]) {
        for (index, stamp) in &self.stamps {
            if let Some(d) = digests.get(*index) {
                stamp.remember(&d.sha256);
            }
        }
    }
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

/// A file's bytes, and the digest an earlier run remembered for them. The stamp is taken
/// before the bytes are read, so a change while reading makes it stale rather than wrong.
fn load_file(path: &Path, cache_dir: Option<&Path>) -> Result<(Input, Option<Stamp>)> {
    let stamp = cache_dir.and_then(|dir| Stamp::of(dir, path));
    let file = InputFile::read(path)?;
    // The digest of compiled WAT depends on the compiler's version, not only on the file.
    let stamp = stamp.filter(|_| !file.from_text);
    let sha256 = stamp.as_ref().and_then(Stamp::lookup);
    let input = Input {
        name: file.name(),
        bytes: file.bytes,
        sha256,
    };
    Ok((input, stamp.filter(|_| sha256.is_none())))
}
