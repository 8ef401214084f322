use super::compose_refs::{classify, load_all};
use super::{GlobalOpts, RegistryArgs};
use crate::output::write_atomically;
use anyhow::{bail, Result};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use wtool_compose::{compose, ComposeOptions};

/// Plug the exports of components into the imports of a socket component.
///
/// Each import of the socket takes the first plug (in the order given) that exports it, by
/// exact name or on the same semver track, and whose type fits. Plugs fill each other's
/// imports too, so `app --plug middleware --plug logger` chains app → middleware → logger.
/// Imports nothing fills are left for the host.
///
/// The socket and each plug are a path, or a registry package `ns:name[@version]` resolved like
/// `wtool fetch` and recorded in `wkg.lock` (an argument that exists as a file is a path).
#[derive(clap::Args)]
pub struct Args {
    /// The component whose imports are filled.
    socket: String,
    /// A component whose exports fill imports (repeatable; earlier plugs win).
    #[arg(long = "plug", value_name = "PLUG", required = true)]
    plugs: Vec<String>,
    /// Where to write the composed component (stdout if omitted and not a terminal).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Print the output as WAT text instead of binary.
    #[arg(short = 't', long)]
    wat: bool,
    #[command(flatten)]
    registry: RegistryArgs,
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
        let sources = std::iter::once(&self.socket)
            .chain(&self.plugs)
            .map(|a| classify(a, global))
            .collect::<Result<Vec<_>>>()?;
        let mut inputs = load_all(sources, &self.registry, global)?;
        let plugs = inputs.split_off(1);
        let socket = inputs.pop().expect("the socket is always first");
        let composition = compose(socket, plugs, &ComposeOptions::default())?;

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
            println!("{}", serde_json::to_string_pretty(&composition.report)?);
        } else if !global.quiet {
            eprint!("{}", composition.report);
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
