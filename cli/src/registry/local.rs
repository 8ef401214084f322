//! wkg's local-directory registry: `<root>/<namespace>/<name>/<version>.wasm`.

use super::{Backend, Published};
use crate::cache::Release;
use crate::digest::Digest;
use anyhow::{bail, Context, Result};
use semver::Version;
use std::path::PathBuf;
use warg_crypto::signing::PrivateKey;
use wasm_pkg_common::package::PackageRef;

pub struct LocalBackend {
    name: String,
    root: PathBuf,
}

impl LocalBackend {
    pub fn new(name: &str, root: PathBuf) -> Self {
        Self {
            name: name.to_string(),
            root,
        }
    }

    fn dir(&self, package: &PackageRef) -> PathBuf {
        self.root
            .join(package.namespace().as_ref())
            .join(package.name().as_ref())
    }
}

#[async_trait::async_trait]
impl Backend for LocalBackend {
    async fn releases(&self, package: &PackageRef) -> Result<Option<Vec<Release>>> {
        let dir = self.dir(package);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", dir.display())),
        };
        let mut releases = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let version = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".wasm"))
                .and_then(|v| v.parse::<Version>().ok());
            if let Some(version) = version {
                releases.push(Release {
                    version,
                    digest: None,
                    yanked: false,
                });
            }
        }
        releases.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(Some(releases))
    }

    async fn download(&self, package: &PackageRef, release: &Release) -> Result<Vec<u8>> {
        let path = self.dir(package).join(format!("{}.wasm", release.version));
        std::fs::read(&path).with_context(|| {
            format!(
                "{package}@{} is not in local registry `{}` (`{}`)",
                release.version,
                self.name,
                path.display()
            )
        })
    }

    async fn publish(
        &self,
        package: &PackageRef,
        version: &Version,
        bytes: &[u8],
        _key: Option<&PrivateKey>,
        _progress: &crate::progress::Transfer,
    ) -> Result<Published> {
        let dir = self.dir(package);
        let path = dir.join(format!("{version}.wasm"));
        if path.exists() {
            bail!(
                "{package}@{version} already exists in local registry `{}`",
                self.name
            );
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        crate::atomic::write(&path, bytes)?;
        Ok(Published {
            package: package.clone(),
            version: version.clone(),
            digest: Digest::of(bytes),
            registry: self.name.clone(),
            record: None,
            manifest: None,
        })
    }

    fn signs(&self) -> bool {
        false
    }

    async fn yank(
        &self,
        package: &PackageRef,
        version: &Version,
        _: Option<&PrivateKey>,
    ) -> Result<()> {
        bail!(
            "local registry `{}` has no yank; delete `{}` instead",
            self.name,
            self.dir(package).join(format!("{version}.wasm")).display()
        )
    }
}
