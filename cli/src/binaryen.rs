//! Where binaryen runs: `wtool-binaryen`, a helper executable built and installed beside
//! `wtool`. Linked into `wtool` itself, binaryen's C++ static initialisers and code pages cost
//! every command about 0.4 ms and 130 page faults at start-up, optimizing or not.

use anyhow::{bail, Result};
use std::path::PathBuf;
use std::sync::Arc;
use wtool_compose::optimize::{WasmOpt, WasmOptCommand};

/// The helper beside this executable, or the `wasm-opt` that `WTOOL_WASM_OPT` names.
pub fn wasm_opt() -> Result<Arc<dyn WasmOpt>> {
    if let Some(path) = std::env::var_os("WTOOL_WASM_OPT") {
        return Ok(Arc::new(WasmOptCommand(PathBuf::from(path))));
    }
    let exe = std::env::current_exe()?;
    let helper = exe.with_file_name(format!("wtool-binaryen{}", std::env::consts::EXE_SUFFIX));
    if !helper.is_file() {
        bail!(
            "binaryen runs in `{}`, which is missing; it is built and installed with wtool \
             (`cargo build -p wtool`, `cargo install --path cli`), or set WTOOL_WASM_OPT to a \
             binaryen `wasm-opt` (version 116 or newer)",
            helper.display()
        );
    }
    Ok(Arc::new(WasmOptCommand(helper)))
}
