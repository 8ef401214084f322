//! Shared helpers: run the real `wtool` binary and run components in wasmtime.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command as WasiCommand;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Read at run time: a warm target dir shared by clones at different paths can hand this test a
/// binary compiled in another clone, whose compile-time manifest dir may be gone.
pub fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

/// The binaries sit beside `deps/`, where cargo put this test; `cargo test --workspace` builds
/// them because their own packages have integration tests.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

pub fn wtool<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(binary("wtool"))
        .args(args)
        .current_dir(root())
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("spawn wtool")
}

/// Runs wtool, failing the test with its command line and stderr unless it succeeds.
pub fn wtool_ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    let output = wtool(args);
    assert!(
        output.status.success(),
        "wtool {} failed:\n{}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Composes and returns the output bytes, failing the test with wtool's stderr otherwise.
pub fn compose(dir: &Path, socket: &str, plugs: &[&str]) -> Vec<u8> {
    let out = dir.join("composed.wasm");
    let mut args = vec!["compose".to_string(), fixture(socket).display().to_string()];
    for plug in plugs {
        args.push("--plug".into());
        args.push(fixture(plug).display().to_string());
    }
    args.push("-o".into());
    args.push(out.display().to_string());
    wtool_ok(&args);
    std::fs::read(out).unwrap()
}

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

/// Runs a `wasi:cli/run` component in wasmtime and returns what it printed on stdout.
pub fn run_command(bytes: &[u8]) -> String {
    let engine = Engine::default();
    let component =
        Component::from_binary(&engine, bytes).expect("wasmtime compiles the component");
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    let stdout = MemoryOutputPipe::new(1 << 20);
    let ctx = WasiCtx::builder().stdout(stdout.clone()).build();
    let mut store = Store::new(
        &engine,
        Host {
            ctx,
            table: ResourceTable::new(),
        },
    );
    let command = WasiCommand::instantiate(&mut store, &component, &linker)
        .expect("the composition instantiates with only WASI from the host");
    let result = command
        .wasi_cli_run()
        .call_run(&mut store)
        .expect("run traps not");
    assert!(result.is_ok(), "the command returned an error exit");
    String::from_utf8(stdout.contents().to_vec()).unwrap()
}

/// Top-level import names of a component.
pub fn imports(bytes: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.unwrap() {
            wasmparser::Payload::ComponentImportSection(reader) => {
                for import in reader {
                    names.push(import.unwrap().name.name.to_string());
                }
            }
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => break,
            _ => {}
        }
    }
    names
}
