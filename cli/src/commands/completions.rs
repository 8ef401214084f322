//! `wtool completions SHELL`: the shell's completion script, generated from the same
//! definitions that parse the command line, so it never lags behind a flag.

use anyhow::Result;
use clap::CommandFactory;
use std::process::ExitCode;

/// Print a completion script for a shell on stdout
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

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, ValueEnum};

    #[test]
    fn every_shell_completes_every_command() {
        for shell in clap_complete::Shell::value_variants() {
            let mut script = Vec::new();
            clap_complete::generate(
                *shell,
                &mut crate::commands::Cli::command(),
                "wtool",
                &mut script,
            );
            let script = String::from_utf8(script).unwrap();
            for word in ["compose", "fetch", "--target-world"] {
                assert!(script.contains(word), "{shell}: no `{word}`");
            }
        }
    }
}
