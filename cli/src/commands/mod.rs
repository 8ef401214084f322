use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Build-time toolchain for WebAssembly components.
#[derive(Parser)]
#[command(name = "wtool", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

impl Cli {
    pub fn run(self) -> ExitCode {
        match self.command {}
    }
}
