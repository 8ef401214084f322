//! Where binaryen runs: `wtool-binaryen`, a helper executable of its own package
//! (`binaryen/`), installed beside `wtool`. Linked into `wtool` itself, binaryen's C++ static
//! initialisers and code pages cost every command about 0.4 ms and 130 page faults at
//! start-up, optimizing or not; and building it would make every build of `wtool` compile C++.

use anyhow::{bail, Result};
use std::path::PathBuf;
use std::sync::Arc;
use wtool_compose::optimize::{WasmOpt, WasmOptCommand};

const HELPER: &str = "wtool-binaryen";

/// The `wasm-opt` that `WTOOL_WASM_OPT` names, else `wtool-binaryen` beside this executable
/// (where `cargo install` and cargo's target directory put it), else on `PATH`.
pub fn wasm_opt() -> Result<Arc<dyn WasmOpt>> {
    if let Some(path) = std::env::var_os("WTOOL_WASM_OPT") {
        return Ok(Arc::new(WasmOptCommand(PathBuf::from(path))));
    }
    let file = format!("{HELPER}{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe()?.with_file_name(&file);
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(&file));
    match std::iter::once(beside.clone())
        .chain(on_path)
        .find(|p| p.is_file())
    {
        Some(helper) => Ok(Arc::new(WasmOptCommand(helper))),
        None => bail!(
            "optimizing needs binaryen, which runs in `{HELPER}`: it is not beside wtool (`{}`) \
             or on PATH; install it with `cargo install --path binaryen` (or build it with \
             `cargo build -p {HELPER}`), or set WTOOL_WASM_OPT to a binaryen `wasm-opt` \
             (version 116 or newer)",
            beside.display()
        ),
    }
}
