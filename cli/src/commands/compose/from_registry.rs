//! Packages a composition takes from registries (inputs, WAC packages, the target world's
//! package), recorded in the project's `wkg.lock` once the run succeeds.

use crate::commands::RegistryArgs;
use crate::exit::{coded, fail, Code};
use crate::lock::{self, Entry, Lock};
use crate::registry::Registries;
use crate::resolver::{Mode, Resolved, Resolver};
use anyhow::Result;
use semver::VersionReq;
use std::path::PathBuf;
use wasm_pkg_common::package::PackageRef;

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
            runtime: crate::commands::runtime()?,
            resolved: Vec::new(),
        })
    }

    /// Takes a direct reference's package from the registry it names.
    pub fn pin(&mut self, spec: &crate::package_spec::PackageSpec) -> Result<()> {
        self.registries.pin(spec)
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
                    coded(Code::Verification, e.context(LOCKED))
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
            fail!(Code::Verification, "{LOCKED}");
        }
        crate::atomic::write(&self.lock_path, new_lock.to_toml().as_bytes())
    }
}

const LOCKED: &str = "wkg.lock needs to be updated but --locked was passed to prevent this; run \
                      once without --locked and commit wkg.lock";
