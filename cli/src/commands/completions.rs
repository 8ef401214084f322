//! `wtool completions SHELL`: the shell's completion script, generated from the same
//! definitions that parse the command line, so it never lags behind a flag.

use anyhow::Result;
use clap::CommandFactory;
use std::process::ExitCode;

/// Print a completion script for a shell on stdout.
///
/// bash: `wtool completions bash > ~/.local/share/bash-completion/completions/wtool`
/// zsh: `wtool completions zsh > ~/.zfunc/_wtool` (with `~/.zfunc` in `fpath`)
/// fish: `wtool completions fish > ~/.config/fish/completions/wtool.fish`
/// PowerShell: `wtool completions powershell | Out-String | Invoke-Expression` in `$PROFILE`
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

impl Args {
    pub fn run(self) -> Result<ExitCode> {
        let mut command = super::Cli::command();
        clap_complete::generate(self.shell, &mut command, "wtool", &mut std::io::stdout());
        Ok(ExitCode::SUCCESS)
    }
}
