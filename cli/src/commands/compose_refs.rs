//! Compose inputs named by registry reference (`acme:logger@1.2`) rather than by path. They are
//! resolved with the same resolver, config, cache and lock as `wtool fetch`, so `--locked`,
//! `--offline` and `--frozen` mean the same here.

use super::fetch::parse_spec;
use super::{GlobalOpts, RegistryArgs};
use crate::input::InputFile;
use crate::lock::{self, Lock};
use crate::output::write_atomically;
use crate::resolver::{Mode, Resolver};
use crate::witpkg::{self, Decoded};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
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
    let lock_path = PathBuf::from(lock::FILE_NAME);
    let old_lock = Lock::read(&lock_path)?;
    let registries = registry.open(false)?;
    let resolver = Resolver {
        registries: &registries,
        lock: &old_lock,
        mode: Mode {
            locked: registry.locked || registry.frozen,
            offline: registry.is_offline(),
        },
    };
    let runtime = super::runtime()?;
    let mut inputs = Vec::new();
    let mut entries = Vec::new();
    for source in sources {
        match source {
            Source::File(p) => inputs.push(load_file(&p)?),
            Source::Package(spec) => {
                let (name, req) = parse_spec(&spec)?;
                let resolved = runtime
                    .block_on(resolver.resolve(&name, &req))
                    .map_err(|e| {
                        if resolver.mode.locked {
                            e.context(
                                "wkg.lock needs to be updated but --locked was passed to prevent \
                                 this; run once without --locked and commit wkg.lock",
                            )
                        } else {
                            e
                        }
                    })?;
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
                entries.push(resolved.entry);
            }
        }
    }
    let same = |n: &crate::lock::Entry, o: &crate::lock::Entry| {
        n.name == o.name && n.registry == o.registry && n.requirement == o.requirement
    };
    let replaced: Vec<_> = old_lock
        .entries()
        .filter(|o| !entries.iter().any(|n| same(n, o)))
        .chain(entries.iter().cloned())
        .collect();
    let new_lock = Lock::from_entries(replaced);
    if new_lock != old_lock {
        if registry.locked || registry.frozen {
            bail!(
                "wkg.lock needs to be updated but --locked was passed to prevent this; run the \
                 compose once without --locked and commit wkg.lock"
            );
        }
        write_atomically(&lock_path, new_lock.to_toml().as_bytes())?;
    }
    Ok(inputs)
}

fn load_file(path: &Path) -> Result<Input> {
    let file = InputFile::read(path)?;
    Ok(Input {
        name: file.name(),
        bytes: file.bytes,
    })
}
