//! Reading input files: binary wasm as is, `.wat` text compiled on the way in.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A file the user named, with the bytes it held.
pub struct InputFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// The file held WAT text, and `bytes` is what it compiled to.
    pub from_text: bool,
}

impl InputFile {
    pub fn read(path: &Path) -> Result<Self> {
        let raw = std::fs::read(path).with_context(|| {
            format!(
                "cannot read `{}`; check that the path is right and readable",
                path.display()
            )
        })?;
        let is_text = path.extension().is_some_and(|e| e == "wat")
            || raw
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| *b == b'(' || *b == b';');
        let bytes = if is_text {
            let text = std::str::from_utf8(&raw)
                .with_context(|| format!("`{}` looks like WAT but is not UTF-8", path.display()))?;
            wat::parse_str(text).map_err(|mut e| {
                e.set_path(path);
                let e = anyhow::anyhow!("`{}` is not valid WAT: {e}", path.display());
                crate::exit::coded(crate::exit::Code::InvalidInput, e)
            })?
        } else {
            raw
        };
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            from_text: is_text,
        })
    }

    /// The name used in messages: the path as the user gave it.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }
}
