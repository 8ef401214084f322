use super::GlobalOpts;
use std::process::ExitCode;

/// Placeholder until the validate command lands.
#[derive(clap::Args)]
pub struct Args {}

impl Args {
    pub fn run(self, _global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        anyhow::bail!("not yet available")
    }
}
