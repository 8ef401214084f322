//! Runs `wasi:cli/run` components in wasmtime, with WASI 0.2 (including `wasi:http`) from the host
//! and nothing else.
//!
//! `wasi:http` is linked because componentize-js components import it whether or not they use
//! it (its JS engine offers `fetch`); no test makes a request.

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::error::Context;
use wasmtime::{format_err, Engine, Result, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

struct Host {
    ctx: WasiCtx,
    http: WasiHttpCtx,
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

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

/// Compiles, instantiates and runs a command component with the given WASI context.
pub fn run(bytes: &[u8], mut ctx: WasiCtxBuilder) -> Result<()> {
    let engine = Engine::default();
    let component = Component::from_binary(&engine, bytes).context("wasmtime compiles it")?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
    let host = Host {
        ctx: ctx.build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(&engine, host);
    let command = Command::instantiate(&mut store, &component, &linker)
        .context("it instantiates with only WASI (and wasi:http) from the host")?;
    match command.wasi_cli_run().call_run(&mut store) {
        Ok(result) => result.map_err(|()| format_err!("the command returned an error exit")),
        // `wasi:cli/exit.exit(ok)` unwinds the guest; Go's runtime ends every program that way,
        // and status 0 is a success, as for the wasmtime CLI.
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(0)) => Ok(()),
            Some(I32Exit(status)) => Err(format_err!("the command exited with status {status}")),
            None => Err(e).context("run traps"),
        },
    }
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
