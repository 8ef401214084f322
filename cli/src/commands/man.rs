//! `wtool man`: the manual pages, rendered by `clap_mangen` from the command definitions.
//!
//! A command rather than a build step: `cargo install` copies only the binary, so a page made
//! at build time would need a separate way out of `target/`; and the page a binary prints is
//! always the page of that binary, flags and exit codes included.

use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::{Path, PathBuf};
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
        let mut command = super::Cli::command().disable_help_subcommand(true);
        command.build();
        match &self.dir {
            None => clap_mangen::Man::new(command).render(&mut std::io::stdout())?,
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create `{}`", dir.display()))?;
                write_pages(command, dir)?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `clap_mangen::generate_to`, but each page written atomically.
fn write_pages(command: clap::Command, dir: &Path) -> Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir)?;
    }
    let man = clap_mangen::Man::new(command);
    let mut page = Vec::new();
    man.render(&mut page)?;
    crate::atomic::write(&dir.join(man.get_filename()), &page)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pages_for_every_command_with_the_exit_codes() {
        let dir = tempfile::tempdir().unwrap();
        super::Args {
            dir: Some(dir.path().to_path_buf()),
        }
        .run()
        .unwrap();
        let main = std::fs::read_to_string(dir.path().join("wtool.1")).unwrap();
        assert!(main.contains("registry unreachable"), "{main}");
        for page in ["wtool-compose.1", "wtool-fetch.1", "wtool-key-new.1"] {
            assert!(dir.path().join(page).is_file(), "{page} is missing");
        }
    }
}
