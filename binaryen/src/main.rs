//! `wtool-binaryen`: binaryen's `wasm-opt` command line. `wtool optimize` and
//! `wtool compose --optimize` run it once per optimization stage of each core module. It is a
//! package of its own so that `wtool` neither links binaryen nor compiles its C++; `wtool`
//! looks for it beside its own executable, then on `PATH` (see `cli/src/binaryen.rs`).

use std::process::ExitCode;
use wasm_opt::integration::Command;

fn main() -> ExitCode {
    let mut command = Command::new("wasm-opt");
    command.args(std::env::args_os().skip(1));
    match wasm_opt::integration::run_from_command_args(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message += &format!(": {cause}");
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
