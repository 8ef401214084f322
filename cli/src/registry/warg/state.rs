//! warg-client's state in wtool's cache: each registry's checkpoint, operator log and package
//! logs, and a pending publish. The layout is warg-client's own (`FileSystemRegistryStorage`),
//! so existing caches read as before, but every file is written to a temporary file and renamed
//! into place. warg-client writes its files in place, so a full disk or a kill mid-write left a
//! truncated log that failed every later run until the cache was deleted by hand.

use crate::atomic;
use anyhow::{anyhow, Context, Result};
use indexmap::IndexMap;
use serde::{de::DeserializeOwned, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use warg_client::storage::{
    OperatorInfo, PackageInfo, PublishInfo, RegistryDomain, RegistryStorage,
};
use warg_crypto::hash::Sha256;
use warg_protocol::registry::{LogId, PackageName, TimestampedCheckpoint};
use warg_protocol::SerdeEnvelope;

const PACKAGE_LOGS_DIR: &str = "package-logs";
const PENDING_PUBLISH_FILE: &str = "pending-publish.json";

pub struct StateStorage {
    /// The default registry's state.
    base_dir: PathBuf,
    /// Beside it, one directory per namespace registry.
    registries_dir: PathBuf,
    /// Held for the storage's life: one process at a time updates a registry's state.
    _lock: File,
}

impl StateStorage {
    /// Opens the state in `base_dir`, waiting for another wtool that holds it.
    pub fn lock(base_dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&base_dir)
            .with_context(|| format!("cannot create `{}`", base_dir.display()))?;
        let lock_path = base_dir.join(".lock");
        let lock = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .with_context(|| format!("cannot open `{}`", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("cannot lock `{}`", lock_path.display()))?;
        let registries_dir = base_dir
            .parent()
            .context("the warg state directory has no parent")?
            .to_path_buf();
        Ok(Self {
            base_dir,
            registries_dir,
            _lock: lock,
        })
    }

    fn dir(&self, registry: Option<&RegistryDomain>) -> PathBuf {
        match registry {
            Some(r) => self.registries_dir.join(r.to_string()),
            None => self.base_dir.clone(),
        }
    }

    fn package_path(&self, registry: Option<&RegistryDomain>, name: &PackageName) -> PathBuf {
        let id = LogId::package_log::<Sha256>(name).to_string();
        self.dir(registry)
            .join(PACKAGE_LOGS_DIR)
            .join(id.replace(':', "/"))
    }
}

fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    serde_json::from_str(&text).map(Some).with_context(|| {
        format!(
            "the warg state file `{}` is damaged; delete it (or the whole cache) and fetch again",
            path.display()
        )
    })
}

fn store(path: &Path, value: &impl Serialize) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)
        .with_context(|| format!("cannot encode `{}`", path.display()))?;
    atomic::write_creating_dir(path, &bytes)
}

#[async_trait::async_trait]
impl RegistryStorage for StateStorage {
    async fn reset(&self, all_registries: bool) -> Result<()> {
        let dir = if all_registries {
            &self.registries_dir
        } else {
            &self.base_dir
        };
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove `{}`", dir.display()))
            }
            _ => Ok(()),
        }
    }

    async fn load_checkpoint(
        &self,
        registry: Option<&RegistryDomain>,
    ) -> Result<Option<SerdeEnvelope<TimestampedCheckpoint>>> {
        load(&self.dir(registry).join("checkpoint"))
    }

    async fn store_checkpoint(
        &self,
        registry: Option<&RegistryDomain>,
        checkpoint: &SerdeEnvelope<TimestampedCheckpoint>,
    ) -> Result<()> {
        store(&self.dir(registry).join("checkpoint"), checkpoint)
    }

    async fn load_operator(
        &self,
        registry: Option<&RegistryDomain>,
    ) -> Result<Option<OperatorInfo>> {
        load(&self.dir(registry).join("operator.log"))
    }

    async fn store_operator(
        &self,
        registry: Option<&RegistryDomain>,
        info: OperatorInfo,
    ) -> Result<()> {
        store(&self.dir(registry).join("operator.log"), &info)
    }

    async fn load_all_packages(&self) -> Result<IndexMap<RegistryDomain, Vec<PackageInfo>>> {
        let mut all = IndexMap::new();
        let entries = match std::fs::read_dir(&self.registries_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(all),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(domain) = RegistryDomain::from_str(&name) else {
                continue;
            };
            let mut packages = Vec::new();
            let mut dirs = vec![entry.path().join(PACKAGE_LOGS_DIR)];
            while let Some(dir) = dirs.pop() {
                let Ok(files) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for file in files {
                    let path = file?.path();
                    let hidden = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'));
                    if path.is_dir() {
                        dirs.push(path);
                    } else if !hidden {
                        let info = load(&path)?.ok_or_else(|| {
                            anyhow!("cannot load the package log `{}`", path.display())
                        })?;
                        packages.push(info);
                    }
                }
            }
            all.insert(domain, packages);
        }
        Ok(all)
    }

    async fn load_package(
        &self,
        registry: Option<&RegistryDomain>,
        package: &PackageName,
    ) -> Result<Option<PackageInfo>> {
        load(&self.package_path(registry, package))
    }

    async fn store_package(
        &self,
        registry: Option<&RegistryDomain>,
        info: &PackageInfo,
    ) -> Result<()> {
        store(&self.package_path(registry, &info.name), info)
    }

    async fn load_publish(&self) -> Result<Option<PublishInfo>> {
        Ok(load(&self.base_dir.join(PENDING_PUBLISH_FILE))?.unwrap_or_default())
    }

    async fn store_publish(&self, info: Option<&PublishInfo>) -> Result<()> {
        let path = self.base_dir.join(PENDING_PUBLISH_FILE);
        match info {
            Some(info) => store(&path, info),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("cannot remove `{}`", path.display()))
                }
                _ => Ok(()),
            },
        }
    }
}
