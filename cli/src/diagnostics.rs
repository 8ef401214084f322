//! Messages on stderr, in cargo's shape (`error:`, `warning:`, `note:`), coloured as
//! `--color`, `NO_COLOR`, `CLICOLOR` and `CLICOLOR_FORCE` say. Every message but the final
//! error is a `tracing` event, so `-v`/`-q` decide what is shown in one place:
//!
//! | flags   | shown                        |
//! |---------|------------------------------|
//! | `-q`    | errors                       |
//! | (none)  | errors, warnings             |
//! | `-v`    | and notes (`tracing::info!`) |
//! | `-vv`   | and debug events             |
//!
//! `RUST_LOG`, when set, replaces that choice (for wtool's dependencies too).

use crate::commands::{Color, GlobalOpts};
use anstyle::{AnsiColor, Style};
use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Sets the colour choice and the subscriber for the whole run; called once, from `main`.
pub fn init(global: &GlobalOpts) {
    let choice = match global.color {
        // anstream's auto mode reads NO_COLOR, CLICOLOR and CLICOLOR_FORCE, then the terminal.
        Color::Auto => anstream::ColorChoice::Auto,
        Color::Always => anstream::ColorChoice::Always,
        Color::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
    let level = if global.quiet {
        LevelFilter::ERROR
    } else {
        match global.verbose {
            0 => LevelFilter::WARN,
            1 => LevelFilter::INFO,
            2 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        }
    };
    let builder = tracing_subscriber::fmt()
        .event_format(Prefixed)
        .with_writer(anstream::stderr)
        .with_max_level(LevelFilter::TRACE);
    // Dependencies speak only when they warn, unless -vv asks for everything.
    let others = if level >= LevelFilter::DEBUG {
        level
    } else {
        LevelFilter::WARN.min(level)
    };
    // oci-client logs token responses at debug level: secrets never reach the terminal.
    let targets = Targets::new()
        .with_target(env!("CARGO_CRATE_NAME"), level)
        .with_target("oci_client", LevelFilter::INFO.min(others))
        .with_default(others);
    // Only a second call could fail, and the first subscriber then stays.
    let _ = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => tracing::subscriber::set_global_default(
            builder.with_env_filter(EnvFilter::new(spec)).finish(),
        ),
        _ => {
            use tracing_subscriber::layer::SubscriberExt;
            tracing::subscriber::set_global_default(builder.finish().with(targets))
        }
    };
}

/// Prints the final error and its causes, as every other message is printed. Rendered here
/// rather than by anyhow's `Debug`, so that `RUST_BACKTRACE` in the environment never turns a
/// user error into a stack dump.
pub fn error(err: &anyhow::Error) {
    use std::io::Write;
    let mut out = anstream::stderr().lock();
    let _ = writeln!(out, "{}{err}", Prefix(Level::ERROR));
    for cause in err.chain().skip(1) {
        let _ = writeln!(out, "  caused by: {cause}");
    }
}

/// `error: `, `warning: `, `note: `, styled.
struct Prefix(Level);

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (word, style) = match self.0 {
            Level::ERROR => ("error", AnsiColor::Red),
            Level::WARN => ("warning", AnsiColor::Yellow),
            Level::INFO => ("note", AnsiColor::Cyan),
            Level::DEBUG => ("debug", AnsiColor::Blue),
            Level::TRACE => ("trace", AnsiColor::Magenta),
        };
        let style = Style::new().fg_color(Some(style.into())).bold();
        write!(f, "{style}{word}{style:#}: ")
    }
}

struct Prefixed;

impl<S, N> FormatEvent<S, N> for Prefixed
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "{}", Prefix(*event.metadata().level()))?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
