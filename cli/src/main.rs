use clap::Parser;

mod commands;

fn main() -> std::process::ExitCode {
    let cli = commands::Cli::parse();
    cli.run()
}
