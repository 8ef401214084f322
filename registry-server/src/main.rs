use clap::Parser;

/// Self-hosted, warg-compatible registry server (under construction).
#[derive(Parser)]
#[command(name = "wtool-registry", version)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    Cli::parse();
    Ok(())
}
