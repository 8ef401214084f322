//! Validation with `wasmparser`, feature detection and target profiles.
//!
//! There is one validator, [`Validator`]: fed with bytes in chunks, forward only, it validates
//! the structure as the bytes arrive and the function bodies of each chunk (in parallel when
//! they are many), and it finds the post-MVP features the input uses inside the same visit of
//! each operator. [`validate`] runs it over a file in memory; compose's output and the
//! registry's content policy feed it piece by piece.

pub(crate) mod chunks;
mod known;
mod scan;
mod stream;

use crate::features::{flag_names, Feature};
use crate::input::{classify, ArtifactKind, InputError};
use crate::profile::Profile;
use std::fmt;
use wasmparser::WasmFeatures;

pub use crate::nesting::{NestedKind, Nesting};
pub use known::KnownBodies;
pub use stream::{Held, Invalid, Summary, Validator};

/// What validation found in a valid artifact.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// Module, component or binary WIT package.
    pub kind: ArtifactKind,
    /// Core modules at every depth (a core module input counts itself).
    pub core_modules: usize,
    /// Components nested inside the input, at every depth.
    pub nested_components: usize,
    /// Function bodies validated, at every depth.
    pub functions: usize,
    /// Post-MVP features the artifact uses, in a fixed order.
    pub features: Vec<FeatureUse>,
}

/// One feature the artifact uses, how often, and its first use in file order.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FeatureUse {
    /// The feature.
    pub feature: Feature,
    /// How many constructs use it.
    pub count: u64,
    /// The first of them in file order.
    pub first: Location,
}

/// Where in an artifact something is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// Byte offset in the input file.
    pub offset: u64,
    /// The nested artifact holding it, outermost first; empty for the input itself.
    pub within: Vec<Nesting>,
    /// The function, when the use is in a function body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionRef>,
    /// The instruction, type or section entry.
    pub what: String,
}

/// A function by index, with its name when the input names it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FunctionRef {
    /// Its index in the module's function index space.
    pub index: u32,
    /// From the `name` section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl fmt::Display for Location {
    /// `return_call in function 12 `foo` of core module 1 of component 0`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)?;
        if let Some(func) = &self.function {
            write!(f, " in function {}", func.index)?;
            if let Some(name) = &func.name {
                write!(f, " `{name}`")?;
            }
        }
        for nesting in self.within.iter().rev() {
            write!(f, " of {nesting}")?;
        }
        Ok(())
    }
}

/// Why an input did not validate.
// Errors are made once per run, so their size does not matter.
#[allow(clippy::result_large_err)]
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// Not a WebAssembly file, or one too damaged to say what it is.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A module or component that is not valid.
    #[error(
        "`{name}` is {kind} but it is not valid: {message} at offset {offset:#x}{place}. {hint}"
    )]
    Invalid {
        /// The input's name.
        name: String,
        /// What it is.
        kind: ArtifactKind,
        /// wasmparser's message.
        message: String,
        /// Where, in the input.
        offset: u64,
        /// ` in function 3 `f` of core module 0`, or empty.
        place: String,
        /// What to do about it.
        hint: String,
        /// Features the artifact needs that were not enabled, if that is the problem.
        missing_features: Vec<String>,
    },
}

/// Validates `bytes` (named `name` in messages) with `features` enabled, and finds the
/// post-MVP features it uses, in one pass.
#[allow(clippy::result_large_err)] // made once per run; see `ValidateError`
pub fn validate(name: &str, bytes: &[u8], features: WasmFeatures) -> Result<Report, ValidateError> {
    crate::input::header_kind(name, bytes)?;
    let mut validator = Validator::new(features).reporting().parallel(true);
    let summary = validator.feed(bytes).and_then(|()| validator.finish());
    match summary {
        Ok(s) => Ok(Report {
            kind: s.kind,
            core_modules: s.core_modules,
            nested_components: s.nested_components,
            functions: s.functions,
            features: s.features,
        }),
        Err(invalid) => {
            // A file too damaged to classify is reported as such, as it always was; only
            // failing inputs pay for the second walk.
            let kind = classify(name, bytes)?;
            Err(invalid_in(name, kind, features, invalid))
        }
    }
}

/// Only says whether `bytes` are valid with `features` enabled: for a caller that shows no
/// report, it spares the feature scan (the same walk as `wasm-tools validate`). An invalid input
/// is walked again with the report on, so that its message names the function as
/// [`validate`]'s does.
#[allow(clippy::result_large_err)] // made once per run; see `ValidateError`
pub fn check(name: &str, bytes: &[u8], features: WasmFeatures) -> Result<(), ValidateError> {
    crate::input::header_kind(name, bytes)?;
    let mut validator = Validator::new(features).parallel(true);
    match validator.feed(bytes).and_then(|()| validator.finish()) {
        Ok(_) => Ok(()),
        Err(invalid) => match validate(name, bytes, features) {
            Err(e) => Err(e),
            Ok(_) => Err(invalid_in(name, classify(name, bytes)?, features, invalid)),
        },
    }
}

/// The features a report uses that `profile` does not support.
pub fn violations<'r>(report: &'r Report, profile: &Profile) -> Vec<&'r FeatureUse> {
    report
        .features
        .iter()
        .filter(|u| !profile.features.contains(u.feature.flag()))
        .collect()
}

fn invalid_in(name: &str, kind: ArtifactKind, features: WasmFeatures, e: Invalid) -> ValidateError {
    // Rendered like a use with no `what`: ` in function 3 `f` of core module 0`.
    let mut place = Location {
        offset: e.offset,
        within: e.within,
        function: e.function,
        what: String::new(),
    }
    .to_string();
    if let Some(rest) = place.strip_prefix(" of ") {
        place = format!(" in {rest}");
    }
    let missing_features = e.missing_features.map(flag_names).unwrap_or_default();
    let hint = match missing_features.as_slice() {
        // Some disabled features surface as decoding errors rather than feature errors.
        [] if features != WasmFeatures::default() => "It may use a feature the selected \
               feature set leaves out: validate it with the default features and `--target` \
               to see what it uses and where"
            .to_string(),
        [] => "Its producer emitted invalid WebAssembly: rebuild it with an up-to-date \
               toolchain, and report the problem to the producer if it persists"
            .to_string(),
        names => format!(
            "It needs `{0}`, which is not enabled: pass `--features {0}` if your runtime \
             supports it, or rebuild the input without it",
            names.join(",")
        ),
    };
    ValidateError::Invalid {
        name: name.to_string(),
        kind,
        message: e.message,
        offset: e.offset,
        place,
        hint,
        missing_features,
    }
}
