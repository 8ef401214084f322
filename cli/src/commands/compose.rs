use super::GlobalOpts;
use crate::input::InputFile;
use crate::output::write_atomically;
use anyhow::{bail, Result};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use wtool_compose::optimize::{Level, OptimizeOptions};
use wtool_compose::{compose, ComposeOptions, Input};

/// Plug the exports of components into the imports of a socket component.
///
/// Each import of the socket takes the first plug (in the order given) that exports it, by
/// exact name or on the same semver track, and whose type fits. Plugs fill each other's
/// imports too, so `app --plug middleware --plug logger` chains app → middleware → logger.
/// Imports nothing fills are left for the host.
#[derive(clap::Args)]
pub struct Args {
    /// The component whose imports are filled.
    socket: PathBuf,
    /// A component whose exports fill imports (repeatable; earlier plugs win).
    #[arg(long = "plug", value_name = "PLUG", required = true)]
    plugs: Vec<PathBuf>,
    /// Where to write the composed component (stdout if omitted and not a terminal).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Print the output as WAT text instead of binary.
    #[arg(short = 't', long)]
    wat: bool,
    /// Optimize the composition as `wtool optimize -O<LEVEL>` does (LEVEL: 1, 2, 3, 4, s or
    /// z; default s), then validate it again.
    #[arg(
        long,
        value_name = "LEVEL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "s",
        value_parser = super::optimize::parse_level
    )]
    optimize: Option<Level>,
}

impl Args {
    pub fn run(self, global: &GlobalOpts) -> Result<ExitCode> {
        let to_stdout = self.output.is_none();
        if to_stdout && !self.wat && std::io::stdout().is_terminal() {
            bail!("refusing to write a binary component to a terminal; pass `-o FILE` or `-t` for text");
        }
        if to_stdout && global.json {
            bail!("`--json` prints the report on stdout, so the component needs `-o FILE`");
        }
        let socket = load(&self.socket)?;
        let plugs = self
            .plugs
            .iter()
            .map(|p| load(p))
            .collect::<Result<Vec<_>>>()?;
        let options = ComposeOptions {
            optimize: self.optimize.map(|level| OptimizeOptions {
                level,
                ..OptimizeOptions::default()
            }),
            ..ComposeOptions::default()
        };
        let composition = compose(socket, plugs, &options)?;

        let bytes = if self.wat {
            wasmprinter::print_bytes(&composition.bytes)?.into_bytes()
        } else {
            composition.bytes
        };
        match &self.output {
            Some(path) => write_atomically(path, &bytes)?,
            None => std::io::stdout().lock().write_all(&bytes)?,
        }

        if global.json {
            let mut json = serde_json::to_value(&composition.report)?;
            super::optimize::drop_times(&mut json);
            println!("{}", serde_json::to_string_pretty(&json)?);
        } else if !global.quiet {
            eprint!("{}", composition.report);
            if let Some(optimized) = &composition.report.optimized {
                eprint!("{optimized}");
            }
            if let Some(path) = &self.output {
                eprintln!(
                    "wrote {} ({} bytes)",
                    path.display(),
                    composition.report.size
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn load(path: &std::path::Path) -> Result<Input> {
    let file = InputFile::read(path)?;
    Ok(Input {
        name: file.name(),
        bytes: file.bytes,
    })
}
