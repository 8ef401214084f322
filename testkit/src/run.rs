//! Runs `wasi:cli/run` components in wasmtime, with WASI 0.2 from the host and nothing else.

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::error::Context;
use wasmtime::{format_err, Engine, Result, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

struct Host {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Compiles, instantiates and runs a command component with the given WASI context.
pub fn run(bytes: &[u8], mut ctx: WasiCtxBuilder) -> Result<()> {
    let engine = Engine::default();
    let component = Component::from_binary(&engine, bytes).context("wasmtime compiles it")?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    let host = Host {
        ctx: ctx.build(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(&engine, host);
    let command = Command::instantiate(&mut store, &component, &linker)
        .context("it instantiates with only WASI from the host")?;
    command
        .wasi_cli_run()
        .call_run(&mut store)
        .context("run traps")?
        .map_err(|()| format_err!("the command returned an error exit"))
}

/// Runs a command component and returns what it printed on stdout; panics on any failure.
pub fn run_command(bytes: &[u8]) -> String {
    let stdout = MemoryOutputPipe::new(1 << 20);
    let mut ctx = WasiCtx::builder();
    ctx.stdout(stdout.clone());
    if let Err(e) = run(bytes, ctx) {
        panic!("running the component failed: {e:#}");
    }
    String::from_utf8(stdout.contents().to_vec()).expect("UTF-8 output")
}
