use clap::Parser;

mod binaryen;
mod cache;
mod commands;
mod config;
mod digest;
mod digest_cache;
mod input;
mod keys;
mod lock;
mod memory;
mod output;
mod project;
mod registry;
mod resolver;
mod witpkg;

fn main() -> std::process::ExitCode {
    let cli = commands::Cli::parse();
    cli.run()
}
