//! One module per subcommand; this file holds only the shared options and the dispatch.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

mod compose;
mod inspect;
mod optimize;
mod validate;

/// Build-time toolchain for WebAssembly components.
#[derive(Parser)]
#[command(name = "wtool", version)]
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
    Optimize(optimize::Args),
}

impl Cli {
    pub fn run(self) -> ExitCode {
        let result = match self.command {
            Command::Compose(args) => args.run(&self.global),
            Command::Validate(args) => args.run(&self.global),
            Command::Inspect(args) => args.run(&self.global),
            Command::Optimize(args) => args.run(&self.global),
        };
        match result {
            Ok(code) => code,
            Err(err) => {
                report_error(&err);
                ExitCode::FAILURE
            }
        }
    }
}

/// Errors are rendered here rather than by anyhow's `Debug`, so that `RUST_BACKTRACE` in the
/// environment never turns a user error into a stack dump.
fn report_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
