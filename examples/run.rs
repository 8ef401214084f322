//! Runs a `wasi:cli/run` component in wasmtime: `cargo run --example run -- composed.wasm`.
//! The README's demo uses it so a fresh machine needs no separate runtime install.

use wasmtime::error::Context;

fn main() -> wasmtime::Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: run COMPONENT.wasm")?;
    let bytes = std::fs::read(&path).with_context(|| format!("reading {path}"))?;
    let mut wasi = wasmtime_wasi::WasiCtx::builder();
    wasi.inherit_stdio();
    wtool_testkit::run::run(&bytes, wasi).with_context(|| format!("running {path}"))
}
