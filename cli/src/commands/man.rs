//! `wtool man`: the manual pages, rendered by `clap_mangen` from the command definitions.
//!
//! A command rather than a build step: `cargo install` copies only the binary, so a page made
//! at build time would need a separate way out of `target/`; and the page a binary prints is
//! always the page of that binary, flags and exit codes included.

use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::PathBuf;
use std::process::ExitCode;

/// Print the manual page (roff), or write one page per command into a directory.
///
/// `wtool man | man -l -` reads it now; `wtool man --dir ~/.local/share/man/man1` installs
/// `wtool.1` and a `wtool-COMMAND.1` for each subcommand.
#[derive(clap::Args)]
pub struct Args {
    /// Write `wtool.1` and the subcommands' pages into this directory instead.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl Args {
    pub fn run(self) -> Result<ExitCode> {
        let command = super::Cli::command();
        match &self.dir {
            None => clap_mangen::Man::new(command).render(&mut std::io::stdout())?,
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create `{}`", dir.display()))?;
                clap_mangen::generate_to(command, dir)
                    .with_context(|| format!("cannot write the pages into `{}`", dir.display()))?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
