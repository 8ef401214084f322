use clap::Parser;

mod atomic;
mod binaryen;
mod cache;
mod commands;
mod config;
mod diagnostics;
mod digest;
mod digest_cache;
mod exit;
mod input;
mod keys;
mod lock;
mod memory;
mod output;
mod package_spec;
mod progress;
mod project;
mod registry;
mod resolver;
mod witpkg;

fn main() -> std::process::ExitCode {
    let cli = commands::Cli::parse();
    cli.run()
}
