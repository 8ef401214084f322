//! Secrets as files in the data directory, mode 0600: the embedded store's [`SecretStore`].

use super::{SecretStore, StoreError, StoreResult};
use std::{
    io::Write,
    path::{Path, PathBuf},
};

pub(crate) struct FileSecretStore {
    dir: PathBuf,
    /// Files kept elsewhere than `dir/<name>` (a configured operator key file).
    elsewhere: Vec<(String, PathBuf)>,
}

impl FileSecretStore {
    pub(crate) fn new(dir: &Path, elsewhere: Vec<(String, PathBuf)>) -> Self {
        Self {
            dir: dir.to_path_buf(),
            elsewhere,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.elsewhere
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| self.dir.join(name))
    }
}

impl SecretStore for FileSecretStore {
    fn get(&self, name: &str) -> StoreResult<Option<String>> {
        match std::fs::read_to_string(self.path(name)) {
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn get_or_insert(&self, name: &str, value: String) -> StoreResult<String> {
        let path = self.path(name);
        if !path.exists() {
            match write_secret(&path, value.as_bytes()) {
                Ok(()) => {}
                // Another process made it first: read theirs.
                Err(_) if path.exists() => {}
                Err(e) => return Err(e),
            }
        }
        self.get(name)?
            .ok_or_else(|| StoreError::Corrupt(format!("`{}` vanished", path.display())))
    }
}

/// Writes a secret with mode 0600 from the start, with no trailing newline (the reference
/// server and many tools choke on one). Refuses to overwrite.
pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> StoreResult<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}
