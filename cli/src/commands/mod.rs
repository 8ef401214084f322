//! One module per subcommand; this file holds only the shared options and the dispatch.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

mod completions;
mod compose;
mod fetch;
mod inspect;
mod key;
mod man;
mod optimize;
mod publish;
mod signing;
mod validate;
mod yank;

/// Build-time toolchain for WebAssembly components.
#[derive(Parser)]
#[command(name = "wtool", version, after_help = crate::exit::HELP)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand accepts, in cargo's spelling.
#[derive(Args, Clone, Debug)]
pub struct GlobalOpts {
    /// Use verbose output (-vv for very verbose).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Print nothing but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Coloring of diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    Compose(compose::Args),
    Validate(validate::Args),
    Inspect(inspect::Args),
    Fetch(fetch::Args),
    Publish(publish::Args),
    Yank(yank::Args),
    Key(key::Args),
    Optimize(optimize::Args),
    Completions(completions::Args),
    Man(man::Args),
}

impl Cli {
    pub fn run(self) -> ExitCode {
        crate::diagnostics::init(&self.global);
        crate::progress::init(!self.global.quiet && !self.global.json);
        let result = match self.command {
            Command::Compose(args) => args.run(&self.global),
            Command::Validate(args) => args.run(&self.global),
            Command::Inspect(args) => args.run(&self.global),
            Command::Fetch(args) => args.run(&self.global),
            Command::Publish(args) => args.run(&self.global),
            Command::Yank(args) => args.run(&self.global),
            Command::Key(args) => args.run(&self.global),
            Command::Optimize(args) => args.run(&self.global),
            Command::Completions(args) => args.run(),
            Command::Man(args) => args.run(),
        };
        match result {
            Ok(code) => code,
            Err(err) => {
                crate::diagnostics::error(&err);
                crate::exit::classify(&err).into()
            }
        }
    }
}

/// Registry options shared by every command that talks to registries, in cargo's spelling.
#[derive(Args, Clone, Debug)]
pub struct RegistryArgs {
    /// Use this registry for every package (a URL, `host[:port]`, or a local directory).
    #[arg(long, env = "WTOOL_REGISTRY", value_name = "URL")]
    pub registry: Option<String>,
    /// Fail if the lock file would change.
    #[arg(long)]
    pub locked: bool,
    /// Use only the lock and the cache; never the network.
    #[arg(long)]
    pub offline: bool,
    /// Both --locked and --offline.
    #[arg(long)]
    pub frozen: bool,
}

impl RegistryArgs {
    pub fn is_offline(&self) -> bool {
        self.offline || self.frozen
    }

    pub fn open(&self, read_only: bool) -> anyhow::Result<crate::registry::Registries> {
        let settings = std::sync::Arc::new(crate::config::Settings::load()?);
        crate::registry::Registries::new(
            settings,
            self.registry.as_deref(),
            self.is_offline(),
            read_only,
        )
    }
}

/// One thread: every command drives its requests from one task (`join_all` and
/// `FuturesUnordered`), and the CPU work between them is short. Worker threads would only add
/// their start and their shutdown to every run.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
