use clap::Parser;

mod commands;
mod input;

fn main() -> std::process::ExitCode {
    let cli = commands::Cli::parse();
    cli.run()
}
