//! `wtool compose`: read the inputs (paths or registry packages), compose them (plugs into a
//! socket, or a WAC document), check the target world, write the component, report.

mod from_registry;
mod inputs;
mod target_world;
mod wac;

use super::{GlobalOpts, RegistryArgs};
use crate::exit::{fail, Code};
use anyhow::Result;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use target_world::TargetWorld;
use wtool_compose::optimize::{Level, OptimizeOptions};
use wtool_compose::{compose, ComposeOptions, Composition};

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
    /// The component whose imports are filled, or a WAC document (`.wac`) describing the graph.
    socket: String,
    /// A component whose exports fill imports (repeatable; earlier plugs win).
    #[arg(long = "plug", value_name = "PLUG")]
    plugs: Vec<String>,
    /// Leave IMPORT for the host when no plug fills it, even though a plug exports it with
    /// another type (repeatable). Without it, such a mismatch fails the composition.
    #[arg(long, value_name = "IMPORT")]
    leave_to_host: Vec<String>,
    /// For a WAC document: use this file for a package (`ns:name=PATH`; versioned references
    /// to the package too).
    #[arg(long = "dep", value_name = "PKG=PATH", value_parser = parse_dep)]
    deps: Vec<(String, PathBuf)>,
    /// For a WAC document: where packages are looked up before registries (`ns/name.wasm`).
    #[arg(long, default_value = "deps")]
    deps_dir: PathBuf,
    /// For a WAC document: import the components instead of embedding them.
    #[arg(long)]
    import_dependencies: bool,
    /// Check that the composition satisfies this WIT world: it may import only what the world
    /// imports and must export all the world exports.
    #[arg(long, value_name = "NS:PKG/WORLD[@VERSION]")]
    target_world: Option<TargetWorld>,
    /// Where `--target-world` looks for its package before registries (default: `wit`, if it
    /// exists; its `deps/` included).
    #[arg(long, value_name = "DIR", requires = "target_world")]
    wit: Option<PathBuf>,
    /// Where to write the composed component (stdout if omitted and not a terminal).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Print the output as WAT text instead of binary.
    #[arg(short = 't', long)]
    wat: bool,
    #[command(flatten)]
    registry: RegistryArgs,
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
        crate::memory::single_arena();
        let to_stdout = self.output.is_none();
        if to_stdout && !self.wat && std::io::stdout().is_terminal() {
            fail!(
                Code::Usage,
                "refusing to write a binary component to a terminal; pass `-o FILE` or `-t` for text"
            );
        }
        if to_stdout && global.json {
            fail!(
                Code::Usage,
                "`--json` prints the report on stdout, so the component needs `-o FILE`"
            );
        }
        let composed = if self.socket.ends_with(".wac") {
            self.compose_wac()?
        } else {
            self.compose_plugs()?
        };
        if let Some(target) = &self.target_world {
            target_world::check(
                composed.to_vec(),
                target,
                self.wit.as_deref(),
                &self.registry,
            )?;
        }
        self.write(&composed)?;
        composed.report(self.output.as_deref(), global)?;
        Ok(ExitCode::SUCCESS)
    }

    fn compose_plugs(&self) -> Result<Composed> {
        if self.plugs.is_empty() {
            fail!(
                Code::Usage,
                "nothing to plug: pass at least one --plug, or a `.wac` document as the socket"
            );
        }
        let sources = std::iter::once(&self.socket)
            .chain(&self.plugs)
            .map(|a| inputs::classify(a))
            .collect::<Result<Vec<_>>>()?;
        let mut loaded = inputs::load_all(sources, &self.registry)?;
        let plugs = loaded.inputs.split_off(1);
        let socket = loaded.inputs.pop().expect("the socket is always first");
        let optimize = match self.optimize {
            Some(level) => Some(OptimizeOptions {
                level,
                ..OptimizeOptions::new(crate::binaryen::wasm_opt()?)
            }),
            None => None,
        };
        let options = ComposeOptions {
            optimize,
            leave_to_host: self.leave_to_host.clone(),
            ..ComposeOptions::default()
        };
        let composition = compose(socket, plugs, &options)?;
        loaded.remember(&composition.report.inputs);
        Ok(Composed::Plugs(Box::new(composition)))
    }

    fn compose_wac(&self) -> Result<Composed> {
        if !self.plugs.is_empty() {
            fail!(
                Code::Usage,
                "--plug does not apply to a WAC document; instantiate the plug in the document"
            );
        }
        if !self.leave_to_host.is_empty() {
            fail!(
                Code::Usage,
                "--leave-to-host does not apply to a WAC document; a WAC document names its imports itself"
            );
        }
        let bytes = wac::compose(
            Path::new(&self.socket),
            &wac::Options {
                deps: &self.deps,
                deps_dir: &self.deps_dir,
                import_dependencies: self.import_dependencies,
                registry: &self.registry,
            },
        )?;
        Ok(Composed::Wac(bytes))
    }

    /// Binary or WAT text, to the output file (atomically) or stdout.
    fn write(&self, composed: &Composed) -> Result<()> {
        let text = self
            .wat
            .then(|| wasmprinter::print_bytes(composed.to_vec()))
            .transpose()?;
        let write = |out: &mut dyn Write| match &text {
            Some(text) => out.write_all(text.as_bytes()),
            None => composed.write_to(out),
        };
        match &self.output {
            Some(path) => crate::atomic::write_with(path, write)?,
            None => write(&mut std::io::stdout().lock())?,
        }
        Ok(())
    }
}

/// A composed component, from either kind of socket.
enum Composed {
    /// Boxed: the report is large beside the WAC case's bytes.
    Plugs(Box<Composition>),
    Wac(Vec<u8>),
}

/// `--json` for a WAC document: where the component went.
#[derive(Serialize)]
struct WacReport<'a> {
    output: &'a Path,
    size: usize,
}

impl Composed {
    fn to_vec(&self) -> Vec<u8> {
        match self {
            Composed::Plugs(c) => c.output.to_vec(),
            Composed::Wac(bytes) => bytes.clone(),
        }
    }

    /// The output is written piece by piece: the embedded inputs are never copied into one
    /// buffer (see `wtool_compose::Output`).
    fn write_to(&self, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Composed::Plugs(c) => c.output.write_to(out),
            Composed::Wac(bytes) => out.write_all(bytes),
        }
    }

    fn report(&self, output: Option<&Path>, global: &GlobalOpts) -> Result<()> {
        let wrote = |size: usize| match output {
            Some(path) => format!("wrote {} ({size} bytes)\n", path.display()),
            None => String::new(),
        };
        match self {
            Composed::Plugs(composition) => {
                let report = &composition.report;
                let text = || {
                    let mut text = report.to_string();
                    if let Some(optimized) = &report.optimized {
                        text += &optimized.to_string();
                    }
                    text + &wrote(report.size)
                };
                if report.optimized.is_some() {
                    // Times differ from run to run; the JSON of one input never does.
                    let mut json = serde_json::to_value(report)?;
                    super::optimize::drop_times(&mut json);
                    global.output().summary(&json, text)
                } else {
                    global.output().summary(report, text)
                }
            }
            // A WAC composition written to stdout has nothing to add.
            Composed::Wac(bytes) => match output {
                Some(output) => global.output().summary(
                    &WacReport {
                        output,
                        size: bytes.len(),
                    },
                    || wrote(bytes.len()),
                ),
                None => Ok(()),
            },
        }
    }
}

fn parse_dep(s: &str) -> Result<(String, PathBuf), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not `ns:name=PATH`"))?;
    Ok((k.trim().to_string(), PathBuf::from(v.trim())))
}
