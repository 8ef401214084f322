use super::compose_refs::{classify, load_all};
use super::{GlobalOpts, RegistryArgs};
use crate::output::{write_atomically, write_atomically_with};
use anyhow::{bail, Result};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use wtool_compose::optimize::{Level, OptimizeOptions};
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
    #[arg(long, value_name = "NS:PKG/WORLD[@VERSION]", value_parser = super::compose_target::parse_target_world)]
    target_world: Option<super::compose_target::TargetWorld>,
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
            bail!("refusing to write a binary component to a terminal; pass `-o FILE` or `-t` for text");
        }
        if to_stdout && global.json {
            bail!("`--json` prints the report on stdout, so the component needs `-o FILE`");
        }
        if self.socket.ends_with(".wac") {
            return self.run_wac(global);
        }
        if self.plugs.is_empty() {
            bail!("nothing to plug: pass at least one --plug, or a `.wac` document as the socket");
        }
        let sources = std::iter::once(&self.socket)
            .chain(&self.plugs)
            .map(|a| classify(a, global))
            .collect::<Result<Vec<_>>>()?;
        let mut loaded = load_all(sources, &self.registry, global)?;
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
        self.check_target(|| composition.output.to_vec(), global)?;

        // The output is written piece by piece: the embedded inputs are never copied into
        // one buffer (see `wtool_compose::Output`).
        let text = self
            .wat
            .then(|| wasmprinter::print_bytes(composition.output.to_vec()))
            .transpose()?;
        let write = |out: &mut dyn Write| match &text {
            Some(text) => out.write_all(text.as_bytes()),
            None => composition.output.write_to(out),
        };
        match &self.output {
            Some(path) => write_atomically_with(path, write)?,
            None => write(&mut std::io::stdout().lock())?,
        }

        if global.json {
            if composition.report.optimized.is_some() {
                let mut json = serde_json::to_value(&composition.report)?;
                super::optimize::drop_times(&mut json);
                println!("{}", serde_json::to_string_pretty(&json)?);
            } else {
                // Straight from the struct, so the keys keep their documented order.
                println!("{}", serde_json::to_string_pretty(&composition.report)?);
            }
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

impl Args {
    fn run_wac(&self, global: &GlobalOpts) -> Result<ExitCode> {
        if !self.plugs.is_empty() {
            bail!("--plug does not apply to a WAC document; instantiate the plug in the document");
        }
        if !self.leave_to_host.is_empty() {
            bail!("--leave-to-host does not apply to a WAC document; a WAC document names its imports itself");
        }
        let bytes = super::compose_wac::compose_wac(
            std::path::Path::new(&self.socket),
            &super::compose_wac::WacOptions {
                deps: &self.deps,
                deps_dir: &self.deps_dir,
                import_dependencies: self.import_dependencies,
                registry: &self.registry,
            },
            global,
        )?;
        self.check_target(|| bytes.clone(), global)?;
        let bytes = if self.wat {
            wasmprinter::print_bytes(&bytes)?.into_bytes()
        } else {
            bytes
        };
        let Some(output) = &self.output else {
            std::io::stdout().lock().write_all(&bytes)?;
            return Ok(ExitCode::SUCCESS);
        };
        write_atomically(output, &bytes)?;
        if global.json {
            println!(
                "{}",
                serde_json::json!({"output": output.display().to_string(), "size": bytes.len()})
            );
        } else if !global.quiet {
            eprintln!("wrote {} ({} bytes)", output.display(), bytes.len());
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl Args {
    /// `component` is only asked for when there is a world to check against.
    fn check_target(&self, component: impl FnOnce() -> Vec<u8>, global: &GlobalOpts) -> Result<()> {
        match &self.target_world {
            Some(target) => super::compose_target::check(
                component(),
                target,
                self.wit.as_deref(),
                &self.registry,
                global,
            ),
            None => Ok(()),
        }
    }
}

fn parse_dep(s: &str) -> Result<(String, PathBuf), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not `ns:name=PATH`"))?;
    Ok((k.trim().to_string(), PathBuf::from(v.trim())))
}
