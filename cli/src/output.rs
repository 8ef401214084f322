//! What a command prints when it is done. With `--json` the report goes to stdout as one
//! pretty-printed JSON document (its shape is the `Serialize` type, documented in the book's
//! "Interface" chapter); otherwise its text goes where the command's kind says, and `-q` keeps
//! it quiet. Messages along the way are `tracing` events (see `diagnostics`), never prints.

use crate::commands::GlobalOpts;
use anyhow::Result;
use serde::Serialize;
use std::io::Write;

#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub verbose: u8,
}

impl GlobalOpts {
    pub fn output(&self) -> Output {
        Output {
            json: self.json,
            quiet: self.quiet,
            verbose: self.verbose,
        }
    }
}

impl Output {
    /// For a command whose product is a file or a change in a registry: its summary text goes
    /// to stderr (stdout may carry the product).
    pub fn summary<R: Serialize + ?Sized>(
        &self,
        report: &R,
        text: impl FnOnce() -> String,
    ) -> Result<()> {
        self.emit(report, text, Stream::Stderr, !self.quiet)
    }

    /// For a command whose product is the report itself (`validate`, `inspect`): the text goes
    /// to stdout, and `-q` leaves only the exit code.
    pub fn answer<R: Serialize + ?Sized>(
        &self,
        report: &R,
        text: impl FnOnce() -> String,
    ) -> Result<()> {
        self.emit(report, text, Stream::Stdout, !self.quiet)
    }

    /// For a report that is the whole point of the command (`key show`, `inspect --wit`):
    /// printed on stdout even with `-q`.
    pub fn product<R: Serialize + ?Sized>(
        &self,
        report: &R,
        text: impl FnOnce() -> String,
    ) -> Result<()> {
        self.emit(report, text, Stream::Stdout, true)
    }

    /// A line on stderr about what was done, for people only: not with `-q` or `--json`.
    pub fn status(&self, text: impl FnOnce() -> String) {
        if !self.quiet && !self.json {
            let _ = writeln!(anstream::stderr().lock(), "{}", text());
        }
    }

    fn emit<R: Serialize + ?Sized>(
        &self,
        report: &R,
        text: impl FnOnce() -> String,
        stream: Stream,
        show_text: bool,
    ) -> Result<()> {
        if self.json {
            return json(report);
        }
        if show_text {
            let text = text();
            match stream {
                Stream::Stdout => std::io::stdout().lock().write_all(text.as_bytes())?,
                Stream::Stderr => anstream::stderr().lock().write_all(text.as_bytes())?,
            }
        }
        Ok(())
    }
}

enum Stream {
    Stdout,
    Stderr,
}

/// `report` as pretty JSON on stdout, keys in the order the type declares them.
pub fn json<R: Serialize + ?Sized>(report: &R) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, report)?;
    writeln!(out)?;
    Ok(())
}
