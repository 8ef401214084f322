//! The download cache: content-addressed, one directory per registry (so a local dev registry
//! never leaks into another), file names without `:`, every write to a temp file that is renamed
//! only once its digest checks out, and every read hashed again so a damaged blob is dropped
//! rather than served.
//!
//! ```text
//! <cache>/registries/<registry>/blobs/sha256-<hex>
//! <cache>/registries/<registry>/index/<namespace>/<name>.json   versions last seen
//! <cache>/registries/<registry>/warg/                           warg-client's log state
//! ```

use crate::digest::Digest;
use anyhow::{bail, Context, Result};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use wasm_pkg_common::package::PackageRef;

#[derive(Clone)]
pub struct RegistryCache {
    root: PathBuf,
    /// In `--check` mode nothing at all is written, the cache included.
    read_only: bool,
}

/// A version as the registry listed it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Release {
    pub version: Version,
    /// `None` when the registry does not say until download (or the version is yanked).
    pub digest: Option<Digest>,
    pub yanked: bool,
}

impl RegistryCache {
    pub fn new(cache_dir: &Path, registry: &str, read_only: bool) -> Self {
        Self {
            root: cache_dir.join("registries").join(safe_name(registry)),
            read_only,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join(digest.file_name())
    }

    /// The blob's bytes if cached and intact. A blob whose bytes no longer hash to its name is
    /// removed.
    pub fn read(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        let path = self.blob_path(digest);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
        };
        if Digest::of(&bytes) != *digest {
            tracing::warn!("dropping damaged cache entry `{}`", path.display());
            if !self.read_only {
                let _ = std::fs::remove_file(&path);
            }
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// Stores bytes under their digest after checking they are what `expected` names.
    pub fn write(&self, expected: &Digest, bytes: &[u8]) -> Result<()> {
        let actual = Digest::of(bytes);
        if actual != *expected {
            bail!("content has digest {actual}, expected {expected}");
        }
        if self.read_only {
            return Ok(());
        }
        let path = self.blob_path(expected);
        crate::atomic::write_creating_dir(&path, bytes)
    }

    fn index_path(&self, package: &PackageRef) -> PathBuf {
        self.root
            .join("index")
            .join(package.namespace().as_ref())
            .join(format!("{}.json", package.name()))
    }

    /// Versions seen the last time the registry was asked, for `--offline` resolution.
    pub fn read_index(&self, package: &PackageRef) -> Option<Vec<Release>> {
        let text = std::fs::read(self.index_path(package)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn write_index(&self, package: &PackageRef, releases: &[Release]) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        crate::atomic::write_creating_dir(
            &self.index_path(package),
            &serde_json::to_vec_pretty(releases)?,
        )
    }
}

/// A registry name as one portable path component: anything but letters, digits, `.` and `-`
/// becomes `_` (so `127.0.0.1:8080` is `127.0.0.1_8080`).
fn safe_name(registry: &str) -> String {
    crate::config::sanitize(registry, &['.', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_on_write_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RegistryCache::new(dir.path(), "127.0.0.1:1", false);
        let d = Digest::of(b"abc");
        assert!(cache.write(&Digest::of(b"other"), b"abc").is_err());
        assert!(cache.read(&d).unwrap().is_none());
        cache.write(&d, b"abc").unwrap();
        assert_eq!(cache.read(&d).unwrap().unwrap(), b"abc");
        std::fs::write(cache.blob_path(&d), b"abd").unwrap();
        assert!(
            cache.read(&d).unwrap().is_none(),
            "damaged blob is not served"
        );
        assert!(!cache.blob_path(&d).exists(), "and is removed");
        assert!(!cache.root().to_string_lossy().contains(':'));
    }
}
