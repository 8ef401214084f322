use clap::Parser;

mod commands;
mod input;
mod output;

fn main() -> std::process::ExitCode {
    let cli = commands::Cli::parse();
    cli.run()
}
