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
mod wkg_config;

fn main() -> std::process::ExitCode {
    // rustls is built with both ring (warg-client's reqwest) and aws-lc-rs (oci-client's);
    // either HTTP stack names its own, and anything asking for the default gets aws-lc-rs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = commands::Cli::parse();
    cli.run()
}
