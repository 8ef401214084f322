//! Writing outputs so that a failure never leaves a half-written file behind: bytes go to a
//! temporary file beside the target, are flushed to disk, and only then renamed over it.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;

pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
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
        .with_context(context)?;
    tmp.write_all(bytes).with_context(context)?;
    tmp.as_file().sync_all().with_context(context)?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(context)?;
    Ok(())
}
