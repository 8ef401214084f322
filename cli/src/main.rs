use clap::{CommandFactory, FromArgMatches};

mod atomic;
mod binaryen;
mod cache;
mod commands;
mod config;
mod diagnostics;
mod digest;
mod digest_cache;
mod exit;
mod input;
mod keys;
mod lock;
mod memory;
mod output;
mod package_spec;
mod progress;
mod project;
mod registry;
mod resolver;
mod surface;
mod witpkg;
mod wkg_config;

fn main() -> std::process::ExitCode {
    // rustls is built with both ring (warg-client's reqwest) and aws-lc-rs (oci-client's);
    // either HTTP stack names its own, and anything asking for the default gets aws-lc-rs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // clap prints help and usage errors before the parsed `--color` exists, so it is read
    // from the raw arguments first; the parsed value then drives everything else.
    let command = commands::Cli::command().color(help_color(std::env::args_os()));
    let cli = commands::Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
    cli.run()
}

/// The last `--color WHEN` or `--color=WHEN` given; `auto` otherwise (or when WHEN is not one
/// of the three, which clap then reports).
fn help_color(args: impl Iterator<Item = std::ffi::OsString>) -> clap::ColorChoice {
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let mut choice = clap::ColorChoice::Auto;
    for (i, arg) in args.iter().enumerate() {
        if arg == "--" {
            break;
        }
        let value = match arg.strip_prefix("--color") {
            Some("") => args.get(i + 1).map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        choice = match value {
            Some("always") => clap::ColorChoice::Always,
            Some("never") => clap::ColorChoice::Never,
            Some("auto") => clap::ColorChoice::Auto,
            _ => choice,
        };
    }
    choice
}

#[cfg(test)]
mod tests {
    use super::help_color;
    use clap::ColorChoice;

    fn of(args: &[&str]) -> ColorChoice {
        help_color(args.iter().map(Into::into))
    }

    #[test]
    fn help_colour_follows_the_raw_flag() {
        assert_eq!(of(&["wtool", "--help"]), ColorChoice::Auto);
        assert_eq!(
            of(&["wtool", "--color", "always", "-h"]),
            ColorChoice::Always
        );
        assert_eq!(
            of(&["wtool", "compose", "--color=never"]),
            ColorChoice::Never
        );
        assert_eq!(
            of(&["wtool", "--color=always", "--color", "never"]),
            ColorChoice::Never
        );
        assert_eq!(of(&["wtool", "--", "--color=always"]), ColorChoice::Auto);
    }
}
