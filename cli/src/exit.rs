//! Exit codes that CI scripts can branch on. An error is classified once, here, from what its
//! chain carries: a [`Code`] attached where the failure was found (`.code(..)`, [`fail!`]),
//! else the library error types whose meaning is known (compose's, reqwest's).

use std::fmt;
use std::process::ExitCode;
use wtool_compose::optimize::OptimizeError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Any failure without a more specific code.
    Failure = 1,
    /// The command line is wrong (clap uses this code for its own errors too).
    Usage = 2,
    /// An input is not what it must be: not a valid component or module, a bad WIT package.
    InvalidInput = 3,
    /// The inputs are valid but do not compose: nothing plugs, types differ, the target world
    /// is not met.
    Composition = 4,
    /// A registry could not be reached.
    Unreachable = 5,
    /// A registry refused the credentials (or their absence).
    AuthRefused = 6,
    /// Something did not verify: a digest, a signature, a registry log, or the lock.
    Verification = 7,
}

/// The table `wtool --help` ends with; the book's list says the same.
pub const HELP: &str = "\
Exit status:
  0  success
  1  other failure
  2  usage error (a bad flag or argument)
  3  invalid input (not a valid component or module, bad WIT)
  4  composition failed (nothing plugs, types differ, target world not met)
  5  registry unreachable
  6  registry refused the credentials
  7  verification failed (digest, signature, registry log, lock out of date)";

impl From<Code> for ExitCode {
    fn from(code: Code) -> Self {
        ExitCode::from(code as u8)
    }
}

/// An error with the code it exits with. It reads as the error it wraps.
#[derive(Debug)]
pub struct Coded {
    code: Code,
    error: anyhow::Error,
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Coded {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.chain().nth(1)
    }
}

/// Attaches an exit code to an error.
pub trait WithCode<T> {
    fn code(self, code: Code) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> WithCode<T> for Result<T, E> {
    fn code(self, code: Code) -> anyhow::Result<T> {
        self.map_err(|e| coded(code, e.into()))
    }
}

pub fn coded(code: Code, error: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(Coded { code, error })
}

/// A wiring that names what is not there is a wrong command line; one that names what does not
/// fit is a composition that fails.
fn wiring_code(e: &wtool_compose::wiring::WiringError) -> Code {
    use wtool_compose::wiring::WiringError as W;
    match e {
        W::Absent { .. }
        | W::Ambiguous { .. }
        | W::NoMatchingExport { .. }
        | W::SelfWire { .. }
        | W::WiredTwice { .. }
        | W::WiredAndKept { .. }
        | W::Unreached { .. }
        | W::ExportTaken { .. } => Code::Usage,
        W::WireMismatch { .. } | W::HostImportsDenied(_) => Code::Composition,
    }
}

/// `bail!` with an exit code: `fail!(Code::Usage, "...")`.
macro_rules! fail {
    ($code:expr, $($arg:tt)+) => {
        return Err($crate::exit::coded($code, anyhow::anyhow!($($arg)+)))
    };
}
pub(crate) use fail;

/// The code an error exits with: the code attached nearest to its cause (the most specific
/// one: a lock check that failed because the registry was down exits as unreachable), else
/// what its library errors mean.
pub fn classify(err: &anyhow::Error) -> Code {
    use wtool_compose::composition::ComposeError;
    // Errors that wrap others transparently hide them from the chain, so they are matched here.
    let chain = || err.chain();
    if let Some(c) = chain().filter_map(|e| e.downcast_ref::<Coded>()).last() {
        return c.code;
    }
    for e in chain() {
        if let Some(e) = e.downcast_ref::<ComposeError>() {
            return match e {
                ComposeError::Input(_)
                | ComposeError::NotAComponent { .. }
                | ComposeError::InvalidComponent { .. } => Code::InvalidInput,
                ComposeError::Wiring(e)
                | ComposeError::Plan(wtool_compose::plan::PlanError::Wiring(e)) => wiring_code(e),
                ComposeError::NothingPlugged { .. }
                | ComposeError::TypeMismatch(_)
                | ComposeError::Plan(_)
                | ComposeError::Link { .. } => Code::Composition,
                ComposeError::Optimize(e) => optimize_code(e),
                // Named, not `_`: a new kind of failure must choose its code here.
                ComposeError::Encode(_) | ComposeError::InvalidOutput(_) => Code::Failure,
            };
        }
        if let Some(e) = e.downcast_ref::<OptimizeError>() {
            return optimize_code(e);
        }
        if e.is::<wtool_compose::input::InputError>()
            || e.is::<wtool_compose::validate::ValidateError>()
            || e.is::<wtool_compose::inspect::InspectError>()
            || e.is::<wtool_compose::target::TargetError>()
        {
            return Code::InvalidInput;
        }
        if e.is::<wtool_compose::features::FeatureError>()
            || e.is::<wtool_compose::profile::UnknownProfile>()
        {
            return Code::Usage;
        }
        if let Some(e) = e.downcast_ref::<reqwest::Error>() {
            if e.is_connect() || e.is_timeout() {
                return Code::Unreachable;
            }
        }
    }
    Code::Failure
}

fn optimize_code(e: &OptimizeError) -> Code {
    match e {
        OptimizeError::Input(_)
        | OptimizeError::WitPackage { .. }
        | OptimizeError::InvalidInput(_) => Code::InvalidInput,
        _ => Code::Failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_innermost_code_wins_and_context_keeps_it() {
        let inner: anyhow::Result<()> = Err(anyhow::anyhow!("digest differs"));
        let err = inner
            .code(Code::Verification)
            .context("fetching acme:log")
            .unwrap_err();
        assert_eq!(classify(&err), Code::Verification);
        let messages: Vec<String> = err.chain().map(|e| e.to_string()).collect();
        assert_eq!(messages, ["fetching acme:log", "digest differs"]);
        let err = Err::<(), _>(err).code(Code::Failure).unwrap_err();
        assert_eq!(classify(&err), Code::Verification);
    }

    #[test]
    fn unknown_errors_are_other_failures() {
        assert_eq!(classify(&anyhow::anyhow!("disk full")), Code::Failure);
    }
}
