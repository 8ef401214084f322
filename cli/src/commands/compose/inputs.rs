//! The socket and plug arguments: each a path, or a registry package (`acme:logger@1.2`)
//! resolved with the same resolver, config, cache and lock as `wtool fetch`, so `--locked`,
//! `--offline` and `--frozen` mean the same here.

use super::from_registry::RegistryInputs;
use crate::commands::RegistryArgs;
use crate::digest_cache::Stamp;
use crate::exit::{fail, Code};
use crate::input::InputFile;
use crate::package_spec::PackageSpec;
use crate::witpkg::{self, Decoded};
use anyhow::Result;
use std::path::{Path, PathBuf};
use wtool_compose::Input;

/// What a socket or plug argument names.
pub enum Source {
    File(PathBuf),
    Package(PackageSpec),
}

/// Like `wac`: an argument that exists as a file is a path; otherwise a package reference.
pub fn classify(arg: &str) -> Result<Source> {
    let path = Path::new(arg);
    if path.is_file() {
        // Only asked when it is printed: a failed parse builds an error, and with
        // RUST_BACKTRACE set that captures a backtrace per input.
        if tracing::enabled!(tracing::Level::INFO) && arg.parse::<PackageSpec>().is_ok() {
            tracing::info!("`{arg}` exists as a file, so it is read as a path, not a package");
        }
        return Ok(Source::File(path.to_path_buf()));
    }
    if let Ok(spec) = arg.parse::<PackageSpec>() {
        tracing::info!("`{arg}` is not a file, so it is resolved as a registry package");
        return Ok(Source::Package(spec));
    }
    let path_like =
        arg.contains('/') || arg.contains('\\') || arg.ends_with(".wasm") || arg.ends_with(".wat");
    if path_like || !arg.contains(':') {
        return Ok(Source::File(path.to_path_buf()));
    }
    fail!(
        Code::Usage,
        "`{arg}` is neither an existing file nor a package reference; write a path to a \
         component or `ns:name[@version]`"
    )
}

/// Loads every input, resolving package references against registries and recording them in
/// the lock (which `--locked` forbids changing).
pub fn load_all(sources: Vec<Source>, registry: &RegistryArgs) -> Result<Loaded> {
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
                from_registry.pin(&spec)?;
                let resolved = from_registry.resolve(&spec.name, &spec.req)?;
                let e = &resolved.entry;
                let label = format!("{}@{}", e.name, e.version);
                if let Decoded::Package(_) =
                    witpkg::decode(&resolved.bytes, &format!("`{spec}` ({label})"))?
                {
                    fail!(
                        Code::InvalidInput,
                        "`{spec}` resolves to {label} in registry `{}`, a WIT package, not a \
                         component; plugs and sockets must be components",
                        e.registry
                    );
                }
                tracing::info!(
                    "`{spec}` is {label} ({}) from registry `{}`",
                    e.digest,
                    e.registry
                );
                loaded.inputs.push(Input {
                    name: label,
                    bytes: resolved.bytes,
                    // Checked against these bytes when they were resolved.
                    sha256: Some(e.digest.bytes()),
                    instance: None,
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
        instance: None,
    };
    Ok((input, stamp.filter(|_| sha256.is_none())))
}
