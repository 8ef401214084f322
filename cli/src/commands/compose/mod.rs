//! `wtool compose`: read the inputs (paths or registry packages), compose them (plugs into a
//! socket, or a WAC document), check the target world, write the component, report.

mod from_registry;
mod inputs;
mod target_world;
mod wac;
mod wiring;

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
/// Each import of the socket takes, among the plugs whose export fits its type, the one with
/// the exact name, else the highest version on the same semver track, else the earliest plug
/// (`--wire` picks one yourself). Plugs fill each other's imports too, so
/// `app --plug middleware --plug logger` chains app → middleware → logger. Imports nothing
/// fills are left for the host.
///
/// The socket and each plug are a path, or a registry package `ns:name[@version]` resolved like
/// `wtool fetch` and recorded in `wkg.lock` (an argument that exists as a file is a path).
#[derive(clap::Args)]
pub struct Args {
    /// The component whose imports are filled, or a WAC document (`.wac`) describing the graph.
    socket: String,
    /// A component whose exports fill imports (repeatable; of equal versions, earlier plugs
    /// win). `NAME=PLUG` names it for `--wire` and `--export` (the file stem otherwise);
    /// `PLUG#EXPORT` offers only that export (a full or unambiguous short name, `logger`).
    #[arg(long = "plug", value_name = "[NAME=]PLUG[#EXPORT]")]
    plugs: Vec<String>,
    /// Fill IMPORT of the input CONSUMER with PLUG's export (the one named EXPORT, or the one
    /// that matches IMPORT). CONSUMER and PLUG are input names; the first `:` ends CONSUMER
    /// (repeatable).
    #[arg(long = "wire", value_name = "CONSUMER:IMPORT=PLUG[#EXPORT]")]
    wires: Vec<String>,
    /// Export PLUG's EXPORT from the composition too (repeatable).
    #[arg(long = "export", value_name = "PLUG#EXPORT")]
    exports: Vec<String>,
    /// Keep IMPORT for the host even when a plug could fill it (repeatable; matched on its
    /// semver track).
    #[arg(long = "host", value_name = "IMPORT")]
    host: Vec<String>,
    /// Fail when the composition leaves any import for the host besides those kept with
    /// `--host` or allowed with `--allow-host-import`.
    #[arg(long)]
    deny_host_imports: bool,
    /// Allow the host to provide IFACE (`wasi:cli/stdout@0.2.6`, any version without `@`, or a
    /// whole package, `wasi:io`); every other import left for the host fails the composition
    /// (repeatable).
    #[arg(long = "allow-host-import", value_name = "IFACE")]
    allow_host_imports: Vec<String>,
    /// Print the WAC document of this composition instead of writing the component; composing
    /// it gives the same bytes.
    #[arg(long, conflicts_with_all = ["output", "wat", "optimize"])]
    emit_wac: bool,
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
        if to_stdout && !self.wat && !self.emit_wac && std::io::stdout().is_terminal() {
            fail!(
                Code::Usage,
                "refusing to write a binary component to a terminal; pass `-o FILE` or `-t` for text"
            );
        }
        if self.emit_wac && global.json {
            fail!(
                Code::Usage,
                "`--emit-wac` prints the WAC document on stdout; drop `--json`"
            );
        }
        if to_stdout && global.json {
            fail!(
                Code::Usage,
                "`--json` prints the report on stdout, so the component needs `-o FILE`"
            );
        }
        let composed = if self.socket.ends_with(".wac") {
            if self.emit_wac {
                fail!(
                    Code::Usage,
                    "`--emit-wac` writes the WAC document of a --plug command line; `{}` is one already",
                    self.socket
                );
            }
            self.compose_wac()?
        } else {
            self.compose_plugs()?
        };
        if self.emit_wac {
            if let Composed::Plugs(composition) = &composed {
                print!("{}", self.document(composition));
                let report = &composition.report;
                global.output().summary(report, || report.to_string())?;
            }
            return Ok(ExitCode::SUCCESS);
        }
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
        let args = std::iter::once(&self.socket)
            .chain(&self.plugs)
            .map(|a| wiring::parse_input(a))
            .collect::<Result<Vec<_>>>()?;
        let sources = args
            .iter()
            .map(|a| inputs::classify(&a.source))
            .collect::<Result<Vec<_>>>()?;
        let names: Vec<String> = args
            .iter()
            .zip(&sources)
            .map(|(arg, source)| wiring::input_name(arg, source))
            .collect();
        wiring::check_unique(&names, &args)?;
        let wiring = wiring::wiring(
            &wiring::Flags {
                wires: &self.wires,
                exports: &self.exports,
                host: &self.host,
                deny_host_imports: self.deny_host_imports,
                allow_host_imports: &self.allow_host_imports,
            },
            &names,
            &args,
        )?;
        let files: Vec<bool> = sources
            .iter()
            .map(|s| matches!(s, inputs::Source::File(_)))
            .collect();
        let mut loaded = inputs::load_all(sources, &self.registry)?;
        for (input, (name, (arg, file))) in loaded
            .inputs
            .iter_mut()
            .zip(names.iter().zip(args.iter().zip(files)))
        {
            // A registry input keeps its package name in messages and the output.
            if arg.name.is_some() || file {
                input.instance = Some(name.clone());
            }
        }
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
            wiring,
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
        let wiring_flags = [
            ("--wire", !self.wires.is_empty()),
            ("--export", !self.exports.is_empty()),
            ("--host", !self.host.is_empty()),
            ("--deny-host-imports", self.deny_host_imports),
            ("--allow-host-import", !self.allow_host_imports.is_empty()),
        ];
        if let Some((flag, _)) = wiring_flags.iter().find(|(_, given)| *given) {
            fail!(
                Code::Usage,
                "{flag} does not apply to a WAC document; the document says how its instances are wired"
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

    /// The composition's WAC document, headed by the `--dep` flags that compose it.
    fn document(&self, composition: &Composition) -> String {
        let document = &composition.document;
        let inputs = &composition.report.inputs;
        let args: Vec<&String> = std::iter::once(&self.socket).chain(&self.plugs).collect();
        let mut deps = String::new();
        let mut notes = String::new();
        for package in &document.packages {
            let arg = args[package.input.index()];
            let source = wiring::parse_input(arg)
                .map(|a| a.source)
                .unwrap_or_else(|_| arg.clone());
            if let Ok(inputs::Source::Package(_)) = inputs::classify(&source) {
                // `--dep` takes files: a registry input has to be downloaded first.
                deps += &format!(" --dep {}=FILE", package.name);
                notes += &format!(
                    "// FILE for `{}` is the registry package `{source}`.\n",
                    package.name
                );
            } else {
                deps += &format!(" --dep {}={source}", package.name);
            }
        }
        let mut text = format!(
            "// The composition of `wtool compose {}`.\n// Compose it with: wtool compose FILE.wac{deps}\n",
            args.iter()
                .enumerate()
                .map(|(i, a)| if i == 0 { a.to_string() } else { format!("--plug {a}") })
                .chain(self.wires.iter().map(|w| format!("--wire {w}")))
                .chain(self.exports.iter().map(|e| format!("--export {e}")))
                .chain(self.host.iter().map(|h| format!("--host {h}")))
                .collect::<Vec<_>>()
                .join(" ")
        );
        text += &notes;
        for unused in &document.unused {
            text += &format!(
                "// `{}` is left out: nothing uses it.\n",
                inputs
                    .get(unused.index())
                    .map_or(args[unused.index()].as_str(), |i| i.file.as_str())
            );
        }
        text + &document.to_string()
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
    Wac(wtool_compose::Output),
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
            Composed::Wac(output) => output.to_vec(),
        }
    }

    /// The output is written piece by piece: the embedded inputs are never copied into one
    /// buffer (see `wtool_compose::Output`).
    fn write_to(&self, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Composed::Plugs(c) => c.output.write_to(out),
            Composed::Wac(output) => output.write_to(out),
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
