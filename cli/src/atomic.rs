//! Writing files so that a failure never leaves a half-written one behind: bytes go to a
//! temporary file beside the target and only then are renamed over it. Outputs, the lock and
//! the cache all write this way. Like cargo's build outputs, they are not fsynced: an output
//! can always be rebuilt, a cache entry is hashed again on every read, and an 18 MB fsync would
//! cost more than the whole composition.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;

pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |out| out.write_all(bytes))
}

/// Like [`write`], making the file's directory first (for the caches, whose directories
/// appear on first use).
pub fn write_creating_dir(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("a file path has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    write(path, bytes)
}

/// Like [`write`], for output produced in pieces by `write`.
pub fn write_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "cannot write `{}`: the directory `{}` does not exist; create it first or choose \
             another output path",
            path.display(),
            dir.display()
        );
    }
    let context = || {
        format!(
            "cannot write `{}`; check that `{}` is writable and the disk is not full",
            path.display(),
            dir.display()
        )
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".wtool-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(without_temp_path)
        .with_context(context)?;
    write(tmp.as_file_mut()).with_context(context)?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(context)?;
    Ok(())
}

/// tempfile names its random scratch path in errors; the user never chose that path, so the
/// message keeps only the operating system's reason.
fn without_temp_path(e: std::io::Error) -> std::io::Error {
    let message = e.to_string();
    let reason = message.split(" at path ").next().unwrap_or(&message);
    std::io::Error::new(e.kind(), reason.to_string())
}
